//! Inverse kinematics of an arm: damped least squares on the site's position and orientation.
//! A 7-joint arm has one joint more than a 6D pose needs; that spare motion (the null space) pulls
//! the arm towards a rest posture, so the elbow does not drift from solve to solve. Joint limits
//! are hard bounds (kept `margin` inside).

use nalgebra::{DMatrix, DVector, Isometry3, Matrix6, Point3, Translation3, UnitQuaternion, Vector3, Vector6};

use super::{JointKind, JointMap, RobotModel};
use crate::error::{Error, Result};

/// How hard the solver tries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IkConfig {
    /// Iterations before the solve gives up with an error.
    pub(crate) max_iterations: usize,
    /// Converged when the position error is below this (m)…
    pub(crate) position_tolerance: f64,
    /// …and the orientation error below this (rad).
    pub(crate) rotation_tolerance: f64,
    /// Damping λ of `Jᵀ(JJᵀ + λ²I)⁻¹`: keeps steps bounded near singular poses.
    pub(crate) damping: f64,
    /// Gain of the pull towards the rest posture, in the null space of the task.
    pub(crate) rest_gain: f64,
    /// Largest joint change per iteration (rad).
    pub(crate) max_step: f64,
    /// Distance kept from each joint limit (rad).
    pub(crate) margin: f64,
}

impl Default for IkConfig {
    fn default() -> Self {
        Self {
            max_iterations: 200,
            position_tolerance: 1e-5,
            rotation_tolerance: 1e-4,
            damping: 1e-2,
            rest_gain: 0.2,
            max_step: 0.2,
            margin: 0.05,
        }
    }
}

/// A solved pose.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IkSolution {
    /// The full state vector (every channel; only the arm's were changed).
    pub(crate) q: Vec<f64>,
    /// Distance of the site from the target position, m.
    pub(crate) position_error: f64,
    /// Angle between the site's orientation and the target's, rad.
    pub(crate) rotation_error: f64,
    /// Iterations taken (0 when the start already met the tolerances).
    pub(crate) iterations: usize,
}

/// An arm whose `arm` channels move a site.
#[derive(Debug, Clone)]
pub(crate) struct IkSolver {
    /// The kinematic tree the solver moves.
    pub(crate) robot: RobotModel,
    /// Which state channel drives each joint (by name).
    pub(crate) map: JointMap,
    site: usize,
    /// Channels the solver moves, and their limits (with the margin applied).
    arm: Vec<usize>,
    limits: Vec<(f64, f64)>,
    /// Posture the null-space motion pulls towards (full state vector).
    pub(crate) rest: Vec<f64>,
    /// Iterations, tolerances, damping and step limits.
    pub(crate) config: IkConfig,
}

impl IkSolver {
    /// `channels` names the state vector's entries; the solver moves the hinge joints among
    /// `arm_channels` (indices into `channels`) and needs each to have declared limits.
    pub(crate) fn new(
        robot: RobotModel,
        channels: &[String],
        arm_channels: &[usize],
        site: &str,
        rest: Vec<f64>,
        config: IkConfig,
    ) -> Result<Self> {
        let site_index = robot.site(site).ok_or_else(|| Error::Config(format!("the robot has no site \"{site}\"")))?;
        if rest.len() != channels.len() {
            return Err(Error::Config(format!(
                "rest posture has {} values for {} channels",
                rest.len(),
                channels.len()
            )));
        }
        let map = robot.joint_map(channels);
        let mut limits = Vec::with_capacity(arm_channels.len());
        for &c in arm_channels {
            let name = channels.get(c).ok_or_else(|| Error::Config(format!("no channel {c}")))?;
            let joint = robot
                .bodies
                .iter()
                .flat_map(|b| &b.joints)
                .find(|j| &j.name == name)
                .ok_or_else(|| Error::Config(format!("the robot has no joint \"{name}\"")))?;
            let (lo, hi) = joint.range.ok_or_else(|| Error::Config(format!("joint \"{name}\" declares no limits")))?;
            if joint.kind != JointKind::Hinge || hi - lo <= 2.0 * config.margin {
                return Err(Error::Config(format!("joint \"{name}\" is not a hinge with room inside its limits")));
            }
            limits.push((lo + config.margin, hi - config.margin));
        }
        Ok(Self { robot, map, site: site_index, arm: arm_channels.to_vec(), limits, rest, config })
    }

