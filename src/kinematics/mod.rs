//! Forward kinematics: a robot as a tree of bodies connected by hinge and slide joints (as in
//! openrr's `k`), computed with nalgebra. Each description format converts into this tree in its
//! own module (`mjcf`, `urdf`); a description may also carry the bodies' geometry
//! ([`Visual`]), which the 3D view draws.

pub(crate) mod ik;
pub(crate) mod mjcf;
pub(crate) mod urdf;

use std::collections::BTreeMap;
use std::path::PathBuf;

use nalgebra::{Isometry3, Point3, Translation3, Unit, UnitQuaternion, Vector3};

use crate::data::Dataset;
use crate::error::{Error, Location, Result, quote};

/// How a joint moves its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JointKind {
    /// Rotation about the axis, value in radians (MJCF `hinge`, URDF revolute or continuous).
    Hinge,
    /// Translation along the axis, value in metres (MJCF `slide`, URDF prismatic).
    Slide,
}

/// One degree of freedom of a body, moving it relative to its parent.
#[derive(Debug, Clone)]
pub struct Joint {
    /// Joint name in the description; state channels of the same name drive it.
    pub name: String,
    /// Hinge or slide.
    pub kind: JointKind,
    /// Axis in the body frame.
    pub axis: Unit<Vector3<f64>>,
    /// Point on the axis (hinge) in the body frame.
    pub pos: Vector3<f64>,
    /// Limits `(lower, upper)` (rad or m) when the description declares them.
    pub range: Option<(f64, f64)>,
    /// A joint that follows another (URDF `<mimic>`): `value = multiplier · other + offset`.
    pub mimic: Option<Mimic>,
}

/// A URDF `<mimic>`: the joint follows another, `value = multiplier · other + offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mimic {
    /// Name of the joint followed.
    pub joint: String,
    /// Factor on the followed joint's value (1 when the URDF gives none).
    pub multiplier: f64,
    /// Added to the product, in the joint's unit (rad or m; 0 when the URDF gives none).
    pub offset: f64,
}

/// A shape attached to a body, posed in the body frame.
#[derive(Debug, Clone)]
pub struct Visual {
    /// Index of the body it moves with, into [`RobotModel::bodies`].
    pub body: usize,
    /// Pose of the shape in the body frame (metres).
    pub origin: Isometry3<f64>,
    /// The shape.
    pub geometry: Geometry,
}

/// A shape to draw, as a URDF `<geometry>` gives it; lengths in metres.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// A mesh file (STL, OBJ, glTF, DAE) and its scale; `path` is resolved, but the file may be
    /// missing (then nothing is drawn for it).
    Mesh {
        /// The mesh file, resolved against the description's folder.
        path: PathBuf,
        /// Scale factor per axis `[x, y, z]` (1 when the description gives none).
        scale: [f64; 3],
    },
    /// A box centred on its origin.
    Box {
        /// Full edge lengths `[x, y, z]`, m.
        size: [f64; 3],
    },
    /// A cylinder along its z axis, centred on its origin (URDF capsules are drawn as these).
    Cylinder {
        /// Radius, m.
        radius: f64,
        /// Full length along z, m.
        length: f64,
    },
    /// A sphere centred on its origin.
    Sphere {
        /// Radius, m.
        radius: f64,
    },
}

/// A rigid body (an MJCF `<body>`, a URDF link) and the joints that move it.
#[derive(Debug, Clone)]
pub struct Body {
    /// Body or link name.
    pub name: String,
    /// Index of the parent body in [`RobotModel::bodies`] (`None`: attached to the world).
    pub parent: Option<usize>,
    /// Pose of the body frame in its parent's frame at zero joint values.
    pub offset: Isometry3<f64>,
    /// Joints applied in order after the offset (empty for a fixed body).
    pub joints: Vec<Joint>,
}

/// A named point on a body (an MJCF `<site>`, or a URDF link's origin), e.g. the end effector.
#[derive(Debug, Clone)]
pub struct Site {
    /// Site name (for URDF, the link's name).
    pub name: String,
    /// Index of the body it is fixed to, into [`RobotModel::bodies`].
    pub body: usize,
    /// Position in the body frame, m.
    pub pos: Vector3<f64>,
}

/// A kinematic tree: bodies in document order (every parent before its children).
#[derive(Debug, Clone)]
pub struct RobotModel {
    /// Robot name (MJCF `model`, URDF `robot name`).
    pub name: String,
    /// The bodies, every parent before its children.
    pub bodies: Vec<Body>,
    /// Named points, in document order.
    pub sites: Vec<Site>,
    /// Geometry to draw (empty when the description has none, e.g. our stripped MJCF).
    pub visuals: Vec<Visual>,
}

/// For each body, for each of its joints, what drives it.
#[derive(Debug, Clone)]
pub struct JointMap(Vec<Vec<Drive>>);

/// A joint's value: `offset + scale · q[channel]`, or `offset` alone without a channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Drive {
    /// Index of the state channel that drives the joint (`None`: no channel does).
    pub(crate) channel: Option<usize>,
    /// Factor on the channel's value (a mimic's multiplier, else 1).
    pub(crate) scale: f64,
    /// Added to the scaled value, rad or m (a mimic's offset, else 0).
    pub(crate) offset: f64,
}

impl RobotModel {
    /// A robot with no body (nothing to draw, nothing to move).
    pub fn empty() -> Self {
        Self { name: String::new(), bodies: vec![], sites: vec![], visuals: vec![] }
    }

