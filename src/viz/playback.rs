//! One episode played back: observed arm and, where there are, the predicted and the commanded
//! one; the channels' curves (observed, predicted, commanded); the phases; the hidden state.

use nalgebra::Point3;
use rerun::RecordingStream;

use super::arm::{ArmGeometry, ArmStyle, log_arm, log_arm_geometry};
use super::paths;
use crate::error::{Error, Result};
use crate::kinematics::Kinematics;
use crate::rollout::PredictionTrack;

const TRUTH: [u8; 3] = [90, 200, 110];
const PREDICTION: [u8; 3] = [255, 140, 0];
/// Commands: a cold blue, as a ghost of where the arm was told to go.
const COMMAND: [u8; 3] = [110, 160, 255];
/// The observed arm is solid; the predicted one translucent, so where they coincide both stay
/// visible. Stick figures: the predicted arm is thinner for the same reason.
const TRUTH_STYLE: ArmStyle = ArmStyle { color: TRUTH, alpha: 255, link_radius: 0.014 };
const PREDICTION_STYLE: ArmStyle = ArmStyle { color: PREDICTION, alpha: 90, link_radius: 0.008 };
const COMMAND_STYLE: ArmStyle = ArmStyle { color: COMMAND, alpha: 60, link_radius: 0.006 };
/// End-effector trail length in frames.
const TRAIL: usize = 150;
/// Hidden units drawn as time series (all of them go into the bar chart).
const UNITS_PLOTTED: usize = 8;

/// The commands sent at each frame of a played-back episode.
pub struct CommandTrack<'a> {
    /// Row-major `[frames, names.len()]`.
    pub values: &'a [f32],
    /// Command channel names, one per column of `values`.
    pub names: Vec<String>,
    /// The state channel each command drives (its plot then shows the command too, and the
    /// commanded arm follows it).
    pub drives: Vec<Option<usize>>,
}

/// One episode to play back.
pub struct Playback<'a> {
    /// Rerun application id of the recording (the viewer groups recordings by it).
    pub app_id: &'static str,
    /// The arm's kinematics; without one the 3D view is left out.
    pub kinematics: Option<&'a Kinematics>,
    /// State channel names, one per column of `truth`.
    pub channels: Vec<String>,
    /// Frames per second of the data (playback runs in real time).
    pub rate_hz: f64,
    /// Timestamp of each frame, s.
    pub time: &'a [f64],
    /// Observed states, row-major `[frames, dim]`.
    pub truth: &'a [f32],
    /// A model's free-running predictions (none when a dataset is played without a model).
    pub prediction: Option<&'a PredictionTrack>,
    /// The commands sent at each frame, when the data has them.
    pub commands: Option<CommandTrack<'a>>,
    /// Each frame's phase label and the phase names, when the data has them.
    pub phases: Option<(&'a [u16], &'a [String])>,
    /// Markdown shown next to the views (model, metrics).
    pub summary: &'a str,
}

impl<'a> Playback<'a> {
    /// `segment` of `dataset` as recorded, with its commands and phases where the data has them,
    /// and no prediction.
    pub fn of_segment(
        app_id: &'static str,
        dataset: &'a crate::data::Dataset,
        segment: &crate::data::Segment,
        kinematics: Option<&'a Kinematics>,
        summary: &'a str,
    ) -> Self {
        let meta = &dataset.meta;
        let episode = &dataset.episodes[segment.episode];
        let frames = segment.frames.clone();
        let commands = (meta.command_dim() > 0 && episode.commands.is_some()).then(|| CommandTrack {
            values: episode.commands_of(frames.clone()),
            names: meta.command_names(),
            drives: meta.driven_channels(),
        });
        let phases = episode.phase.as_ref().map(|labels| (&labels[frames.clone()], meta.phases.as_slice()));
        Self {
            app_id,
            kinematics,
            channels: meta.channels(),
            rate_hz: meta.rate_hz,
            time: &episode.time[frames.clone()],
            truth: episode.frames(frames),
            prediction: None,
            commands,
            phases,
            summary,
        }
    }
}

fn viz(e: impl std::fmt::Display) -> Error {
    Error::Viz(e.to_string())
}

/// Sends `values` as one series of `path` at `times`, styled once.
fn log_series(
    rec: &RecordingStream,
    path: &str,
    name: &str,
    color: [u8; 3],
    times: &rerun::TimeColumn,
    values: Vec<f64>,
) -> Result<()> {
    rec.log_static(path, &rerun::SeriesLines::new().with_names([name]).with_colors([color]).with_widths([2.0]))
        .map_err(viz)?;
    let scalars = rerun::Scalars::new(values).columns_of_unit_batches().map_err(viz)?;
    rec.send_columns(path, [times.clone()], scalars).map_err(viz)
}

