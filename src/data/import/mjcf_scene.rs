//! What the HDF5 importers need from a MuJoCo scene (MJCF): where each joint's value sits in
//! `qpos` (robosuite's `states` rows are `[time, qpos, qvel]`), and the robot's kinematic subtree
//! as a small MJCF document of its own (bodies, joints and sites; geoms and meshes dropped) for
//! forward kinematics.

use std::fmt::Write as _;

use roxmltree::{Document, Node};

use crate::error::{Error, Location, Result};

/// A joint of the scene with its place in `qpos`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SceneJoint {
    pub(crate) name: String,
    /// `hinge`, `slide`, `ball` or `free`.
    pub(crate) kind: String,
    pub(crate) qpos: usize,
}

impl SceneJoint {
    /// Hinge and slide joints hold one value: those are the candidate channels.
    pub(crate) fn is_scalar(&self) -> bool {
        self.kind == "hinge" || self.kind == "slide"
    }
}

/// The joints of `worldbody` in document order with their `qpos` index, and the sizes of `qpos`
/// and `qvel` (free: 7 and 6 entries, ball: 4 and 3, hinge and slide: 1 and 1).
pub(crate) fn joints(doc: &Document, at: &Location) -> Result<(Vec<SceneJoint>, usize, usize)> {
    let world = worldbody(doc, at)?;
    let (mut nq, mut nv) = (0, 0);
    let mut out = Vec::new();
    for node in world.descendants().filter(|n| n.has_tag_name("joint") || n.has_tag_name("freejoint")) {
        let kind = if node.has_tag_name("freejoint") { "free" } else { node.attribute("type").unwrap_or("hinge") };
        let (q, v) = match kind {
            "free" => (7, 6),
            "ball" => (4, 3),
            "hinge" | "slide" => (1, 1),
            other => {
                let line = doc.text_pos_at(node.range().start).row as u64;
                return Err(Error::invalid(
                    at.clone().line(line).column("<joint> type"),
                    format!("unknown joint type \"{other}\""),
                ));
            }
        };
        out.push(SceneJoint {
            name: node.attribute("name").unwrap_or_default().to_string(),
            kind: kind.into(),
            qpos: nq,
        });
        nq += q;
        nv += v;
    }
    Ok((out, nq, nv))
}

fn worldbody<'a, 'input>(doc: &'a Document<'input>, at: &Location) -> Result<Node<'a, 'input>> {
    doc.root_element()
        .children()
        .find(|n| n.has_tag_name("worldbody"))
        .ok_or_else(|| Error::invalid(at.clone(), "no <worldbody> element"))
}

/// The robot's subtree: the top-level body of `worldbody` that holds all of `joint_names`.
#[derive(Debug)]
pub(crate) struct RobotSubtree {
    /// A standalone MJCF document (bodies, joints, sites with their attributes).
    pub(crate) xml: String,
    pub(crate) root_body: String,
    /// Site names inside the subtree, in document order.
    pub(crate) sites: Vec<String>,
}

pub(crate) fn robot_subtree(
    doc: &Document,
    joint_names: &[String],
    model: &str,
    at: &Location,
) -> Result<RobotSubtree> {
    let world = worldbody(doc, at)?;
    let tops: Vec<Node> = world.children().filter(|n| n.has_tag_name("body")).collect();
    let holds = |top: &Node, name: &str| {
        top.descendants().any(|n| n.has_tag_name("joint") && n.attribute("name") == Some(name))
    };
    let first = joint_names.first().ok_or_else(|| Error::invalid(at.clone(), "no joint to find the robot by"))?;
    let top = tops.iter().find(|t| holds(t, first)).ok_or_else(|| {
        Error::invalid(at.clone().column(first.clone()), "no top-level body of <worldbody> holds this joint")
    })?;
    if let Some(other) = joint_names.iter().find(|n| !holds(top, n)) {
        return Err(Error::invalid(
            at.clone().column(other.clone()),
            format!("this joint is not in the robot's body tree (\"{}\")", top.attribute("name").unwrap_or("")),
        ));
    }
    let mut xml = String::new();
    let _ = writeln!(xml, "<mujoco model=\"{}\">", escape(model));
    if let Some(angle) =
        doc.root_element().children().find(|n| n.has_tag_name("compiler")).and_then(|c| c.attribute("angle"))
    {
        let _ = writeln!(xml, "  <compiler angle=\"{}\" />", escape(angle));
    }
    xml.push_str("  <worldbody>\n");
    write_element(&mut xml, *top, 2);
    xml.push_str("  </worldbody>\n</mujoco>\n");
    let sites = top
        .descendants()
        .filter(|n| n.has_tag_name("site"))
        .filter_map(|n| n.attribute("name"))
        .map(String::from)
        .collect();
    Ok(RobotSubtree { xml, root_body: top.attribute("name").unwrap_or_default().to_string(), sites })
}

