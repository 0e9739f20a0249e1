//! How frames become model inputs and targets, and predictions become frames again.
//!
//! Inputs per frame: the state standardised by its training mean and std, then (optionally) its
//! velocity and acceleration (first and second differences), each standardised by the std of
//! that difference. Velocity-sized signals get their own scale: at 100 Hz a frame-to-frame
//! change is ~1e-3 of a joint's range and would vanish at the state's scale.
//!
//! The model predicts a residual on a base rule: `q̂[t+1] = base(q[..=t]) + σ ⊙ y`, where the
//! base is *hold* (`q[t]`), *constant velocity* (`2q[t] − q[t−1]`) or the *linear
//! autoregressive* baseline fitted on the training part, and `σ` is the training std of
//! `q[t+1] − base`. With a zero output the model is exactly that baseline.
//!
//! The encoding is fitted on training frames only and saved in every checkpoint.

use serde::{Deserialize, Serialize};

use crate::baselines::LinearAr;
use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// Smallest std used to divide by, so a channel that never moves in training stays finite.
const MIN_STD: f32 = 1e-6;

/// What the model's output is a correction to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TargetBase {
    /// `q̂[t+1] = q[t] + σ·y`: the model predicts the change of state.
    Hold,
    /// `q̂[t+1] = 2q[t] − q[t−1] + σ·y`: the model predicts the change of velocity.
    ConstantVelocity,
    /// `q̂[t+1] = AR(q[t−p..=t]) + σ·y`: a correction to the linear autoregressive baseline,
    /// fitted (ridge) on the training part with the encoding.
    #[default]
    LinearAr,
}

/// The choices behind an encoding (what `train` is configured with).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncodingConfig {
    /// Feed the first difference of the state.
    pub velocity: bool,
    /// Feed the second difference of the state.
    pub acceleration: bool,
    pub target: TargetBase,
    /// Past velocities the linear base reads (`LinearAr` only).
    pub ar_order: usize,
    /// Its ridge strength, relative to the number of samples.
    pub ar_ridge: f64,
    /// Whether each channel's base reads every channel's lags (else only its own: more robust
    /// on short recordings of many channels).
    pub ar_joint: bool,
}

impl Default for EncodingConfig {
    fn default() -> Self {
        Self {
            velocity: true,
            acceleration: true,
            // Measured best of the bases (docs/prediction-quality.md): the model corrects the
            // per-channel linear baseline, so an untrained model is already that baseline.
            target: TargetBase::LinearAr,
            ar_order: 8,
            ar_ridge: 1e-3,
            ar_joint: false,
        }
    }
}

impl EncodingConfig {
    /// Frames before the current one that an input or a target needs.
    pub fn history(&self) -> usize {
        let target = match self.target {
            TargetBase::Hold => 0,
            TargetBase::ConstantVelocity => 1,
            TargetBase::LinearAr => self.ar_order,
        };
        target.max(self.velocity as usize).max(2 * self.acceleration as usize)
    }
}

/// A fitted encoding: the configuration and the training statistics it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    pub config: EncodingConfig,
    /// Per-channel mean and std of the state.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Per-channel std of the first and second differences.
    pub velocity_std: Vec<f32>,
    pub acceleration_std: Vec<f32>,
    /// Per-channel std of the target residual `q[t+1] − base`.
    pub target_std: Vec<f32>,
    /// The linear base (`TargetBase::LinearAr` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ar: Option<LinearAr>,
}

/// Running mean and variance per channel (f64 sums).
struct Moments {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    n: usize,
}

impl Moments {
    fn new(dim: usize) -> Self {
        Self { sum: vec![0.0; dim], sum_sq: vec![0.0; dim], n: 0 }
    }
    fn add(&mut self, values: impl Iterator<Item = f64>) {
        for (c, v) in values.enumerate() {
            self.sum[c] += v;
            self.sum_sq[c] += v * v;
        }
        self.n += 1;
    }
    fn mean_std(&self) -> (Vec<f32>, Vec<f32>) {
        let n = self.n.max(1) as f64;
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(&s, &ss)| {
                let mean = s / n;
                let var = (ss / n - mean * mean).max(0.0);
                (mean as f32, (var.sqrt() as f32).max(MIN_STD))
            })
            .unzip()
    }
}

