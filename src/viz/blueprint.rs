//! The layout a viewer opens on: the arm (when the data has a robot description) and the run's
//! summary on the left; per-channel curves (observed, predicted, commanded), commands that drive
//! no channel, the phase and, with a model, the hidden state on the right.
//!
//! The SDK's blueprint builders (Rerun 0.36) set a view's name, origin and contents but none of
//! its properties: a plot's time axis and legend, say. A [`Layout`] carries those beside the
//! [`Blueprint`] and writes them into the same blueprint store (see [`Layout::messages`]), as the
//! Python SDK's views do (`view/<id>/<Archetype>`).

use rerun::blueprint::components::{PanelState, PlayState};
use rerun::blueprint::{
    BarChartView, Blueprint, BlueprintActivation, BlueprintPanel, ContainerLike, Grid, Horizontal, SelectionPanel,
    Spatial3DView, TextDocumentView, TimePanel, TimeSeriesView, Vertical,
};
use rerun::external::re_log_types::BlueprintActivationCommand;
use rerun::external::re_sdk_types::blueprint::archetypes::{EyeControls3D, PlotLegend, TimeAxis};
use rerun::log::LogMsg;
use rerun::{AsComponents, EntityPath, RecordingStreamBuilder, SerializedComponentBatch, StoreKind};

use nalgebra::Point3;

use super::{Playback, paths};
use crate::error::{Error, Result};

/// A blueprint and the view properties its builders cannot set, written together by
/// [`Recording::open`](super::Recording::open) with the layout active (a fresh viewer opens on
/// it, not on its automatic grid).
pub struct Layout {
    /// The views and how they are arranged.
    pub blueprint: Blueprint,
    /// `(blueprint path of a view, property archetype name, its components)`.
    properties: Vec<(EntityPath, &'static str, Vec<SerializedComponentBatch>)>,
}

impl From<Blueprint> for Layout {
    fn from(blueprint: Blueprint) -> Self {
        Self { blueprint, properties: vec![] }
    }
}

/// A view (any of the SDK's view builders) placed in a layout: the container entry, and the
/// blueprint path its properties go under.
pub(crate) struct PlacedView {
    entry: ContainerLike,
    path: EntityPath,
}

impl PlacedView {
    /// Places `view` (a container placed this way has no properties).
    pub(crate) fn new(view: impl Into<ContainerLike>) -> Self {
        let entry = view.into();
        let path = match &entry {
            ContainerLike::View(v) => v.blueprint_path(),
            // A container has no view properties; its own path is never used.
            _ => EntityPath::root(),
        };
        Self { entry, path }
    }

    /// Where the view's properties go in the blueprint store (`view/<id>`).
    pub(crate) fn path(&self) -> &EntityPath {
        &self.path
    }
}

impl From<PlacedView> for ContainerLike {
    fn from(v: PlacedView) -> Self {
        v.entry
    }
}

impl Layout {
    /// Sets the property archetype `name` (e.g. `"TimeAxis"`, `"PlotLegend"`) of the view whose
    /// [`path`](PlacedView::path) is `view`.
    pub(crate) fn with_property(mut self, view: &EntityPath, name: &'static str, archetype: &dyn AsComponents) -> Self {
        self.properties.push((view.clone(), name, archetype.as_serialized_batches()));
        self
    }

    /// The plot `view` over the whole recording (the viewer's default follows the time cursor
    /// with a window of its own choosing, which left most of an episode off screen), without a
    /// legend (the colours are those of the 3D view: observed green, predicted orange, commanded
    /// blue).
    pub(crate) fn whole_plot(self, view: &EntityPath) -> Self {
        self.with_property(view, "TimeAxis", &TimeAxis::new().with_view_range(rerun::datatypes::TimeRange::EVERYTHING))
            .with_property(view, "PlotLegend", &PlotLegend::new().with_visible(false))
    }

