//! Where things are and how the hand moves: a random scene (object and goal on the table) and
//! the seven phases of a pick-and-place as minimum-jerk segments of the end effector.

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use super::motion::{Segment, Waypoint};
use super::rng::SplitMix64;

/// Phase labels, in the order of the `phase` column's indices.
pub(crate) const PHASES: [&str; 7] = ["approach", "grasp", "lift", "transport", "place", "release", "retreat"];
/// Phase label: the open hand moves above the object, then down to it.
pub(crate) const APPROACH: u16 = 0;
/// Phase label: the fingers close on the object.
pub(crate) const GRASP: u16 = 1;
/// Phase label: the object is lifted above the table.
pub(crate) const LIFT: u16 = 2;
/// Phase label: the object is carried above the goal.
pub(crate) const TRANSPORT: u16 = 3;
/// Phase label: the object is lowered onto the goal.
pub(crate) const PLACE: u16 = 4;
/// Phase label: the fingers open.
pub(crate) const RELEASE: u16 = 5;
/// Phase label: the open hand moves up, away from the object.
pub(crate) const RETREAT: u16 = 6;

/// The table and the region objects and goals are drawn from, in the world frame of the bundled
/// Panda description (robosuite's: base at (−0.5, −0.1, 0.913), table top at z = 0.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    /// Height of the table top (m).
    pub table_z: f64,
    /// Object and goal centres are drawn in `x_range × y_range`.
    pub x_range: (f64, f64),
    /// Range of the centres' y coordinate (m); see `x_range`.
    pub y_range: (f64, f64),
    /// Smallest distance between object and goal (m).
    pub min_travel: f64,
    /// Height of the hand above the object's centre before descending and after lifting (m).
    pub hover: f64,
    /// Cube side (m), drawn per episode.
    pub size_range: (f64, f64),
    /// Yaw of object and goal (rad), drawn in ±this.
    pub max_yaw: f64,
}

impl Default for Workspace {
    fn default() -> Self {
        Self {
            table_z: 0.8,
            x_range: (-0.08, 0.17),
            y_range: (-0.38, 0.18),
            min_travel: 0.15,
            hover: 0.12,
            size_range: (0.03, 0.05),
            max_yaw: std::f64::consts::FRAC_PI_4,
        }
    }
}

/// A pose on the table: centre and yaw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TablePose {
    /// Centre x, world frame (m).
    pub x: f64,
    /// Centre y, world frame (m).
    pub y: f64,
    /// Centre height (m): the table top plus half the cube's side.
    pub z: f64,
    /// Rotation about the vertical axis (rad).
    pub yaw: f64,
}

/// What one episode does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Where the cube starts.
    pub object: TablePose,
    /// Where the cube is placed.
    pub goal: TablePose,
    /// Cube side (m).
    pub size: f64,
}

impl Workspace {
    /// Draws a cube size, an object pose and a goal at least `min_travel` from it.
    pub(crate) fn random_scene(&self, rng: &mut SplitMix64) -> Scene {
        let size = rng.range(self.size_range.0, self.size_range.1);
        let z = self.table_z + size / 2.0;
        let pose = |rng: &mut SplitMix64| TablePose {
            x: rng.range(self.x_range.0, self.x_range.1),
            y: rng.range(self.y_range.0, self.y_range.1),
            z,
            yaw: rng.range(-self.max_yaw, self.max_yaw),
        };
        let object = pose(rng);
        loop {
            let goal = pose(rng);
            if (goal.x - object.x).hypot(goal.y - object.y) >= self.min_travel {
                return Scene { object, goal, size };
            }
        }
    }
}

/// The hand above `p` by `height`, pointing down, turned by `p.yaw` from `down`.
pub(crate) fn hand_at(p: &TablePose, height: f64, down: &UnitQuaternion<f64>) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(p.x, p.y, p.z + height),
        UnitQuaternion::from_axis_angle(&Vector3::z_axis(), p.yaw) * down,
    )
}

/// Finger openings (m): open (1 mm inside the 0.04 m limit, so sensor noise stays inside it),
/// and closed on a cube of side `size`.
pub(crate) const OPEN: f64 = 0.039;
/// Opening of each finger (m) closed on a cube of side `size` (m): half the side.
pub(crate) fn closed(size: f64) -> f64 {
    size / 2.0
}

/// Seconds for a move of `distance` metres: a base time plus the distance at a hand speed of
/// about 0.25 m/s, varied by ±15 % so that no two episodes share their timing.
fn duration(distance: f64, base: f64, rng: &mut SplitMix64) -> f64 {
    (base + distance / 0.25) * rng.range(0.85, 1.15)
}

/// The seven phases from `start` (the hand at rest, open) for `scene`.
pub(crate) fn pick_and_place(
    start: &Isometry3<f64>,
    scene: &Scene,
    ws: &Workspace,
    down: &UnitQuaternion<f64>,
    rng: &mut SplitMix64,
) -> Vec<Segment> {
    let grip = closed(scene.size);
    let above_object = hand_at(&scene.object, ws.hover, down);
    let at_object = hand_at(&scene.object, 0.0, down);
    let lifted = hand_at(&scene.object, ws.hover + 0.03, down);
    let above_goal = hand_at(&scene.goal, ws.hover + 0.03, down);
    let at_goal = hand_at(&scene.goal, 0.0, down);
    let retreated = hand_at(&scene.goal, ws.hover + 0.05, down);
    let dist = |a: &Isometry3<f64>, b: &Isometry3<f64>| (a.translation.vector - b.translation.vector).norm();
    let w = |pose: Isometry3<f64>, grip: f64| Waypoint { pose, grip };
    vec![
        Segment {
            phase: APPROACH,
            duration: duration(dist(start, &above_object), 0.6, rng),
            to: w(above_object, OPEN),
        },
        Segment { phase: APPROACH, duration: duration(ws.hover, 0.4, rng), to: w(at_object, OPEN) },
        Segment { phase: GRASP, duration: rng.range(0.5, 0.7), to: w(at_object, grip) },
        Segment { phase: LIFT, duration: duration(ws.hover + 0.03, 0.4, rng), to: w(lifted, grip) },
        Segment { phase: TRANSPORT, duration: duration(dist(&lifted, &above_goal), 0.6, rng), to: w(above_goal, grip) },
        Segment { phase: PLACE, duration: duration(ws.hover + 0.03, 0.4, rng), to: w(at_goal, grip) },
        Segment { phase: RELEASE, duration: rng.range(0.4, 0.6), to: w(at_goal, OPEN) },
        Segment { phase: RETREAT, duration: duration(ws.hover + 0.05, 0.4, rng), to: w(retreated, OPEN) },
    ]
}
