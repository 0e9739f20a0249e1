//! A seeded pick-and-place generator for the Panda (the bundled MJCF description): a random cube
//! on the table is approached, grasped, lifted, carried to a random goal, placed, released, and
//! the hand retreats. The hand follows minimum-jerk segments (`motion`); inverse kinematics
//! (`kinematics::ik`) turns every frame into joint angles inside the joint limits; a
//! little sensor noise is added; every frame carries its phase label.
//!
//! Episode `i` of a run depends only on the configuration and `i` (its own random stream), so
//! any episode can be regenerated alone, and the same configuration always gives the same
//! bytes.

pub(crate) mod motion;
pub(crate) mod plan;
pub(crate) mod rng;

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};
use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, UnitQuaternion};
use serde::{Deserialize, Serialize};

use crate::data::dataset::RobotDescriptionRef;
use crate::data::{Dataset, DatasetMeta, Episode};
use crate::error::{Error, Result};
use crate::kinematics::RobotModel;
use crate::kinematics::ik::{IkConfig, IkSolver};
use motion::{Segment, Waypoint};
pub(crate) use plan::PHASES;
pub use plan::{Scene, TablePose, Workspace};
use rng::SplitMix64;

/// The Panda description shipped with the robosuite demonstrations (MIT licence, see
/// `datasets/robosuite_pick_place/LICENSE`).
pub(crate) const PANDA_MJCF: &str = include_str!("../../datasets/robosuite_pick_place/panda/robot.xml");
/// The MJCF site of [`PANDA_MJCF`] whose pose the generator plans: the point between the fingers.
pub(crate) const END_EFFECTOR: &str = "gripper0_grip_site";
/// The arm joint channels (rad), base to wrist; the first seven state columns.
pub(crate) const ARM_JOINTS: [&str; 7] = [
    "robot0_joint1",
    "robot0_joint2",
    "robot0_joint3",
    "robot0_joint4",
    "robot0_joint5",
    "robot0_joint6",
    "robot0_joint7",
];
/// The finger slide channels (m), the last two state columns: `+grip` and `−grip`.
pub(crate) const FINGERS: [&str; 2] = ["gripper0_finger_joint1", "gripper0_finger_joint2"];
/// Franka's "ready" posture: the hand points straight down, the elbow up. Start postures are
/// drawn around it and the solver's spare degree of freedom pulls towards it.
pub const READY: [f64; 7] = [0.0, -FRAC_PI_4, 0.0, -3.0 * FRAC_PI_4, 0.0, FRAC_PI_2, FRAC_PI_4];

/// Attempts at a scene before an episode is given up (a scene the arm cannot do is redrawn).
const MAX_ATTEMPTS: usize = 20;

/// Everything that decides the generated data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// Episodes to generate, 1..=100 000.
    pub episodes: usize,
    /// Seed of the whole run; episode `i` draws from its own stream of it.
    pub seed: u64,
    /// Sampling rate of the episodes, Hz (at most 1000).
    pub rate_hz: f64,
    /// Std of the Gaussian noise on each joint reading (rad).
    pub joint_noise: f64,
    /// Std of the noise on each finger reading (m).
    pub finger_noise: f64,
    /// Readings are rounded to these steps, as an encoder would (rad, m); this also keeps the
    /// files small.
    pub joint_resolution: f64,
    /// Step finger readings are rounded to (m).
    pub finger_resolution: f64,
    /// Largest random offset of each joint from [`READY`] at the start (rad).
    pub start_spread: f64,
    /// The table and where objects and goals are drawn.
    pub workspace: Workspace,
    /// With a servo, the inverse-kinematics solution of each frame is the command sent to the
    /// arm (recorded as command channels `target_<channel>`), and the joints follow it through
    /// the servo; without one the joints are the solution itself and there are no commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servo: Option<Servo>,
}

