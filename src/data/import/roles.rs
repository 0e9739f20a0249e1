//! Which source entries become arm joints, gripper channels or auxiliary channels.

use std::collections::HashSet;

use super::Mapping;
use crate::error::{Error, Location, Result, quote};

/// Entries picked from a source, as indices into its entry list, in dataset channel order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// Entries that are arm joints.
    pub joints: Vec<usize>,
    /// Entries that are gripper channels.
    pub gripper: Vec<usize>,
    /// Entries read and predicted but not scored as robot channels.
    pub auxiliary: Vec<usize>,
    /// Entries that are commands sent to the robot (kept beside the state, not predicted).
    pub commands: Vec<usize>,
    /// Entries that got no role (left out of the dataset).
    pub ignored: Vec<usize>,
}

impl Roles {
    /// Source indices of the dataset's channels: joints, gripper, auxiliary.
    pub fn order(&self) -> Vec<usize> {
        self.joints.iter().chain(&self.gripper).chain(&self.auxiliary).copied().collect()
    }

    /// Names of `indices` in `names`.
    pub fn names(names: &[String], indices: &[usize]) -> Vec<String> {
        indices.iter().map(|&i| names[i].clone()).collect()
    }
}

/// Words that name an end effector's opening rather than an arm joint: grippers, fingers, hands
/// (the G1's `kLeftHandPinky`), jaws and claws.
const GRIPPER_WORDS: [&str; 5] = ["gripper", "finger", "hand", "jaw", "claw"];

/// The default rule: an entry whose name contains gripper, finger, hand, jaw or claw (any case) is a
/// gripper channel, not an arm joint: its values are an opening (metres, 0..1, counts), not
/// radians, and it is not part of the arm score.
pub(crate) fn is_gripper_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    GRIPPER_WORDS.iter().any(|w| lower.contains(w))
}

/// Gives each of `names` (the source's entries, in source order) a role. Lists the mapping names
/// are taken as they are; a list it leaves out is filled from the entries no list claimed:
/// joints with the non-gripper names, the gripper with the gripper names (by
/// [`is_gripper_name`]). Entries still unclaimed are ignored. `at` names the source in errors.
pub(crate) fn assign_roles(names: &[String], mapping: &Mapping, at: &Location) -> Result<Roles> {
    let index = |field: &str, list: &[String]| -> Result<Vec<usize>> {
        let mut seen = HashSet::new();
        list.iter()
            .map(|n| {
                let i = names.iter().position(|x| x == n).ok_or_else(|| {
                    Error::invalid(
                        at.clone().column(n.clone()),
                        format!("{field} names {} but the source has only: {}", quote(n), names.join(", ")),
                    )
                })?;
                if !seen.insert(i) {
                    return Err(Error::invalid(at.clone().column(n.clone()), format!("{field} names it twice")));
                }
                Ok(i)
            })
            .collect()
    };
    let auxiliary = index("auxiliary", &mapping.auxiliary)?;
    let commands = match (&mapping.commands, mapping.no_commands) {
        (Some(c), false) => index("commands", c)?,
        _ => vec![],
    };
    let joints_given = mapping.joints.as_deref().map(|j| index("joints", j)).transpose()?;
    let gripper_given = mapping.gripper.as_deref().map(|g| index("gripper", g)).transpose()?;
    let claimed: HashSet<usize> = auxiliary
        .iter()
        .chain(&commands)
        .chain(joints_given.iter().flatten())
        .chain(gripper_given.iter().flatten())
        .copied()
        .collect();
    let given = auxiliary.len()
        + commands.len()
        + joints_given.as_ref().map_or(0, Vec::len)
        + gripper_given.as_ref().map_or(0, Vec::len);
    if claimed.len() != given {
        return Err(Error::invalid(at.clone(), "an entry is given two roles (joints, gripper, auxiliary, commands)"));
    }
    let free = |gripper: bool| -> Vec<usize> {
        (0..names.len()).filter(|i| !claimed.contains(i) && is_gripper_name(&names[*i]) == gripper).collect()
    };
    let joints = joints_given.unwrap_or_else(|| free(false));
    let gripper = gripper_given.unwrap_or_else(|| free(true));
    let used: HashSet<usize> = joints.iter().chain(&gripper).chain(&auxiliary).chain(&commands).copied().collect();
    let ignored = (0..names.len()).filter(|i| !used.contains(i)).collect();
    if joints.is_empty() {
        return Err(Error::invalid(
            at.clone(),
            format!("no arm joint among the entries ({}); name them with --joints", names.join(", ")),
        ));
    }
    Ok(Roles { joints, gripper, auxiliary, commands, ignored })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_rule_splits_by_name() {
        let n = names(&["shoulder", "elbow", "Gripper", "left_finger_joint"]);
        let r = assign_roles(&n, &Mapping::default(), &Location::file("x")).unwrap();
        assert_eq!((r.joints, r.gripper, r.ignored), (vec![0, 1], vec![2, 3], vec![]));
    }

    #[test]
    fn given_joints_leave_other_arm_entries_out() {
        let n = names(&["right_j0", "head_pan", "right_j1", "r_finger"]);
        let m = Mapping { joints: Some(names(&["right_j1", "right_j0"])), ..Mapping::default() };
        let r = assign_roles(&n, &m, &Location::file("x")).unwrap();
        assert_eq!((r.joints, r.gripper, r.ignored), (vec![2, 0], vec![3], vec![1]));
    }

    #[test]
    fn unknown_or_repeated_names_are_errors() {
        let n = names(&["a", "b"]);
        let m = Mapping { joints: Some(names(&["c"])), ..Mapping::default() };
        let e = assign_roles(&n, &m, &Location::file("src.csv")).unwrap_err().to_string();
        assert!(e.contains("src.csv") && e.contains("\"c\"") && e.contains("a, b"), "{e}");
        let m = Mapping { joints: Some(names(&["a"])), gripper: Some(names(&["a"])), ..Mapping::default() };
        assert!(assign_roles(&n, &m, &Location::file("x")).is_err());
    }
}
