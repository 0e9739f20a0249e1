//! The rules a model has to beat, scored on exactly the model's frames: *hold*
//! (`q[t+k] = q[t]`), *constant velocity* (`q[t+k] = q[t] + k·(q[t] − q[t−1])`) and a *linear
//! autoregressive* model fitted by ridge regression on the training part.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// A predictor that rolls out from observed frames without a network.
pub trait Baseline {
    fn name(&self) -> &str;
    /// Frames before the current one it reads.
    fn history(&self) -> usize;
    /// Predicts `horizon` frames after the last row of `context` (row-major `[frames, dim]`,
    /// at least `history() + 1` frames) into `out` (`[horizon, dim]`).
    fn rollout(&self, context: &[f32], dim: usize, horizon: usize, out: &mut [f32]);
}

pub struct Hold;

impl Baseline for Hold {
    fn name(&self) -> &str {
        "hold"
    }
    fn history(&self) -> usize {
        0
    }
    fn rollout(&self, context: &[f32], dim: usize, horizon: usize, out: &mut [f32]) {
        let cur = &context[context.len() - dim..];
        for k in 0..horizon {
            out[k * dim..(k + 1) * dim].copy_from_slice(cur);
        }
    }
}

pub struct ConstantVelocity;

impl Baseline for ConstantVelocity {
    fn name(&self) -> &str {
        "const_vel"
    }
    fn history(&self) -> usize {
        1
    }
    fn rollout(&self, context: &[f32], dim: usize, horizon: usize, out: &mut [f32]) {
        let n = context.len() / dim;
        let (prev, cur) = (&context[(n - 2) * dim..(n - 1) * dim], &context[(n - 1) * dim..]);
        for k in 0..horizon {
            for c in 0..dim {
                out[k * dim + c] = cur[c] + (k + 1) as f32 * (cur[c] - prev[c]);
            }
        }
    }
}

/// Linear autoregression on the last `order` velocities: `v[t+1] = A·[v[t], …, v[t−p+1], 1]`,
/// fitted by ridge regression on standardised velocities; rolled out by feeding its predictions
/// back. (Predicting the next velocity from the last `p` velocities is a linear model of the
/// last `p + 1` states that cannot drift with the absolute position.) Two variants: every
/// channel's velocity from every channel's lags (`linear_ar`), or from its own lags only
/// (`channel_ar`: far fewer coefficients, more robust on short recordings of many channels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearAr {
    pub order: usize,
    pub dim: usize,
    /// Whether each channel reads every channel's lags (`A` full) or only its own.
    #[serde(default = "yes")]
    pub joint: bool,
    /// Velocity scale per channel.
    pub scale: Vec<f64>,
    /// `[dim, order·dim + 1]`, row-major, in standardised units.
    pub coefficients: Vec<f64>,
}

fn yes() -> bool {
    true
}

impl LinearAr {
    /// Fits on the training segments. `ridge` is relative: λ = ridge × (number of samples).
    pub fn fit(dataset: &Dataset, segments: &[Segment], order: usize, ridge: f64, joint: bool) -> Result<Self> {
        let dim = dataset.dim();
        let features = order * dim + 1;
        // Velocity scale per channel (RMS of the training velocities).
        let mut sum_sq = vec![0f64; dim];
        let mut n_vel = 0usize;
        for s in segments {
            let e = &dataset.episodes[s.episode];
            for t in s.frames.start + 1..s.frames.end {
                for (sum, (a, b)) in sum_sq.iter_mut().zip(e.frame(t).iter().zip(e.frame(t - 1))) {
                    *sum += ((a - b) as f64).powi(2);
                }
                n_vel += 1;
            }
        }
        let scale: Vec<f64> = sum_sq.iter().map(|s| (s / n_vel.max(1) as f64).sqrt().max(1e-9)).collect();
        let mut xtx = DMatrix::<f64>::zeros(features, features);
        let mut xty = DMatrix::<f64>::zeros(features, dim);
        let mut samples = 0usize;
        let mut x = DVector::<f64>::zeros(features);
        for s in segments {
            let e = &dataset.episodes[s.episode];
            let vel = |t: usize, c: usize| (e.frame(t)[c] - e.frame(t - 1)[c]) as f64 / scale[c];
            // Target v[t+1] = q[t+1] − q[t]; features v[t..t−p+1] need frames t−p ..= t.
            for t in s.frames.start + order..s.frames.end - 1 {
                for k in 0..order {
                    for c in 0..dim {
                        x[k * dim + c] = vel(t - k, c);
                    }
                }
                x[features - 1] = 1.0;
                xtx.ger(1.0, &x, &x, 1.0);
                for c in 0..dim {
                    let y = vel(t + 1, c);
                    for f in 0..features {
                        xty[(f, c)] += x[f] * y;
                    }
                }
                samples += 1;
            }
        }
        // Unknowns per channel's equation: every channel's lags (joint) or its own (per channel).
        let unknowns = if joint { features } else { order + 1 };
        if samples < unknowns {
            return Err(Error::Config(format!(
                "the linear baseline of order {order} needs at least {unknowns} training frames, found {samples}"
            )));
        }
        for f in 0..features - 1 {
            xtx[(f, f)] += ridge * samples as f64;
        }
        let singular = || Error::Config("the linear baseline's normal equations are singular".into());
        let mut coefficients = vec![0f64; dim * features];
        if joint {
            let solution = xtx.cholesky().ok_or_else(singular)?.solve(&xty);
            for c in 0..dim {
                for f in 0..features {
                    coefficients[c * features + f] = solution[(f, c)];
                }
            }
        } else {
            // Each channel's own lags and the bias: a sub-block of the same normal equations.
            for c in 0..dim {
                let idx: Vec<usize> = (0..order).map(|k| k * dim + c).chain([features - 1]).collect();
                let a = DMatrix::from_fn(idx.len(), idx.len(), |i, j| xtx[(idx[i], idx[j])]);
                let b = DVector::from_fn(idx.len(), |i, _| xty[(idx[i], c)]);
                let solution = a.cholesky().ok_or_else(singular)?.solve(&b);
                for (i, &f) in idx.iter().enumerate() {
                    coefficients[c * features + f] = solution[i];
                }
            }
        }
        Ok(Self { order, dim, joint, scale, coefficients })
    }
}

