//! A multi-step training loss: after the teacher-forced window, the model runs free for a few
//! steps on its own predictions (as evaluation rollouts do), and the error of every predicted
//! frame is scored. A model trained on one-step errors alone never sees its own mistakes and
//! drifts when it runs free.
//!
//! The encoding's decode and encode steps are written here in tensor operations, so the loss is
//! differentiable through the fed-back predictions. The free-running steps start from the
//! window's final state with the graph cut (as truncated BPTT does); the window's last output,
//! from which the first free-running frame is decoded, stays in the graph.

use burn::prelude::*;

use crate::data::{Dataset, Encoding, TargetBase, Window};
use crate::model::{RecurrentState, TrajectoryModel};

/// The encoding's statistics as broadcastable `[1, D]` tensors (and the linear base's matrix).
pub struct EncodingTensors {
    mean: Tensor<2>,
    std: Tensor<2>,
    velocity_std: Tensor<2>,
    acceleration_std: Tensor<2>,
    target_std: Tensor<2>,
    /// Linear base: `[p·D, D]` coefficients, `[1, D]` bias, `[1, D]` velocity scale.
    ar: Option<(Tensor<2>, Tensor<2>, Tensor<2>)>,
    config: crate::data::EncodingConfig,
    dim: usize,
}

/// `v` as a `[1, len]` row.
pub(crate) fn row(v: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [1, v.len()]), device)
}

impl EncodingTensors {
    pub fn new(e: &Encoding, device: &Device) -> Self {
        let dim = e.dim();
        let ar = e.ar.as_ref().map(|ar| {
            let features = ar.order * dim + 1;
            let mut a = vec![0f32; ar.order * dim * dim];
            for c in 0..dim {
                for f in 0..ar.order * dim {
                    a[f * dim + c] = ar.coefficients[c * features + f] as f32;
                }
            }
            let bias: Vec<f32> = (0..dim).map(|c| ar.coefficients[c * features + features - 1] as f32).collect();
            let scale: Vec<f32> = ar.scale.iter().map(|s| *s as f32).collect();
            (
                Tensor::from_data(TensorData::new(a, [ar.order * dim, dim]), device),
                row(&bias, device),
                row(&scale, device),
            )
        });
        Self {
            mean: row(&e.mean, device),
            std: row(&e.std, device),
            velocity_std: row(&e.velocity_std, device),
            acceleration_std: row(&e.acceleration_std, device),
            target_std: row(&e.target_std, device),
            ar,
            config: e.config.clone(),
            dim,
        }
    }

    /// Frame `back` steps before the last of `frames` (`[B, n, D]`), as `[B, D]`.
    fn frame(frames: &Tensor<3>, back: usize) -> Tensor<2> {
        let n = frames.dims()[1];
        frames.clone().narrow(1, n - 1 - back, 1).squeeze_dim::<2>(1)
    }

    /// The model input for the last of `frames` (`[B, history + 1, D]` raw states).
    pub fn encode_input(&self, frames: &Tensor<3>) -> Tensor<2> {
        let cur = Self::frame(frames, 0);
        let mut parts = vec![(cur.clone() - self.mean.clone()) / self.std.clone()];
        if self.config.velocity {
            parts.push((cur.clone() - Self::frame(frames, 1)) / self.velocity_std.clone());
        }
        if self.config.acceleration {
            let acc = cur - Self::frame(frames, 1) * 2.0 + Self::frame(frames, 2);
            parts.push(acc / self.acceleration_std.clone());
        }
        Tensor::cat(parts, 1)
    }

    /// The next frame from `frames` and a model output `y` (`[B, D]`).
    pub fn decode(&self, frames: &Tensor<3>, y: Tensor<2>) -> Tensor<2> {
        let cur = Self::frame(frames, 0);
        let base = match self.config.target {
            TargetBase::Hold => cur,
            TargetBase::ConstantVelocity => cur.clone() * 2.0 - Self::frame(frames, 1),
            TargetBase::LinearAr => {
                let (a, bias, scale) = self.ar.as_ref().expect("a linear base");
                let order = a.dims()[0] / self.dim;
                let lags: Vec<Tensor<2>> =
                    (0..order).map(|k| (Self::frame(frames, k) - Self::frame(frames, k + 1)) / scale.clone()).collect();
                let next_velocity = Tensor::cat(lags, 1).matmul(a.clone()) + bias.clone();
                cur + next_velocity * scale.clone()
            }
        };
        base + y * self.target_std.clone()
    }
}