impl Encoding {
    /// Fits the statistics on the given (training) segments only.
    pub fn fit(dataset: &Dataset, segments: &[Segment], config: EncodingConfig) -> Result<Self> {
        let dim = dataset.dim();
        if config.target == TargetBase::LinearAr && config.ar_order == 0 {
            return Err(Error::option("data.encoding.ar_order", "must be at least 1"));
        }
        let ar = match config.target {
            TargetBase::LinearAr => {
                Some(LinearAr::fit(dataset, segments, config.ar_order, config.ar_ridge, config.ar_joint)?)
            }
            _ => None,
        };
        let (mut state, mut vel, mut acc, mut target) =
            (Moments::new(dim), Moments::new(dim), Moments::new(dim), Moments::new(dim));
        let mut base = vec![0f32; dim];
        for seg in segments {
            let episode = &dataset.episodes[seg.episode];
            for t in seg.frames.clone() {
                let q = episode.frame(t);
                state.add(q.iter().map(|&v| v as f64));
                let back = t - seg.frames.start;
                if back >= 1 {
                    let p = episode.frame(t - 1);
                    vel.add(q.iter().zip(p).map(|(a, b)| (a - b) as f64));
                }
                if back >= 2 {
                    let (p, pp) = (episode.frame(t - 1), episode.frame(t - 2));
                    acc.add((0..dim).map(|c| (q[c] - 2.0 * p[c] + pp[c]) as f64));
                }
                if back > config.history() {
                    let frames = episode.frames(t - 1 - config.history()..t);
                    base_of(config.target, ar.as_ref(), frames, dim, &mut base);
                    target.add(q.iter().zip(&base).map(|(a, b)| (a - b) as f64));
                }
            }
        }
        if target.n == 0 || acc.n == 0 {
            return Err(Error::Config(format!(
                "cannot fit the encoding: the training split has fewer than {} consecutive frames",
                config.history().max(2) + 2
            )));
        }
        let (mean, std) = state.mean_std();
        Ok(Self {
            config,
            mean,
            std,
            velocity_std: vel.mean_std().1,
            acceleration_std: acc.mean_std().1,
            target_std: target.mean_std().1,
            ar,
        })
    }

    /// State channels.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Model input width.
    pub fn input_dim(&self) -> usize {
        self.dim() * (1 + self.config.velocity as usize + self.config.acceleration as usize)
    }

    /// Frames before the current one that [`encode_input`](Self::encode_input) and
    /// [`decode`](Self::decode) read.
    pub fn history(&self) -> usize {
        self.config.history()
    }

    /// Checks that every vector has `dim` finite entries and every std is positive.
    pub fn validate(&self, dim: usize) -> std::result::Result<(), String> {
        for (name, v) in [
            ("mean", &self.mean),
            ("std", &self.std),
            ("velocity_std", &self.velocity_std),
            ("acceleration_std", &self.acceleration_std),
            ("target_std", &self.target_std),
        ] {
            if v.len() != dim {
                return Err(format!("encoding `{name}` has {} entries for {dim} channels", v.len()));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(format!("encoding `{name}` holds a non-finite value"));
            }
            if name != "mean" && v.iter().any(|&x| x <= 0.0) {
                return Err(format!("encoding `{name}` holds a value ≤ 0"));
            }
        }
        match (&self.ar, self.config.target) {
            (None, TargetBase::LinearAr) => Err("encoding: a linear base is named but missing".into()),
            (Some(ar), TargetBase::LinearAr) => {
                ar.validate(dim).map_err(|m| format!("encoding: the linear base does not fit the channels: {m}"))?;
                if ar.order != self.config.ar_order || ar.joint != self.config.ar_joint {
                    return Err("encoding: the linear base does not match ar_order and ar_joint".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Writes the model input for the last frame of `frames` (`history() + 1` frames,
    /// row-major) into `out` (`input_dim()` values).
    pub fn encode_input(&self, frames: &[f32], out: &mut [f32]) {
        let d = self.dim();
        let h = self.history();
        let row = |back: usize| &frames[(h - back) * d..(h - back + 1) * d];
        let cur = row(0);
        for c in 0..d {
            out[c] = (cur[c] - self.mean[c]) / self.std[c];
        }
        let mut at = d;
        if self.config.velocity {
            let prev = row(1);
            for c in 0..d {
                out[at + c] = (cur[c] - prev[c]) / self.velocity_std[c];
            }
            at += d;
        }
        if self.config.acceleration {
            let (prev, prev2) = (row(1), row(2));
            for c in 0..d {
                out[at + c] = (cur[c] - 2.0 * prev[c] + prev2[c]) / self.acceleration_std[c];
            }
        }
    }

    /// Writes the training target for the frame after `frames` into `out`.
    pub fn encode_target(&self, frames: &[f32], next: &[f32], out: &mut [f32]) {
        base_of(self.config.target, self.ar.as_ref(), frames, self.dim(), out);
        for c in 0..self.dim() {
            out[c] = (next[c] - out[c]) / self.target_std[c];
        }
    }

    /// The next state predicted from `frames` and a model output `y` (the inverse of
    /// [`encode_target`](Self::encode_target)).
    pub fn decode(&self, frames: &[f32], y: &[f32], out: &mut [f32]) {
        base_of(self.config.target, self.ar.as_ref(), frames, self.dim(), out);
        for c in 0..self.dim() {
            out[c] += y[c] * self.target_std[c];
        }
    }
}

/// The base prediction for the frame after `frames` (whose last row is current).
fn base_of(target: TargetBase, ar: Option<&LinearAr>, frames: &[f32], d: usize, out: &mut [f32]) {
    let n = frames.len() / d;
    let cur = &frames[(n - 1) * d..];
    match target {
        TargetBase::Hold => out[..d].copy_from_slice(cur),
        TargetBase::ConstantVelocity => {
            let prev = &frames[(n - 2) * d..(n - 1) * d];
            for c in 0..d {
                out[c] = 2.0 * cur[c] - prev[c];
            }
        }
        TargetBase::LinearAr => ar.expect("a linear base is fitted with the encoding").predict_next(frames, out),
    }
}
