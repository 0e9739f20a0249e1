//! Models of the robot data for the experiments: next-state predictors trained by the
//! project's trainer on a dataset, and the hidden states they produce over whole episodes.

use burn::prelude::*;

use crate::baselines::BaselineConfig;
use crate::data::{Dataset, SplitConfig, WindowSpec};
use crate::encoding::{Encoding, EncodingConfig};
use crate::error::Result;
use crate::model::{CellKind, ModelConfig, TrajectoryModel};
use crate::train::{self, Hooks, Prepared, Selection, Start, TrainConfig, TrainOutcome};

/// A trained next-state model and what it was trained on.
pub(crate) struct Trained {
    /// The split, encoding, baselines and windows it was trained on.
    pub(crate) prepared: Prepared,
    /// The model's shape (one layer, the head started at zero).
    pub(crate) config: ModelConfig,
    /// The best epoch's weights, on the plain device.
    pub(crate) model: TrajectoryModel,
    /// Per-epoch statistics and the best validation score.
    pub(crate) outcome: TrainOutcome,
}

/// What to train.
#[derive(Debug, Clone)]
pub(crate) struct RobotTraining {
    /// The cell of the one recurrent layer.
    pub(crate) cell: CellKind,
    /// Units of that layer.
    pub(crate) hidden: usize,
    /// Training epochs (no early stopping; the best epoch by validation loss is kept).
    pub(crate) epochs: usize,
    /// Window length in steps (the BPTT length); windows do not overlap.
    pub(crate) context: usize,
    /// How the dataset is split into training, validation and test parts.
    pub(crate) split: SplitConfig,
    /// Seed of the initial weights and of the batch order.
    pub(crate) seed: u64,
}

impl RobotTraining {
    /// One `cell` layer of `hidden` units for `epochs` epochs, on windows of 32 frames, the default
    /// split and seed 0.
    pub(crate) fn new(cell: CellKind, hidden: usize, epochs: usize) -> Self {
        Self { cell, hidden, epochs, context: 32, split: SplitConfig::default(), seed: 0 }
    }
}

/// Splits, encodes and windows `dataset` as `t` says (validation windows of the same length).
pub(crate) fn prepare(dataset: &Dataset, t: &RobotTraining) -> Result<Prepared> {
    let spec = WindowSpec { context: t.context, stride: t.context };
    train::prepare(dataset, &t.split, spec, &BaselineConfig::default(), EncodingConfig::default())
}

/// The model configuration for `prepared` data (the trainer's: head starts at zero).
pub(crate) fn model_config(prepared: &Prepared, cell: CellKind, hidden: usize) -> ModelConfig {
    ModelConfig {
        cell,
        input_dim: prepared.encoding.input_dim(),
        hidden,
        layers: 1,
        output_dim: prepared.encoding.dim(),
        dropout: 0.0,
        zero_head: true,
        members: 1,
    }
}

/// Trains a one-layer next-state model with the project's trainer (no early stopping, no files).
pub(crate) fn train_model(dataset: &Dataset, t: &RobotTraining, device: &Device) -> Result<Trained> {
    let prepared = prepare(dataset, t)?;
    let config = model_config(&prepared, t.cell, t.hidden);
    let set = prepared.training_set(dataset);
    // One-step loss, the best epoch by validation loss: the fundamentals as they were measured.
    let train_config = TrainConfig {
        epochs: t.epochs,
        patience: None,
        seed: t.seed,
        rollout_steps: 0,
        selection: Selection::Loss,
        ..TrainConfig::default()
    };
    let hooks = Hooks { observer: &mut |_| Ok(std::ops::ControlFlow::Continue(())), score: None, stop: None };
    let outcome = train::train(&config, set, &train_config, device, Start::Fresh, hooks)?;
    let model = outcome.model.clone();
    Ok(Trained { prepared, config, model, outcome })
}

/// The model inputs of every frame of `episode` from its `history()`-th on (`[frames, in]`),
/// and the index of the first such frame.
pub(crate) fn episode_inputs(dataset: &Dataset, encoding: &Encoding, episode: usize) -> (Vec<f32>, usize) {
    let e = &dataset.episodes[episode];
    let (h, n_in) = (encoding.history(), encoding.input_dim());
    let mut out = vec![0f32; (e.len() - h) * n_in];
    for t in h..e.len() {
        encoding.encode_input(e.frames(t - h..t + 1), &mut out[(t - h) * n_in..(t - h + 1) * n_in]);
    }
    (out, h)
}

/// The top layer's `h_t` over a whole episode, run from the zero state (`[frames − history, H]`).
pub(crate) fn episode_hidden(
    model: &TrajectoryModel,
    dataset: &Dataset,
    encoding: &Encoding,
    episode: usize,
    device: &Device,
) -> Vec<f32> {
    let (x, h) = episode_inputs(dataset, encoding, episode);
    let n = dataset.episodes[episode].len() - h;
    let input = Tensor::<3>::from_data(TensorData::new(x, [1, n, encoding.input_dim()]), device);
    let out = model.forward(input, None);
    out.hidden.last().expect("one layer").clone().into_data().convert::<f32>().try_into_vec::<f32>().expect("f32")
}

/// Per-channel mean and std of row-major data (a std of 0 becomes 1).
#[derive(Debug, Clone)]
pub(crate) struct MeanStd {
    /// Per-channel mean.
    pub(crate) mean: Vec<f32>,
    /// Per-channel std (1 for a constant channel).
    pub(crate) std: Vec<f32>,
}

impl MeanStd {
    /// The statistics of `rows`, row-major `[n, dim]`.
    pub(crate) fn of(rows: &[f32], dim: usize) -> Self {
        let n = (rows.len() / dim).max(1) as f64;
        let mut mean = vec![0f64; dim];
        let mut sq = vec![0f64; dim];
        for row in rows.chunks_exact(dim) {
            for (c, &v) in row.iter().enumerate() {
                mean[c] += v as f64 / n;
            }
        }
        for row in rows.chunks_exact(dim) {
            for (c, &v) in row.iter().enumerate() {
                sq[c] += (v as f64 - mean[c]).powi(2) / n;
            }
        }
        let std = sq.iter().map(|v| if *v > 1e-20 { v.sqrt() as f32 } else { 1.0 }).collect();
        Self { mean: mean.into_iter().map(|m| m as f32).collect(), std }
    }

    /// `v` of channel `c`, standardised.
    pub(crate) fn apply(&self, c: usize, v: f32) -> f32 {
        (v - self.mean[c]) / self.std[c]
    }
}
