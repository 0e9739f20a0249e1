//! One episode played back: observed and predicted arm, joint curves, hidden state.

use nalgebra::Point3;
use rerun::RecordingStream;

use super::arm::{ArmGeometry, ArmStyle, log_arm, log_arm_geometry};
use crate::error::{Error, Result};
use crate::kinematics::Kinematics;
use crate::rollout::PredictionTrack;

const TRUTH: [u8; 3] = [90, 200, 110];
const PREDICTION: [u8; 3] = [255, 140, 0];
/// The observed arm is solid; the predicted one translucent, so where they coincide both stay
/// visible. Stick figures: the predicted arm is thinner for the same reason.
const TRUTH_STYLE: ArmStyle = ArmStyle { color: TRUTH, alpha: 255, link_radius: 0.014 };
const PREDICTION_STYLE: ArmStyle = ArmStyle { color: PREDICTION, alpha: 90, link_radius: 0.008 };
/// End-effector trail length in frames.
const TRAIL: usize = 150;
/// Hidden units drawn as time series (all of them go into the bar chart).
const UNITS_PLOTTED: usize = 8;

/// One episode to play back.
pub struct Playback<'a> {
    pub app_id: &'static str,
    /// The arm's kinematics; without one the 3D view is left out.
    pub kinematics: Option<&'a Kinematics>,
    pub channels: &'a [String],
    /// Frames per second of the data (playback runs in real time).
    pub rate_hz: f64,
    /// Timestamps (s) and row-major `[frames, dim]` observed states.
    pub time: &'a [f64],
    pub truth: &'a [f32],
    pub prediction: &'a PredictionTrack,
    /// Markdown shown next to the views (model, metrics).
    pub summary: &'a str,
}

fn viz(e: impl std::fmt::Display) -> Error {
    Error::Viz(e.to_string())
}

/// Logs `p` into `rec` (any recording stream: a file, a viewer, or the caller's own).
pub fn log_playback(rec: &RecordingStream, p: &Playback) -> Result<()> {
    let dim = p.channels.len();
    let frames = p.time.len();
    let track = p.prediction;
    let predicted = track.states.len() / dim.max(1);

    rec.log_static("info", &rerun::TextDocument::new(p.summary).with_media_type(rerun::MediaType::markdown()))
        .map_err(viz)?;

    // Joint time series, sent as whole columns.
    let truth_frames = rerun::TimeColumn::new_sequence("frame", 0..frames as i64);
    let pred_frames =
        rerun::TimeColumn::new_sequence("frame", (track.start..track.start + predicted).map(|f| f as i64));
    for (c, name) in p.channels.iter().enumerate() {
        for (kind, color, values, times) in [
            ("observed", TRUTH, column(p.truth, dim, c), &truth_frames),
            ("predicted", PREDICTION, column(&track.states, dim, c), &pred_frames),
        ] {
            let path = format!("joints/{name}/{kind}");
            rec.log_static(
                path.as_str(),
                &rerun::SeriesLines::new().with_names([kind]).with_colors([color]).with_widths([2.0]),
            )
            .map_err(viz)?;
            let scalars = rerun::Scalars::new(values).columns_of_unit_batches().map_err(viz)?;
            rec.send_columns(path.as_str(), [times.clone()], scalars).map_err(viz)?;
        }
    }

    // Hidden state: a few units as time series (the whole vector is a bar chart per frame).
    let h = track.hidden_dim;
    for u in 0..h.min(UNITS_PLOTTED) {
        let path = format!("hidden/units/{u}");
        rec.log_static(path.as_str(), &rerun::SeriesLines::new().with_names([format!("h[{u}]")])).map_err(viz)?;
        let scalars = rerun::Scalars::new(column(&track.hidden, h, u)).columns_of_unit_batches().map_err(viz)?;
        rec.send_columns(path.as_str(), [pred_frames.clone()], scalars).map_err(viz)?;
    }
    // Meshes where the description has them (logged once; bodies move by transforms).
    let geometry = match p.kinematics {
        Some(k) => {
            // MuJoCo's and ROS's worlds are z-up.
            rec.log_static("world", &rerun::ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(viz)?;
            let (geometry, notes) = ArmGeometry::load(&k.robot);
            for n in notes {
                rec.log_static("events", &rerun::TextLog::new(n).with_level(rerun::TextLogLevel::WARN)).map_err(viz)?;
            }
            log_arm_geometry(rec, "world/observed", &k.robot, &geometry, TRUTH_STYLE, true)?;
            log_floor(rec, k)?;
            geometry
        }
        None => ArmGeometry::load(&crate::kinematics::RobotModel::empty()).0,
    };

    // Frame by frame: the arm, the trails, the hidden vector.
    let ee = |q: &[f32]| p.kinematics.and_then(|k| k.end_effector_position(q));
    let truth_ee: Vec<Option<Point3<f64>>> = (0..frames).map(|t| ee(&p.truth[t * dim..(t + 1) * dim])).collect();
    let pred_ee: Vec<Option<Point3<f64>>> = (0..predicted).map(|k| ee(&track.states[k * dim..(k + 1) * dim])).collect();
    for t in 0..frames {
        rec.set_time_sequence("frame", t as i64);
        rec.set_duration_secs("time", p.time[t] - p.time[0]);
        if let Some(k) = p.kinematics {
            log_arm(rec, "world/observed", k, &p.truth[t * dim..(t + 1) * dim], &geometry, TRUTH_STYLE)?;
            log_trail(rec, "world/observed/trail", &truth_ee[t.saturating_sub(TRAIL)..=t], TRUTH)?;
        }
        if let Some(i) = t.checked_sub(track.start).filter(|&i| i < predicted) {
            if let Some(k) = p.kinematics {
                if i == 0 {
                    // Temporal, not static: the clear at the end of the track removes it.
                    log_arm_geometry(rec, "world/predicted", &k.robot, &geometry, PREDICTION_STYLE, false)?;
                }
                log_arm(rec, "world/predicted", k, &track.states[i * dim..(i + 1) * dim], &geometry, PREDICTION_STYLE)?;
                log_trail(rec, "world/predicted/trail", &pred_ee[i.saturating_sub(TRAIL)..=i], PREDICTION)?;
            }
            rec.log(
                "hidden/state",
                &rerun::BarChart::new(track.hidden[i * h..(i + 1) * h].to_vec()).with_color(PREDICTION),
            )
            .map_err(viz)?;
            if track.anchors.contains(&t) {
                rec.log("events", &rerun::TextLog::new("rollout restarts from observed frames")).map_err(viz)?;
            }
        } else if t == track.start + predicted && p.kinematics.is_some() {
            rec.log("world/predicted", &rerun::Clear::recursive()).map_err(viz)?;
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
        "world/floor",
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
