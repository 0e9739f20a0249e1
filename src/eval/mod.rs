//! Evaluation against baselines on the same frames.
//!
//! Protocol: in every scored segment, every `stride`-th frame `a` that has `warmup` observed
//! frames up to it and the longest horizon after it is an *anchor*. The model is warmed up on the
//! observed frames, then runs free (its predictions fed back) for the longest horizon; every
//! baseline rolls out from the same frames. At each horizon `h` the error of frame `a + h` is
//! scored, per channel, over the arm joints together, and (where the dataset has a robot
//! description) as the end effector's position error. A horizon that fits no anchor is reported
//! as n/a with a warning, never as a zero error.
//!
//! Which baseline the model is compared with at each horizon is chosen on the validation part
//! ([`BaselineChoice`]) and applied to whatever is scored; the best baseline on the scored part
//! itself is reported too, as the oracle it is.

mod report;
mod scorer;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use report::BaselineChoice;
pub use report::{EvalReport, HorizonErrors, Score};
pub(crate) use scorer::RolloutScorer;

use crate::baselines::{Baseline, Context};
use crate::data::channels::row;
use crate::data::{Dataset, Segment};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::kinematics::Kinematics;
use crate::limits::check_count;
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
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { warmup: 64, horizons: vec![1, 10, 50, 100], stride: 10 }
    }
}

impl EvalConfig {
    /// Checks the values before any work; errors name the option.
    pub fn validate(&self) -> Result<()> {
        check_count("eval.warmup (--warmup)", self.warmup, 3)?;
        if self.horizons.is_empty() {
            return Err(Error::option("eval.horizons (--horizons)", "must list at least one horizon, each ≥ 1"));
        }
        for &h in &self.horizons {
            check_count("eval.horizons (--horizons)", h, 1)?;
        }
        check_count("eval.stride (--eval-stride)", self.stride, 1)
    }

    /// The longest history of `encoding` and `baselines` plus two frames: the least warm-up that
    /// serves them all.
    fn check_warmup(&self, encoding: &Encoding, baselines: &[&dyn Baseline]) -> Result<()> {
        let needed = baselines.iter().map(|b| b.history()).chain([encoding.history()]).max().unwrap_or(0);
        if self.warmup < needed + 2 {
            return Err(Error::option(
                "eval.warmup (--warmup)",
                format!("must be at least {} frames for these predictors", needed + 2),
            ));
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

/// The rollout of episode `e` whose last observed frame is `a`: `warmup` frames up to it and,
/// where the data has commands, the commands of those frames and of the `horizon` after them.
pub(crate) fn context(dataset: &Dataset, e: usize, a: usize, warmup: usize, horizon: usize) -> Context<'_> {
    let episode = &dataset.episodes[e];
    Context {
        states: episode.frames(a + 1 - warmup..a + 1),
        dim: dataset.dim(),
        commands: episode.commands_of(a + 1 - warmup..a + 1 + horizon),
        command_dim: episode.command_dim(),
    }
}

/// The horizons of `config` that fit in `segments`, and a warning for each that does not.
fn fitting_horizons(config: &EvalConfig, segments: &[Segment]) -> (Vec<usize>, Vec<String>) {
    let longest = segments.iter().map(Segment::len).max().unwrap_or(0);
    let fitting: Vec<usize> = config.horizons.iter().copied().filter(|&h| config.warmup + h <= longest).collect();
    let warnings = config
        .horizons
        .iter()
        .filter(|h| !fitting.contains(h))
        .map(|&h| {
            format!(
                "horizon {h}: no scored segment holds {} frames (warm-up {} + horizon {h}; the longest has {longest}); \
                 reported as n/a. Shorten --warmup or --horizons",
                config.warmup + h,
                config.warmup
            )
        })
        .collect();
    (fitting, warnings)
}

/// What [`evaluate`] scores and against what.
pub struct EvalInputs<'a> {
    /// The network rolled out from every anchor (warmed up, then fed its own predictions).
    pub model: &'a TrajectoryModel,
    /// The encoding the model was trained with (from the same checkpoint).
    pub encoding: &'a Encoding,
    /// Channels in the model's order.
    pub dataset: &'a Dataset,
    /// The scored segments, frame ranges of `dataset`'s episodes.
    pub segments: &'a [Segment],
    /// Scored in the order given, after the model.
    pub baselines: &'a [&'a dyn Baseline],
    /// The baseline chosen on validation for each horizon, if any.
    pub choice: Option<&'a BaselineChoice>,
    /// Forward kinematics for the end-effector error (`None`: that column is n/a).
    pub kinematics: Option<&'a Kinematics>,
    /// Names the scored part in the report (`test`, `validation`, `all`).
    pub part: &'a str,
}