/// A position servo between the command and each joint: a joint moves towards the command it
/// was sent `delay_frames` earlier by the share `1 − exp(−Δt/time_constant_s)` of the way per
/// frame (a first-order lag behind a transport delay, as position-controlled arms track their
/// setpoints).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Servo {
    /// Time constant of the first-order lag, s (positive).
    pub time_constant_s: f64,
    /// Frames between a command being sent and the servo acting on it, at most 100.
    pub delay_frames: usize,
}

impl Default for Servo {
    /// 0.1 s behind a two-frame delay: a lag a teleoperated arm shows (the G1 set's state
    /// follows its commands by about 150 ms).
    fn default() -> Self {
        Self { time_constant_s: 0.1, delay_frames: 2 }
    }
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            episodes: 200,
            seed: 0,
            rate_hz: 20.0,
            joint_noise: 2e-4,
            finger_noise: 1e-4,
            joint_resolution: 1e-5,
            finger_resolution: 1e-6,
            start_spread: 0.15,
            workspace: Workspace::default(),
            servo: None,
        }
    }
}

impl GeneratorConfig {
    /// Checks the values before any work; errors name the option.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::option(name, format!("must be positive, got {v}")))
            }
        };
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::option(name, format!("must be zero or positive, got {v}")))
            }
        };
        if self.episodes == 0 || self.episodes > 100_000 {
            return Err(Error::option("--episodes", format!("must be in 1..=100000, got {}", self.episodes)));
        }
        positive("--rate", self.rate_hz)?;
        if self.rate_hz > 1000.0 {
            return Err(Error::option("--rate", format!("at most 1000 Hz, got {}", self.rate_hz)));
        }
        non_negative("joint_noise", self.joint_noise)?;
        non_negative("finger_noise", self.finger_noise)?;
        positive("joint_resolution", self.joint_resolution)?;
        positive("finger_resolution", self.finger_resolution)?;
        non_negative("start_spread", self.start_spread)?;
        if let Some(servo) = self.servo {
            positive("servo.time_constant_s", servo.time_constant_s)?;
            if servo.delay_frames > 100 {
                return Err(Error::option("servo.delay_frames", format!("at most 100, got {}", servo.delay_frames)));
            }
        }
        Ok(())
    }
}

/// One generated episode and the scene it acts out.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The episode, named `episode_NNN`, with its phase labels (and commands under a servo).
    pub episode: Episode,
    /// Where the object and the goal were.
    pub scene: Scene,
}

/// One rendered episode: timestamps, row-major `[frames, 9]` states, phase labels and, under a
/// servo, the `[frames, 9]` commands.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// Seconds from the episode's start, one per frame at the configured rate.
    pub(crate) time: Vec<f64>,
    /// Noisy, quantised readings, row-major `[frames, 9]`: seven joints (rad), two fingers (m).
    pub(crate) states: Vec<f32>,
    /// Phase label of each frame, an index into [`PHASES`].
    pub(crate) phase: Vec<u16>,
    /// The commands sent (quantised, no noise), row-major `[frames, 9]`; only under a servo.
    pub(crate) commands: Option<Vec<f32>>,
}

/// The Panda, its solver and the generator's settings.
pub struct Generator {
    /// The validated settings.
    pub config: GeneratorConfig,
    /// Inverse kinematics of the Panda's seven arm joints for [`END_EFFECTOR`].
    pub(crate) solver: IkSolver,
    /// Hand orientation pointing straight down (at yaw 0).
    pub(crate) down: UnitQuaternion<f64>,
}

impl Generator {
    /// The generator for the bundled Panda description; fails when `config` does not validate.
    pub fn panda(config: GeneratorConfig) -> Result<Self> {
        config.validate()?;
        let robot = RobotModel::from_mjcf_str(PANDA_MJCF, Path::new("panda/robot.xml"))?;
        let channels = channels();
        let mut rest = vec![0.0; channels.len()];
        rest[..7].copy_from_slice(&READY);
        let solver = IkSolver::new(robot, &channels, &[0, 1, 2, 3, 4, 5, 6], END_EFFECTOR, rest, IkConfig::default())?;
        let down = solver.pose(&solver.rest).rotation;
        Ok(Self { config, solver, down })
    }

