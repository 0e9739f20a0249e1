//! Rerun recordings: the arm from forward kinematics (observed and predicted, with end-effector
//! trails), per-joint time series and the model's hidden state, on a `frame` timeline, with a
//! default layout. Output goes to an .rrd file (written atomically), a spawned viewer, or a
//! running viewer.

use std::path::PathBuf;
use std::time::Duration;

use nalgebra::Point3;
use rerun::blueprint::components::{PanelState, PlayState};
use rerun::blueprint::{
    BarChartView, Blueprint, BlueprintPanel, Grid, Horizontal, SelectionPanel, Spatial3DView, TextDocumentView,
    TimePanel, TimeSeriesView, Vertical,
};
use rerun::{RecordingStream, RecordingStreamBuilder};

use crate::error::{Error, Result};
use crate::kinematics::{JointMap, RobotModel};
use crate::rollout::PredictionTrack;

const TRUTH: [u8; 3] = [90, 200, 110];
const PREDICTION: [u8; 3] = [255, 140, 0];
/// Link radii (m): the predicted arm is thinner, so where it coincides with the observed one
/// both stay visible.
const TRUTH_LINK: f32 = 0.014;
const PREDICTION_LINK: f32 = 0.008;
/// How long a spawned or connected viewer gets to receive the recording.
const VIEWER_TIMEOUT: Duration = Duration::from_secs(60);
/// End-effector trail length in frames.
const TRAIL: usize = 150;

/// Where a recording goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    /// An .rrd file, written to a temporary name and renamed when complete.
    File(PathBuf),
    /// A new viewer process (`rerun` on PATH).
    Spawn,
    /// A running viewer, e.g. `rerun+http://127.0.0.1:9876/proxy`.
    Connect(String),
}

impl Sink {
    /// Checks up front that the sink can work, so a long run does not fail at its last step:
    /// a viewer must be listening at a `Connect` address, and `rerun` must be on PATH to `Spawn`.
    pub fn check(&self) -> Result<()> {
        match self {
            Sink::File(_) => Ok(()),
            Sink::Connect(url) => check_viewer_listening(url),
            Sink::Spawn => {
                let found = std::env::var_os("PATH")
                    .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("rerun").is_file()));
                if found {
                    Ok(())
                } else {
                    Err(Error::Viz(
                        "--spawn needs the Rerun viewer (`rerun`, version 0.36.3) on PATH: \
                         pip install rerun-sdk==0.36.3, or write a file and open it later"
                            .into(),
                    ))
                }
            }
        }
    }
}

/// One episode to play back.
pub struct Playback<'a> {
    pub app_id: &'static str,
    pub robot: &'a RobotModel,
    pub end_effector_site: Option<usize>,
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

