//! The rules a model has to beat, scored on exactly the model's frames: *hold*
//! (`q[t+k] = q[t]`), *constant velocity* (`q[t+k] = q[t] + k·(q[t] − q[t−1])`), the *linear
//! autoregressive* models fitted by ridge regression on the training part ([`LinearAr`]: every
//! channel from every channel's past, or each channel from its own), and, where the data has
//! commands, the rules that read them ([`Arx`], [`LaggedCommand`]).
//!
//! [`Baselines::fit`] fits every learned rule once, on the training part; the encoding's base
//! and the evaluation reuse those fits.

mod arx;
mod linear_ar;

use serde::{Deserialize, Serialize};

pub use arx::{Arx, Follow, LaggedCommand, MAX_LAG};
pub use linear_ar::LinearAr;

use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// What a rollout starts from: the observed states and, where the data has commands, the
/// commands of the observed frames and of every frame to be predicted (known in advance: they
/// are what was sent).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Row-major `[frames, dim]`.
    pub states: &'a [f32],
    /// State channels per frame (the width of a row of `states`).
    pub dim: usize,
    /// Row-major `[frames + horizon, command_dim]` (empty without commands).
    pub commands: &'a [f32],
    /// Command channels per frame (0 without commands).
    pub command_dim: usize,
}

impl<'a> Context<'a> {
    /// Observed states alone (no commands).
    pub fn states(states: &'a [f32], dim: usize) -> Self {
        Self { states, dim, commands: &[], command_dim: 0 }
    }

    /// Observed frames.
    pub fn frames(&self) -> usize {
        self.states.len() / self.dim.max(1)
    }
}

/// A predictor that rolls out from observed frames without a network.
pub trait Baseline {
    /// The name reports give it (`hold`, `const_vel`, `linear_ar`, `channel_ar`, `arx`,
    /// `lag_cmd`).
    fn name(&self) -> &str;
    /// Frames before the current one it reads.
    fn history(&self) -> usize;
    /// Predicts `horizon` frames after the last observed one of `context` (at least
    /// `history() + 1` frames) into `out` (row-major `[horizon, dim]`).
    fn rollout(&self, context: &Context, horizon: usize, out: &mut [f32]);
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
    fn rollout(&self, context: &Context, horizon: usize, out: &mut [f32]) {
        let dim = context.dim;
        let current = &context.states[context.states.len() - dim..];
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
    fn rollout(&self, context: &Context, horizon: usize, out: &mut [f32]) {
        let (dim, n) = (context.dim, context.frames());
        let states = context.states;
        let (previous, current) = (&states[(n - 2) * dim..(n - 1) * dim], &states[(n - 1) * dim..n * dim]);
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
    /// Past velocities (and, for ARX, commands) the linear rules read.
    pub ar_order: usize,
    /// Their ridge strength, relative to the number of samples.
    pub ar_ridge: f64,
    /// Fit the rules that read the commands, where the data has them.
    pub commands: bool,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self { ar_order: 8, ar_ridge: 1e-3, commands: true }
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
    /// Every channel's next velocity from the state, the last velocities and the last commands
    /// (data with commands only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arx: Option<Arx>,
    /// The state follows its command after a fixed lag (data with commands driving channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lagged_command: Option<LaggedCommand>,
}

impl Baselines {
    /// Fits the learned rules on `segments` (the training part) of `dataset`.
    pub fn fit(dataset: &Dataset, segments: &[Segment], config: &BaselineConfig) -> Result<Self> {
        config.validate()?;
        let (linear_ar, channel_ar) = LinearAr::fit_both(dataset, segments, config.ar_order, config.ar_ridge)?;
        let with_commands = config.commands && dataset.meta.command_dim() > 0;
        let arx = match with_commands {
            true => Some(Arx::fit(dataset, segments, config.ar_order, config.ar_ridge)?),
            false => None,
        };
        let drives = dataset.meta.driven_channels();
        let lagged_command = (with_commands && drives.iter().any(Option::is_some))
            .then(|| LaggedCommand::fit(dataset, segments, &drives));
        Ok(Self { linear_ar, channel_ar, arx, lagged_command })
    }

    /// Every rule a model is scored against, in the order reports list them.
    pub fn all(&self) -> Vec<&dyn Baseline> {
        let mut out: Vec<&dyn Baseline> = vec![&Hold, &ConstantVelocity, &self.linear_ar, &self.channel_ar];
        if let Some(a) = &self.arx {
            out.push(a);
        }
        if let Some(l) = &self.lagged_command {
            out.push(l);
        }
        out
    }

    /// Checks that the rules fit `dim` channels and `command_dim` commands (a checkpoint's
    /// header carries them).
    pub fn validate(&self, dim: usize, command_dim: usize) -> std::result::Result<(), String> {
        self.linear_ar.validate(dim)?;
        self.channel_ar.validate(dim)?;
        if !self.linear_ar.joint || self.channel_ar.joint {
            return Err("linear_ar must read every channel and channel_ar only its own".into());
        }
        if let Some(a) = &self.arx {
            a.validate(dim, command_dim)?;
        }
        if let Some(l) = &self.lagged_command {
            l.validate(dim, command_dim)?;
        }
        Ok(())
    }
}
