//! Linear autoregression on the last `order` velocities: `v[t+1] = A·[v[t], …, v[t−p+1], 1]`,
//! fitted by ridge regression on standardised velocities; rolled out by feeding its predictions
//! back. (Predicting the next velocity from the last `p` velocities is a linear model of the
//! last `p + 1` states that cannot drift with the absolute position.) Two variants: every
//! channel's velocity from every channel's lags (`linear_ar`), or from its own lags only
//! (`channel_ar`: far fewer coefficients, more robust on short recordings of many channels).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::{Baseline, Context};
use crate::data::segment::fold_segments;
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

/// The normal equations `XᵀX`, `XᵀY` of a least-squares regression, accumulated row by row
/// (the linear autoregressive models and ARX): rows are gathered into blocks and each full
/// block is added with one matrix product, rather than one outer product per row.
pub(crate) struct NormalEquations {
    pub(crate) xtx: DMatrix<f64>,
    pub(crate) xty: DMatrix<f64>,
    /// Rows added.
    pub(crate) samples: usize,
    /// The block's rows as columns (`features × block`, column-major), so a row is written
    /// contiguously and the products below run on strided views without copies.
    xt: Vec<f64>,
    /// The block's targets as columns (`outputs × block`).
    yt: Vec<f64>,
    features: usize,
    outputs: usize,
    block: usize,
    rows: usize,
}

impl NormalEquations {
    /// Empty equations for `features` inputs and `outputs` targets, in blocks of `block` rows.
    pub(crate) fn new(features: usize, outputs: usize, block: usize) -> Self {
        Self {
            xtx: DMatrix::zeros(features, features),
            xty: DMatrix::zeros(features, outputs),
            samples: 0,
            xt: vec![0.0; features * block],
            yt: vec![0.0; outputs * block],
            features,
            outputs,
            block,
            rows: 0,
        }
    }

    /// Adds one row: `fill` writes its `features` values and its `targets` values into the two
    /// slices it is given (in place: an iterator chain per row was 17 % of a 10 M-frame fit).
    pub(crate) fn push_with(&mut self, fill: impl FnOnce(&mut [f64], &mut [f64])) {
        let x = &mut self.xt[self.rows * self.features..(self.rows + 1) * self.features];
        let y = &mut self.yt[self.rows * self.outputs..(self.rows + 1) * self.outputs];
        fill(x, y);
        self.rows += 1;
        self.samples += 1;
        if self.rows == self.block {
            self.flush();
        }
    }

    /// Adds the rows gathered since the last block, and returns the equations (the row buffers
    /// released: no rows can be added after this).
    pub(crate) fn finish(mut self) -> Self {
        self.flush();
        (self.xt, self.yt) = (vec![], vec![]);
        self
    }

    /// Adds `other`'s equations (finished, over other rows) to these.
    pub(crate) fn merge(&mut self, other: Self) {
        self.xtx += other.xtx;
        self.xty += other.xty;
        self.samples += other.samples;
    }

    fn flush(&mut self) {
        use nalgebra::DMatrixView;
        let (n, f, o) = (self.rows, self.features, self.outputs);
        if n == 0 {
            return;
        }
        // `Xᵀ` (f × n) and `X` (n × f) are the same memory with swapped strides; nalgebra hands
        // a product of dynamic views to matrixmultiply's packed kernel (measured 61 % of the
        // encoding fit in nalgebra's column-dot `gemm_tr` before, on 2 M frames).
        let xt = DMatrixView::from_slice_with_strides(&self.xt[..n * f], f, n, 1, f);
        let x = DMatrixView::from_slice_with_strides(&self.xt[..n * f], n, f, f, 1);
        let y = DMatrixView::from_slice_with_strides(&self.yt[..n * o], n, o, o, 1);
        self.xtx.gemm(1.0, &xt, &x, 1.0);
        self.xty.gemm(1.0, &xt, &y, 1.0);
        self.rows = 0;
    }

    /// The velocity regression of the linear autoregressive models over the training segments.
    fn accumulate(dataset: &Dataset, segments: &[Segment], order: usize, scale: &[f64]) -> Self {
        let dim = dataset.dim();
        let inverse: Vec<f64> = scale.iter().map(|s| 1.0 / s).collect();
        let chunk = |segments: &[Segment]| {
            let mut equations = Self::new(order * dim + 1, dim, BLOCK);
            for s in segments {
                let e = &dataset.episodes[s.episode];
                // Target v[t+1] = q[t+1] − q[t]; features v[t..t−p+1] need frames t−p ..= t.
                for t in s.frames.start + order..s.frames.end.saturating_sub(1) {
                    equations.push_with(|x, y| {
                        for (k, lag) in x.chunks_exact_mut(dim).take(order).enumerate() {
                            velocity(e.frame(t - k), e.frame(t - k - 1), &inverse, lag);
                        }
                        x[order * dim] = 1.0;
                        velocity(e.frame(t + 1), e.frame(t), &inverse, y);
                    });
                }
            }
            equations.finish()
        };
        fold_segments(segments, chunk, Self::merge)
    }
}

/// `out[c] = (q[c] − p[c]) · inverse_scale[c]`.
fn velocity(q: &[f32], p: &[f32], inverse_scale: &[f64], out: &mut [f64]) {
    for c in 0..out.len() {
        out[c] = (q[c] - p[c]) as f64 * inverse_scale[c];
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
        let NormalEquations { mut xtx, xty, samples, .. } =
            NormalEquations::accumulate(dataset, segments, order, &scale);
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
}

/// RMS of each channel's training velocity (floored, so a still channel divides safely).
fn velocity_scale(dataset: &Dataset, segments: &[Segment]) -> Vec<f64> {
    let dim = dataset.dim();
    let chunk = |segments: &[Segment]| {
        let (mut sum_sq, mut n) = (vec![0f64; dim], 0usize);
        for s in segments {
            let e = &dataset.episodes[s.episode];
            for t in s.frames.start + 1..s.frames.end {
                for (sum, (a, b)) in sum_sq.iter_mut().zip(e.frame(t).iter().zip(e.frame(t - 1))) {
                    *sum += ((a - b) as f64).powi(2);
                }
                n += 1;
            }
        }
        (sum_sq, n)
    };
    let (sum_sq, n) = fold_segments(segments, chunk, |(total, n), (part, m)| {
        total.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        *n += m;
    });
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
                let row = crate::data::channels::row(&self.coefficients, features, c);
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
