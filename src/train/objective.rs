//! What a training step minimises, and the batches it reads.
//!
//! The loss of a window is the weighted one-step MSE in the encoding's target units over its
//! teacher-forced steps, plus (with `rollout_steps` = k > 0) the weighted error of k
//! free-running steps after it: the model runs on its own predictions, as evaluation rollouts
//! do, so it sees its own mistakes. A model trained on one-step errors alone drifts when it runs
//! free.
//!
//! The free-running steps decode and re-encode through the encoding's [`DeviceMaps`] (the same
//! affine maps the host applies), so the loss is differentiable through the fed-back
//! predictions. They start from the window's final state with the graph cut (as truncated BPTT
//! does); the window's last output, from which the first free-running frame is decoded, stays in
//! the graph.

use burn::prelude::*;
use rand::Rng;
use rand::rngs::StdRng;

use crate::data::channels::row_mut;
use crate::data::{ChannelRole, Dataset, Window};
use crate::encoding::{DeviceMaps, Encoding};
use crate::model::{LayerState, RecurrentState, StackedMembers, TrajectoryModel};

/// Host-side batch, row-major: inputs `[batch, context, input_dim]`, targets `[batch, context,
/// dim]`, and (for free-running steps) the windows' frames `[batch, history + context + 1,
/// width]` (the state, then the commands the encoding reads).
#[derive(Debug, Clone)]
pub struct Batch {
    /// Encoded inputs, `[batch, context, input_dim]`.
    pub inputs: Vec<f32>,
    /// Encoded targets, `[batch, context, target_dim]`.
    pub targets: Vec<f32>,
    /// Empty unless the batch was gathered with its frames.
    pub frames: Vec<f32>,
    /// Windows (rows) in the batch.
    pub batch: usize,
    /// Input steps per window.
    pub context: usize,
    /// Features per input step.
    pub input_dim: usize,
    /// Values per target step (the state channels `D`).
    pub target_dim: usize,
}

/// Gathers windows (all of one context length) into a batch of encoded inputs and targets; with
/// `frames`, also their raw states (the free-running steps read them).
pub fn gather_batch(dataset: &Dataset, encoding: &Encoding, windows: &[Window], frames: bool) -> Batch {
    let context = windows.first().map_or(0, |w| w.context);
    let (dim, input_dim, history) = (encoding.dim(), encoding.input_dim(), encoding.history());
    let width = encoding.width();
    let with_commands = encoding.command_dim() > 0;
    let mut inputs = vec![0f32; windows.len() * context * input_dim];
    let mut targets = vec![0f32; windows.len() * context * dim];
    let mut raw = Vec::with_capacity(if frames { windows.len() * (history + context + 1) * width } else { 0 });
    let mut z = vec![0f32; encoding.layout().lag_len()];
    let m = encoding.maps();
    for (b, w) in windows.iter().enumerate() {
        debug_assert_eq!((w.context, w.history), (context, history), "a batch mixes window shapes");
        let episode = &dataset.episodes[w.episode];
        let view = if with_commands { episode.joined(w.frames()) } else { episode.frames(w.frames()).into() };
        if frames {
            raw.extend_from_slice(&view);
        }
        for t in 0..context {
            let row = b * context + t;
            // Frames t ..= t + history end at input frame t + history; its target follows.
            let past = &view[t * width..(t + history + 1) * width];
            let next = &view[(t + history + 1) * width..(t + history + 1) * width + dim];
            m.input(past, &mut z, row_mut(&mut inputs, input_dim, row));
            encoding.encode_target(past, next, row_mut(&mut targets, dim, row));
        }
    }
    Batch { inputs, targets, frames: raw, batch: windows.len(), context, input_dim, target_dim: dim }
}

