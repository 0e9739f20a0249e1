//! Evaluation against baselines on the same frames.
//!
//! Protocol: in every validation segment, every `stride`-th frame `a` that has `warmup` observed
//! frames up to it and the longest horizon after it is an *anchor*. The model is warmed up on the
//! observed frames, then runs free (its predictions fed back) for the longest horizon; every
//! baseline rolls out from the same frames. At each horizon `h` the error of frame `a + h` is
//! scored, per channel, over the arm joints together, and (where the dataset has a robot
//! description) as the end effector's position error. A horizon that fits no anchor is reported
//! as n/a with a warning, never as a zero error.

mod report;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::baselines::{Baseline, ConstantVelocity, Hold, LinearAr};
pub use report::{EvalReport, HorizonErrors, Score};

use crate::data::{Dataset, Encoding, Segment};
use crate::error::{Error, Result};
use crate::kinematics::Kinematics;
use crate::model::TrajectoryModel;
use crate::rollout::rollout;

/// Which rollouts to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Observed frames before each rollout (the model's warm-up).
    pub warmup: usize,
    /// Frames after the last observed frame at which errors are scored.
    pub horizons: Vec<usize>,
    /// Frames between rollout starts.
    pub stride: usize,
    /// Order (past velocities) of the linear autoregressive baseline.
    pub ar_order: usize,
    /// Ridge strength of the linear baseline (relative to the number of samples).
    pub ar_ridge: f64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { warmup: 64, horizons: vec![1, 10, 50, 100], stride: 10, ar_order: 8, ar_ridge: 1e-3 }
    }
}

impl EvalConfig {
    pub fn validate(&self) -> Result<()> {
        use crate::config::check_count;
        check_count("eval.warmup (--warmup)", self.warmup, 3)?;
        if self.horizons.is_empty() {
            return Err(Error::option("eval.horizons (--horizons)", "must list at least one horizon, each ≥ 1"));
        }
        for &h in &self.horizons {
            check_count("eval.horizons (--horizons)", h, 1)?;
        }
        check_count("eval.stride (--eval-stride)", self.stride, 1)?;
        if self.ar_order == 0 || self.ar_order >= self.warmup {
            return Err(Error::option(
                "eval.ar_order",
                format!("must be in 1..{}, got {}", self.warmup, self.ar_order),
            ));
        }
        if !(self.ar_ridge.is_finite() && self.ar_ridge >= 0.0) {
            return Err(Error::option("eval.ar_ridge", format!("must be ≥ 0, got {}", self.ar_ridge)));
        }
        Ok(())
    }
}

/// Last observed frame of every rollout: `warmup` frames up to it and `horizon` after it.
pub fn anchors(segments: &[Segment], warmup: usize, horizon: usize, stride: usize) -> Vec<(usize, usize)> {
    segments
        .iter()
        .flat_map(|s| {
            let first = s.frames.start + warmup - 1;
            let last = s.frames.end.checked_sub(horizon + 1);
            let range = match last {
                Some(last) if last >= first => first..=last,
                #[allow(clippy::reversed_empty_ranges)]
                _ => 1..=0,
            };
            range.step_by(stride.max(1)).map(move |a| (s.episode, a))
        })
        .collect()
}

/// Scores `model` and the baselines on `segments` of `dataset` (whose channels are in the
/// model's order). `baselines` are scored in the order given.
#[allow(clippy::too_many_arguments)] // each is a different input of the protocol
pub fn evaluate(
    model: &TrajectoryModel,
    encoding: &Encoding,
    dataset: &Dataset,
    segments: &[Segment],
    baselines: &[&dyn Baseline],
    kinematics: Option<&Kinematics>,
    config: &EvalConfig,
    device: &Device,
) -> Result<EvalReport> {
    config.validate()?;
    let dim = dataset.dim();
    let needed_history = baselines.iter().map(|b| b.history()).chain([encoding.history()]).max().unwrap_or(0);
    if config.warmup < needed_history + 2 {
        return Err(Error::option(
            "eval.warmup (--warmup)",
            format!("must be at least {} frames for these predictors", needed_history + 2),
        ));
    }
    let longest = segments.iter().map(Segment::len).max().unwrap_or(0);
    let mut warnings = Vec::new();
    let fitting: Vec<usize> = config.horizons.iter().copied().filter(|&h| config.warmup + h <= longest).collect();
    for &h in config.horizons.iter().filter(|h| !fitting.contains(h)) {
        warnings.push(format!(
            "horizon {h}: no validation segment holds {} frames (warm-up {} + horizon {h}; the longest has {longest}); \
             reported as n/a. Shorten --warmup or --horizons, or raise --val-fraction",
            config.warmup + h,
            config.warmup
        ));
    }
    let max_h = fitting.iter().copied().max().unwrap_or(0);
    let anchors = if max_h > 0 { anchors(segments, config.warmup, max_h, config.stride) } else { vec![] };

    let names: Vec<String> =
        std::iter::once("model".to_string()).chain(baselines.iter().map(|b| b.name().to_string())).collect();
    let mut acc: Vec<Vec<report::Accumulator>> =
        fitting.iter().map(|_| names.iter().map(|_| report::Accumulator::new(dim)).collect()).collect();
    let mut pred = vec![0f32; max_h * dim];
    for chunk in anchors.chunks(256) {
        let contexts: Vec<&[f32]> =
            chunk.iter().map(|&(e, a)| dataset.episodes[e].frames(a + 1 - config.warmup..a + 1)).collect();
        let r = rollout(model, encoding, &contexts, max_h, device);
        for (b, &(e, a)) in chunk.iter().enumerate() {
            let episode = &dataset.episodes[e];
            let score = |acc: &mut report::Accumulator, h: usize, predicted: &[f32]| {
                let truth = episode.frame(a + h);
                let ee = kinematics
                    .and_then(|k| Some((k.end_effector_position(predicted)? - k.end_effector_position(truth)?).norm()));
                acc.add(truth, predicted, ee);
            };
            for (hi, &h) in fitting.iter().enumerate() {
                score(&mut acc[hi][0], h, r.state(b, h - 1));
            }
            for (p, baseline) in baselines.iter().enumerate() {
                baseline.rollout(contexts[b], dim, max_h, &mut pred);
                for (hi, &h) in fitting.iter().enumerate() {
                    score(&mut acc[hi][p + 1], h, &pred[(h - 1) * dim..h * dim]);
                }
            }
        }
    }
    let roles = dataset.meta.roles();
    let horizons = config
        .horizons
        .iter()
        .map(|&h| {
            let scores = match fitting.iter().position(|&f| f == h) {
                Some(hi) => {
                    std::mem::take(&mut acc[hi]).into_iter().zip(&names).map(|(a, n)| a.finish(n, &roles)).collect()
                }
                None => names.iter().map(|n| Score::empty(n)).collect(),
            };
            HorizonErrors { horizon: h, count: if fitting.contains(&h) { anchors.len() } else { 0 }, scores }
        })
        .collect();
    if anchors.is_empty() && !fitting.is_empty() {
        warnings.push("no rollout fits the validation segments: every horizon is n/a".into());
    }
    Ok(EvalReport {
        dataset: dataset.meta.name.clone(),
        channels: dataset.meta.channels(),
        roles,
        rate_hz: dataset.meta.rate_hz,
        warmup: config.warmup,
        stride: config.stride,
        end_effector: kinematics.is_some_and(|k| k.end_effector.is_some()),
        horizons,
        warnings,
    })
}