    /// World pose of the site: the position of the site, the orientation of its body.
    pub(crate) fn pose(&self, q: &[f64]) -> Isometry3<f64> {
        let poses = self.robot.forward_visit(|c| q[c], &self.map, |_, _, _| {});
        self.site_pose(&poses)
    }

    fn site_pose(&self, poses: &[Isometry3<f64>]) -> Isometry3<f64> {
        let s = &self.robot.sites[self.site];
        poses[s.body] * Isometry3::from_parts(Translation3::from(s.pos), UnitQuaternion::identity())
    }

    /// The site pose and the geometric Jacobian `[6, arm]` (linear rows, then angular) at `q`.
    pub(crate) fn jacobian(&self, q: &[f64]) -> (Isometry3<f64>, DMatrix<f64>) {
        let mut axes: Vec<(usize, Vector3<f64>, Point3<f64>)> = Vec::with_capacity(self.arm.len());
        let poses = self.robot.forward_visit(
            |c| q[c],
            &self.map,
            |joint, channel, frame| {
                if let Some(c) = channel
                    && joint.kind == JointKind::Hinge
                {
                    axes.push((c, frame.rotation * joint.axis.into_inner(), frame * Point3::from(joint.pos)));
                }
            },
        );
        let pose = self.site_pose(&poses);
        let p = Point3::from(pose.translation.vector);
        let mut j = DMatrix::zeros(6, self.arm.len());
        for (col, c) in self.arm.iter().enumerate() {
            // A joint that does not move the site (e.g. on another branch) keeps a zero column.
            if let Some((_, a, o)) = axes.iter().find(|(ch, _, _)| ch == c) {
                let v = a.cross(&(p - o));
                j.fixed_view_mut::<3, 1>(0, col).copy_from(&v);
                j.fixed_view_mut::<3, 1>(3, col).copy_from(a);
            }
        }
        (pose, j)
    }

    /// Moves the arm channels of `q0` until the site reaches `target`. Fails (naming the errors
    /// left) when it does not converge within the iteration budget.
    pub(crate) fn solve(&self, target: &Isometry3<f64>, q0: &[f64]) -> Result<IkSolution> {
        let c = &self.config;
        let mut q = q0.to_vec();
        for (i, &ch) in self.arm.iter().enumerate() {
            q[ch] = q[ch].clamp(self.limits[i].0, self.limits[i].1);
        }
        let n = self.arm.len();
        let mut last = (f64::INFINITY, f64::INFINITY);
        for it in 0..=c.max_iterations {
            let (pose, j) = self.jacobian(&q);
            let e = pose_error(&pose, target);
            let (pe, re) = (e.fixed_rows::<3>(0).norm(), e.fixed_rows::<3>(3).norm());
            last = (pe, re);
            if pe < c.position_tolerance && re < c.rotation_tolerance {
                return Ok(IkSolution { q, position_error: pe, rotation_error: re, iterations: it });
            }
            if it == c.max_iterations {
                break;
            }
            // J⁺ = Jᵀ (J Jᵀ + λ² I)⁻¹
            let jjt: Matrix6<f64> = (&j * j.transpose()).fixed_view::<6, 6>(0, 0).into_owned()
                + Matrix6::identity() * (c.damping * c.damping);
            let Some(inv) = jjt.try_inverse() else { break };
            let inv = DMatrix::from_column_slice(6, 6, inv.as_slice());
            let pinv = j.transpose() * inv;
            let task = &pinv * DVector::from_column_slice(e.as_slice());
            let to_rest = DVector::from_iterator(n, self.arm.iter().map(|&ch| self.rest[ch] - q[ch]));
            let null = null_space_projector(&j) * to_rest * c.rest_gain;
            let mut dq = task + null;
            let norm = dq.amax();
            if norm > c.max_step {
                dq *= c.max_step / norm;
            }
            for (i, &ch) in self.arm.iter().enumerate() {
                q[ch] = (q[ch] + dq[i]).clamp(self.limits[i].0, self.limits[i].1);
            }
        }
        Err(Error::Mismatch(format!(
            "inverse kinematics did not converge: {:.2} mm and {:.3}° from the target",
            last.0 * 1e3,
            last.1.to_degrees()
        )))
    }
}