/// How the objective weighs channels and free-running steps (see [`Objective::new`]).
pub(crate) struct ObjectiveConfig<'a> {
    /// Free-running steps scored after each window (0: one-step loss only).
    pub(crate) rollout_steps: usize,
    /// Weight of the free-running loss against the one-step loss.
    pub(crate) rollout_weight: f64,
    /// Standard deviation of Gaussian noise added to the teacher-forced inputs while training
    /// (in the inputs' standardised units; 0: none).
    pub(crate) input_noise: f64,
    /// Each channel's role (the joints are weighted by their share of the arm error when the
    /// encoding's loss weights say `metric`).
    pub(crate) roles: &'a [ChannelRole],
}

/// What a training step minimises (see the [module](self) documentation).
pub(crate) struct Objective {
    rollout_steps: usize,
    rollout_weight: f64,
    input_noise: f64,
    /// Per channel, the one-step weight `[1, D]`, normalised to a mean of 1 over the channels.
    weights: Tensor<2>,
    /// Per free-running step, the per-channel weight divided by the square of the base rule's
    /// error at that step, `[1, D]`.
    step_weights: Vec<Tensor<2>>,
    maps: DeviceMaps,
    history: usize,
    /// State and command values per frame.
    width: usize,
    device: Device,
}

impl Objective {
    /// `scales`: per free-running step, the base rule's per-channel RMS error at that step (see
    /// [`base_error_scales`]; empty without free-running steps).
    pub(crate) fn new(config: &ObjectiveConfig, encoding: &Encoding, scales: &[Vec<f32>], device: &Device) -> Self {
        let dim = encoding.dim();
        let metric = encoding.config.loss_weights.metric;
        let joint = |c: usize| config.roles.get(c) == Some(&ChannelRole::Joint) && encoding.loss_weights[c] > 0.0;
        let joints: Vec<usize> = (0..dim).filter(|&c| joint(c)).collect();
        let pooled = |v: &[f32]| {
            (joints.iter().map(|&c| (v[c] as f64).powi(2)).sum::<f64>() / joints.len().max(1) as f64).sqrt() as f32
        };
        // One step: in metric mode a joint's squared error counts in its own unit, relative to
        // the joints' pooled residual scale (as the reports pool the arm error).
        let target_pool = pooled(&encoding.target_std);
        let one_step: Vec<f32> = (0..dim)
            .map(|c| {
                let w = encoding.loss_weights[c];
                if metric && joint(c) && target_pool > 0.0 {
                    w * (encoding.target_std[c] / target_pool).powi(2)
                } else {
                    w
                }
            })
            .collect();
        let weight_sum = one_step.iter().sum::<f32>().max(f32::MIN_POSITIVE);
        let role_sum = encoding.loss_weights.iter().sum::<f32>().max(f32::MIN_POSITIVE);
        let step_weights = scales
            .iter()
            .map(|s| {
                let pool = pooled(s);
                let w: Vec<f32> = (0..dim)
                    .map(|c| {
                        let scale = if metric && joint(c) && pool > 0.0 { pool } else { s[c] };
                        encoding.loss_weights[c] / (scale * scale) / role_sum * dim as f32
                    })
                    .collect();
                row(&w, device)
            })
            .collect();
        Self {
            rollout_steps: config.rollout_steps,
            rollout_weight: config.rollout_weight,
            input_noise: config.input_noise,
            weights: row(&one_step.iter().map(|w| w / weight_sum * dim as f32).collect::<Vec<_>>(), device),
            step_weights,
            maps: encoding.maps().to_device(device),
            history: encoding.history(),
            width: encoding.width(),
            device: device.clone(),
        }
    }

    /// Whether batches need their raw frames (for free-running steps).
    pub(crate) fn needs_frames(&self) -> bool {
        self.rollout_steps > 0
    }

