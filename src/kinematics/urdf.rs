//! URDF robot descriptions through `urdf-rs`: links become bodies (in parent-before-child order
//! from the root link), each joint's `<origin>` the child's offset, revolute/continuous joints
//! hinges and prismatic joints slides (fixed joints add no degree of freedom); `<mimic>` is kept;
//! every link is also a site of its own name, so an end effector is named by its link. Link
//! geometry (`<visual>`, or `<collision>` when a link has no visual) is kept for drawing, mesh
//! paths resolved against the URDF's folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Translation3, Unit, UnitQuaternion, Vector3};

use super::{Body, Geometry, Joint, JointKind, Mimic, RobotModel, Site, Visual};
use crate::error::{Error, Location, Result, quote};

impl RobotModel {
    /// Reads and parses the URDF file at `path` (see [`from_urdf_str`](Self::from_urdf_str)).
    pub fn from_urdf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_urdf_str(&text, path)
    }

    /// Parses a URDF document; `path` names it in messages and anchors relative mesh paths.
    pub fn from_urdf_str(text: &str, path: &Path) -> Result<Self> {
        // roxmltree first: it reports XML syntax errors with their line, and gives the line of
        // each link and joint for the messages below (urdf-rs keeps no positions).
        let doc = roxmltree::Document::parse(text).map_err(|e| {
            Error::invalid(Location::file(path).line(e.pos().row as u64), format!("not valid XML: {e}"))
        })?;
        let lines: HashMap<(String, String), u64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("link") || n.has_tag_name("joint"))
            .filter_map(|n| {
                let line = doc.text_pos_at(n.range().start).row as u64;
                Some(((n.tag_name().name().to_string(), n.attribute("name")?.to_string()), line))
            })
            .collect();
        let at = |tag: &str, name: &str| {
            let loc = Location::file(path).column(format!("<{tag} name=\"{name}\">"));
            match lines.get(&(tag.to_string(), name.to_string())) {
                Some(&line) => loc.line(line),
                None => loc,
            }
        };
        let robot = urdf_rs::read_from_string(text)
            .map_err(|e| Error::invalid(Location::file(path), format!("not a valid URDF: {e}")))?;

        // The tree: each link is the child of at most one joint; exactly one link is no child.
        let mut parent_joint: HashMap<&str, usize> = HashMap::new();
        for (j, joint) in robot.joints.iter().enumerate() {
            if !robot.links.iter().any(|l| l.name == joint.parent.link) {
                return Err(Error::invalid(
                    at("joint", &joint.name),
                    format!("parent link {} does not exist", quote(&joint.parent.link)),
                ));
            }
            if !robot.links.iter().any(|l| l.name == joint.child.link) {
                return Err(Error::invalid(
                    at("joint", &joint.name),
                    format!("child link {} does not exist", quote(&joint.child.link)),
                ));
            }
            if parent_joint.insert(joint.child.link.as_str(), j).is_some() {
                return Err(Error::invalid(
                    at("joint", &joint.name),
                    format!("link {} is the child of two joints", quote(&joint.child.link)),
                ));
            }
        }
        let roots: Vec<&str> =
            robot.links.iter().map(|l| l.name.as_str()).filter(|l| !parent_joint.contains_key(l)).collect();
        let root = match roots.as_slice() {
            [root] => *root,
            [] => return Err(Error::invalid(Location::file(path), "no root link (the joints form a loop)")),
            many => {
                return Err(Error::invalid(
                    Location::file(path),
                    format!("{} root links ({}): a robot is one tree", many.len(), many.join(", ")),
                ));
            }
        };

        let mut model = RobotModel { name: robot.name.clone(), bodies: vec![], sites: vec![], visuals: vec![] };
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut stack = vec![root];
        while let Some(link) = stack.pop() {
            let i = model.bodies.len();
            index.insert(link, i);
            let (parent, offset, joints) = match parent_joint.get(link) {
                None => (None, Isometry3::identity(), vec![]),
                Some(&j) => {
                    let joint = &robot.joints[j];
                    let offset = pose(&joint.origin);
                    (
                        Some(index[joint.parent.link.as_str()]),
                        offset,
                        convert_joint(joint, || at("joint", &joint.name))?,
                    )
                }
            };
            model.bodies.push(Body { name: link.to_string(), parent, offset, joints });
            model.sites.push(Site { name: link.to_string(), body: i, pos: Vector3::zeros() });
            // Children in document order (pushed reversed onto the stack).
            let children: Vec<&str> =
                robot.joints.iter().filter(|j| j.parent.link == link).map(|j| j.child.link.as_str()).collect();
            stack.extend(children.into_iter().rev());
        }
        if model.bodies.len() != robot.links.len() {
            return Err(Error::invalid(Location::file(path), "some links are not connected to the root"));
        }

        let base = path.parent().unwrap_or(Path::new("."));
        for link in &robot.links {
            let body = index[link.name.as_str()];
            let shapes: Vec<(&urdf_rs::Pose, &urdf_rs::Geometry)> = if link.visual.is_empty() {
                link.collision.iter().map(|c| (&c.origin, &c.geometry)).collect()
            } else {
                link.visual.iter().map(|v| (&v.origin, &v.geometry)).collect()
            };
            for (origin, geometry) in shapes {
                let geometry = match geometry {
                    urdf_rs::Geometry::Mesh { filename, scale } => Geometry::Mesh {
                        path: resolve_mesh(filename, base),
                        scale: scale.as_ref().map_or([1.0; 3], |s| s.0),
                    },
                    urdf_rs::Geometry::Box { size } => Geometry::Box { size: size.0 },
                    urdf_rs::Geometry::Cylinder { radius, length } | urdf_rs::Geometry::Capsule { radius, length } => {
                        Geometry::Cylinder { radius: *radius, length: *length }
                    }
                    urdf_rs::Geometry::Sphere { radius } => Geometry::Sphere { radius: *radius },
                };
                model.visuals.push(Visual { body, origin: pose(origin), geometry });
            }
        }
        Ok(model)
    }
}