/// Records `playback` to `sink`. For a file sink, returns the path of the finished .rrd.
pub fn record(sink: &Sink, playback: &Playback) -> Result<Option<PathBuf>> {
    sink.check()?;
    let builder = RecordingStreamBuilder::new(playback.app_id).with_default_blueprint(blueprint(playback));
    let viz = |e: &dyn std::fmt::Display| Error::Viz(e.to_string());
    let (rec, tmp) = match sink {
        Sink::File(path) => {
            let tmp = crate::io::temp_path_for(path)?;
            (builder.save(&tmp).map_err(|e| viz(&e))?, Some(tmp))
        }
        Sink::Spawn => (builder.spawn().map_err(|e| viz(&e))?, None),
        Sink::Connect(url) => (builder.connect_grpc_opts(url.clone()).map_err(|e| viz(&e))?, None),
    };
    let logged = log_playback(&rec, playback).and_then(|_| match sink {
        Sink::File(_) => rec.flush_blocking().map_err(|e| viz(&e)),
        // A viewer that goes away must not hang the run: network sinks get a deadline.
        _ => rec.flush_with_timeout(VIEWER_TIMEOUT).map_err(|e| {
            Error::Viz(format!(
                "could not deliver the recording to the viewer within {} s ({e}); is a viewer running there?",
                VIEWER_TIMEOUT.as_secs()
            ))
        }),
    });
    drop(rec); // writes the file footer: a recording that is never dropped is unreadable
    match (sink, tmp) {
        (Sink::File(path), Some(tmp)) => {
            if let Err(e) = logged {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            crate::io::commit_file(&tmp, path)?;
            Ok(Some(path.clone()))
        }
        _ => logged.map(|_| None),
    }
}

fn blueprint(p: &Playback) -> Blueprint {
    let joint_views =
        p.channels.iter().map(|c| TimeSeriesView::new(c.as_str()).with_origin(format!("/joints/{c}")).into());
    Blueprint::new(Horizontal::new([
        Vertical::new([
            Spatial3DView::new("Arm: observed (green) and predicted (orange)").with_origin("/world").into(),
            TextDocumentView::new("Run").with_origin("/info").into(),
        ])
        .with_row_shares([3.0, 1.0])
        .into(),
        Vertical::new([
            Grid::new(joint_views).with_grid_columns(3).into(),
            TimeSeriesView::new("Hidden state h_t, first units").with_origin("/hidden/units").into(),
            BarChartView::new("Hidden state h_t, all units").with_origin("/hidden/state").into(),
        ])
        .with_row_shares([3.0, 1.5, 1.5])
        .into(),
    ]))
    .with_blueprint_panel(BlueprintPanel::from_state(PanelState::Collapsed))
    .with_selection_panel(SelectionPanel::from_state(PanelState::Collapsed))
    // Opens on the last frame with every series drawn in full; play or scrub from there.
    // Playback runs at the recording's rate, i.e. in real time.
    .with_time_panel(
        TimePanel::new()
            .with_timeline("frame")
            .with_fps(p.rate_hz)
            .with_play_state(PlayState::Following)
            .with_state(PanelState::Collapsed),
    )
}

/// Hidden units drawn as time series (all of them go into the heatmap).
const UNITS_PLOTTED: usize = 8;

fn log_playback(rec: &RecordingStream, p: &Playback) -> Result<()> {
    let viz = |e: rerun::RecordingStreamError| Error::Viz(e.to_string());
    let dim = p.channels.len();
    let frames = p.time.len();
    let track = p.prediction;
    let predicted = track.states.len() / dim.max(1);
    let map = p.robot.joint_map(p.channels);

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
            let scalars =
                rerun::Scalars::new(values).columns_of_unit_batches().map_err(|e| Error::Viz(e.to_string()))?;
            rec.send_columns(path.as_str(), [times.clone()], scalars).map_err(viz)?;
        }
    }

    // Hidden state: a few units as time series (the whole vector is a bar chart per frame).
    let h = track.hidden_dim;
    for u in 0..h.min(UNITS_PLOTTED) {
        let path = format!("hidden/units/{u}");
        rec.log_static(path.as_str(), &rerun::SeriesLines::new().with_names([format!("h[{u}]")])).map_err(viz)?;
        let scalars = rerun::Scalars::new(column(&track.hidden, h, u))
            .columns_of_unit_batches()
            .map_err(|e| Error::Viz(e.to_string()))?;
        rec.send_columns(path.as_str(), [pred_frames.clone()], scalars).map_err(viz)?;
    }
    // MuJoCo's world is z-up.
    rec.log_static("world", &rerun::ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(viz)?;

    // The arm, frame by frame.
    let ee = |q: &[f32]| p.end_effector_site.map(|s| p.robot.site_position(&p.robot.forward(q, &map), s));
    let truth_ee: Vec<Option<Point3<f64>>> = (0..frames).map(|t| ee(&p.truth[t * dim..(t + 1) * dim])).collect();
    let pred_ee: Vec<Option<Point3<f64>>> = (0..predicted).map(|k| ee(&track.states[k * dim..(k + 1) * dim])).collect();
    for t in 0..frames {
        rec.set_time_sequence("frame", t as i64);
        rec.set_duration_secs("time", p.time[t] - p.time[0]);
        log_arm(rec, "world/observed", p.robot, &map, &p.truth[t * dim..(t + 1) * dim], TRUTH, TRUTH_LINK)?;
        log_trail(rec, "world/observed/trail", &truth_ee[t.saturating_sub(TRAIL)..=t], TRUTH)?;
        if let Some(k) = t.checked_sub(track.start).filter(|&k| k < predicted) {
            log_arm(
                rec,
                "world/predicted",
                p.robot,
                &map,
                &track.states[k * dim..(k + 1) * dim],
                PREDICTION,
                PREDICTION_LINK,
            )?;
            log_trail(rec, "world/predicted/trail", &pred_ee[k.saturating_sub(TRAIL)..=k], PREDICTION)?;
            rec.log(
                "hidden/state",
                &rerun::BarChart::new(track.hidden[k * h..(k + 1) * h].to_vec()).with_color(PREDICTION),
            )
            .map_err(viz)?;
            if track.anchors.contains(&t) {
                rec.log("events", &rerun::TextLog::new("rollout restarts from observed frames")).map_err(viz)?;
            }
        } else if t == track.start + predicted {
            rec.log("world/predicted", &rerun::Clear::recursive()).map_err(viz)?;
        }
    }
    Ok(())
}