    /// Names of all joints, in document order.
    pub fn joint_names(&self) -> Vec<&str> {
        self.bodies.iter().flat_map(|b| b.joints.iter().map(|j| j.name.as_str())).collect()
    }

    /// Connects joints to state channels by name. Joints without a channel stay at zero.
    pub fn joint_map(&self, channels: &[String]) -> JointMap {
        self.joint_map_with(channels, &BTreeMap::new())
    }

    /// Connects joints to state channels: a channel drives the joint `aliases` names for it,
    /// else the joint of its own name; a joint with no channel that mimics one that has a
    /// channel follows it; any other joint stays at zero.
    pub fn joint_map_with(&self, channels: &[String], aliases: &BTreeMap<String, String>) -> JointMap {
        let direct = |name: &str| channels.iter().position(|c| aliases.get(c).unwrap_or(c) == name);
        JointMap(
            self.bodies
                .iter()
                .map(|b| {
                    b.joints
                        .iter()
                        .map(|j| match (direct(&j.name), &j.mimic) {
                            (Some(c), _) => Drive { channel: Some(c), scale: 1.0, offset: 0.0 },
                            (None, Some(m)) => {
                                Drive { channel: direct(&m.joint), scale: m.multiplier, offset: m.offset }
                            }
                            (None, None) => Drive { channel: None, scale: 1.0, offset: 0.0 },
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// Index of the site called `name` in [`sites`](Self::sites).
    pub fn site(&self, name: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.name == name)
    }

    /// World pose of every body for the state `q`.
    pub fn forward(&self, q: &[f32], map: &JointMap) -> Vec<Isometry3<f64>> {
        self.forward_visit(|c| q[c] as f64, map, |_, _, _| {})
    }

    /// World pose of every body for the joint values `value(channel)`, in f64. `visit` sees each
    /// joint with its channel and the world frame it turns in (before its own motion), which is
    /// what a Jacobian needs.
    pub(crate) fn forward_visit(
        &self,
        value: impl Fn(usize) -> f64,
        map: &JointMap,
        mut visit: impl FnMut(&Joint, Option<usize>, &Isometry3<f64>),
    ) -> Vec<Isometry3<f64>> {
        let mut poses: Vec<Isometry3<f64>> = Vec::with_capacity(self.bodies.len());
        for (body, channels) in self.bodies.iter().zip(&map.0) {
            let mut pose = body.parent.map_or(Isometry3::identity(), |p| poses[p]) * body.offset;
            for (joint, drive) in body.joints.iter().zip(channels) {
                visit(joint, drive.channel, &pose);
                // A joint's value: `offset + scale · q[channel]` (mimic joints), or `offset` alone.
                let value = drive.offset + drive.channel.map_or(0.0, |c| drive.scale * value(c));
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
    #[cfg_attr(not(feature = "rerun"), allow(dead_code))]
    pub(crate) fn skeleton(&self, poses: &[Isometry3<f64>]) -> Vec<[Point3<f64>; 2]> {
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
    /// The kinematic tree.
    pub robot: RobotModel,
    /// Which dataset channel drives each joint.
    pub map: JointMap,
    /// The site whose position is the end effector.
    pub end_effector: Option<usize>,
}

impl Kinematics {
    /// The state width the joint map reads (one past its highest channel).
    #[cfg_attr(not(feature = "rerun"), allow(dead_code))]
    pub(crate) fn map_width(&self) -> usize {
        self.map.0.iter().flatten().filter_map(|d| d.channel).max().map_or(0, |c| c + 1)
    }

    /// The kinematics named by `dataset.json`'s `robot_description`, if it has one. A named
    /// description that is missing or malformed is an error (reported before any training).
    pub fn for_dataset(dataset: &Dataset) -> Result<Option<Self>> {
        let (Some(r), Some(path)) = (&dataset.meta.robot_description, dataset.robot_description_path()) else {
            return Ok(None);
        };
        dataset.check_inside(&path, dataset.robot_description_field())?;
        let robot = match r.format.as_str() {
            "mjcf" => RobotModel::from_mjcf_file(&path)?,
            "urdf" => RobotModel::from_urdf_file(&path)?,
            other => {
                return Err(Error::invalid(
                    Location::file(&path),
                    format!("robot descriptions in format \"{other}\" are not supported by this build"),
                ));
            }
        };
        for visual in &robot.visuals {
            if let Geometry::Mesh { path: mesh, .. } = &visual.geometry {
                let link = &robot.bodies[visual.body].name;
                dataset.check_inside(mesh, Location::file(&path).column(format!("mesh of link {link}")))?;
            }
        }
        let end_effector = robot.site(&r.end_effector);
        if end_effector.is_none() {
            let what = if r.format == "urdf" { "link" } else { "site" };
            return Err(Error::invalid(
                Location::file(&path),
                format!("no {what} named {} (dataset.json robot_description.end_effector)", quote(&r.end_effector)),
            ));
        }
        let names = robot.joint_names();
        if let Some((c, j)) = r.joints.iter().find(|(_, j)| !names.contains(&j.as_str())) {
            return Err(Error::invalid(
                Location::file(&path),
                format!(
                    "dataset.json robot_description.joints maps `{c}` to \"{j}\", which the description does not have"
                ),
            ));
        }
        let map = robot.joint_map_with(&dataset.meta.channels(), &r.joints);
        Ok(Some(Self { robot, map, end_effector }))
    }

    /// World position of the end effector for state `q`.
    pub fn end_effector_position(&self, q: &[f32]) -> Option<Point3<f64>> {
        self.end_effector.map(|s| self.robot.site_position(&self.robot.forward(q, &self.map), s))
    }
}
