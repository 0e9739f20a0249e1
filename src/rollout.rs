//! Autoregressive rollouts: warm the model up on observed frames, then feed its own predictions
//! back for a number of steps. Batched: many rollouts advance together.

use burn::prelude::*;

use crate::baselines::Context;
use crate::data::channels::{row, row_mut};
use crate::encoding::Encoding;
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
    pub(crate) fn hidden_state(&self, b: usize, k: usize) -> &[f32] {
        let i = (b * self.horizon + k) * self.hidden;
        &self.hidden_states[i..i + self.hidden]
    }
}

/// Rolls out `horizon` steps after each context. Every context holds the same number of
/// observed frames (at least `encoding.history() + 1`, row-major `[frames, dim]`) and, when the
/// encoding reads commands, the commands of those frames and of the `horizon` frames to predict
/// (they are known in advance: what was sent). The model runs on `device` without autodiff.
/// Contexts of other lengths, too short, or without the commands the model reads are an error.
pub fn rollout(
    model: &TrajectoryModel,
    encoding: &Encoding,
    contexts: &[Context],
    horizon: usize,
    device: &Device,
) -> Result<Rollout> {
    let dim = encoding.dim();
    let m = encoding.command_dim();
    let width = encoding.width();
    let input_dim = encoding.input_dim();
    let history = encoding.history();
    let hidden = model.hidden_size();
    let batch = contexts.len();
    let frames = contexts.first().map_or(0, |c| c.states.len() / dim);
    if let Some(c) = contexts.iter().find(|c| c.dim != dim || c.states.len() != frames * dim) {
        return Err(Error::Mismatch(format!(
            "rollout contexts must all hold the same whole number of {dim}-value frames ({} and {} values of {})",
            frames * dim,
            c.states.len(),
            c.dim
        )));
    }
    if m > 0
        && let Some(c) = contexts.iter().find(|c| c.command_dim != m || c.commands.len() != (frames + horizon) * m)
    {
        return Err(Error::Mismatch(format!(
            "the model reads {m} command channel(s): a rollout context needs the commands of its {frames} observed \
             and {horizon} predicted frames ({} values), got {} of {}",
            (frames + horizon) * m,
            c.commands.len(),
            c.command_dim
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
    let maps = encoding.maps();
    let mut z = vec![0f32; encoding.layout().lag_len()];
    // Each context's observed frames as the encoding reads them (state, then commands).
    let joined: Vec<Vec<f32>> = contexts
        .iter()
        .map(|c| {
            (0..frames)
                .flat_map(|t| {
                    crate::data::channels::row(c.states, dim, t)
                        .iter()
                        .chain(crate::data::channels::row(c.commands, m, t))
                        .copied()
                })
                .collect()
        })
        .collect();

    // Warm-up on the observed frames: inputs for frames history..frames.
    let steps = frames - history;
    let mut input = vec![0f32; batch * steps * input_dim];
    for (b, c) in joined.iter().enumerate() {
        for t in 0..steps {
            let row = (b * steps + t) * input_dim;
            maps.input(&c[t * width..(t + history + 1) * width], &mut z, &mut input[row..row + input_dim]);
        }
    }
    let warm = model.forward(Tensor::from_data(TensorData::new(input, [batch, steps, input_dim]), &device), None);
    let last = |t: Tensor<3>| t.narrow(1, steps - 1, 1).into_data().try_into_vec::<f32>().expect("f32 tensor");
    let mut y = last(warm.output);
    let mut h = last(warm.hidden.last().expect("at least one layer").clone());
    let mut state = warm.state;

    // The last history + 1 frames of every rollout, oldest first.
    let span = history + 1;
    let mut recent: Vec<f32> = joined.iter().flat_map(|c| c[(frames - span) * width..].iter().copied()).collect();
    let mut next = vec![0f32; dim];
    let mut step_input = vec![0f32; batch * input_dim];
    for k in 0..horizon {
        for (b, context) in contexts.iter().enumerate() {
            let window = row_mut(&mut recent, span * width, b);
            encoding.decode_with(window, row(&y, dim, b), &mut z, &mut next);
            row_mut(&mut out.states, dim, b * horizon + k).copy_from_slice(&next);
            row_mut(&mut out.hidden_states, hidden, b * horizon + k).copy_from_slice(row(&h, hidden, b));
            window.copy_within(width.., 0);
            let newest = &mut window[(span - 1) * width..];
            newest[..dim].copy_from_slice(&next);
            // The command sent at the predicted frame.
            newest[dim..].copy_from_slice(&context.commands[(frames + k) * m..(frames + k + 1) * m]);
            maps.input(window, &mut z, row_mut(&mut step_input, input_dim, b));
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

/// Rolls out over `frames` (row-major `[n, dim]`, e.g. one test segment, with its `commands`
/// `[n, command_dim]` when the model reads them, else empty): the first rollout observes frames
/// `0..warmup`, predicts the next `horizon`, and so on. Frame indices in the track are relative
/// to `frames`.
pub fn prediction_track(
    model: &TrajectoryModel,
    encoding: &Encoding,
    frames: &[f32],
    commands: &[f32],
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
    // Each rollout's commands run to the end of its horizon; the last ones may end with the
    // frames: their commands are padded with the last one sent (they are never scored).
    let m = encoding.command_dim();
    let padded: Vec<f32> = if m == 0 {
        vec![]
    } else {
        let mut p = commands.to_vec();
        let last = p[p.len().saturating_sub(m)..].to_vec();
        for _ in 0..horizon {
            p.extend_from_slice(&last);
        }
        p
    };
    let contexts: Vec<Context> = anchors
        .iter()
        .map(|&a| Context {
            states: &frames[(a + 1 - warmup) * dim..(a + 1) * dim],
            dim,
            commands: if m == 0 { &[] } else { &padded[(a + 1 - warmup) * m..(a + 1 + horizon) * m] },
            command_dim: m,
        })
        .collect();
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

/// One rollout driven by a command plan: observes `observed` (row-major `[n, dim]`, with the
/// `observed_commands` sent at those frames) and predicts one frame per row of `plan`
/// (`[rows, command_dim]`), each from the commands of the plan, never from a measured state.
/// Frame indices in the track are relative to `observed`'s first frame.
pub fn planned_track(
    model: &TrajectoryModel,
    encoding: &Encoding,
    observed: &[f32],
    observed_commands: &[f32],
    plan: &[f32],
    device: &Device,
) -> Result<PredictionTrack> {
    let (dim, m) = (encoding.dim(), encoding.command_dim());
    if m == 0 {
        return Err(Error::Config("the checkpoint's model reads no commands: there is nothing to plan".into()));
    }
    let n = observed.len() / dim;
    let horizon = plan.len() / m;
    if horizon == 0 || !plan.len().is_multiple_of(m) {
        return Err(Error::Config(format!("a plan needs whole rows of {m} commands and at least one")));
    }
    if n <= encoding.history() || observed_commands.len() != n * m {
        return Err(Error::Config(format!(
            "a plan starts after at least {} observed frames with their commands",
            encoding.history() + 1
        )));
    }
    let commands = [observed_commands, plan].concat();
    let context = Context { states: observed, dim, commands: &commands, command_dim: m };
    let r = rollout(model, encoding, &[context], horizon, device)?;
    let mut track = PredictionTrack {
        start: n,
        states: Vec::with_capacity(horizon * dim),
        hidden: Vec::with_capacity(horizon * r.hidden),
        hidden_dim: r.hidden,
        anchors: vec![n],
    };
    for k in 0..horizon {
        track.states.extend_from_slice(r.state(0, k));
        track.hidden.extend_from_slice(r.hidden_state(0, k));
    }
    Ok(track)
}