impl LinearAr {
    /// Checks that the model fits `dim` channels, before anything indexes its coefficients by
    /// its sizes (a checkpoint's header carries it): order ≥ 1, `dim` positive scales and
    /// `dim · (order·dim + 1)` finite coefficients.
    pub fn validate(&self, dim: usize) -> std::result::Result<(), String> {
        if self.order == 0 || self.dim != dim || self.scale.len() != dim {
            return Err(format!("order {} and {} scales for {dim} channels", self.order, self.scale.len()));
        }
        let coefficients = self.order.checked_mul(dim).and_then(|n| n.checked_add(1)).and_then(|f| f.checked_mul(dim));
        if coefficients != Some(self.coefficients.len()) {
            return Err(format!(
                "{} coefficients for order {} and {dim} channels",
                self.coefficients.len(),
                self.order
            ));
        }
        if !self.scale.iter().all(|s| s.is_finite() && *s > 0.0) || !self.coefficients.iter().all(|c| c.is_finite()) {
            return Err("scales must be positive and coefficients finite".into());
        }
        Ok(())
    }

    /// The next state after the last row of `frames` (at least `order + 1` rows, row-major).
    pub fn predict_next(&self, frames: &[f32], out: &mut [f32]) {
        let dim = self.dim;
        let n = frames.len() / dim;
        let features = self.order * dim + 1;
        for (c, out) in out.iter_mut().enumerate().take(dim) {
            let row = &self.coefficients[c * features..(c + 1) * features];
            let mut v = row[features - 1];
            for k in 0..self.order {
                let (t, base) = (n - 1 - k, k * dim);
                for j in 0..dim {
                    let vel = (frames[t * dim + j] - frames[(t - 1) * dim + j]) as f64 / self.scale[j];
                    v += row[base + j] * vel;
                }
            }
            *out = (frames[(n - 1) * dim + c] as f64 + v * self.scale[c]) as f32;
        }
    }
}

impl Baseline for LinearAr {
    fn name(&self) -> &str {
        if self.joint { "linear_ar" } else { "channel_ar" }
    }
    fn history(&self) -> usize {
        self.order
    }
    fn rollout(&self, context: &[f32], dim: usize, horizon: usize, out: &mut [f32]) {
        let n = context.len() / dim;
        let p = self.order;
        let features = p * dim + 1;
        // Recent velocities, newest first, standardised; and the current state.
        let mut vel: Vec<f64> = (0..p)
            .flat_map(|k| {
                let t = n - 1 - k;
                (0..dim).map(move |c| (context[t * dim + c] - context[(t - 1) * dim + c]) as f64 / self.scale[c])
            })
            .collect();
        let mut q: Vec<f64> = context[(n - 1) * dim..].iter().map(|&v| v as f64).collect();
        for k in 0..horizon {
            let next: Vec<f64> = (0..dim)
                .map(|c| {
                    let row = &self.coefficients[c * features..(c + 1) * features];
                    row[..features - 1].iter().zip(&vel).map(|(a, v)| a * v).sum::<f64>() + row[features - 1]
                })
                .collect();
            for c in 0..dim {
                q[c] += next[c] * self.scale[c];
                out[k * dim + c] = q[c] as f32;
            }
            vel.rotate_right(dim);
            vel[..dim].copy_from_slice(&next);
        }
    }
}
