//! The Rerun recording of experiment 6: the arm on the left, the hidden state's PCA trajectory
//! on the right (the whole path coloured by phase, the current state as a large dot), the phase
//! and the first components below, on one `frame` timeline so one can scrub through time and
//! watch the state move from phase to phase.

use std::path::Path;

use nalgebra::DMatrix;
use rerun::RecordingStream;
use rerun::blueprint::components::{PanelState, PlayState};
use rerun::blueprint::{
    Blueprint, BlueprintPanel, Horizontal, SelectionPanel, Spatial3DView, TimePanel, TimeSeriesView, Vertical,
};

use super::plot::PALETTE;
use super::probes::Frames;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kinematics::Kinematics;
use crate::viz::{ArmGeometry, ArmStyle};
use crate::viz::{Recording, Sink, log_arm};

fn viz(e: impl std::fmt::Display) -> Error {
    Error::Viz(e.to_string())
}

fn color(phase: usize) -> [u8; 3] {
    let c = PALETTE[phase % PALETTE.len()];
    [c.0, c.1, c.2]
}

fn blueprint(rate_hz: f64) -> Blueprint {
    Blueprint::new(
        Vertical::new([
            Horizontal::new([
                Spatial3DView::new("Arm (colour = phase)").with_origin("/world").into(),
                Spatial3DView::new("Hidden state h_t: first 3 principal components").with_origin("/pca").into(),
            ])
            .into(),
            Horizontal::new([
                TimeSeriesView::new("Phase (index into dataset.json phases)").with_origin("/phase").into(),
                TimeSeriesView::new("h_t along PC 1-3").with_origin("/pc").into(),
            ])
            .into(),
        ])
        .with_row_shares([3.0, 1.2]),
    )
    .with_blueprint_panel(BlueprintPanel::from_state(PanelState::Collapsed))
    .with_selection_panel(SelectionPanel::from_state(PanelState::Collapsed))
    .with_time_panel(
        TimePanel::new()
            .with_timeline("frame")
            .with_fps(rate_hz)
            .with_play_state(PlayState::Following)
            .with_state(PanelState::Collapsed),
    )
}

/// Writes `path` for episode `episode`: `rows` are its rows in `frames`/`proj`.
pub(crate) fn record(
    path: &Path,
    ds: &Dataset,
    episode: usize,
    rows: &[usize],
    frames: &Frames,
    proj: &DMatrix<f64>,
    phases: &[String],
) -> Result<()> {
    let recording = Recording::open("trajrnn_probes", &Sink::File(path.to_path_buf()), blueprint(ds.meta.rate_hz))?;
    let logged = log(recording.stream(), ds, episode, rows, frames, proj, phases);
    recording.finish(logged).map(|_| ())
}

fn log(
    rec: &RecordingStream,
    ds: &Dataset,
    episode: usize,
    rows: &[usize],
    frames: &Frames,
    proj: &DMatrix<f64>,
    phases: &[String],
) -> Result<()> {
    let kin = Kinematics::for_dataset(ds)?;
    let e = &ds.episodes[episode];
    rec.log_static("world", &rerun::ViewCoordinates::RIGHT_HAND_Z_UP()).map_err(viz)?;
    // The cube: on the table until grasped, in the hand until released, then at the goal.
    let scene = crate::synthetic::scenes_of(&ds.meta).ok().and_then(|s| s.get(episode).copied());
    let at = |p: &crate::synthetic::TablePose| [p.x as f32, p.y as f32, p.z as f32];
    if let Some(s) = &scene {
        let half = (s.size / 2.0) as f32;
        rec.log_static(
            "world/goal",
            &rerun::Boxes3D::from_centers_and_half_sizes([at(&s.goal)], [[half + 0.01; 3]])
                .with_colors([[60, 160, 60]])
                .with_labels(["goal"]),
        )
        .map_err(viz)?;
    }
    let carried = |name: &str| ["lift", "transport", "place"].contains(&name);
    let placed = |name: &str| ["release", "retreat"].contains(&name);
    // The whole PCA path, one strip per run of a phase, scaled so its largest extent is 1.
    let p = |r: usize| [proj[(r, 0)] as f32, proj[(r, 1)] as f32, proj[(r, 2.min(proj.ncols() - 1))] as f32];
    let extent = rows.iter().flat_map(|&r| p(r)).fold(1e-6f32, |m, v| m.max(v.abs()));
    let q = |r: usize| p(r).map(|v| v / extent);
    let mut start = 0;
    for i in 1..=rows.len() {
        if i == rows.len() || frames.labels[rows[i]] != frames.labels[rows[start]] {
            let strip: Vec<[f32; 3]> = rows[start..(i + 1).min(rows.len())].iter().map(|&r| q(r)).collect();
            let phase = frames.labels[rows[start]];
            rec.log_static(
                format!("pca/path/{start:04}_{}", phases[phase]),
                &rerun::LineStrips3D::new([strip]).with_colors([color(phase)]).with_radii([0.006]),
            )
            .map_err(viz)?;
            start = i;
        }
    }
    for (i, name) in phases.iter().enumerate() {
        rec.log_static(
            format!("phase/{name}"),
            &rerun::SeriesPoints::new().with_names([name.as_str()]).with_colors([color(i)]),
        )
        .map_err(viz)?;
    }
    let mut previous = None;
    for &r in rows {
        let (_, t) = frames.index[r];
        let phase = frames.labels[r];
        rec.set_time_sequence("frame", t as i64);
        rec.set_duration_secs("time", e.time[t] - e.time[0]);
        if let Some(k) = &kin {
            let style = ArmStyle { color: color(phase), alpha: 255, link_radius: 0.014 };
            log_arm(rec, "world/arm", k, e.frame(t), &ArmGeometry::none(), style)?;
            if let Some(s) = &scene {
                let name = phases[phase].as_str();
                let centre = match k.end_effector_position(e.frame(t)) {
                    Some(p) if carried(name) => [p.x as f32, p.y as f32, p.z as f32],
                    _ if placed(name) => at(&s.goal),
                    _ => at(&s.object),
                };
                let half = (s.size / 2.0) as f32;
                rec.log(
                    "world/cube",
                    &rerun::Boxes3D::from_centers_and_half_sizes([centre], [[half; 3]])
                        .with_colors([[200, 60, 60]])
                        .with_fill_mode(rerun::FillMode::Solid),
                )
                .map_err(viz)?;
            }
        }
        rec.log(
            "pca/now",
            &rerun::Points3D::new([q(r)])
                .with_colors([color(phase)])
                .with_radii([0.04])
                .with_labels([phases[phase].as_str()]),
        )
        .map_err(viz)?;
        rec.log(format!("phase/{}", phases[phase]), &rerun::Scalars::single(phase as f64)).map_err(viz)?;
        for c in 0..proj.ncols().min(3) {
            rec.log(format!("pc/{}", c + 1), &rerun::Scalars::single(proj[(r, c)])).map_err(viz)?;
        }
        if previous != Some(phase) {
            rec.log("events", &rerun::TextLog::new(format!("phase: {}", phases[phase]))).map_err(viz)?;
            previous = Some(phase);
        }
    }
    Ok(())
}
