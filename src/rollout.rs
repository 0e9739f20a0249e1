//! Autoregressive rollouts: warm the model up on observed frames, then feed its own predictions
//! back for a number of steps. Batched: many rollouts advance together.

use burn::prelude::*;

use crate::data::channels::{row, row_mut};
use crate::encoding::{Encoding, maps};
use crate::error::{Error, Result};
use crate::model::TrajectoryModel;

/// Free-running predictions of a batch of rollouts.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Rollouts (one per context).
    pub batch: usize,
    /// Predicted frames per rollout.
    pub horizon: usize,
    /// Values per state (channels).
    pub dim: usize,
    /// Units of the model's top layer.
    pub hidden: usize,
    /// Predicted states, row-major `[batch, horizon, dim]`: entry `k` is the prediction `k + 1`
    /// frames after the last context frame.
    pub states: Vec<f32>,
    /// Top-layer hidden state that produced each prediction, `[batch, horizon, hidden]`.
    pub hidden_states: Vec<f32>,
}

impl Rollout {
    /// The state predicted `k + 1` frames after the last context frame of rollout `b`: `dim`
    /// values (`states[b, k, ..]`).
    pub fn state(&self, b: usize, k: usize) -> &[f32] {
        let i = (b * self.horizon + k) * self.dim;
        &self.states[i..i + self.dim]
    }
    /// The top-layer hidden state behind [`state(b, k)`](Self::state): `hidden` values
    /// (`hidden_states[b, k, ..]`).
    pub fn hidden_state(&self, b: usize, k: usize) -> &[f32] {
        let i = (b * self.horizon + k) * self.hidden;
        &self.hidden_states[i..i + self.hidden]
    }
}

/// Rolls out `horizon` steps after each context. Every context holds the same number of
/// observed frames (at least `encoding.history() + 1`), row-major `[frames, dim]`; the model
/// runs on `device` without autodiff. Contexts of other lengths, or too short, are an error.
pub fn rollout(
    model: &TrajectoryModel,
    encoding: &Encoding,
    contexts: &[&[f32]],
    horizon: usize,
    device: &Device,
) -> Result<Rollout> {
    let dim = encoding.dim();
    let input_dim = encoding.input_dim();
    let history = encoding.history();
    let hidden = model.hidden_size();
    let batch = contexts.len();
    let frames = contexts.first().map_or(0, |c| c.len() / dim);
    if let Some(c) = contexts.iter().find(|c| c.len() != frames * dim || c.len() % dim != 0) {
        return Err(Error::Mismatch(format!(
            "rollout contexts must all hold the same whole number of {dim}-value frames ({} and {} values)",
            frames * dim,
            c.len()
        )));
    }
    if batch > 0 && frames <= history {
        return Err(Error::Mismatch(format!(
            "a rollout context needs at least {} observed frames (the encoding reads {history} before the current \
             one), got {frames}",
            history + 1
        )));
    }
    if model.layers.first().is_some_and(|_| input_dim != model_input_dim(model)) {
        return Err(Error::Mismatch(format!(
            "the encoding gives {input_dim} inputs, the model reads {}",
            model_input_dim(model)
        )));
    }
    let device = device.clone().without_autodiff();
    let mut out = Rollout {
        batch,
        horizon,
        dim,
        hidden,
        states: vec![0.0; batch * horizon * dim],
        hidden_states: vec![0.0; batch * horizon * hidden],
    };
    if batch == 0 || horizon == 0 {
        return Ok(out);
    }
    let m = encoding.maps();
    let mut z = vec![0f32; maps::lag_len(dim, history)];

    // Warm-up on the observed frames: inputs for frames history..frames.
    let steps = frames - history;
    let mut input = vec![0f32; batch * steps * input_dim];
    for (b, c) in contexts.iter().enumerate() {
        for t in 0..steps {
            let row = (b * steps + t) * input_dim;
            m.input(&c[t * dim..(t + history + 1) * dim], &mut z, &mut input[row..row + input_dim]);
        }
    }
    let warm = model.forward(Tensor::from_data(TensorData::new(input, [batch, steps, input_dim]), &device), None);
    let last = |t: Tensor<3>| t.narrow(1, steps - 1, 1).into_data().try_into_vec::<f32>().expect("f32 tensor");
    let mut y = last(warm.output);
    let mut h = last(warm.hidden.last().expect("at least one layer").clone());
    let mut state = warm.state;

    // The last history + 1 frames of every rollout, oldest first.
    let span = history + 1;
    let mut recent: Vec<f32> = contexts.iter().flat_map(|c| c[(frames - span) * dim..].iter().copied()).collect();
    let mut next = vec![0f32; dim];
    let mut step_input = vec![0f32; batch * input_dim];
    for k in 0..horizon {
        for b in 0..batch {
            let window = row_mut(&mut recent, span * dim, b);
            encoding.decode_with(window, row(&y, dim, b), &mut z, &mut next);
            row_mut(&mut out.states, dim, b * horizon + k).copy_from_slice(&next);
            row_mut(&mut out.hidden_states, hidden, b * horizon + k).copy_from_slice(row(&h, hidden, b));
            window.copy_within(dim.., 0);
            window[(span - 1) * dim..].copy_from_slice(&next);
            m.input(window, &mut z, row_mut(&mut step_input, input_dim, b));
        }
        if k + 1 == horizon {
            break;
        }
        let x = Tensor::from_data(TensorData::new(step_input.clone(), [batch, input_dim]), &device);
        let (output, next_state) = model.step(x, state);
        y = output.into_data().try_into_vec::<f32>().expect("f32 tensor");
        h = next_state
            .layers
            .last()
            .expect("at least one layer")
            .h
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 tensor");
        state = next_state;
    }
    Ok(out)
}

