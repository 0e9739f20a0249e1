//! A multi-step training loss: after the teacher-forced window, the model runs free for a few
//! steps on its own predictions (as evaluation rollouts do), and the error of every predicted
//! frame is scored. A model trained on one-step errors alone never sees its own mistakes and
//! drifts when it runs free.
//!
//! The encoding's decode and encode steps are written here in tensor operations, so the loss is
//! differentiable through the fed-back predictions. The free-running steps start from the
//! window's final state with the graph cut (as truncated BPTT does): gradients train the weights
//! through the free-running steps only.

use burn::prelude::*;

use crate::data::{Encoding, TargetBase};
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

fn row(v: &[f32], device: &Device) -> Tensor<2> {
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

/// The mean squared error of `steps` free-running predictions, in units of each channel's
/// velocity std (a one-frame error of one typical step is 1).
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
    steps: usize,
) -> Tensor<1> {
    let mut buffer = frames.clone().narrow(1, current - history, history + 1);
    let keep = |buffer: Tensor<3>| if history == 0 { None } else { Some(buffer.narrow(1, 1, history)) };
    let mut y = y_last;
    let mut state = state.detach();
    let mut total: Option<Tensor<1>> = None;
    for k in 0..steps {
        let predicted = enc.decode(&buffer, y.clone());
        let truth = frames.clone().narrow(1, current + 1 + k, 1).squeeze_dim::<2>(1);
        let err = ((predicted.clone() - truth) / enc.velocity_std.clone()).square().mean();
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