/// Scores the model and the baselines on the segments (see the [module](self) documentation).
pub fn evaluate(inputs: &EvalInputs, config: &EvalConfig, device: &Device) -> Result<EvalReport> {
    config.validate()?;
    config.check_warmup(inputs.encoding, inputs.baselines)?;
    let EvalInputs { model, encoding, dataset, segments, baselines, choice, kinematics, part } = *inputs;
    score_parts(Some((model, encoding, device)), dataset, segments, baselines, choice, kinematics, part, config)
}

/// Scores the baselines alone on `segments` (the model's column is n/a): what the baseline
/// choice is made from, on the validation part.
pub fn evaluate_baselines(
    dataset: &Dataset,
    segments: &[Segment],
    baselines: &[&dyn Baseline],
    config: &EvalConfig,
) -> Result<EvalReport> {
    config.validate()?;
    let needed = baselines.iter().map(|b| b.history()).max().unwrap_or(0);
    if config.warmup < needed + 2 {
        return Err(Error::option("eval.warmup (--warmup)", format!("must be at least {} frames", needed + 2)));
    }
    score_parts(None, dataset, segments, baselines, None, None, "validation", config)
}

/// The scoring loop: the model (when given) and every baseline on the same anchors.
#[allow(clippy::too_many_arguments)] // each is a different input of the protocol
fn score_parts(
    model: Option<(&TrajectoryModel, &Encoding, &Device)>,
    dataset: &Dataset,
    segments: &[Segment],
    baselines: &[&dyn Baseline],
    choice: Option<&BaselineChoice>,
    kinematics: Option<&Kinematics>,
    part: &str,
    config: &EvalConfig,
) -> Result<EvalReport> {
    let dim = dataset.dim();
    let (fitting, mut warnings) = fitting_horizons(config, segments);
    let max_h = fitting.iter().copied().max().unwrap_or(0);
    let anchors = if max_h > 0 { anchors(segments, config.warmup, max_h, config.stride) } else { vec![] };

    let names: Vec<String> =
        std::iter::once("model".to_string()).chain(baselines.iter().map(|b| b.name().to_string())).collect();
    let mut acc: Vec<Vec<report::Accumulator>> =
        fitting.iter().map(|_| names.iter().map(|_| report::Accumulator::new(dim)).collect()).collect();
    let mut predicted = vec![0f32; max_h * dim];
    for chunk in anchors.chunks(256) {
        let contexts: Vec<Context> = chunk.iter().map(|&(e, a)| context(dataset, e, a, config.warmup, max_h)).collect();
        let r = match model {
            Some((model, encoding, device)) => Some(rollout(model, encoding, &contexts, max_h, device)?),
            None => None,
        };
        for (b, &(e, a)) in chunk.iter().enumerate() {
            let episode = &dataset.episodes[e];
            let score = |acc: &mut report::Accumulator, h: usize, predicted: &[f32]| {
                let truth = episode.frame(a + h);
                let ee = kinematics
                    .and_then(|k| Some((k.end_effector_position(predicted)? - k.end_effector_position(truth)?).norm()));
                acc.add(truth, predicted, ee);
            };
            if let Some(r) = &r {
                for (hi, &h) in fitting.iter().enumerate() {
                    score(&mut acc[hi][0], h, r.state(b, h - 1));
                }
            }
            for (p, baseline) in baselines.iter().enumerate() {
                baseline.rollout(&contexts[b], max_h, &mut predicted);
                for (hi, &h) in fitting.iter().enumerate() {
                    score(&mut acc[hi][p + 1], h, row(&predicted, dim, h - 1));
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
            let count = if fitting.contains(&h) { anchors.len() } else { 0 };
            HorizonErrors { horizon: h, count, chosen: choice.and_then(|c| c.at(h)).map(String::from), scores }
        })
        .collect();
    if anchors.is_empty() && !fitting.is_empty() {
        warnings.push("no rollout fits the scored segments: every horizon is n/a".into());
    }
    Ok(EvalReport {
        dataset: dataset.meta.name.clone(),
        part: part.to_string(),
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