    /// The layout as log messages for `app_id`: the blueprint as the SDK writes it, the
    /// properties in the same blueprint store, and the command that makes it the active (and
    /// default) layout, sent after everything else.
    pub fn messages(&self, app_id: &'static str) -> Result<(Vec<LogMsg>, BlueprintActivationCommand)> {
        let viz = |e: &dyn std::fmt::Display| Error::Viz(format!("blueprint: {e}"));
        // The SDK only writes a blueprint into a stream: write it into memory and keep what
        // belongs to the blueprint store (the memory stream's own recording is left out).
        let (capture, storage) = RecordingStreamBuilder::new(app_id).memory().map_err(|e| viz(&e))?;
        self.blueprint
            .send(&capture, BlueprintActivation { make_active: true, make_default: true })
            .map_err(|e| viz(&e))?;
        let mut blueprint = Vec::new();
        let mut activation = None;
        for msg in storage.take() {
            match msg {
                LogMsg::BlueprintActivationCommand(c) => activation = Some(c),
                m if m.store_id().kind() == StoreKind::Blueprint => blueprint.push(m),
                _ => {}
            }
        }
        let activation = activation.ok_or_else(|| viz(&"the SDK wrote no activation command"))?;
        if !self.properties.is_empty() {
            // A stream into the same blueprint store (same application and recording id).
            let (props, storage) = RecordingStreamBuilder::new(app_id)
                .recording_id(activation.blueprint_id.recording_id().clone())
                .blueprint()
                .memory()
                .map_err(|e| viz(&e))?;
            props.set_time_sequence("blueprint", 0); // as the SDK logs the rest of the blueprint
            for (view, name, batches) in &self.properties {
                props
                    .log_serialized_batches(view.join(&EntityPath::from_single_string(*name)), false, batches.clone())
                    .map_err(|e| viz(&e))?;
            }
            blueprint.extend(storage.take().into_iter().filter(|m| matches!(m, LogMsg::ArrowMsg(..))));
        }
        Ok((blueprint, activation))
    }
}

/// A camera on the arm at work: aimed between the robot's base and the centre of the end
/// effector's path in this episode, from the front-left and above, at a distance that frames the
/// arm's reach. (The viewer's own camera frames everything in the scene, floor included, and
/// left the arm small.)
fn arm_camera(p: &Playback) -> Option<EyeControls3D> {
    let k = p.kinematics?;
    let base = super::playback::base_position(k)?;
    let dim = p.channels.len().max(1);
    let path: Vec<_> = p.truth.chunks_exact(dim).filter_map(|q| k.end_effector_position(q)).collect();
    let centre = if path.is_empty() {
        base + nalgebra::Vector3::new(0.0, 0.0, 0.4)
    } else {
        Point3::from(path.iter().map(|e| e.coords).sum::<nalgebra::Vector3<f64>>() / path.len() as f64)
    };
    // At least a typical arm's reach (0.85 m for a Panda): an episode that keeps the hand near
    // the base otherwise brings the camera so close that the arm leaves the frame.
    let reach = path.iter().map(|e| (e - base).norm()).fold(0.85, f64::max);
    let target = Point3::from((base.coords + centre.coords) / 2.0) + nalgebra::Vector3::new(0.0, 0.0, 0.15 * reach);
    let eye = target + nalgebra::Vector3::new(1.0, -1.1, 0.6).normalize() * (1.5 * reach);
    let f = |p: Point3<f64>| [p.x as f32, p.y as f32, p.z as f32];
    Some(EyeControls3D::new().with_position(f(eye)).with_look_target(f(target)).with_eye_up([0.0, 0.0, 1.0]))
}

/// The playback's layout.
pub(crate) fn playback_layout(p: &Playback) -> Layout {
    let plot = |title: &str, path: &str| PlacedView::new(TimeSeriesView::new(title).with_origin(paths::origin(path)));
    // One plot per channel (its observed, predicted and commanded series), then the commands that
    // drive no channel.
    let mut series_views: Vec<PlacedView> = p.channels.iter().map(|c| plot(c, &paths::channel_plot(c))).collect();
    if let Some(u) = &p.commands {
        for (name, drives) in u.names.iter().zip(&u.drives) {
            if drives.is_none() {
                series_views.push(plot(&format!("command {name}"), &paths::command_plot(name)));
            }
        }
    }
    if p.phases.is_some() {
        series_views.push(plot("phase", paths::PHASE));
    }
    let hidden = p.prediction.filter(|t| t.hidden_dim > 0).map(|_| {
        (
            plot("Hidden state h_t, first units", paths::HIDDEN_UNITS),
            PlacedView::new(
                BarChartView::new("Hidden state h_t, all units").with_origin(paths::origin(paths::HIDDEN_STATE)),
            ),
        )
    });
    let mut plots: Vec<EntityPath> = series_views.iter().map(|v| v.path().clone()).collect();
    let mut bars_path = None;
    if let Some((units, bars)) = &hidden {
        plots.push(units.path().clone());
        bars_path = Some(bars.path().clone());
    }

    let mut title = String::from("Arm: observed (green)");
    if p.prediction.is_some() {
        title.push_str(", predicted (orange)");
    }
    if p.commands.as_ref().is_some_and(|u| u.drives.iter().any(Option::is_some)) {
        title.push_str(", commanded (blue)");
    }
    let arm = PlacedView::new(Spatial3DView::new(title).with_origin(paths::origin(paths::WORLD)));
    let arm_path = arm.path().clone();
    let run = TextDocumentView::new("Run").with_origin(paths::origin(paths::INFO)).into();
    // The summary gets room for its lines (a table of horizons under two paragraphs needs about
    // as much again as the paragraphs); the arm the rest.
    let lines = p.summary.lines().filter(|l| !l.trim().is_empty()).count();
    let run_share = (0.25 * lines as f32).clamp(0.75, 2.0);
    let left = match p.kinematics {
        Some(_) => Vertical::new([arm.into(), run]).with_row_shares([3.0, run_share]).into(),
        None => run,
    };
    // Each row of plots keeps the height it has with three rows (a 26-channel humanoid gets nine).
    let rows = series_views.len().div_ceil(3).max(3) as f32;
    let grid: ContainerLike = Grid::new(series_views.into_iter().map(ContainerLike::from)).with_grid_columns(3).into();
    let right: ContainerLike = match hidden {
        Some((units, bars)) => {
            Vertical::new([grid, units.into(), bars.into()]).with_row_shares([rows, 1.5, 1.5]).into()
        }
        None => grid,
    };
    let blueprint = Blueprint::new(Horizontal::new([left, right]).with_column_shares(if p.kinematics.is_some() {
        [1.0, 1.0]
    } else {
        [1.0, 3.0]
    }))
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
    );
    let mut layout = plots.iter().fold(Layout::from(blueprint), |layout, plot| layout.whole_plot(plot));
    if let Some(bars) = &bars_path {
        layout = layout.with_property(bars, "PlotLegend", &PlotLegend::new().with_visible(false));
    }
    match arm_camera(p) {
        Some(camera) => layout.with_property(&arm_path, "EyeControls3D", &camera),
        None => layout,
    }
}
