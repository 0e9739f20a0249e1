//! What each channel's values look like, measured on a set of segments: range, spread, how
//! often it moves, the step it moves by (its resolution), how many levels it takes. Recorded
//! data comes with awkward channels — a joint pinned at its limit, a hand that sits still for
//! whole episodes or steps like a switch, encoder counts, values on a coarse grid — and
//! [`ChannelKind`] names them, so `inspect` can say so and training can treat each kind
//! ([`Treatment`], decided from the channel's profile on the training part and recorded in the
//! encoding, so the checkpoint carries it and `eval`, `rollout` and the predictor treat the
//! channel the same way):
//!
//! - **constant** in training: *held*. Its input is zero, its prediction is its current value,
//!   its loss weight is zero. A channel that never moved in training says nothing the model
//!   could learn, and standardising it would divide by zero: a value it takes later (a hand
//!   that moves only in the test episodes) would be a blow-up rather than a number.
//! - **switch-like**: *hold base*. The rule it is predicted from is hold rather than the linear
//!   extrapolation (a step extrapolated is an overshoot); the model may still correct it, at
//!   the switch loss weight.
//! - **quantised** and **smooth**: *modelled*, with every scale floored at the channel's
//!   resolution (the grid it moves on), so a channel that moves one step in a thousand frames
//!   does not get a vanishing scale whose inputs explode.
//!
//! Also here: `row` and `row_mut`, row `i` of a row-major `[frames, dim]` buffer, so that the
//! index arithmetic of frames and channels is written once.

use rayon::prelude::*;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::data::{ChannelRole, Dataset, Segment};

/// Row `i` of a row-major buffer of `dim` values per row.
pub(crate) fn row<T>(values: &[T], dim: usize, i: usize) -> &[T] {
    &values[i * dim..(i + 1) * dim]
}

/// Row `i` of a row-major buffer of `dim` values per row, to write.
pub(crate) fn row_mut<T>(values: &mut [T], dim: usize, i: usize) -> &mut [T] {
    &mut values[i * dim..(i + 1) * dim]
}

/// Distinct values counted before a channel stops counting as taking "few levels".
const MAX_LEVELS: usize = 16;
/// A channel that moves in fewer than this share of its frame steps moves rarely.
const RARELY_MOVING: f64 = 0.1;
/// A channel whose typical move is this share of its range or more moves in steps.
const STEP_SIZE: f64 = 0.05;
/// A channel whose smallest move is this share of its RMS frame-to-frame change or more moves
/// on a grid that is coarse against its motion.
const QUANTISED: f64 = 0.25;

/// What kind of signal a channel is, as far as a predictor is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Never changes in these frames (a joint pinned at a limit, an unused hand).
    Constant,
    /// Sits still most of the time and then jumps by a large share of its range (a gripper
    /// command, a binary hand): when it will jump cannot be extrapolated from its past.
    Switch,
    /// Moves on a grid coarse against its own frame-to-frame motion (encoder counts, a value
    /// rounded to 0.001): most steps are zero or one grid step.
    Quantised,
    /// Moves smoothly (a continuous measurement).
    Smooth,
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ChannelKind::Constant => "constant",
            ChannelKind::Switch => "switch-like",
            ChannelKind::Quantised => "quantised",
            ChannelKind::Smooth => "smooth",
        })
    }
}

/// One channel's values over a set of segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelProfile {
    /// State channel name.
    pub name: String,
    /// Joint, gripper or auxiliary.
    pub role: ChannelRole,
    /// Smallest value, in the channel's unit (0 over no frame).
    pub min: f64,
    /// Largest value (0 over no frame).
    pub max: f64,
    /// Mean value.
    pub mean: f64,
    /// Standard deviation of the values (population).
    pub std: f64,
    /// RMS of the frame-to-frame change.
    pub step_rms: f64,
    /// Share of frame steps with any change.
    pub moving: f64,
    /// The smallest non-zero change between two frames: the grid the values move on, when they
    /// are quantised (`None` when the channel never moves).
    pub resolution: Option<f64>,
    /// Distinct values, when there are at most 16 (`None`: more).
    pub levels: Option<usize>,
    /// Mean size of the non-zero changes (`None` when it never moves).
    pub mean_move: Option<f64>,
    /// The kind these statistics make the channel, which decides its [`Treatment`].
    pub kind: ChannelKind,
}

impl ChannelProfile {
    /// `max − min`.
    pub fn range(&self) -> f64 {
        self.max - self.min
    }
}

