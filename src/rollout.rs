//! Autoregressive rollouts: warm the model up on observed frames, then feed its own predictions
//! back for a number of steps.

use burn::prelude::*;

use crate::data::Normalizer;
use crate::model::{RecurrentState, TrajectoryModel};

/// Free-running predictions of a batch of rollouts.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub batch: usize,
    pub horizon: usize,
    pub dim: usize,
    pub hidden: usize,
    /// Predicted states, row-major `[batch, horizon, dim]`: entry `k` is the prediction `k + 1`
    /// frames after the last context frame.
    pub states: Vec<f32>,
    /// Top-layer hidden state that produced each prediction, `[batch, horizon, hidden]`.
    pub hidden_states: Vec<f32>,
}

impl Rollout {
    pub fn state(&self, b: usize, k: usize) -> &[f32] {
        let i = (b * self.horizon + k) * self.dim;
        &self.states[i..i + self.dim]
    }
    pub fn hidden_state(&self, b: usize, k: usize) -> &[f32] {
        let i = (b * self.horizon + k) * self.hidden;
        &self.hidden_states[i..i + self.hidden]
    }
}

/// Rolls out `horizon` steps after each context. Every context holds the same number (≥ 2) of
/// observed frames, row-major `[frames, dim]`; the model is run on a device without autodiff.
pub fn rollout(
    model: &TrajectoryModel,
    norm: &Normalizer,
    contexts: &[&[f32]],
    horizon: usize,
    device: &Device,
) -> Rollout {
    let dim = norm.dim();
    let input_dim = norm.input_dim();
    let hidden = model.hidden_size();
    let batch = contexts.len();
    let frames = contexts.first().map_or(0, |c| c.len() / dim);
    assert!(frames >= 2, "a rollout context needs at least two frames");
    assert!(contexts.iter().all(|c| c.len() == frames * dim), "rollout contexts differ in length");
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
        return out;
    }

    // Warm-up on the observed frames.
    let steps = frames - 1;
    let mut input = vec![0f32; batch * steps * input_dim];
    for (b, c) in contexts.iter().enumerate() {
        for t in 0..steps {
            let row = (b * steps + t) * input_dim;
            norm.encode_input(
                &c[t * dim..(t + 1) * dim],
                &c[(t + 1) * dim..(t + 2) * dim],
                &mut input[row..row + input_dim],
            );
        }
    }
    let mut prev: Vec<f32> = contexts.iter().flat_map(|c| c[(frames - 2) * dim..(frames - 1) * dim].to_vec()).collect();
    let mut cur: Vec<f32> = contexts.iter().flat_map(|c| c[(frames - 1) * dim..].to_vec()).collect();
    let (mut y, mut h, mut state) = run(model, input, [batch, steps, input_dim], None, &device);

    let mut next = vec![0f32; batch * dim];
    let mut step_input = vec![0f32; batch * input_dim];
    for k in 0..horizon {
        for b in 0..batch {
            let s = b * dim..(b + 1) * dim;
            norm.decode_step(&cur[s.clone()], &y[b * dim..(b + 1) * dim], &mut next[s.clone()]);
            let o = (b * horizon + k) * dim;
            out.states[o..o + dim].copy_from_slice(&next[s]);
            let o = (b * horizon + k) * hidden;
            out.hidden_states[o..o + hidden].copy_from_slice(&h[b * hidden..(b + 1) * hidden]);
        }
        if k + 1 == horizon {
            break;
        }
        std::mem::swap(&mut prev, &mut cur);
        cur.copy_from_slice(&next);
        for b in 0..batch {
            let s = b * dim..(b + 1) * dim;
            norm.encode_input(&prev[s.clone()], &cur[s], &mut step_input[b * input_dim..(b + 1) * input_dim]);
        }
        (y, h, state) = run(model, step_input.clone(), [batch, 1, input_dim], Some(state), &device);
    }
    out
}

/// One forward pass; returns the last step's head output `[batch, dim]`, top hidden state
/// `[batch, hidden]` (both on the host) and the final state.
fn run(
    model: &TrajectoryModel,
    input: Vec<f32>,
    shape: [usize; 3],
    state: Option<RecurrentState>,
    device: &Device,
) -> (Vec<f32>, Vec<f32>, RecurrentState) {
    let steps = shape[1];
    let out = model.forward(Tensor::from_data(TensorData::new(input, shape), device), state);
    let last =
        |t: Tensor<3>| -> Vec<f32> { t.narrow(1, steps - 1, 1).into_data().try_into_vec::<f32>().expect("f32 tensor") };
    let top = out.hidden.last().expect("at least one layer").clone();
    (last(out.output), last(top), out.state)
}

/// Predictions for a contiguous run of frames `start..start + len` of one episode, made by
/// free-running rollouts that restart from observed frames every `horizon` frames.
#[derive(Debug, Clone)]
pub struct PredictionTrack {
    pub start: usize,
    /// Row-major `[len, dim]` predicted states.
    pub states: Vec<f32>,
    /// Row-major `[len, hidden_dim]` top-layer hidden state behind each prediction.
    pub hidden: Vec<f32>,
    pub hidden_dim: usize,
    /// Frames where a rollout restarts (its first predicted frame).
    pub anchors: Vec<usize>,
}

/// Rolls out over `frames` (row-major `[n, dim]`, e.g. one validation episode): the first
/// rollout observes frames `0..=warmup`, predicts the next `horizon`, and so on. Frame indices
/// in the track are relative to `frames`.
pub fn prediction_track(
    model: &TrajectoryModel,
    norm: &Normalizer,
    frames: &[f32],
    warmup: usize,
    horizon: usize,
    device: &Device,
) -> PredictionTrack {
    let dim = norm.dim();
    let n = frames.len() / dim;
    let warmup = warmup.max(2);
    // Anchor = last observed frame of each rollout.
    let anchors: Vec<usize> = (warmup - 1..n.saturating_sub(1)).step_by(horizon.max(1)).collect();
    let contexts: Vec<&[f32]> = anchors.iter().map(|&a| &frames[(a + 1 - warmup) * dim..(a + 1) * dim]).collect();
    let r = rollout(model, norm, &contexts, horizon, device);
    let start = warmup;
    let len = n.saturating_sub(start);
    let mut track = PredictionTrack {
        start,
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
    track
}