    /// The loss of one batch and the final state. With `rng` (training), dropout masks and input
    /// noise are drawn from it.
    pub(crate) fn loss(
        &self,
        model: &TrajectoryModel,
        mut batch: Batch,
        state: Option<RecurrentState>,
        rng: Option<&mut StdRng>,
    ) -> (Tensor<1>, RecurrentState) {
        let [b, context] = [batch.batch, batch.context];
        let k = self.rollout_steps;
        let teacher = if k > 0 { context - (k - 1) } else { context };
        let mut rng = rng;
        if let Some(rng) = rng.as_deref_mut().filter(|_| self.input_noise > 0.0) {
            let inputs_per_window = batch.context * batch.input_dim;
            for w in batch.inputs.chunks_exact_mut(inputs_per_window) {
                // Only the teacher-forced steps: the free-running ones are re-encoded on the device.
                for v in &mut w[..teacher * batch.input_dim] {
                    *v += (gaussian(rng) * self.input_noise) as f32;
                }
            }
        }
        // The raw frames only feed the free-running steps.
        let frames = (k > 0).then(|| {
            let shape = [b, self.history + context + 1, self.width];
            Tensor::<3>::from_data(TensorData::new(std::mem::take(&mut batch.frames), shape), &self.device)
        });
        let (mut input, mut target) = batch_tensors(batch, &self.device);
        if k > 0 {
            input = input.narrow(1, 0, teacher);
            target = target.narrow(1, 0, teacher);
        }
        // Every member of an ensemble on its own loss (not on the mean's: that would train them
        // as one network), the losses averaged.
        let members = model.forward_members(input, state, rng);
        let n = members.len();
        let mut total: Option<Tensor<1>> = None;
        let mut states = Vec::new();
        let mut last = Vec::with_capacity(n);
        for out in members {
            let err = (out.output.clone() - target.clone()).square() * self.weights.clone().unsqueeze_dim::<3>(0);
            let loss = err.mean();
            if frames.is_some() {
                last.push((out.output.narrow(1, teacher - 1, 1).squeeze_dim::<2>(1), out.state.layers.clone()));
            }
            states.extend(out.state.layers);
            total = Some(match total {
                Some(t) => t + loss,
                None => loss,
            });
        }
        // The free-running error is already the members' mean.
        let mut total = total.expect("at least one member") / n as f32;
        if let Some(frames) = &frames {
            let current = self.history + teacher - 1;
            total = total + self.rollout_loss(model, frames, current, last) * self.rollout_weight as f32;
        }
        (total, RecurrentState { layers: states })
    }

    /// The weighted error of the free-running steps after a window's teacher-forced part, the
    /// mean over the members, stepped together ([`StackedMembers`]).
    ///
    /// `frames`: the window's frames `[B, n, W]` (state, then commands), where the teacher-forced
    /// part ended with `current` as its last input frame; `last`: each member's output there
    /// (`[B, D]`, which predicts frame `current + 1`) and its state after that input.
    fn rollout_loss(
        &self,
        model: &TrajectoryModel,
        frames: &Tensor<3>,
        current: usize,
        last: Vec<(Tensor<2>, Vec<LayerState>)>,
    ) -> Tensor<1> {
        let history = self.history;
        let steps = self.step_weights.len();
        let dim = self.width - self.maps.layout().command_dim;
        let members = model.stacked_members();
        let (m, b) = (members.members(), frames.dims()[0]);
        // Rows member-major: member k's windows are rows k·B .. (k+1)·B.
        let frames = if m == 1 { frames.clone() } else { frames.clone().repeat_dim(0, m) };
        let (outputs, states): (Vec<_>, Vec<_>) = last.into_iter().unzip();
        let mut y = Tensor::cat(outputs, 0);
        let detached = states.into_iter().map(|s| s.into_iter().map(LayerState::detach).collect()).collect();
        let mut state = StackedMembers::stack_states(detached);
        let mut buffer = frames.clone().narrow(1, current - history, history + 1);
        let mut total: Option<Tensor<1>> = None;
        for (k, weight) in self.step_weights.iter().enumerate() {
            let predicted = self.maps.decode(&buffer, y.clone());
            let recorded = frames.clone().narrow(1, current + 1 + k, 1);
            let truth = recorded.clone().narrow(2, 0, dim).squeeze_dim::<2>(1);
            let err = ((predicted.clone() - truth).square() * weight.clone()).mean();
            total = Some(match total {
                Some(t) => t + err,
                None => err,
            });
            if k + 1 < steps {
                // The predicted state, and the command that was sent at that frame.
                let next = match self.width - dim {
                    0 => predicted.unsqueeze_dim::<3>(1),
                    c => Tensor::cat(vec![predicted.unsqueeze_dim::<3>(1), recorded.narrow(2, dim, c)], 2),
                };
                buffer = if history == 0 { next } else { Tensor::cat(vec![buffer.narrow(1, 1, history), next], 1) };
                let input = self.maps.input(&buffer);
                let features = input.dims()[1];
                let (next_y, next_state) = members.step(input.reshape([m, b, features]), state);
                let outputs = next_y.dims()[2];
                y = next_y.reshape([m * b, outputs]);
                state = next_state;
            }
        }
        total.expect("at least one step") / steps as f32
    }