fn pose(p: &urdf_rs::Pose) -> Isometry3<f64> {
    let [x, y, z] = p.xyz.0;
    let [roll, pitch, yaw] = p.rpy.0;
    // URDF's rpy: rotations about the fixed x, y, z axes, i.e. Rz(yaw)·Ry(pitch)·Rx(roll).
    Isometry3::from_parts(Translation3::new(x, y, z), UnitQuaternion::from_euler_angles(roll, pitch, yaw))
}

fn convert_joint(joint: &urdf_rs::Joint, at: impl Fn() -> Location) -> Result<Vec<Joint>> {
    use urdf_rs::JointType as T;
    let kind = match joint.joint_type {
        T::Fixed => return Ok(vec![]),
        T::Revolute | T::Continuous => JointKind::Hinge,
        T::Prismatic => JointKind::Slide,
        ref other => {
            return Err(Error::invalid(
                at(),
                format!("joint type {other:?} is not supported (revolute, continuous, prismatic, fixed)"),
            ));
        }
    };
    let axis = Vector3::from(joint.axis.xyz.0);
    if axis.norm() <= 1e-12 || !axis.iter().all(|v| v.is_finite()) {
        return Err(Error::invalid(at(), "axis has zero length"));
    }
    Ok(vec![Joint {
        name: joint.name.clone(),
        kind,
        axis: Unit::new_normalize(axis),
        pos: Vector3::zeros(),
        range: joint_limit(joint, kind),
        mimic: joint.mimic.as_ref().map(|m| Mimic {
            joint: m.joint.clone(),
            multiplier: m.multiplier.unwrap_or(1.0),
            offset: m.offset.unwrap_or(0.0),
        }),
    }])
}

/// The joint's limits where URDF declares them (continuous joints have none).
fn joint_limit(joint: &urdf_rs::Joint, kind: JointKind) -> Option<(f64, f64)> {
    let _ = kind;
    match joint.joint_type {
        urdf_rs::JointType::Revolute | urdf_rs::JointType::Prismatic if joint.limit.lower <= joint.limit.upper => {
            Some((joint.limit.lower, joint.limit.upper))
        }
        _ => None,
    }
}

/// A mesh reference as a path: relative to the URDF's folder, `file://` absolute, or
/// `package://<pkg>/<rest>`, looked up as `<pkg>/<rest>` in the URDF's folder and its ancestors
/// (then as `<rest>` beside the URDF).
fn resolve_mesh(filename: &str, base: &Path) -> PathBuf {
    if let Some(abs) = filename.strip_prefix("file://") {
        return PathBuf::from(abs);
    }
    if let Some(rest) = filename.strip_prefix("package://") {
        let (package, inner) = rest.split_once('/').unwrap_or((rest, ""));
        for dir in base.ancestors() {
            let candidate = dir.join(package).join(inner);
            if candidate.exists() {
                return candidate;
            }
            if dir.file_name().is_some_and(|n| n == package) && dir.join(inner).exists() {
                return dir.join(inner);
            }
        }
        return base.join(inner);
    }
    base.join(filename)
}
