//! Learning-rate schedules, as a pure function of the optimiser step (so a resumed run continues
//! exactly where it stopped).

use serde::{Deserialize, Serialize};

/// How the learning rate evolves after the warm-up (`train.schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout (after the warm-up).
    Constant,
    /// Cosine decay from the base rate to `min_lr_factor` × base over the planned steps.
    #[default]
    Cosine,
}

/// The learning rate at optimiser step `step` (0-based) of `total` planned steps: a linear
/// warm-up over `warmup` steps, then the schedule.
pub(crate) fn learning_rate(
    base: f64,
    schedule: Schedule,
    warmup: usize,
    min_factor: f64,
    step: usize,
    total: usize,
) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    match schedule {
        Schedule::Constant => base,
        Schedule::Cosine => {
            let span = total.saturating_sub(warmup).max(1) as f64;
            let progress = ((step - warmup) as f64 / span).min(1.0);
            let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
            base * (min_factor + (1.0 - min_factor) * cosine)
        }
    }
}
