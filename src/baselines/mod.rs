//! The rules a model has to beat, scored on exactly the model's frames: *hold*
//! (`q[t+k] = q[t]`), *constant velocity* (`q[t+k] = q[t] + k·(q[t] − q[t−1])`) and the *linear
//! autoregressive* models fitted by ridge regression on the training part ([`LinearAr`]: every
//! channel from every channel's past, or each channel from its own).
//!
//! [`Baselines::fit`] fits every learned rule once, on the training part; the encoding's base
//! and the evaluation reuse those fits.

mod linear_ar;

use serde::{Deserialize, Serialize};

pub use linear_ar::LinearAr;

use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// A predictor that rolls out from observed frames without a network.
pub trait Baseline {
    /// The name reports give it (`hold`, `const_vel`, `linear_ar`, `channel_ar`).
    fn name(&self) -> &str;
    /// Frames before the current one it reads.
    fn history(&self) -> usize;
    /// Predicts `horizon` frames after the last row of `context` (row-major `[frames, dim]`,
    /// at least `history() + 1` frames) into `out` (`[horizon, dim]`).
    fn rollout(&self, context: &[f32], dim: usize, horizon: usize, out: &mut [f32]);
}

/// `q[t+k] = q[t]`.
pub struct Hold;

impl Baseline for Hold {
    fn name(&self) -> &str {
        "hold"
    }
    fn history(&self) -> usize {
        0
    }
    fn rollout(&self, context: &[f32], dim: usize, horizon: usize, out: &mut [f32]) {
        let current = &context[context.len() - dim..];
        for row in out[..horizon * dim].chunks_exact_mut(dim) {
            row.copy_from_slice(current);
        }
    }
}

/// `q[t+k] = q[t] + k·(q[t] − q[t−1])`.
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
        let (previous, current) = (&context[(n - 2) * dim..(n - 1) * dim], &context[(n - 1) * dim..]);
        for (k, row) in out[..horizon * dim].chunks_exact_mut(dim).enumerate() {
            for ((o, &c), &p) in row.iter_mut().zip(current).zip(previous) {
                *o = c + (k + 1) as f32 * (c - p);
            }
        }
    }
}

/// How the learned rules are fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Past velocities the linear autoregressive rules read.
    pub ar_order: usize,
    /// Their ridge strength, relative to the number of samples.
    pub ar_ridge: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self { ar_order: 8, ar_ridge: 1e-3 }
    }
}

impl BaselineConfig {
    /// Checks the values before any work; errors name the option.
    pub fn validate(&self) -> Result<()> {
        crate::limits::check_count("baselines.ar_order", self.ar_order, 1)?;
        if self.ar_order > 1024 {
            return Err(Error::option("baselines.ar_order", format!("must be at most 1024, got {}", self.ar_order)));
        }
        crate::limits::check_range("baselines.ar_ridge", self.ar_ridge, 0.0, 1e12, false)
    }
}

/// Every learned rule, fitted once on the training part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// Every channel's next velocity from every channel's last `ar_order` velocities.
    pub linear_ar: LinearAr,
    /// Each channel's next velocity from its own last `ar_order` velocities.
    pub channel_ar: LinearAr,
}

impl Baselines {
    /// Fits the learned rules on `segments` (the training part) of `dataset`.
    pub fn fit(dataset: &Dataset, segments: &[Segment], config: &BaselineConfig) -> Result<Self> {
        config.validate()?;
        let (linear_ar, channel_ar) = LinearAr::fit_both(dataset, segments, config.ar_order, config.ar_ridge)?;
        Ok(Self { linear_ar, channel_ar })
    }

    /// Every rule a model is scored against, in the order reports list them.
    pub fn all(&self) -> Vec<&dyn Baseline> {
        vec![&Hold, &ConstantVelocity, &self.linear_ar, &self.channel_ar]
    }

    /// Checks that both linear models fit `dim` channels (a checkpoint's header carries them).
    pub fn validate(&self, dim: usize) -> std::result::Result<(), String> {
        self.linear_ar.validate(dim)?;
        self.channel_ar.validate(dim)?;
        if !self.linear_ar.joint || self.channel_ar.joint {
            return Err("linear_ar must read every channel and channel_ar only its own".into());
        }
        Ok(())
    }
}
