//! Forward kinematics: a robot as a tree of bodies connected by hinge and slide joints (as in
//! openrr's `k`), computed with nalgebra. Each description format converts into this tree in its
//! own module ([`mjcf`]).

pub mod mjcf;

use nalgebra::{Isometry3, Point3, Translation3, Unit, UnitQuaternion, Vector3};

use crate::data::Dataset;
use crate::error::{Error, Location, Result, quote};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JointKind {
    Hinge,
    Slide,
}

#[derive(Debug, Clone)]
pub struct Joint {
    pub name: String,
    pub kind: JointKind,
    /// Axis in the body frame.
    pub axis: Unit<Vector3<f64>>,
    /// Point on the axis (hinge) in the body frame.
    pub pos: Vector3<f64>,
}

#[derive(Debug, Clone)]
pub struct Body {
    pub name: String,
    pub parent: Option<usize>,
    /// Pose of the body frame in its parent's frame at zero joint values.
    pub offset: Isometry3<f64>,
    pub joints: Vec<Joint>,
}

#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub body: usize,
    pub pos: Vector3<f64>,
}

/// A kinematic tree: bodies in document order (every parent before its children).
#[derive(Debug, Clone)]
pub struct RobotModel {
    pub name: String,
    pub bodies: Vec<Body>,
    pub sites: Vec<Site>,
}

/// For each body, for each of its joints, the state channel that drives it (`None`: held at 0).
#[derive(Debug, Clone)]
pub struct JointMap(Vec<Vec<Option<usize>>>);

impl RobotModel {
    /// Names of all joints, in document order.
    pub fn joint_names(&self) -> Vec<&str> {
        self.bodies.iter().flat_map(|b| b.joints.iter().map(|j| j.name.as_str())).collect()
    }

    /// Connects joints to state channels by name. Joints without a channel stay at zero.
    pub fn joint_map(&self, channels: &[String]) -> JointMap {
        JointMap(
            self.bodies
                .iter()
                .map(|b| b.joints.iter().map(|j| channels.iter().position(|c| *c == j.name)).collect())
                .collect(),
        )
    }

    pub fn site(&self, name: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.name == name)
    }

    /// World pose of every body for the state `q`.
    pub fn forward(&self, q: &[f32], map: &JointMap) -> Vec<Isometry3<f64>> {
        let mut poses: Vec<Isometry3<f64>> = Vec::with_capacity(self.bodies.len());
        for (body, channels) in self.bodies.iter().zip(&map.0) {
            let mut pose = body.parent.map_or(Isometry3::identity(), |p| poses[p]) * body.offset;
            for (joint, channel) in body.joints.iter().zip(channels) {
                let value = channel.map_or(0.0, |c| q[c] as f64);
                pose *= match joint.kind {
                    JointKind::Hinge => {
                        let p = Translation3::from(joint.pos);
                        Isometry3::from_parts(p, UnitQuaternion::identity())
                            * Isometry3::from_parts(
                                Translation3::identity(),
                                UnitQuaternion::from_axis_angle(&joint.axis, value),
                            )
                            * Isometry3::from_parts(p.inverse(), UnitQuaternion::identity())
                    }
                    JointKind::Slide => {
                        Isometry3::translation(joint.axis.x * value, joint.axis.y * value, joint.axis.z * value)
                    }
                };
            }
            poses.push(pose);
        }
        poses
    }

    /// World position of site `site` given body poses from [`forward`](Self::forward).
    pub fn site_position(&self, poses: &[Isometry3<f64>], site: usize) -> Point3<f64> {
        let s = &self.sites[site];
        poses[s.body] * Point3::from(s.pos)
    }

    /// Line segments from each body's origin to its children's (zero-length ones dropped):
    /// a stick figure of the arm.
    pub fn skeleton(&self, poses: &[Isometry3<f64>]) -> Vec<[Point3<f64>; 2]> {
        self.bodies
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let from = Point3::from(poses[b.parent?].translation.vector);
                let to = Point3::from(poses[i].translation.vector);
                ((to - from).norm() > 1e-6).then_some([from, to])
            })
            .collect()
    }
}

/// A robot with its joints connected to a dataset's channels and an end effector: what the
/// evaluation (end-effector error) and the 3D view need.
#[derive(Debug, Clone)]
pub struct Kinematics {
    pub robot: RobotModel,
    pub map: JointMap,
    /// The site whose position is the end effector.
    pub end_effector: Option<usize>,
}

impl Kinematics {
    /// The kinematics named by `dataset.json`'s `robot_description`, if it has one. A named
    /// description that is missing or malformed is an error (reported before any training).
    pub fn for_dataset(dataset: &Dataset) -> Result<Option<Self>> {
        let (Some(r), Some(path)) = (&dataset.meta.robot_description, dataset.robot_description_path()) else {
            return Ok(None);
        };
        let robot = match r.format.as_str() {
            "mjcf" => RobotModel::from_mjcf_file(&path)?,
            other => {
                return Err(Error::invalid(
                    Location::file(&path),
                    format!("robot descriptions in format \"{other}\" are not supported by this build"),
                ));
            }
        };
        let end_effector = robot.site(&r.end_effector);
        if end_effector.is_none() {
            return Err(Error::invalid(
                Location::file(&path),
                format!("no site named {} (dataset.json robot_description.end_effector)", quote(&r.end_effector)),
            ));
        }
        let map = robot.joint_map(&dataset.meta.channels());
        Ok(Some(Self { robot, map, end_effector }))
    }

    /// World position of the end effector for state `q`.
    pub fn end_effector_position(&self, q: &[f32]) -> Option<Point3<f64>> {
        self.end_effector.map(|s| self.robot.site_position(&self.robot.forward(q, &self.map), s))
    }
}
