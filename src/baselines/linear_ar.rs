//! Linear autoregression on the last `order` velocities: `v[t+1] = A·[v[t], …, v[t−p+1], 1]`,
//! fitted by ridge regression on standardised velocities; rolled out by feeding its predictions
//! back. (Predicting the next velocity from the last `p` velocities is a linear model of the
//! last `p + 1` states that cannot drift with the absolute position.) Two variants: every
//! channel's velocity from every channel's lags (`linear_ar`), or from its own lags only
//! (`channel_ar`: far fewer coefficients, more robust on short recordings of many channels).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::{Baseline, Context};
use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// A fitted linear autoregressive rule (see [`crate::baselines`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearAr {
    /// Past velocities read.
    pub order: usize,
    /// Channels.
    pub dim: usize,
    /// Whether each channel reads every channel's lags (`A` full) or only its own.
    #[serde(default = "yes")]
    pub joint: bool,
    /// Velocity scale per channel (RMS of the training velocities, state units per frame).
    pub scale: Vec<f64>,
    /// `[dim, order·dim + 1]`, row-major, in standardised units: row `c` predicts channel `c`'s
    /// next velocity from lags `k·dim + j` (lag `k` of channel `j`) and a bias (last column).
    pub coefficients: Vec<f64>,
}

fn yes() -> bool {
    true
}

/// Rows of the regression accumulated at once: `XᵀX` grows by one matrix product per block
/// rather than by one outer product per frame.
const BLOCK: usize = 1024;

/// The normal equations `XᵀX`, `XᵀY` of the velocity regression over the training segments.
struct NormalEquations {
    xtx: DMatrix<f64>,
    xty: DMatrix<f64>,
    samples: usize,
}

impl NormalEquations {
    fn accumulate(dataset: &Dataset, segments: &[Segment], order: usize, scale: &[f64]) -> Self {
        let dim = dataset.dim();
        let features = order * dim + 1;
        let mut xtx = DMatrix::<f64>::zeros(features, features);
        let mut xty = DMatrix::<f64>::zeros(features, dim);
        let mut x = DMatrix::<f64>::zeros(BLOCK, features);
        let mut y = DMatrix::<f64>::zeros(BLOCK, dim);
        let mut rows = 0;
        let mut samples = 0;
        let mut flush = |x: &DMatrix<f64>, y: &DMatrix<f64>, rows: usize| {
            let (xs, ys) = (x.rows(0, rows), y.rows(0, rows));
            xtx.gemm_tr(1.0, &xs, &xs, 1.0);
            xty.gemm_tr(1.0, &xs, &ys, 1.0);
        };
        for s in segments {
            let e = &dataset.episodes[s.episode];
            let velocity = |t: usize, c: usize| (e.frame(t)[c] - e.frame(t - 1)[c]) as f64 / scale[c];
            // Target v[t+1] = q[t+1] − q[t]; features v[t..t−p+1] need frames t−p ..= t.
            for t in s.frames.start + order..s.frames.end.saturating_sub(1) {
                for k in 0..order {
                    for c in 0..dim {
                        x[(rows, k * dim + c)] = velocity(t - k, c);
                    }
                }
                x[(rows, features - 1)] = 1.0;
                for c in 0..dim {
                    y[(rows, c)] = velocity(t + 1, c);
                }
                rows += 1;
                samples += 1;
                if rows == BLOCK {
                    flush(&x, &y, rows);
                    rows = 0;
                }
            }
        }
        if rows > 0 {
            flush(&x, &y, rows);
        }
        Self { xtx, xty, samples }
    }
}

impl LinearAr {
    /// Fits one variant on the training segments. `ridge` is relative: λ = ridge × (number of
    /// samples).
    pub fn fit(dataset: &Dataset, segments: &[Segment], order: usize, ridge: f64, joint: bool) -> Result<Self> {
        let (all, own) = Self::fit_both(dataset, segments, order, ridge)?;
        Ok(if joint { all } else { own })
    }