/// The input width of a model's first layer.
fn model_input_dim(model: &TrajectoryModel) -> usize {
    model.layers[0].w_x.dims()[0]
}

/// Predictions for a contiguous run of frames of one episode, made by free-running rollouts
/// that restart from observed frames every `horizon` frames.
#[derive(Debug, Clone)]
pub struct PredictionTrack {
    /// First predicted frame (relative to the frames given).
    pub start: usize,
    /// Row-major `[len, dim]` predicted states.
    pub states: Vec<f32>,
    /// Row-major `[len, hidden_dim]` top-layer hidden state behind each prediction.
    pub hidden: Vec<f32>,
    /// Units of the model's top layer (the width of a `hidden` row).
    pub hidden_dim: usize,
    /// Frames where a rollout restarts (its first predicted frame).
    pub anchors: Vec<usize>,
}

/// Rolls out over `frames` (row-major `[n, dim]`, e.g. one validation segment): the first
/// rollout observes frames `0..warmup`, predicts the next `horizon`, and so on. Frame indices in
/// the track are relative to `frames`.
pub fn prediction_track(
    model: &TrajectoryModel,
    encoding: &Encoding,
    frames: &[f32],
    warmup: usize,
    horizon: usize,
    device: &Device,
) -> Result<PredictionTrack> {
    let dim = encoding.dim();
    let n = frames.len() / dim;
    let warmup = warmup.max(encoding.history() + 1);
    // No rollout predicts past the last frame: a longer horizon would only allocate (a huge
    // `--horizon` asked for terabytes).
    let horizon = horizon.clamp(1, n.saturating_sub(warmup).max(1));
    // Anchor = last observed frame of each rollout.
    let anchors: Vec<usize> = (warmup - 1..n.saturating_sub(1)).step_by(horizon).collect();
    let contexts: Vec<&[f32]> = anchors.iter().map(|&a| &frames[(a + 1 - warmup) * dim..(a + 1) * dim]).collect();
    let r = rollout(model, encoding, &contexts, horizon, device)?;
    let len = n.saturating_sub(warmup);
    let mut track = PredictionTrack {
        start: warmup,
        states: Vec::with_capacity(len * dim),
        hidden: Vec::with_capacity(len * r.hidden),
        hidden_dim: r.hidden,
        anchors: anchors.iter().map(|a| a + 1).collect(),
    };
    for (b, &a) in anchors.iter().enumerate() {
        for k in 0..horizon.min(n - 1 - a) {
            track.states.extend_from_slice(r.state(b, k));
            track.hidden.extend_from_slice(r.hidden_state(b, k));
        }
    }
    Ok(track)
}
