//! Training by backpropagation through time over windows, with Adam and global-norm clipping.
//! Validation runs every epoch; the best epoch's weights go to an atomic checkpoint.

pub mod checkpoint;
pub mod clip;

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::window::gather_batch;
use crate::data::{Batch, Dataset, Normalizer, Window};
use crate::error::{Error, Result};
use crate::model::{ModelConfig, TrajectoryModel};
pub use checkpoint::{CheckpointMeta, DataInfo};
pub use clip::{ClipStats, clip_global_norm, global_grad_norm};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Global gradient-norm bound; `None` trains without clipping.
    pub clip_norm: Option<f64>,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 20, batch_size: 32, learning_rate: 1e-3, clip_norm: Some(1.0), seed: 0 }
    }
}

/// The data a run trains and validates on.
#[derive(Clone, Copy)]
pub struct TrainingSet<'a> {
    pub dataset: &'a Dataset,
    pub normalizer: &'a Normalizer,
    pub train: &'a [Window],
    pub valid: &'a [Window],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training MSE (normalised units) over the epoch's batches.
    pub train_loss: f64,
    pub valid_loss: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: f64,
    /// Share of steps whose gradient was clipped.
    pub clipped: f64,
    /// Steps skipped because the loss or gradient was not finite.
    pub skipped_steps: usize,
    pub seconds: f64,
}

pub enum Progress<'a> {
    Batch { epoch: usize, batch: usize, batches: usize, loss: f64 },
    Epoch(&'a EpochStats),
}

pub struct TrainOutcome {
    /// The weights of the best validation epoch (in inference mode).
    pub model: TrajectoryModel,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
}

/// Where and how to write the best checkpoint; `epoch` and `valid_loss` are filled in on save.
pub struct CheckpointTarget<'a> {
    pub path: &'a Path,
    pub meta: CheckpointMeta,
}

/// Trains a fresh model. Seeded runs on a CPU backend are reproducible.
pub fn train(
    model_config: &ModelConfig,
    data: TrainingSet,
    config: &TrainConfig,
    device: &Device,
    mut checkpoint: Option<CheckpointTarget>,
    mut progress: impl FnMut(Progress),
) -> Result<TrainOutcome> {
    model_config.validate()?;
    if data.train.is_empty() || data.valid.is_empty() {
        return Err(Error::Config("training and validation need at least one window each".into()));
    }
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(Error::Config("batch_size and epochs must be positive".into()));
    }
    let plain = device.clone().without_autodiff();
    let train_device = plain.clone().autodiff();
    let mut model = model_config.init(&train_device, config.seed);
    // PyTorch's Adam epsilon (burn defaults to 1e-5), so results compare with the usual baseline.
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, TrajectoryModel)> = None;

    for epoch in 1..=config.epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let batches: Vec<&[usize]> = order.chunks(config.batch_size).collect();
        let (mut loss_sum, mut norm_sum, mut clipped, mut steps, mut skipped) = (0.0, 0.0, 0usize, 0usize, 0usize);
        for (i, indices) in batches.iter().enumerate() {
            let windows: Vec<Window> = indices.iter().map(|&k| data.train[k]).collect();
            let batch = gather_batch(data.dataset, data.normalizer, &windows);
            let (input, target) = batch_tensors(batch, &train_device);
            let loss = (model.forward(input, None).output - target).square().mean();
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            let stats = match config.clip_norm {
                Some(max) => clip_global_norm(&model, &mut grads, max),
                None => {
                    let n = global_grad_norm(&model, &grads);
                    ClipStats { norm_before: n, norm_after: n }
                }
            };
            if !loss_value.is_finite() || !stats.norm_before.is_finite() {
                skipped += 1; // never let a NaN/inf step reach the weights
                continue;
            }
            model = optim.step(config.learning_rate, model, grads);
            loss_sum += loss_value;
            norm_sum += stats.norm_before;
            clipped += stats.clipped() as usize;
            steps += 1;
            progress(Progress::Batch { epoch, batch: i + 1, batches: batches.len(), loss: loss_value });
        }
        let eval_model = model.valid();
        let valid_loss = mean_loss(&eval_model, data, data.valid, config.batch_size, &plain);
        let denom = steps.max(1) as f64;
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum / denom,
            valid_loss,
            grad_norm: norm_sum / denom,
            clipped: clipped as f64 / denom,
            skipped_steps: skipped,
            seconds: started.elapsed().as_secs_f64(),
        };
        if valid_loss.is_finite() && best.as_ref().is_none_or(|(b, _, _)| valid_loss < *b) {
            if let Some(target) = checkpoint.as_mut() {
                target.meta.epoch = epoch;
                target.meta.valid_loss = Some(valid_loss);
                checkpoint::save(target.path, &eval_model, &target.meta)?;
            }
            best = Some((valid_loss, epoch, eval_model));
        }
        progress(Progress::Epoch(&stats));
        history.push(stats);
    }
    let (_, best_epoch, model) =
        best.ok_or_else(|| Error::Config("training diverged: no epoch had a finite validation loss".into()))?;
    Ok(TrainOutcome { model, history, best_epoch })
}

/// Mean MSE (normalised units) of `model` over `windows`, in inference mode.
pub fn mean_loss(
    model: &TrajectoryModel,
    data: TrainingSet,
    windows: &[Window],
    batch_size: usize,
    device: &Device,
) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    for chunk in windows.chunks(batch_size.max(1)) {
        let batch = gather_batch(data.dataset, data.normalizer, chunk);
        let (input, target) = batch_tensors(batch, device);
        let loss = (model.forward(input, None).output - target).square().mean().into_scalar::<f32>() as f64;
        sum += loss * chunk.len() as f64;
        count += chunk.len();
    }
    sum / count.max(1) as f64
}

/// The batch as `[batch, context, input_dim]` inputs and `[batch, context, dim]` targets.
pub fn batch_tensors(batch: Batch, device: &Device) -> (Tensor<3>, Tensor<3>) {
    let input = Tensor::from_data(TensorData::new(batch.inputs, [batch.batch, batch.context, batch.input_dim]), device);
    let target =
        Tensor::from_data(TensorData::new(batch.targets, [batch.batch, batch.context, batch.target_dim]), device);
    (input, target)
}