/// Writes `node` (a body, joint or site) with its attributes, and its body/joint/site children.
fn write_element(out: &mut String, node: Node, depth: usize) {
    let indent = "  ".repeat(depth);
    let _ = write!(out, "{indent}<{}", node.tag_name().name());
    for a in node.attributes() {
        let _ = write!(out, " {}=\"{}\"", a.name(), escape(a.value()));
    }
    let kept: Vec<Node> = node
        .children()
        .filter(|c| c.has_tag_name("body") || c.has_tag_name("joint") || c.has_tag_name("site"))
        .collect();
    if kept.is_empty() {
        out.push_str(" />\n");
        return;
    }
    out.push_str(">\n");
    for c in kept {
        write_element(out, c, depth + 1);
    }
    let _ = writeln!(out, "{indent}</{}>", node.tag_name().name());
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The end-effector site: `wanted` if given (it must be in `sites`), else the first site named
/// `grip_site` or ending in `_grip_site` (robosuite's convention).
pub(crate) fn end_effector(sites: &[String], wanted: Option<&str>, at: &Location) -> Result<Option<String>> {
    match wanted {
        Some(w) if sites.iter().any(|s| s == w) => Ok(Some(w.to_string())),
        Some(w) => Err(Error::invalid(
            at.clone().column("end_effector"),
            format!("no site \"{w}\" in the robot (sites: {})", sites.join(", ")),
        )),
        None => Ok(sites.iter().find(|s| *s == "grip_site" || s.ends_with("_grip_site")).cloned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENE: &str = r#"<mujoco model="scene"><compiler angle="radian"/><worldbody>
        <body name="table"><geom type="box"/></body>
        <body name="base" pos="0 0 1"><geom type="mesh" mesh="m"/>
          <body name="l1"><joint name="j1" axis="0 0 1"/><site name="s"/>
            <body name="hand"><joint name="finger" type="slide"/><site name="gripper0_grip_site" pos="0 0 0.1"/></body>
          </body>
        </body>
        <body name="can"><joint name="can_jnt" type="free"/></body>
        <body name="ball"><joint name="b" type="ball"/><body><joint name="after"/></body></body>
      </worldbody></mujoco>"#;

    #[test]
    fn qpos_layout_counts_free_and_ball_joints() {
        let doc = Document::parse(SCENE).unwrap();
        let (joints, nq, nv) = joints(&doc, &Location::file("m.xml")).unwrap();
        let q: Vec<(&str, usize)> = joints.iter().map(|j| (j.name.as_str(), j.qpos)).collect();
        assert_eq!(q, [("j1", 0), ("finger", 1), ("can_jnt", 2), ("b", 9), ("after", 13)]);
        assert_eq!((nq, nv), (14, 12));
    }

    #[test]
    fn subtree_keeps_bodies_joints_and_sites() {
        let doc = Document::parse(SCENE).unwrap();
        let names = vec!["j1".to_string(), "finger".to_string()];
        let sub = robot_subtree(&doc, &names, "bot", &Location::file("m.xml")).unwrap();
        assert_eq!(sub.root_body, "base");
        assert!(
            !sub.xml.contains("geom") && sub.xml.contains("<joint name=\"finger\" type=\"slide\" />"),
            "{}",
            sub.xml
        );
        let ee = end_effector(&sub.sites, None, &Location::file("m.xml")).unwrap();
        assert_eq!(ee.as_deref(), Some("gripper0_grip_site"));
        // The document parses back into the same kinematic tree.
        let robot = crate::kinematics::RobotModel::from_mjcf_str(&sub.xml, std::path::Path::new("r.xml")).unwrap();
        assert_eq!(robot.joint_names(), ["j1", "finger"]);
        let e = robot_subtree(&doc, &["j1".into(), "can_jnt".into()], "bot", &Location::file("m.xml")).unwrap_err();
        assert!(e.to_string().contains("can_jnt"), "{e}");
    }
}