/// How far the encoding's base rule alone (a zero model output) is off after each of `steps`
/// free-running steps on the training windows: per step, the per-channel RMS error, floored at
/// a small fraction of the velocity std. Dividing by it gives every step of the rollout loss the
/// same weight (1 where the model is no better than its base), as the evaluation, which scores
/// each horizon against the baselines, does.
pub fn base_error_scales(
    dataset: &Dataset,
    encoding: &Encoding,
    windows: &[Window],
    teacher: usize,
    steps: usize,
) -> Vec<Vec<f32>> {
    let d = encoding.dim();
    let h = encoding.history();
    let mut sums = vec![vec![0f64; d]; steps];
    let zero = vec![0f32; d];
    let mut next = vec![0f32; d];
    // Every 4th window is plenty for a scale and keeps this cheap.
    let sample: Vec<&Window> = windows.iter().step_by(4).collect();
    for w in &sample {
        let view = w.view(dataset);
        let current = h + teacher - 1;
        let mut buffer: Vec<f32> = view[(current - h) * d..(current + 1) * d].to_vec();
        for (k, sum) in sums.iter_mut().enumerate() {
            encoding.decode(&buffer, &zero, &mut next);
            let truth = &view[(current + 1 + k) * d..(current + 2 + k) * d];
            for c in 0..d {
                sum[c] += ((next[c] - truth[c]) as f64).powi(2);
            }
            buffer.drain(..d);
            buffer.extend_from_slice(&next);
        }
    }
    let n = sample.len().max(1) as f64;
    sums.iter()
        .map(|s| s.iter().zip(&encoding.velocity_std).map(|(v, vs)| ((v / n).sqrt() as f32).max(1e-3 * vs)).collect())
        .collect()
}

/// The mean squared error of `steps` free-running predictions, each step's error divided by
/// `scales[k]` (the base rule's own error at that step, see [`base_error_scales`]).
///
/// `frames`: the window's raw states `[B, n, D]`, where the teacher-forced part ended with
/// `current` as its last input frame and its output `y_last` (`[B, D]`) predicts frame
/// `current + 1`; `state` is the state after that input.
#[allow(clippy::too_many_arguments)] // the pieces of one window's continuation
pub fn rollout_loss(
    model: &TrajectoryModel,
    enc: &EncodingTensors,
    frames: &Tensor<3>,
    current: usize,
    history: usize,
    y_last: Tensor<2>,
    state: RecurrentState,
    scales: &[Tensor<2>],
) -> Tensor<1> {
    let steps = scales.len();
    let mut buffer = frames.clone().narrow(1, current - history, history + 1);
    let keep = |buffer: Tensor<3>| if history == 0 { None } else { Some(buffer.narrow(1, 1, history)) };
    let mut y = y_last;
    let mut state = state.detach();
    let mut total: Option<Tensor<1>> = None;
    for (k, scale) in scales.iter().enumerate() {
        let predicted = enc.decode(&buffer, y.clone());
        let truth = frames.clone().narrow(1, current + 1 + k, 1).squeeze_dim::<2>(1);
        let err = ((predicted.clone() - truth) / scale.clone()).square().mean();
        total = Some(match total {
            Some(t) => t + err,
            None => err,
        });
        if k + 1 < steps {
            let next = predicted.unsqueeze_dim::<3>(1);
            buffer = match keep(buffer) {
                Some(older) => Tensor::cat(vec![older, next], 1),
                None => next,
            };
            let (next_y, next_state) = model.step(enc.encode_input(&buffer), state);
            y = next_y;
            state = next_state;
        }
    }
    total.expect("at least one step") / steps as f32
}
