//! Forward kinematics from a MuJoCo MJCF robot description (the bodies' `pos`/`quat` offsets and
//! the `hinge`/`slide` joints' axes), computed with nalgebra.

use std::path::Path;

use nalgebra::{Isometry3, Point3, Quaternion, Translation3, Unit, UnitQuaternion, Vector3};

use crate::error::{Error, Location, Result};

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
    pub fn from_mjcf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_mjcf_str(&text, path)
    }

    /// Parses the `worldbody` of an MJCF document; `path` is used in error messages.
    pub fn from_mjcf_str(text: &str, path: &Path) -> Result<Self> {
        let doc = roxmltree::Document::parse(text).map_err(|e| {
            Error::invalid(Location::file(path).line(e.pos().row as u64), format!("not valid XML: {e}"))
        })?;
        let root = doc.root_element();
        let worldbody = root
            .children()
            .find(|n| n.has_tag_name("worldbody"))
            .ok_or_else(|| Error::invalid(Location::file(path), "no <worldbody> element"))?;
        let mut model =
            RobotModel { name: root.attribute("model").unwrap_or("robot").to_string(), bodies: vec![], sites: vec![] };
        let parser = Parser { path, doc: &doc };
        for body in worldbody.children().filter(|n| n.has_tag_name("body")) {
            parser.body(body, None, &mut model)?;
        }
        if model.bodies.is_empty() {
            return Err(Error::invalid(Location::file(path), "<worldbody> holds no <body>"));
        }
        Ok(model)
    }

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

struct Parser<'a> {
    path: &'a Path,
    doc: &'a roxmltree::Document<'a>,
}

impl Parser<'_> {
    fn at(&self, node: roxmltree::Node, attribute: &str) -> Location {
        let pos = self.doc.text_pos_at(node.range().start);
        Location::file(self.path).line(pos.row as u64).column(format!("<{}> {attribute}", node.tag_name().name()))
    }

    fn vector(&self, node: roxmltree::Node, attribute: &str, default: [f64; 3]) -> Result<Vector3<f64>> {
        let v = self.numbers::<3>(node, attribute)?.unwrap_or(default);
        Ok(Vector3::new(v[0], v[1], v[2]))
    }

    fn numbers<const N: usize>(&self, node: roxmltree::Node, attribute: &str) -> Result<Option<[f64; N]>> {
        let Some(text) = node.attribute(attribute) else {
            return Ok(None);
        };
        let values: Vec<f64> =
            text.split_whitespace().map(|s| s.parse::<f64>()).collect::<std::result::Result<_, _>>().map_err(|_| {
                Error::invalid(self.at(node, attribute), format!("\"{text}\" is not a list of numbers"))
            })?;
        let array: [f64; N] = values
            .try_into()
            .map_err(|_| Error::invalid(self.at(node, attribute), format!("expected {N} numbers, found \"{text}\"")))?;
        Ok(Some(array))
    }

    fn body(&self, node: roxmltree::Node, parent: Option<usize>, model: &mut RobotModel) -> Result<()> {
        for unsupported in ["euler", "axisangle", "xyaxes", "zaxis"] {
            if node.has_attribute(unsupported) {
                return Err(Error::invalid(
                    self.at(node, unsupported),
                    "orientation given this way is not supported; use quat",
                ));
            }
        }
        let pos = self.vector(node, "pos", [0.0; 3])?;
        let [w, x, y, z] = self.numbers::<4>(node, "quat")?.unwrap_or([1.0, 0.0, 0.0, 0.0]);
        let rotation = UnitQuaternion::from_quaternion(Quaternion::new(w, x, y, z));
        let index = model.bodies.len();
        let mut joints = Vec::new();
        for child in node.children().filter(|n| n.is_element()) {
            match child.tag_name().name() {
                "joint" => joints.push(self.joint(child)?),
                "site" => model.sites.push(Site {
                    name: child.attribute("name").unwrap_or_default().to_string(),
                    body: index,
                    pos: self.vector(child, "pos", [0.0; 3])?,
                }),
                _ => {}
            }
        }
        model.bodies.push(Body {
            name: node.attribute("name").unwrap_or_default().to_string(),
            parent,
            offset: Isometry3::from_parts(Translation3::from(pos), rotation),
            joints,
        });
        for child in node.children().filter(|n| n.has_tag_name("body")) {
            self.body(child, Some(index), model)?;
        }
        Ok(())
    }

    fn joint(&self, node: roxmltree::Node) -> Result<Joint> {
        let kind = match node.attribute("type").unwrap_or("hinge") {
            "hinge" => JointKind::Hinge,
            "slide" => JointKind::Slide,
            other => {
                return Err(Error::invalid(
                    self.at(node, "type"),
                    format!("joint type \"{other}\" is not supported (hinge, slide)"),
                ));
            }
        };
        let axis = self.vector(node, "axis", [0.0, 0.0, 1.0])?;
        if axis.norm() < 1e-12 {
            return Err(Error::invalid(self.at(node, "axis"), "axis has zero length"));
        }
        Ok(Joint {
            name: node.attribute("name").unwrap_or_default().to_string(),
            kind,
            axis: Unit::new_normalize(axis),
            pos: self.vector(node, "pos", [0.0; 3])?,
        })
    }
}
