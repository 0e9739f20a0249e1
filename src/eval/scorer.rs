//! The validation score training chooses its best epoch by: the evaluation's own measure (arm
//! error of free-running rollouts at every horizon, relative to the best baseline at that
//! horizon), on the validation part. The baselines' errors do not change from epoch to epoch, so
//! they are measured once.

use burn::prelude::*;

use super::{EvalConfig, anchors, fitting_horizons};
use crate::baselines::{Baseline, Context};
use crate::data::channels::row;
use crate::data::{ChannelRole, Dataset, Segment};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::model::TrajectoryModel;
use crate::rollout::rollout;

/// Most rollouts a score is measured on (evenly thinned beyond that): the score is computed
/// every epoch, and a few hundred rollouts measure it well.
const MAX_ANCHORS: usize = 512;

/// Scores models on fixed validation rollouts (see [`crate::baselines`]).
pub(crate) struct RolloutScorer {
    /// Observed frames of each rollout, row-major `[warmup, dim]`, and its commands (observed and
    /// predicted frames; empty without commands).
    contexts: Vec<(Vec<f32>, Vec<f32>)>,
    command_dim: usize,
    /// The true frames at each horizon of each rollout, `[anchors][horizons][dim]` flattened.
    truths: Vec<f32>,
    horizons: Vec<usize>,
    joints: Vec<usize>,
    dim: usize,
    /// The best baseline's arm MSE at each horizon.
    baseline_mse: Vec<f64>,
    encoding: Encoding,
    device: Device,
}

impl RolloutScorer {
    /// Prepares the rollouts of `segments` (the validation part) and scores the baselines on them.
    pub(crate) fn new(
        dataset: &Dataset,
        segments: &[Segment],
        encoding: &Encoding,
        baselines: &[&dyn Baseline],
        config: &EvalConfig,
        device: &Device,
    ) -> Result<Self> {
        config.validate()?;
        config.check_warmup(encoding, baselines)?;
        let (horizons, _) = fitting_horizons(config, segments);
        let max_h = horizons.iter().copied().max().unwrap_or(0);
        let mut all = if max_h > 0 { anchors(segments, config.warmup, max_h, config.stride) } else { vec![] };
        if all.is_empty() {
            return Err(Error::Config(format!(
                "the validation part holds no rollout of {} observed frames and {max_h} predicted ones to choose \
                 the best epoch by (lower --warmup or --horizons, or use train.selection = \"loss\")",
                config.warmup
            )));
        }
        if all.len() > MAX_ANCHORS {
            let step = all.len() as f64 / MAX_ANCHORS as f64;
            all = (0..MAX_ANCHORS).map(|i| all[(i as f64 * step) as usize]).collect();
        }
        let dim = dataset.dim();
        let joints: Vec<usize> = dataset
            .meta
            .roles()
            .iter()
            .enumerate()
            .filter(|(_, r)| **r == ChannelRole::Joint)
            .map(|(c, _)| c)
            .collect();
        let mut contexts = Vec::with_capacity(all.len());
        let mut truths = Vec::with_capacity(all.len() * horizons.len() * dim);
        for &(e, a) in &all {
            let episode = &dataset.episodes[e];
            let c = super::context(dataset, e, a, config.warmup, max_h);
            contexts.push((c.states.to_vec(), c.commands.to_vec()));
            for &h in &horizons {
                truths.extend_from_slice(episode.frame(a + h));
            }
        }
        let mut scorer = Self {
            contexts,
            command_dim: dataset.meta.command_dim(),
            truths,
            horizons,
            joints,
            dim,
            baseline_mse: vec![],
            encoding: encoding.clone(),
            device: device.clone().without_autodiff(),
        };
        let mut predicted = vec![0f32; max_h * dim];
        let mut best = vec![f64::INFINITY; scorer.horizons.len()];
        for baseline in baselines {
            let mut sums = vec![0f64; scorer.horizons.len()];
            for i in 0..scorer.contexts.len() {
                baseline.rollout(&scorer.context(i), max_h, &mut predicted);
                for (hi, &h) in scorer.horizons.iter().enumerate() {
                    sums[hi] += scorer.arm_se(row(&predicted, dim, h - 1), i, hi);
                }
            }
            for (b, s) in best.iter_mut().zip(sums) {
                *b = b.min(s / scorer.contexts.len() as f64);
            }
        }
        scorer.baseline_mse = best;
        Ok(scorer)
    }

    /// Rollout `i` as a baseline or the model reads it.
    fn context(&self, i: usize) -> Context<'_> {
        let (states, commands) = &self.contexts[i];
        Context { states, dim: self.dim, commands, command_dim: self.command_dim }
    }

    /// Squared arm error of `predicted` against rollout `i`'s truth at horizon index `hi`.
    fn arm_se(&self, predicted: &[f32], i: usize, hi: usize) -> f64 {
        let truth = &self.truths[(i * self.horizons.len() + hi) * self.dim..][..self.dim];
        self.joints.iter().map(|&c| ((predicted[c] - truth[c]) as f64).powi(2)).sum::<f64>() / self.joints.len() as f64
    }

    /// The geometric mean over horizons of the model's arm RMSE over the best baseline's (lower
    /// is better; 1 where the model is as good as the best rule).
    pub(crate) fn score(&self, model: &TrajectoryModel) -> Result<f64> {
        let max_h = self.horizons.iter().copied().max().unwrap_or(0);
        let mut sums = vec![0f64; self.horizons.len()];
        for start in (0..self.contexts.len()).step_by(256) {
            let end = (start + 256).min(self.contexts.len());
            let contexts: Vec<Context> = (start..end).map(|i| self.context(i)).collect();
            let r = rollout(model, &self.encoding, &contexts, max_h, &self.device)?;
            for b in 0..contexts.len() {
                let i = start + b;
                for (hi, &h) in self.horizons.iter().enumerate() {
                    sums[hi] += self.arm_se(r.state(b, h - 1), i, hi);
                }
            }
        }
        let n = self.contexts.len() as f64;
        let logs: Vec<f64> = sums
            .iter()
            .zip(&self.baseline_mse)
            .filter(|(_, b)| **b > 0.0)
            .map(|(s, b)| 0.5 * ((s / n) / b).ln())
            .collect();
        Ok(if logs.is_empty() { f64::NAN } else { (logs.iter().sum::<f64>() / logs.len() as f64).exp() })
    }
}