    /// The mean loss of `model` over `windows`, each from the zero state, in inference mode (NaN
    /// without windows).
    pub(crate) fn mean(
        &self,
        model: &TrajectoryModel,
        dataset: &Dataset,
        encoding: &Encoding,
        windows: &[Window],
        batch_size: usize,
    ) -> f64 {
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in windows.chunks(batch_size.max(1)) {
            let batch = gather_batch(dataset, encoding, chunk, self.needs_frames());
            let (loss, _) = self.loss(model, batch, None, None);
            sum += loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
            count += chunk.len();
        }
        if count == 0 { f64::NAN } else { sum / count as f64 }
    }
}

/// A standard normal draw (Box–Muller), from `rng`.
fn gaussian(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `v` as a `[1, len]` row.
pub(crate) fn row(v: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
}

/// How far the encoding's base rule alone (a zero model output) is off after each of `steps`
/// free-running steps on the training windows: per step, the per-channel RMS error, floored at
/// a small fraction of the velocity std. Dividing by it gives every step of the rollout loss the
/// same weight (1 where the model is no better than its base), as the evaluation, which scores
/// each horizon against the baselines, does.
pub(crate) fn base_error_scales(
    dataset: &Dataset,
    encoding: &Encoding,
    windows: &[Window],
    teacher: usize,
    steps: usize,
) -> Vec<Vec<f32>> {
    let d = encoding.dim();
    let h = encoding.history();
    let w = encoding.width();
    let mut sums = vec![vec![0f64; d]; steps];
    let zero = vec![0f32; d];
    let mut next = vec![0f32; d];
    let mut z = vec![0f32; encoding.layout().lag_len()];
    // Every 4th window is plenty for a scale and keeps this cheap.
    let sample: Vec<&Window> = windows.iter().step_by(4).collect();
    for window in &sample {
        let episode = &dataset.episodes[window.episode];
        let view = if w > d { episode.joined(window.frames()) } else { episode.frames(window.frames()).into() };
        let current = h + teacher - 1;
        let mut buffer: Vec<f32> = view[(current - h) * w..(current + 1) * w].to_vec();
        for (k, sum) in sums.iter_mut().enumerate() {
            encoding.decode_with(&buffer, &zero, &mut z, &mut next);
            let recorded = &view[(current + 1 + k) * w..(current + 2 + k) * w];
            for c in 0..d {
                sum[c] += ((next[c] - recorded[c]) as f64).powi(2);
            }
            buffer.drain(..w);
            buffer.extend_from_slice(&next);
            buffer.extend_from_slice(&recorded[d..]);
        }
    }
    let n = sample.len().max(1) as f64;
    sums.iter()
        .map(|s| s.iter().zip(&encoding.velocity_std).map(|(v, vs)| ((v / n).sqrt() as f32).max(1e-3 * vs)).collect())
        .collect()
}

/// The batch as `[batch, context, input_dim]` inputs and `[batch, context, dim]` targets.
pub(crate) fn batch_tensors(batch: Batch, device: &Device) -> (Tensor<3>, Tensor<3>) {
    let input = Tensor::from_data(TensorData::new(batch.inputs, [batch.batch, batch.context, batch.input_dim]), device);
    let target =
        Tensor::from_data(TensorData::new(batch.targets, [batch.batch, batch.context, batch.target_dim]), device);
    (input, target)
}
