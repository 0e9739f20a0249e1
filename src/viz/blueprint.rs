//! The layout a viewer opens on: the arm (when the data has a robot description) and the run's
//! summary on the left; per-joint curves and the hidden state on the right.

use rerun::blueprint::components::{PanelState, PlayState};
use rerun::blueprint::{
    BarChartView, Blueprint, BlueprintPanel, Grid, Horizontal, SelectionPanel, Spatial3DView, TextDocumentView,
    TimePanel, TimeSeriesView, Vertical,
};

use super::Playback;

pub fn playback_blueprint(p: &Playback) -> Blueprint {
    let joint_views =
        p.channels.iter().map(|c| TimeSeriesView::new(c.as_str()).with_origin(format!("/joints/{c}")).into());
    let run = TextDocumentView::new("Run").with_origin("/info").into();
    let left = if p.kinematics.is_some() {
        Vertical::new([
            Spatial3DView::new("Arm: observed (green) and predicted (orange)").with_origin("/world").into(),
            run,
        ])
        .with_row_shares([3.0, 1.0])
        .into()
    } else {
        run
    };
    Blueprint::new(
        Horizontal::new([
            left,
            Vertical::new([
                Grid::new(joint_views).with_grid_columns(3).into(),
                TimeSeriesView::new("Hidden state h_t, first units").with_origin("/hidden/units").into(),
                BarChartView::new("Hidden state h_t, all units").with_origin("/hidden/state").into(),
            ])
            .with_row_shares([3.0, 1.5, 1.5])
            .into(),
        ])
        .with_column_shares(if p.kinematics.is_some() { [1.0, 1.0] } else { [1.0, 3.0] }),
    )
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