    /// Fits both variants from one pass over the data: every channel from every channel's lags,
    /// and each channel from its own (a sub-block of the same normal equations).
    pub fn fit_both(dataset: &Dataset, segments: &[Segment], order: usize, ridge: f64) -> Result<(Self, Self)> {
        if order == 0 {
            return Err(Error::option("baselines.ar_order", "must be at least 1"));
        }
        let dim = dataset.dim();
        let features = order * dim + 1;
        let scale = velocity_scale(dataset, segments);
        let NormalEquations { mut xtx, xty, samples } = NormalEquations::accumulate(dataset, segments, order, &scale);
        // The per-channel model has `order + 1` unknowns per equation; the joint one more, which
        // the ridge keeps solvable on short recordings.
        if samples < order + 1 {
            return Err(Error::Config(format!(
                "the linear baseline of order {order} needs at least {} training frames, found {samples}",
                order + 1
            )));
        }
        for f in 0..features - 1 {
            xtx[(f, f)] += ridge * samples as f64;
        }
        let singular = || Error::Config("the linear baseline's normal equations are singular".into());
        let mut joint = vec![0f64; dim * features];
        let solution = xtx.clone().cholesky().ok_or_else(singular)?.solve(&xty);
        for c in 0..dim {
            for f in 0..features {
                joint[c * features + f] = solution[(f, c)];
            }
        }
        let mut own = vec![0f64; dim * features];
        for c in 0..dim {
            let idx: Vec<usize> = (0..order).map(|k| k * dim + c).chain([features - 1]).collect();
            let a = DMatrix::from_fn(idx.len(), idx.len(), |i, j| xtx[(idx[i], idx[j])]);
            let b = DVector::from_fn(idx.len(), |i, _| xty[(idx[i], c)]);
            let solution = a.cholesky().ok_or_else(singular)?.solve(&b);
            for (i, &f) in idx.iter().enumerate() {
                own[c * features + f] = solution[i];
            }
        }
        let model = |joint_model: bool, coefficients: Vec<f64>| Self {
            order,
            dim,
            joint: joint_model,
            scale: scale.clone(),
            coefficients,
        };
        Ok((model(true, joint), model(false, own)))
    }

    /// Checks that the model fits `dim` channels, before anything indexes its coefficients by
    /// its sizes (a checkpoint's header carries it): order ≥ 1, `dim` positive scales and
    /// `dim · (order·dim + 1)` finite coefficients.
    pub fn validate(&self, dim: usize) -> std::result::Result<(), String> {
        if self.order == 0 || self.order > 1024 || self.dim != dim || self.scale.len() != dim {
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
        let velocity = |t: usize, j: usize| (frames[t * dim + j] - frames[(t - 1) * dim + j]) as f64 / self.scale[j];
        for (c, out) in out.iter_mut().enumerate().take(dim) {
            let row = &self.coefficients[c * features..(c + 1) * features];
            let mut v = row[features - 1];
            for k in 0..self.order {
                let t = n - 1 - k;
                if self.joint {
                    for j in 0..dim {
                        v += row[k * dim + j] * velocity(t, j);
                    }
                } else {
                    // The per-channel model's other entries are zero.
                    v += row[k * dim + c] * velocity(t, c);
                }
            }
            *out = (frames[(n - 1) * dim + c] as f64 + v * self.scale[c]) as f32;
        }
    }
}

/// RMS of each channel's training velocity (floored, so a still channel divides safely).
fn velocity_scale(dataset: &Dataset, segments: &[Segment]) -> Vec<f64> {
    let dim = dataset.dim();
    let mut sum_sq = vec![0f64; dim];
    let mut n = 0usize;
    for s in segments {
        let e = &dataset.episodes[s.episode];
        for t in s.frames.start + 1..s.frames.end {
            for (sum, (a, b)) in sum_sq.iter_mut().zip(e.frame(t).iter().zip(e.frame(t - 1))) {
                *sum += ((a - b) as f64).powi(2);
            }
            n += 1;
        }
    }
    sum_sq.iter().map(|s| (s / n.max(1) as f64).sqrt().max(1e-9)).collect()
}

impl Baseline for LinearAr {
    fn name(&self) -> &str {
        if self.joint { "linear_ar" } else { "channel_ar" }
    }
    fn history(&self) -> usize {
        self.order
    }
    fn rollout(&self, context: &Context, horizon: usize, out: &mut [f32]) {
        let (dim, n) = (context.dim, context.frames());
        let context = context.states;
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
        let mut next = vec![0f64; dim];
        for row_out in out[..horizon * dim].chunks_exact_mut(dim) {
            for (c, v) in next.iter_mut().enumerate() {
                let row = &self.coefficients[c * features..(c + 1) * features];
                *v = row[features - 1]
                    + if self.joint {
                        row[..features - 1].iter().zip(&vel).map(|(a, v)| a * v).sum::<f64>()
                    } else {
                        (0..p).map(|k| row[k * dim + c] * vel[k * dim + c]).sum::<f64>()
                    };
            }
            for c in 0..dim {
                q[c] += next[c] * self.scale[c];
                row_out[c] = q[c] as f32;
            }
            vel.rotate_right(dim);
            vel[..dim].copy_from_slice(&next);
        }
    }
}
