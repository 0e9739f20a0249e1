//! The experiments' own training loop, for models and losses the trainer does not know (a
//! classifier over sequences, a model without weight sharing): Adam, optional global-norm
//! clipping, and a step whose loss or gradient is not finite is counted and skipped.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::prelude::*;

use crate::train::{clip_global_norm, global_grad_norm};

/// The optimiser [`fit`] steps with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Optimizer {
    /// Adam with PyTorch's epsilon (the project's trainer).
    Adam,
    /// Plain stochastic gradient descent (the setting in which clipping was proposed).
    Sgd,
}

/// How [`fit`] trains.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FitConfig {
    /// Adam or plain SGD.
    pub(crate) optimizer: Optimizer,
    /// Optimiser steps, each on one call of the loss closure.
    pub(crate) steps: usize,
    /// Fixed learning rate of every step (no schedule).
    pub(crate) learning_rate: f64,
    /// Global gradient-norm bound; `None` trains without clipping.
    pub(crate) clip: Option<f64>,
}

/// What happened during training.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FitLog {
    /// Loss of every step in order, non-finite ones included.
    pub(crate) losses: Vec<f64>,
    /// Global gradient norm before clipping, per step.
    pub(crate) grad_norms: Vec<f64>,
    /// Steps skipped because the loss or the gradient was not finite.
    pub(crate) skipped: usize,
    /// Steps whose gradient norm was above the clipping bound.
    pub(crate) clipped: usize,
    /// Wall time of the whole fit, seconds.
    pub(crate) seconds: f64,
}

impl FitLog {
    /// Mean loss over the last `n` steps with a finite loss.
    pub(crate) fn final_loss(&self, n: usize) -> f64 {
        let finite: Vec<f64> = self.losses.iter().copied().filter(|l| l.is_finite()).collect();
        let tail = &finite[finite.len().saturating_sub(n)..];
        if tail.is_empty() { f64::NAN } else { tail.iter().sum::<f64>() / tail.len() as f64 }
    }

    /// Largest gradient norm before clipping (infinite if any step's norm was not finite).
    pub(crate) fn max_grad_norm(&self) -> f64 {
        self.grad_norms.iter().copied().fold(0.0, |m, v| if v.is_finite() { m.max(v) } else { f64::INFINITY })
    }
}

/// Trains `model` (on an autodiff device) for `config.steps` steps; `loss(model, step)` builds
/// the step's scalar loss.
pub(crate) fn fit<M: Module + Clone>(
    mut model: M,
    config: &FitConfig,
    mut loss: impl FnMut(&M, usize) -> Tensor<1>,
) -> (M, FitLog) {
    let started = Instant::now();
    let mut optim = match config.optimizer {
        Optimizer::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
        Optimizer::Sgd => SgdConfig::new().init(),
    };
    let mut log = FitLog::default();
    for step in 0..config.steps {
        let l = loss(&model, step);
        let value = l.clone().into_scalar::<f32>() as f64;
        let mut grads = GradientsParams::from_grads(l.backward(), &model);
        let norm = match config.clip {
            Some(max) => {
                let stats = clip_global_norm(&model, &mut grads, max);
                log.clipped += stats.clipped() as usize;
                stats.norm_before
            }
            None => global_grad_norm(&model, &grads),
        };
        log.losses.push(value);
        log.grad_norms.push(norm);
        if !value.is_finite() || !norm.is_finite() {
            log.skipped += 1;
            continue;
        }
        model = optim.step(config.learning_rate, model, grads);
    }
    log.seconds = started.elapsed().as_secs_f64();
    (model, log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CellKind, ModelConfig};

    #[test]
    fn fits_a_constant_target_and_counts_clipping() {
        let device = crate::Backend::Flex.device().unwrap().autodiff();
        let config = ModelConfig {
            cell: CellKind::Gru,
            input_dim: 1,
            hidden: 4,
            layers: 1,
            output_dim: 1,
            dropout: 0.0,
            zero_head: false,
            members: 1,
        };
        let model = config.init(&device, 0);
        let x = Tensor::<3>::ones([2, 3, 1], &device);
        let loss = |m: &crate::model::TrajectoryModel, _| (m.forward(x.clone(), None).output - 0.7).square().mean();
        let first = loss(&model, 0).into_scalar::<f32>();
        let (model, log) = fit(
            model,
            &FitConfig { optimizer: Optimizer::Adam, steps: 60, learning_rate: 0.02, clip: Some(1e-3) },
            |m, s| loss(m, s),
        );
        assert_eq!(log.losses.len(), 60);
        assert_eq!(log.clipped, 60, "every gradient is above 1e-3 here");
        let last = loss(&model, 0).into_scalar::<f32>();
        assert!(last < 0.5 * first, "{first} → {last}");
    }
}