/// `I − V Vᵀ` over the right singular vectors of `j` with non-negligible singular values: an
/// exact projector onto the motions that leave the site still. (`I − J⁺J` with the damped
/// inverse is not one: the posture pull would leak into the task and stall convergence.)
fn null_space_projector(j: &DMatrix<f64>) -> DMatrix<f64> {
    let n = j.ncols();
    let svd = j.clone().svd(false, true);
    let v_t = svd.v_t.expect("requested");
    let mut p = DMatrix::identity(n, n);
    for (i, &s) in svd.singular_values.iter().enumerate() {
        if s > 1e-9 {
            let v = v_t.row(i).transpose();
            p -= &v * v.transpose();
        }
    }
    p
}

/// `[position error; orientation error as a rotation vector]`, both in the world frame.
pub(crate) fn pose_error(current: &Isometry3<f64>, target: &Isometry3<f64>) -> Vector6<f64> {
    let dp = target.translation.vector - current.translation.vector;
    let dr = (target.rotation * current.rotation.inverse()).scaled_axis();
    Vector6::new(dp.x, dp.y, dp.z, dr.x, dr.y, dr.z)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{Generator, GeneratorConfig, READY};

    fn solver() -> IkSolver {
        Generator::panda(GeneratorConfig::default()).unwrap().solver
    }

    fn ready() -> Vec<f64> {
        READY.iter().copied().chain([0.04, -0.04]).collect()
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let s = solver();
        let q: Vec<f64> = ready().iter().enumerate().map(|(i, v)| v + 0.1 * (i as f64 - 3.0)).collect();
        let (pose, j) = s.jacobian(&q);
        let h = 1e-6;
        for col in 0..7 {
            let mut qp = q.clone();
            qp[col] += h;
            let mut qm = q.clone();
            qm[col] -= h;
            // Central difference of the pose, as a twist in the world frame.
            let d = (pose_error(&s.pose(&qm), &s.pose(&qp))) / (2.0 * h);
            for row in 0..6 {
                assert!((d[row] - j[(row, col)]).abs() < 1e-6, "J[{row},{col}] = {} vs {}", j[(row, col)], d[row]);
            }
        }
        let _ = pose;
    }

    #[test]
    fn ready_posture_points_the_hand_down_and_solves_reachable_poses() {
        let s = solver();
        let down = s.pose(&ready()).rotation;
        let z = down * Vector3::z();
        assert!((z - Vector3::new(0.0, 0.0, -1.0)).norm() < 1e-5, "hand z axis {z}");
        // A pose reached by some posture is found again from another start.
        let q_true: Vec<f64> = ready().iter().enumerate().map(|(i, v)| if i < 7 { v + 0.3 } else { *v }).collect();
        let target = s.pose(&q_true);
        let sol = s.solve(&target, &ready()).unwrap();
        assert!(sol.position_error < 1e-5 && sol.rotation_error < 1e-4, "{sol:?}");
        let e = pose_error(&s.pose(&sol.q), &target);
        assert!(e.norm() < 1e-4);
        for (i, &(lo, hi)) in s.limits.iter().enumerate() {
            assert!((lo..=hi).contains(&sol.q[i]));
        }
        // Out of reach (3 m away): an error that says how far it got, not a panic.
        let far = Isometry3::translation(3.0, 0.0, 1.0) * Isometry3::from_parts(Translation3::identity(), down);
        assert!(s.solve(&far, &ready()).unwrap_err().to_string().contains("did not converge"));
    }
}
