//! Every entity path the recordings log to, in one place: the logging functions and the layouts
//! that show them agree by construction.

/// The 3D world (z up).
pub(crate) const WORLD: &str = "world";
/// The recorded arm.
pub(crate) const OBSERVED_ARM: &str = "world/observed";
/// The recorded arm's end-effector trail.
pub(crate) const OBSERVED_TRAIL: &str = "world/observed/trail";
/// The arm the model predicts.
pub(crate) const PREDICTED_ARM: &str = "world/predicted";
/// The predicted arm's end-effector trail.
pub(crate) const PREDICTED_TRAIL: &str = "world/predicted/trail";
/// The arm as commanded (a ghost): where the commands that drive joints told it to be.
pub(crate) const COMMANDED_ARM: &str = "world/commanded";
/// The floor under the robot.
pub(crate) const FLOOR: &str = "world/floor";
/// The run's summary (Markdown).
pub(crate) const INFO: &str = "info";
/// Text events (rollout restarts, phase changes, notes).
pub(crate) const EVENTS: &str = "events";
/// The first hidden units as time series (`hidden/units/<u>`).
pub(crate) const HIDDEN_UNITS: &str = "hidden/units";
/// The whole hidden vector at the current frame.
pub(crate) const HIDDEN_STATE: &str = "hidden/state";
/// The phase label of every frame, as its index.
pub(crate) const PHASE: &str = "phase";

/// One channel's plot (`joints/<channel>`): the series below it share its axes.
pub(crate) fn channel_plot(channel: &str) -> String {
    format!("joints/{channel}")
}

/// A series of a channel's plot: `observed`, `predicted` or `commanded`.
pub(crate) fn channel_series(channel: &str, kind: &str) -> String {
    format!("joints/{channel}/{kind}")
}

/// A command that drives no state channel gets a plot of its own (`commands/<name>`).
pub(crate) fn command_plot(command: &str) -> String {
    format!("commands/{command}")
}

/// Hidden unit `u`'s series.
pub(crate) fn hidden_unit(u: usize) -> String {
    format!("{HIDDEN_UNITS}/{u}")
}

/// `path` as a view origin (`/path`).
pub(crate) fn origin(path: &str) -> String {
    format!("/{path}")
}