fn column(rows: &[f32], width: usize, c: usize) -> Vec<f64> {
    rows.chunks_exact(width).map(|r| r[c] as f64).collect()
}

fn point(p: &Point3<f64>) -> [f32; 3] {
    [p.x as f32, p.y as f32, p.z as f32]
}

fn log_arm(
    rec: &RecordingStream,
    path: &str,
    robot: &RobotModel,
    map: &JointMap,
    q: &[f32],
    color: [u8; 3],
    link_radius: f32,
) -> Result<()> {
    let viz = |e: rerun::RecordingStreamError| Error::Viz(e.to_string());
    let poses = robot.forward(q, map);
    let links: Vec<[[f32; 3]; 2]> = robot.skeleton(&poses).iter().map(|[a, b]| [point(a), point(b)]).collect();
    let joints: Vec<[f32; 3]> = robot
        .bodies
        .iter()
        .zip(&poses)
        .filter(|(b, _)| !b.joints.is_empty())
        .map(|(_, pose)| point(&Point3::from(pose.translation.vector)))
        .collect();
    rec.log(format!("{path}/links"), &rerun::LineStrips3D::new(links).with_colors([color]).with_radii([link_radius]))
        .map_err(viz)?;
    rec.log(format!("{path}/joints"), &rerun::Points3D::new(joints).with_colors([color]).with_radii([0.02]))
        .map_err(viz)?;
    Ok(())
}

fn log_trail(rec: &RecordingStream, path: &str, trail: &[Option<Point3<f64>>], color: [u8; 3]) -> Result<()> {
    let points: Vec<[f32; 3]> = trail.iter().flatten().map(point).collect();
    if points.len() < 2 {
        return Ok(());
    }
    rec.log(path, &rerun::LineStrips3D::new([points]).with_colors([color]).with_radii([0.004]))
        .map_err(|e| Error::Viz(e.to_string()))
}

/// Fails fast, with the address in the message, when nothing listens at a viewer URL such as
/// `rerun+http://127.0.0.1:9876/proxy` (the SDK itself would keep retrying in the background).
fn check_viewer_listening(url: &str) -> Result<()> {
    use std::net::{TcpStream, ToSocketAddrs};
    let authority = url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let unreachable =
        |why: String| Error::Viz(format!("no Rerun viewer reachable at {url}: {why} (start one with `rerun`)"));
    let addrs: Vec<_> = authority.to_socket_addrs().map_err(|e| unreachable(e.to_string()))?.collect();
    let mut last = String::from("address resolves to nothing");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}