    /// Episode `index` (independent of every other).
    pub fn episode(&self, index: usize) -> Result<Generated> {
        let mut rng = SplitMix64::for_item(self.config.seed, index as u64);
        let mut last = None;
        for _ in 0..MAX_ATTEMPTS {
            let scene = self.config.workspace.random_scene(&mut rng);
            let start = self.start_posture(&mut rng);
            let start_pose = self.solver.pose(&start);
            let segments = plan::pick_and_place(&start_pose, &scene, &self.config.workspace, &self.down, &mut rng);
            match self.render(&start, &segments, &mut rng) {
                Ok(r) => {
                    let name = format!("episode_{index:03}");
                    let mut episode =
                        Episode::new(&name, PathBuf::from(format!("synthetic:{name}")), r.time, r.states, 9);
                    episode.phase = Some(r.phase);
                    episode.commands = r.commands;
                    return Ok(Generated { episode, scene });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no attempt made".into())))
    }

    /// A start posture: [`READY`] with each joint moved by up to `start_spread`, fingers open.
    pub(crate) fn start_posture(&self, rng: &mut SplitMix64) -> Vec<f64> {
        let s = self.config.start_spread;
        let mut q: Vec<f64> = READY.iter().map(|r| r + rng.range(-s, s)).collect();
        q.extend([plan::OPEN, -plan::OPEN]);
        q
    }

    /// Joint readings for the hand motion `segments` from posture `start` (noisy and quantised),
    /// with phase labels and, under a servo, the commands. Fails when a pose is out of the arm's
    /// reach.
    pub(crate) fn render(&self, start: &[f64], segments: &[Segment], rng: &mut SplitMix64) -> Result<Rendered> {
        let c = &self.config;
        let begin = Waypoint { pose: self.solver.pose(start), grip: start[7] };
        let samples = motion::sample(begin, segments, c.rate_hz);
        let n = samples.len();
        // The solution of every frame: the joints themselves, or under a servo their commands.
        let mut q = start.to_vec();
        let mut solved = Vec::with_capacity(n * 9);
        for s in &samples {
            q = self.solver.solve(&s.at.pose, &q)?.q;
            solved.extend_from_slice(&q[..7]);
            solved.extend([s.at.grip, -s.at.grip]);
        }
        let quantise = |v: f64, step: f64| ((v / step).round() * step) as f32;
        let resolution = |j: usize| if j < 7 { c.joint_resolution } else { c.finger_resolution };
        let actual = match c.servo {
            None => solved.clone(),
            Some(servo) => {
                let share = 1.0 - (-1.0 / (c.rate_hz * servo.time_constant_s)).exp();
                let mut y = solved[..9].to_vec();
                let mut out = Vec::with_capacity(n * 9);
                for t in 0..n {
                    out.extend_from_slice(&y);
                    let sent = &solved[t.saturating_sub(servo.delay_frames) * 9..][..9];
                    y.iter_mut().zip(sent).for_each(|(y, u)| *y += share * (u - *y));
                }
                out
            }
        };
        let mut states = Vec::with_capacity(n * 9);
        for row in actual.chunks_exact(9) {
            for (j, &v) in row.iter().enumerate() {
                let noise = if j < 7 { c.joint_noise } else { c.finger_noise };
                states.push(quantise(v + noise * rng.normal(), resolution(j)));
            }
        }
        let commands =
            c.servo.map(|_| solved.iter().enumerate().map(|(i, &v)| quantise(v, resolution(i % 9))).collect());
        Ok(Rendered {
            time: samples.iter().map(|s| s.time).collect(),
            states,
            phase: samples.iter().map(|s| s.phase).collect(),
            commands,
        })
    }

    /// The whole dataset, with each episode's scene recorded in `provenance`.
    pub fn dataset(&self) -> Result<Dataset> {
        let generated = (0..self.config.episodes).map(|i| self.episode(i)).collect::<Result<Vec<_>>>()?;
        let scenes: Vec<&Scene> = generated.iter().map(|g| &g.scene).collect();
        let meta = self.meta(&scenes);
        Dataset::new(meta, generated.into_iter().map(|g| g.episode).collect(), Path::new("synthetic pick-and-place"))
    }

    /// The metadata of a generated dataset whose episodes act out `scenes` (in episode order,
    /// recorded in `provenance` with the configuration).
    pub fn meta(&self, scenes: &[&Scene]) -> DatasetMeta {
        let mut meta = DatasetMeta::new(
            "synthetic_pick_place",
            "panda",
            self.config.rate_hz,
            ARM_JOINTS.iter().map(|s| s.to_string()).collect(),
            FINGERS.iter().map(|s| s.to_string()).collect(),
        );
        meta.phases = PHASES.iter().map(|s| s.to_string()).collect();
        meta.units.gripper = Some("m".into());
        if self.config.servo.is_some() {
            meta.commands = channels()
                .into_iter()
                .enumerate()
                .map(|(j, c)| crate::data::dataset::CommandChannel {
                    name: format!("target_{c}"),
                    unit: Some(if j < 7 { "rad" } else { "m" }.into()),
                    drives: Some(c),
                })
                .collect();
        }
        meta.robot_description = Some(RobotDescriptionRef {
            format: "mjcf".into(),
            path: "robot.xml".into(),
            end_effector: END_EFFECTOR.into(),
            joints: Default::default(),
        });
        meta.provenance = Some(serde_json::json!({
            "source": "generated by `trajrnn generate` (src/synthetic): minimum-jerk hand motion, damped least-squares inverse kinematics on the bundled Panda description, Gaussian sensor noise",
            "generator": self.config,
            "scenes": scenes.iter().enumerate().map(|(i, s)| serde_json::json!({
                "file": format!("episode_{i:03}.csv"),
                "object": s.object,
                "goal": s.goal,
                "size": s.size,
            })).collect::<Vec<_>>(),
        }));
        meta.license = Some("MIT OR Apache-2.0 (generated data); robot.xml: MIT, robosuite".into());
        meta
    }
}

/// The state channels, in column order: seven arm joints, two finger slides.
pub(crate) fn channels() -> Vec<String> {
    ARM_JOINTS.iter().chain(&FINGERS).map(|s| s.to_string()).collect()
}

/// Generates the dataset of `config` into the folder `out` (which must not exist or be empty),
/// with the robot description beside it.
pub fn write(config: GeneratorConfig, out: &Path) -> Result<Dataset> {
    crate::data::folder::check_new_folder(out)?; // before the work, not after it
    let dataset = Generator::panda(config)?.dataset()?;
    dataset.save(out, &[("robot.xml", PANDA_MJCF.as_bytes())])?;
    Ok(dataset)
}

/// The generator configuration recorded in a generated dataset's `provenance`.
pub fn config_of(meta: &DatasetMeta) -> Result<GeneratorConfig> {
    let g = meta
        .provenance
        .as_ref()
        .and_then(|p| p.get("generator"))
        .ok_or_else(|| Error::Config(format!("dataset {} records no generator settings", meta.name)))?;
    serde_json::from_value(g.clone()).map_err(|e| Error::Config(format!("generator settings: {e}")))
}

/// The scenes recorded in a generated dataset's `provenance`, in episode order.
pub fn scenes_of(meta: &DatasetMeta) -> Result<Vec<Scene>> {
    let list = meta
        .provenance
        .as_ref()
        .and_then(|p| p.get("scenes"))
        .and_then(|s| s.as_array())
        .ok_or_else(|| Error::Config(format!("dataset {} records no scenes", meta.name)))?;
    list.iter()
        .map(|s| {
            let scene = serde_json::json!({"object": s["object"], "goal": s["goal"], "size": s["size"]});
            serde_json::from_value(scene).map_err(|e| Error::Config(format!("scene: {e}")))
        })
        .collect()
}

/// A hand pose for a table pose at `height` above it (for tests and experiments).
#[cfg_attr(not(feature = "experiments"), allow(dead_code))]
pub(crate) fn hand_pose(g: &Generator, p: &TablePose, height: f64) -> Isometry3<f64> {
    plan::hand_at(p, height, &g.down)
}