/// Logs `p` into `rec` (any recording stream: a file, a viewer, or the caller's own).
pub(crate) fn log_playback(rec: &RecordingStream, p: &Playback) -> Result<()> {
    let dim = p.channels.len();
    let frames = p.time.len();
    let empty = PredictionTrack { start: frames, states: vec![], hidden: vec![], hidden_dim: 0, anchors: vec![] };
    let track = p.prediction.unwrap_or(&empty);
    let predicted = track.states.len() / dim.max(1);

    rec.log_static(paths::INFO, &rerun::TextDocument::new(p.summary).with_media_type(rerun::MediaType::markdown()))
        .map_err(viz)?;

    // Channel time series, sent as whole columns.
    let truth_frames = rerun::TimeColumn::new_sequence("frame", 0..frames as i64);
    let pred_frames =
        rerun::TimeColumn::new_sequence("frame", (track.start..track.start + predicted).map(|f| f as i64));
    for (c, name) in p.channels.iter().enumerate() {
        log_series(
            rec,
            &paths::channel_series(name, "observed"),
            "observed",
            TRUTH,
            &truth_frames,
            column(p.truth, dim, c),
        )?;
        if p.prediction.is_some() {
            let series = paths::channel_series(name, "predicted");
            log_series(rec, &series, "predicted", PREDICTION, &pred_frames, column(&track.states, dim, c))?;
        }
    }
    if let Some(u) = &p.commands {
        let m = u.names.len();
        for (i, name) in u.names.iter().enumerate() {
            let path = match u.drives[i] {
                Some(c) => paths::channel_series(&p.channels[c], "commanded"),
                None => paths::command_plot(name),
            };
            log_series(rec, &path, "commanded", COMMAND, &truth_frames, column(u.values, m, i))?;
        }
    }
    if let Some((labels, names)) = p.phases {
        let values = labels.iter().map(|&l| l as f64).collect();
        log_series(rec, paths::PHASE, "phase", TRUTH, &truth_frames, values)?;
        let mut last = None;
        for (t, &l) in labels.iter().enumerate() {
            if last != Some(l) {
                rec.set_time_sequence("frame", t as i64);
                let text = format!("phase: {}", names.get(l as usize).map_or("?", String::as_str));
                rec.log(paths::EVENTS, &rerun::TextLog::new(text)).map_err(viz)?;
                last = Some(l);
            }
        }
    }

    // Hidden state: a few units as time series (the whole vector is a bar chart per frame).
    let h = track.hidden_dim;
    for u in 0..h.min(UNITS_PLOTTED) {
        let path = paths::hidden_unit(u);
        rec.log_static(path.as_str(), &rerun::SeriesLines::new().with_names([format!("h[{u}]")])).map_err(viz)?;
        let scalars = rerun::Scalars::new(column(&track.hidden, h, u)).columns_of_unit_batches().map_err(viz)?;
        rec.send_columns(path.as_str(), [pred_frames.clone()], scalars).map_err(viz)?;
    }
    // Meshes where the description has them (logged once; bodies move by transforms).
    let commanded = p.commands.as_ref().filter(|u| u.drives.iter().any(|d| d.is_some_and(|c| c < dim)));
    let geometry = match p.kinematics {
        Some(k) => {
            // MuJoCo's and ROS's worlds are z-up.
            rec.log_static(paths::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(viz)?;
            let (geometry, notes) = ArmGeometry::load(&k.robot);
            for n in notes {
                rec.log_static(paths::EVENTS, &rerun::TextLog::new(n).with_level(rerun::TextLogLevel::WARN))
                    .map_err(viz)?;
            }
            log_arm_geometry(rec, paths::OBSERVED_ARM, &k.robot, &geometry, TRUTH_STYLE, true)?;
            if commanded.is_some() {
                log_arm_geometry(rec, paths::COMMANDED_ARM, &k.robot, &geometry, COMMAND_STYLE, true)?;
            }
            log_floor(rec, k)?;
            geometry
        }
        None => ArmGeometry::load(&crate::kinematics::RobotModel::empty()).0,
    };

    // Frame by frame: the arm, the trails, the hidden vector.
    let ee = |q: &[f32]| p.kinematics.and_then(|k| k.end_effector_position(q));
    let truth_ee: Vec<Option<Point3<f64>>> =
        (0..frames).map(|t| ee(crate::data::channels::row(p.truth, dim, t))).collect();
    let pred_ee: Vec<Option<Point3<f64>>> =
        (0..predicted).map(|k| ee(crate::data::channels::row(&track.states, dim, k))).collect();
    let mut ghost = vec![0f32; dim];
    for t in 0..frames {
        rec.set_time_sequence("frame", t as i64);
        rec.set_duration_secs("time", p.time[t] - p.time[0]);
        if let Some(k) = p.kinematics {
            let observed = crate::data::channels::row(p.truth, dim, t);
            log_arm(rec, paths::OBSERVED_ARM, k, observed, &geometry, TRUTH_STYLE)?;
            log_trail(rec, paths::OBSERVED_TRAIL, &truth_ee[t.saturating_sub(TRAIL)..=t], TRUTH)?;
            if let Some(u) = commanded {
                // The commanded arm: driven joints where the commands put them, the rest as observed.
                let m = u.names.len();
                ghost.copy_from_slice(observed);
                for (i, d) in u.drives.iter().enumerate() {
                    if let Some(c) = d.filter(|&c| c < dim) {
                        ghost[c] = u.values[t * m + i];
                    }
                }
                log_arm(rec, paths::COMMANDED_ARM, k, &ghost, &geometry, COMMAND_STYLE)?;
            }
        }
        if let Some(i) = t.checked_sub(track.start).filter(|&i| i < predicted) {
            if let Some(k) = p.kinematics {
                if i == 0 {
                    // Temporal, not static: the clear at the end of the track removes it.
                    log_arm_geometry(rec, paths::PREDICTED_ARM, &k.robot, &geometry, PREDICTION_STYLE, false)?;
                }
                log_arm(
                    rec,
                    paths::PREDICTED_ARM,
                    k,
                    crate::data::channels::row(&track.states, dim, i),
                    &geometry,
                    PREDICTION_STYLE,
                )?;
                log_trail(rec, paths::PREDICTED_TRAIL, &pred_ee[i.saturating_sub(TRAIL)..=i], PREDICTION)?;
            }
            rec.log(
                paths::HIDDEN_STATE,
                &rerun::BarChart::new(crate::data::channels::row(&track.hidden, h, i).to_vec()).with_color(PREDICTION),
            )
            .map_err(viz)?;
            if track.anchors.contains(&t) {
                rec.log(paths::EVENTS, &rerun::TextLog::new("rollout restarts from observed frames")).map_err(viz)?;
            }
        } else if t == track.start + predicted && p.kinematics.is_some() && predicted > 0 {
            rec.log(paths::PREDICTED_ARM, &rerun::Clear::recursive()).map_err(viz)?;
        }
    }
    Ok(())
}

/// A floor square under the robot's base, about its reach wide: it gives the arm a ground to
/// stand on (and a viewer without our layout's camera frames the workspace, not the arm alone).
fn log_floor(rec: &RecordingStream, k: &Kinematics) -> Result<()> {
    let Some(base) = base_position(k) else {
        return Ok(());
    };
    rec.log_static(
        paths::FLOOR,
        &rerun::Boxes3D::from_centers_and_half_sizes(
            [[base.x as f32, base.y as f32, base.z as f32 - 0.005]],
            [[FLOOR_HALF_WIDTH, FLOOR_HALF_WIDTH, 0.005]],
        )
        .with_colors([rerun::Color::from_rgb(70, 74, 80)])
        .with_fill_mode(rerun::FillMode::Solid),
    )
    .map_err(viz)
}

/// Where the robot's root body is (world frame).
pub(crate) fn base_position(k: &Kinematics) -> Option<Point3<f64>> {
    k.robot.forward(&vec![0.0; k.map_width()], &k.map).first().map(|p| Point3::from(p.translation.vector))
}

/// Half the floor's width (m): a 1.1 m square holds most of a 7-axis arm's workspace.
const FLOOR_HALF_WIDTH: f32 = 0.55;

fn column(rows: &[f32], width: usize, c: usize) -> Vec<f64> {
    rows.chunks_exact(width).map(|r| r[c] as f64).collect()
}

fn point(p: &Point3<f64>) -> [f32; 3] {
    [p.x as f32, p.y as f32, p.z as f32]
}
fn log_trail(rec: &RecordingStream, path: &str, trail: &[Option<Point3<f64>>], color: [u8; 3]) -> Result<()> {
    let points: Vec<[f32; 3]> = trail.iter().flatten().map(point).collect();
    if points.len() < 2 {
        return Ok(());
    }
    rec.log(path, &rerun::LineStrips3D::new([points]).with_colors([color]).with_radii([0.004])).map_err(viz)
}
