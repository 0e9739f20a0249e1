//! The arm in 3D. Where the robot description has geometry (URDF links with meshes or shapes),
//! each body's shapes are logged once under `<arm>/links/<body>/visual_<i>` and the body is
//! moved frame by frame with a `Transform3D` from forward kinematics; without geometry the arm
//! is a stick figure (links between body origins, joints as points).

use nalgebra::{Isometry3, Point3};
use rerun::RecordingStream;

use crate::error::{Error, Result};
use crate::kinematics::{Geometry, Kinematics, RobotModel};

/// How one arm is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArmStyle {
    /// RGB colour of the arm's surfaces and of the stick figure.
    pub(crate) color: [u8; 3],
    /// Opacity of the arm's surfaces (255: opaque).
    pub(crate) alpha: u8,
    /// Link radius of the stick figure (m).
    pub(crate) link_radius: f32,
}

/// The geometry of a robot, read once: what can be drawn of each visual.
pub(crate) struct ArmGeometry {
    shapes: Vec<(usize, Isometry3<f64>, Shape)>,
}

enum Shape {
    /// Mesh file bytes, the path's media type, and the scale.
    Mesh(Vec<u8>, Option<rerun::MediaType>, [f32; 3]),
    Box([f32; 3]),
    Cylinder(f32, f32),
    Sphere(f32),
}

impl ArmGeometry {
    /// No geometry: arms are drawn as stick figures.
    pub(crate) fn none() -> Self {
        Self { shapes: vec![] }
    }

    /// Loads the robot's geometry; mesh files that cannot be read are skipped (and said so in
    /// the returned notes). Empty when there is nothing to draw.
    pub(crate) fn load(robot: &RobotModel) -> (Self, Vec<String>) {
        let mut shapes = Vec::new();
        let mut notes = Vec::new();
        for v in &robot.visuals {
            let shape = match &v.geometry {
                Geometry::Mesh { path, scale } => match std::fs::read(path) {
                    Ok(bytes) => Shape::Mesh(bytes, rerun::MediaType::guess_from_path(path), scale.map(|s| s as f32)),
                    Err(e) => {
                        notes.push(format!("{}: {e}; the link is drawn without it", path.display()));
                        continue;
                    }
                },
                Geometry::Box { size } => Shape::Box(size.map(|s| s as f32 / 2.0)),
                Geometry::Cylinder { radius, length } => Shape::Cylinder(*radius as f32, *length as f32),
                Geometry::Sphere { radius } => Shape::Sphere(*radius as f32),
            };
            shapes.push((v.body, v.origin, shape));
        }
        (Self { shapes }, notes)
    }

    /// Whether there is no shape to draw (the arm is then a stick figure).
    pub(crate) fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }
}

fn viz(e: impl std::fmt::Display) -> Error {
    Error::Viz(e.to_string())
}

fn point(p: &Point3<f64>) -> [f32; 3] {
    [p.x as f32, p.y as f32, p.z as f32]
}

fn transform(pose: &Isometry3<f64>) -> rerun::Transform3D {
    let t = pose.translation.vector;
    let q = pose.rotation.coords; // x, y, z, w
    rerun::Transform3D::from_translation_rotation(
        [t.x as f32, t.y as f32, t.z as f32],
        rerun::Quaternion::from_xyzw([q.x as f32, q.y as f32, q.z as f32, q.w as f32]),
    )
}

/// An entity-path-safe form of a body name.
fn part(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if s.is_empty() { "body".into() } else { s }
}

/// Logs the arm's shapes under `path` (at the current time, or as static data), each in its
/// body's frame. Call once per arm before [`log_arm`] moves the bodies.
pub(crate) fn log_arm_geometry(
    rec: &RecordingStream,
    path: &str,
    robot: &RobotModel,
    geometry: &ArmGeometry,
    style: ArmStyle,
    static_: bool,
) -> Result<()> {
    let [r, g, b] = style.color;
    let rgba = rerun::Rgba32::from_unmultiplied_rgba(r, g, b, style.alpha);
    let log = |entity: &str, archetype: &dyn rerun::AsComponents| {
        if static_ { rec.log_static(entity, archetype) } else { rec.log(entity, archetype) }.map_err(viz)
    };
    for (i, (body, origin, shape)) in geometry.shapes.iter().enumerate() {
        let entity = format!("{path}/links/{}/visual_{i}", part(&robot.bodies[*body].name));
        match shape {
            Shape::Mesh(bytes, media, scale) => {
                log(&entity, &transform(origin).with_scale(*scale))?;
                log(
                    &entity,
                    &rerun::Asset3D::from_file_contents(bytes.clone(), media.clone()).with_albedo_factor(rgba),
                )?;
            }
            Shape::Box(half) => {
                log(&entity, &transform(origin))?;
                log(
                    &entity,
                    &rerun::Boxes3D::from_half_sizes([*half])
                        .with_colors([rgba])
                        .with_fill_mode(rerun::FillMode::Solid),
                )?;
            }
            Shape::Cylinder(radius, length) => {
                log(&entity, &transform(origin))?;
                log(
                    &entity,
                    &rerun::Cylinders3D::from_lengths_and_radii([*length], [*radius])
                        .with_colors([rgba])
                        .with_fill_mode(rerun::FillMode::Solid),
                )?;
            }
            Shape::Sphere(radius) => {
                log(&entity, &transform(origin))?;
                log(
                    &entity,
                    &rerun::Ellipsoids3D::from_radii([*radius])
                        .with_colors([rgba])
                        .with_fill_mode(rerun::FillMode::Solid),
                )?;
            }
        }
    }
    Ok(())
}

/// The arm at state `q` under `path`: every body that has geometry is moved to its pose (when
/// `geometry` is not empty), otherwise a stick figure is drawn.
pub(crate) fn log_arm(
    rec: &RecordingStream,
    path: &str,
    k: &Kinematics,
    q: &[f32],
    geometry: &ArmGeometry,
    style: ArmStyle,
) -> Result<()> {
    let poses = k.robot.forward(q, &k.map);
    if !geometry.is_empty() {
        let mut done = vec![false; poses.len()];
        for (body, _, _) in &geometry.shapes {
            if !std::mem::replace(&mut done[*body], true) {
                let entity = format!("{path}/links/{}", part(&k.robot.bodies[*body].name));
                rec.log(entity, &transform(&poses[*body])).map_err(viz)?;
            }
        }
        return Ok(());
    }
    let links: Vec<[[f32; 3]; 2]> = k.robot.skeleton(&poses).iter().map(|[a, b]| [point(a), point(b)]).collect();
    let joints: Vec<[f32; 3]> = k
        .robot
        .bodies
        .iter()
        .zip(&poses)
        .filter(|(b, _)| !b.joints.is_empty())
        .map(|(_, pose)| point(&Point3::from(pose.translation.vector)))
        .collect();
    rec.log(
        format!("{path}/links"),
        &rerun::LineStrips3D::new(links).with_colors([style.color]).with_radii([style.link_radius]),
    )
    .map_err(viz)?;
    rec.log(format!("{path}/joints"), &rerun::Points3D::new(joints).with_colors([style.color]).with_radii([0.02]))
        .map_err(viz)?;
    Ok(())
}