/// Profiles of every channel of `dataset` over `segments` (in channel order).
pub(crate) fn profiles(dataset: &Dataset, segments: &[Segment]) -> Vec<ChannelProfile> {
    let dim = dataset.dim();
    let names = dataset.meta.channels();
    let roles = dataset.meta.roles();
    // Channels are independent: one per task (the same result on any number of threads).
    (0..dim)
        .into_par_iter()
        .map(|c| {
            let mut acc = Accumulator::default();
            for s in segments {
                let e = &dataset.episodes[s.episode];
                let mut previous: Option<f32> = None;
                for t in s.frames.clone() {
                    let v = e.frame(t)[c];
                    acc.add(v, previous);
                    previous = Some(v);
                }
            }
            acc.finish(names[c].clone(), roles[c])
        })
        .collect()
}

#[derive(Default)]
struct Accumulator {
    n: usize,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    steps: usize,
    moves: usize,
    step_sq: f64,
    move_abs: f64,
    smallest_move: Option<f64>,
    levels: HashSet<u32>,
    many_levels: bool,
}

impl Accumulator {
    fn add(&mut self, v: f32, previous: Option<f32>) {
        let x = v as f64;
        if self.n == 0 {
            (self.min, self.max) = (x, x);
        }
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if !self.many_levels {
            self.levels.insert(v.to_bits());
            if self.levels.len() > MAX_LEVELS {
                self.many_levels = true;
                self.levels = HashSet::new();
            }
        }
        if let Some(p) = previous {
            let d = (v - p) as f64;
            self.steps += 1;
            self.step_sq += d * d;
            if d != 0.0 {
                self.moves += 1;
                self.move_abs += d.abs();
                self.smallest_move = Some(self.smallest_move.map_or(d.abs(), |m| m.min(d.abs())));
            }
        }
    }

    fn finish(self, name: String, role: ChannelRole) -> ChannelProfile {
        let n = self.n.max(1) as f64;
        let mean = self.sum / n;
        let std = (self.sum_sq / n - mean * mean).max(0.0).sqrt();
        let moving = if self.steps > 0 { self.moves as f64 / self.steps as f64 } else { 0.0 };
        let mean_move = (self.moves > 0).then(|| self.move_abs / self.moves as f64);
        let levels = (!self.many_levels).then_some(self.levels.len());
        let range = self.max - self.min;
        let step_rms = if self.steps > 0 { (self.step_sq / self.steps as f64).sqrt() } else { 0.0 };
        let kind = if self.n == 0 || range == 0.0 {
            ChannelKind::Constant
        } else if moving < RARELY_MOVING && mean_move.is_some_and(|m| m >= STEP_SIZE * range)
            || levels.is_some_and(|l| l <= 3)
        {
            ChannelKind::Switch
        } else if levels.is_some() || self.smallest_move.is_some_and(|r| r >= QUANTISED * step_rms) {
            ChannelKind::Quantised
        } else {
            ChannelKind::Smooth
        };
        ChannelProfile {
            name,
            role,
            min: if self.n == 0 { 0.0 } else { self.min },
            max: if self.n == 0 { 0.0 } else { self.max },
            mean,
            std,
            step_rms,
            moving,
            resolution: self.smallest_move,
            levels,
            mean_move,
            kind,
        }
    }
}

/// How one channel is encoded and predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// Read, predicted and trained like every channel.
    #[default]
    Modelled,
    /// Predicted by hold rather than the linear rule (switch-like channels).
    HoldBase,
    /// Not read (input zero), predicted by hold, not trained on (constant in training).
    Held,
}

impl Treatment {
    /// What training does with a channel of this profile (`automatic = false`: every channel
    /// is modelled, as before channel treatments existed).
    pub(crate) fn for_profile(profile: &ChannelProfile, automatic: bool) -> Self {
        if !automatic {
            return Treatment::Modelled;
        }
        match profile.kind {
            ChannelKind::Constant => Treatment::Held,
            ChannelKind::Switch => Treatment::HoldBase,
            ChannelKind::Quantised | ChannelKind::Smooth => Treatment::Modelled,
        }
    }

    /// One line for `inspect` and the training log: what happens to the channel.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Treatment::Modelled => "modelled",
            Treatment::HoldBase => {
                "predicted from hold (not extrapolated), corrected by the model at a low loss weight"
            }
            Treatment::Held => "held at its current value: not read, not trained on",
        }
    }
}
