//! How frames become model inputs and targets, and model outputs become frames again.
//!
//! Inputs per frame: the state standardised by its training mean and std, then (optionally) its
//! velocity and acceleration (first and second differences), each standardised by the std of
//! that difference. Velocity-sized signals get their own scale: at 100 Hz a frame-to-frame
//! change is ~1e-3 of a joint's range and would vanish at the state's scale.
//!
//! The model predicts a correction of a base rule: `q̂[t+1] = base(q[..=t]) + σ ⊙ y`, where the
//! base is *hold* (`q[t]`), *constant velocity* (`2q[t] − q[t−1]`) or a *linear
//! autoregressive* rule fitted on the training part, and `σ` is the training std of
//! `q[t+1] − base`. With a zero output the model is exactly that rule.
//!
//! Each channel also gets a [`Treatment`] from its profile on the training part (constant
//! channels are held, switch-like ones predicted from hold) and a weight in the training loss.
//!
//! Where the data has commands (what was sent to the robot at each frame), the model also reads
//! the command of the current frame: standardised, its change since the last frame, and — for
//! a command that drives a state channel — the tracking error `u − q`; the linear base is then
//! the ARX rule, which reads the commands too. A *frame* given to the encoding is then the
//! state followed by the commands (`dim + command_dim` values, see [`maps::Layout`]).
//!
//! Everything is fitted on training frames only and saved in every checkpoint. The arithmetic
//! itself is written once, as the affine [`maps`] that the host and the device both apply.

mod loss_weights;
pub mod maps;

use serde::{Deserialize, Serialize};

pub use crate::data::channels::Treatment;
pub use loss_weights::LossWeights;
pub use maps::{DeviceMaps, Maps};

use crate::baselines::{Arx, Baselines, LinearAr};
use crate::data::channels::{self, ChannelProfile};
use crate::data::segment::fold_segments;
use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// Smallest std used to divide by, so a channel that never moves in training stays finite.
const MIN_STD: f32 = 1e-6;
/// Frames per block when the fit applies the base rule to the training part.
const FIT_BLOCK: usize = 256;

/// Training episodes from which an unset `ar_joint` means the joint linear base.
pub const JOINT_AR_EPISODES: usize = 10;

/// What the model's output is a correction to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TargetBase {
    /// `q̂[t+1] = q[t] + σ·y`: the model predicts the change of state.
    Hold,
    /// `q̂[t+1] = 2q[t] − q[t−1] + σ·y`: the model predicts the change of velocity.
    ConstantVelocity,
    /// `q̂[t+1] = AR(q[t−p..=t]) + σ·y`: a correction to a linear autoregressive rule fitted on
    /// the training part (per channel, or every channel from every channel: `ar_joint`).
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
    /// The rule the model's output is a correction to.
    pub target: TargetBase,
    /// With the linear base: every channel from every channel's past (`true`), or each channel
    /// from its own (`false`). Unset: joint when the training part holds at least
    /// [`JOINT_AR_EPISODES`] episodes (measured better on many-episode teleoperation data),
    /// per channel otherwise (more robust on a few long recordings of many channels). A fitted
    /// encoding records the choice it made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ar_joint: Option<bool>,
    /// Treat awkward channels by their profile on the training part (constant → held,
    /// switch-like → hold base); `false` models every channel alike.
    pub treat_channels: bool,
    /// Weights of the channels in the training loss.
    pub loss_weights: LossWeights,
    /// Model inputs are clamped to ±this many (training) standard deviations, so a value far
    /// outside the training data cannot saturate the network.
    pub input_clip: f32,
    /// Read the commands where the data has them (the model then needs them at every step).
    pub commands: bool,
}

impl Default for EncodingConfig {
    fn default() -> Self {
        Self {
            velocity: true,
            acceleration: true,
            // Measured best of the bases (docs/prediction-quality.md): the model corrects the
            // per-channel linear baseline, so an untrained model is already that baseline.
            target: TargetBase::LinearAr,
            ar_joint: None,
            treat_channels: true,
            loss_weights: LossWeights::default(),
            input_clip: 10.0,
            commands: true,
        }
    }
}

impl EncodingConfig {
    /// Frames before the current one that an input or a target needs, for a linear base of
    /// order `ar_order`.
    pub fn history(&self, ar_order: usize) -> usize {
        let target = match self.target {
            TargetBase::Hold => 0,
            TargetBase::ConstantVelocity => 1,
            TargetBase::LinearAr => ar_order,
        };
        target.max(self.velocity as usize).max(2 * self.acceleration as usize)
    }

    /// Checks the values before any work; errors name the option.
    pub fn validate(&self) -> Result<()> {
        self.loss_weights.validate()?;
        if !(self.input_clip.is_finite() && self.input_clip > 0.0) {
            return Err(Error::option(
                "data.encoding.input_clip",
                format!("must be positive, got {}", self.input_clip),
            ));
        }
        Ok(())
    }
}

/// A fitted encoding: the configuration and the training statistics it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    /// The choices the encoding was fitted with.
    pub config: EncodingConfig,
    /// Frames before the current one the encoding reads.
    pub history: usize,
    /// Per-channel mean of the state on the training frames.
    pub mean: Vec<f32>,
    /// Per-channel std of the state (at least the channel's resolution, never zero).
    pub std: Vec<f32>,
    /// Per-channel std of the first difference `q[t] − q[t−1]`.
    pub velocity_std: Vec<f32>,
    /// Per-channel std of the second difference `q[t] − 2q[t−1] + q[t−2]`.
    pub acceleration_std: Vec<f32>,
    /// Per-channel std of the target residual `q[t+1] − base`.
    pub target_std: Vec<f32>,
    /// The linear base (`TargetBase::LinearAr` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ar: Option<LinearAr>,
    /// What is done with each channel.
    pub treatments: Vec<Treatment>,
    /// Each channel's weight in the training loss (standardised target units).
    pub loss_weights: Vec<f32>,
    /// How the commands are read, when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<CommandEncoding>,
    #[serde(skip)]
    maps: Option<Maps>,
}

/// How an encoding reads the commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEncoding {
    /// Command channels `M`.
    pub dim: usize,
    /// Commands read, newest first (the current one and `lags − 1` before it).
    pub lags: usize,
    /// Per command: mean on the training frames.
    pub mean: Vec<f32>,
    /// Per command: std on the training frames (at least 1e-6).
    pub std: Vec<f32>,
    /// Per command: std of its frame-to-frame change (at least 1e-6).
    pub delta_std: Vec<f32>,
    /// `(command, state channel)` pairs where the command drives the channel.
    pub pairs: Vec<(usize, usize)>,
    /// Per pair of `pairs`: std of the tracking error `u − q` on the training frames.
    pub error_std: Vec<f32>,
    /// The ARX rule the model corrects (with the linear target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arx: Option<Arx>,
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
    /// Adds `other`'s values (over other frames) to these.
    fn merge(&mut self, other: Self) {
        self.sum.iter_mut().zip(other.sum).for_each(|(a, b)| *a += b);
        self.sum_sq.iter_mut().zip(other.sum_sq).for_each(|(a, b)| *a += b);
        self.n += other.n;
    }

    /// Means and stds, each std at least `floor[c]`.
    fn mean_std(&self, floor: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n = self.n.max(1) as f64;
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .zip(floor)
            .map(|((&s, &ss), &f)| {
                let mean = s / n;
                let var = (ss / n - mean * mean).max(0.0);
                (mean as f32, (var.sqrt() as f32).max(f))
            })
            .unzip()
    }
}

impl Encoding {
    /// Fits the statistics on the given (training) segments only; `baselines` are the rules
    /// fitted on the same segments (the linear base is one of them).
    pub fn fit(dataset: &Dataset, segments: &[Segment], config: EncodingConfig, baselines: &Baselines) -> Result<Self> {
        Self::fit_profiled(dataset, segments, config, baselines, &channels::profiles(dataset, segments))
    }

    /// [`fit`](Self::fit) with the channels' profiles on `segments` already measured.
    pub(crate) fn fit_profiled(
        dataset: &Dataset,
        segments: &[Segment],
        mut config: EncodingConfig,
        baselines: &Baselines,
        profiles: &[ChannelProfile],
    ) -> Result<Self> {
        config.validate()?;
        let episodes = segments.iter().map(|s| s.episode).collect::<std::collections::HashSet<_>>().len();
        let joint = *config.ar_joint.get_or_insert(episodes >= JOINT_AR_EPISODES);
        let dim = dataset.dim();
        let treatments: Vec<Treatment> =
            profiles.iter().map(|p| Treatment::for_profile(p, config.treat_channels)).collect();
        let floor = scale_floors(profiles);
        let ar = match config.target {
            TargetBase::LinearAr => {
                Some(if joint { baselines.linear_ar.clone() } else { baselines.channel_ar.clone() })
            }
            _ => None,
        };
        let history = config.history(baselines.channel_ar.order);
        let commands = match (config.commands, dataset.meta.command_dim()) {
            (true, m) if m > 0 => Some(CommandEncoding::fit(dataset, segments, &floor, history, &config, baselines)?),
            _ => None,
        };
        let chunk = |segments: &[Segment]| {
            let (mut state, mut vel, mut acc) = (Moments::new(dim), Moments::new(dim), Moments::new(dim));
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
                }
            }
            (state, vel, acc)
        };
        let (state, vel, acc) = fold_segments(segments, chunk, |(s, v, a), (s2, v2, a2)| {
            s.merge(s2);
            v.merge(v2);
            a.merge(a2);
        });
        if acc.n == 0 {
            return Err(Error::Config(format!(
                "cannot fit the encoding: the training split has fewer than {} consecutive frames",
                history.max(2) + 2
            )));
        }
        let (mean, std) = state.mean_std(&floor);
        let mut encoding = Self {
            history,
            mean,
            std,
            velocity_std: vel.mean_std(&floor).1,
            acceleration_std: acc.mean_std(&floor).1,
            target_std: vec![1.0; dim],
            ar,
            treatments,
            loss_weights: vec![1.0; dim],
            commands,
            config,
            maps: None,
        };
        // The residual scale of the base, measured through the same maps that will apply it.
        encoding.maps = Some(encoding.build_maps());
        let layout = encoding.layout();
        let (w, lag_len) = (layout.width(), layout.lag_len());
        let base_map = maps::DenseAffine::new(&encoding.maps().base);
        let with_commands = encoding.commands.is_some();
        // Frames are gathered in blocks and the base applied to a whole block at once.
        let chunk = |segments: &[Segment]| {
            let mut target = Moments::new(dim);
            let mut zs = vec![0f32; FIT_BLOCK * lag_len];
            let mut actual = vec![0f32; FIT_BLOCK * dim];
            let mut base = vec![0f32; FIT_BLOCK * dim];
            let mut flush = |zs: &[f32], actual: &[f32], filled: usize| {
                let base = &mut base[..filled * dim];
                base_map.apply_rows(&zs[..filled * lag_len], base);
                for (q, b) in actual[..filled * dim].chunks_exact(dim).zip(base.chunks_exact(dim)) {
                    target.add(q.iter().zip(b).map(|(a, b)| (a - b) as f64));
                }
            };
            let mut filled = 0;
            for seg in segments {
                let episode = &dataset.episodes[seg.episode];
                let frames = match with_commands {
                    true => episode.joined(seg.frames.clone()),
                    false => episode.frames(seg.frames.clone()).into(),
                };
                for t in seg.frames.start + history + 1..seg.frames.end {
                    let local = t - seg.frames.start;
                    let z = &mut zs[filled * lag_len..][..lag_len];
                    layout.lags(&frames[(local - 1 - history) * w..local * w], z);
                    actual[filled * dim..][..dim].copy_from_slice(episode.frame(t));
                    filled += 1;
                    if filled == FIT_BLOCK {
                        flush(&zs, &actual, filled);
                        filled = 0;
                    }
                }
            }
            flush(&zs, &actual, filled);
            target
        };
        let target = fold_segments(segments, chunk, Moments::merge);
        if target.n == 0 {
            return Err(Error::Config(format!(
                "cannot fit the encoding: the training split has fewer than {} consecutive frames",
                history + 2
            )));
        }
        encoding.target_std = target.mean_std(&floor).1;
        let roles = dataset.meta.roles();
        encoding.loss_weights = encoding.config.loss_weights.per_channel(&roles, &encoding.treatments);
        encoding.maps = Some(encoding.build_maps());
        Ok(encoding)
    }

    /// State channels.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Command channels the encoding reads (0: none).
    pub fn command_dim(&self) -> usize {
        self.commands.as_ref().map_or(0, |c| c.dim)
    }

    /// Values per frame given to the encoding: the state, then the commands it reads.
    pub fn width(&self) -> usize {
        self.dim() + self.command_dim()
    }

    /// Where everything sits in a frame and in the lag vector.
    pub fn layout(&self) -> maps::Layout {
        maps::Layout {
            dim: self.dim(),
            history: self.history,
            command_dim: self.command_dim(),
            command_lags: self.commands.as_ref().map_or(0, |c| c.lags),
        }
    }

    /// Model input width.
    pub fn input_dim(&self) -> usize {
        let commands = self.commands.as_ref().map_or(0, |c| 2 * c.dim + c.pairs.len());
        self.dim() * (1 + self.config.velocity as usize + self.config.acceleration as usize) + commands
    }

    /// Frames before the current one that [`encode_input`](Self::encode_input) and
    /// [`decode`](Self::decode) read.
    pub fn history(&self) -> usize {
        self.history
    }

    /// The affine maps this encoding applies (built once, on first use after loading).
    pub fn maps(&self) -> &Maps {
        self.maps.as_ref().expect("maps are built when an encoding is fitted or validated")
    }

    /// Checks that every vector has `dim` finite entries and every std is positive, then builds
    /// the maps (an encoding read from a checkpoint is usable only after this).
    pub fn validate(&mut self, dim: usize) -> std::result::Result<(), String> {
        for (name, v) in [
            ("mean", &self.mean),
            ("std", &self.std),
            ("velocity_std", &self.velocity_std),
            ("acceleration_std", &self.acceleration_std),
            ("target_std", &self.target_std),
            ("loss_weights", &self.loss_weights),
        ] {
            if v.len() != dim {
                return Err(format!("encoding `{name}` has {} entries for {dim} channels", v.len()));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(format!("encoding `{name}` holds a non-finite value"));
            }
            if name != "mean" && name != "loss_weights" && v.iter().any(|&x| x <= 0.0) {
                return Err(format!("encoding `{name}` holds a value ≤ 0"));
            }
        }
        if self.treatments.len() != dim {
            return Err(format!("encoding `treatments` has {} entries for {dim} channels", self.treatments.len()));
        }
        if !(self.config.input_clip.is_finite() && self.config.input_clip > 0.0) {
            return Err("encoding `input_clip` must be positive".into());
        }
        match (&self.ar, self.config.target) {
            (None, TargetBase::LinearAr) => return Err("encoding: a linear base is named but missing".into()),
            (Some(ar), TargetBase::LinearAr) => {
                ar.validate(dim).map_err(|m| format!("encoding: the linear base does not fit the channels: {m}"))?;
                if Some(ar.joint) != self.config.ar_joint {
                    return Err("encoding: the linear base does not match ar_joint".into());
                }
            }
            _ => {}
        }
        if self.history != self.config.history(self.ar.as_ref().map_or(0, |a| a.order)) || self.history > 1024 {
            return Err(format!("encoding: history {} does not match its base", self.history));
        }
        if let Some(c) = &self.commands {
            c.validate(dim, self.history)?;
        }
        self.maps = Some(self.build_maps());
        Ok(())
    }

    /// Writes the model input for the last frame of `frames` (`history() + 1` frames of
    /// [`width`](Self::width) values, row-major) into `out` (`input_dim()` values).
    pub fn encode_input(&self, frames: &[f32], out: &mut [f32]) {
        let mut z = vec![0f32; self.layout().lag_len()];
        self.maps().input(frames, &mut z, out);
    }

    /// Writes the training target for the state `next` after `frames` into `out` (zero for
    /// held channels).
    pub fn encode_target(&self, frames: &[f32], next: &[f32], out: &mut [f32]) {
        let mut z = vec![0f32; self.layout().lag_len()];
        self.maps().base(frames, &mut z, out);
        for c in 0..self.dim() {
            out[c] = if self.treatments[c] == Treatment::Held { 0.0 } else { (next[c] - out[c]) / self.target_std[c] };
        }
    }

    /// The next state predicted from `frames` and a model output `y` (the inverse of
    /// [`encode_target`](Self::encode_target)).
    pub fn decode(&self, frames: &[f32], y: &[f32], out: &mut [f32]) {
        let mut z = vec![0f32; self.layout().lag_len()];
        self.decode_with(frames, y, &mut z, out);
    }

    /// As [`decode`](Self::decode), with caller-owned scratch `z` (no allocation).
    pub(crate) fn decode_with(&self, frames: &[f32], y: &[f32], z: &mut [f32], out: &mut [f32]) {
        let maps = self.maps();
        maps.base(frames, z, out);
        for ((o, &y), &s) in out.iter_mut().zip(y).zip(&maps.out_scale) {
            *o += y * s;
        }
    }

    /// The maps of this encoding's statistics (see [`maps`]).
    fn build_maps(&self) -> Maps {
        let dim = self.dim();
        let layout = self.layout();
        let cols = layout.lag_len();
        let held = |c: usize| self.treatments[c] == Treatment::Held;
        let mut input = maps::AffineBuilder::new(cols);
        for c in 0..dim {
            if !held(c) {
                input.add(layout.state_col(c), 1.0 / self.std[c] as f64);
            }
            input.finish_row(if held(c) { 0.0 } else { -(self.mean[c] / self.std[c]) as f64 });
        }
        if self.config.velocity {
            for c in 0..dim {
                if !held(c) {
                    input.add(layout.velocity_col(0, c), 1.0 / self.velocity_std[c] as f64);
                }
                input.finish_row(0.0);
            }
        }
        if self.config.acceleration {
            for c in 0..dim {
                if !held(c) {
                    let a = 1.0 / self.acceleration_std[c] as f64;
                    input.add(layout.velocity_col(0, c), a).add(layout.velocity_col(1, c), -a);
                }
                input.finish_row(0.0);
            }
        }
        if let Some(u) = &self.commands {
            for i in 0..u.dim {
                input.add(layout.command_col(0, i), 1.0 / u.std[i] as f64);
                input.finish_row(-(u.mean[i] / u.std[i]) as f64);
            }
            for i in 0..u.dim {
                let a = 1.0 / u.delta_std[i] as f64;
                input.add(layout.command_col(0, i), a).add(layout.command_col(1, i), -a);
                input.finish_row(0.0);
            }
            for (&(i, c), &s) in u.pairs.iter().zip(&u.error_std) {
                let a = 1.0 / s as f64;
                input.add(layout.command_col(0, i), a).add(layout.state_col(c), -a);
                input.finish_row(0.0);
            }
        }
        let mut base = maps::AffineBuilder::new(cols);
        let arx = self.commands.as_ref().and_then(|u| u.arx.as_ref());
        for c in 0..dim {
            base.add(layout.state_col(c), 1.0);
            let mut bias = 0.0;
            if self.treatments[c] == Treatment::Modelled {
                match (self.config.target, arx) {
                    (TargetBase::Hold, _) => {}
                    (TargetBase::ConstantVelocity, _) => {
                        base.add(layout.velocity_col(0, c), 1.0);
                    }
                    (TargetBase::LinearAr, Some(arx)) => bias = arx_row(arx, c, &layout, &mut base),
                    (TargetBase::LinearAr, None) => {
                        let ar = self.ar.as_ref().expect("a linear base is fitted with the encoding");
                        let features = ar.order * dim + 1;
                        let row = crate::data::channels::row(&ar.coefficients, features, c);
                        for k in 0..ar.order {
                            for j in 0..dim {
                                let a = row[k * dim + j];
                                if a != 0.0 {
                                    base.add(layout.velocity_col(k, j), ar.scale[c] * a / ar.scale[j]);
                                }
                            }
                        }
                        bias = ar.scale[c] * row[features - 1];
                    }
                }
            }
            base.finish_row(bias);
        }
        let out_scale = (0..dim).map(|c| if held(c) { 0.0 } else { self.target_std[c] }).collect();
        Maps { layout, input: input.build(), base: base.build(), out_scale, clip: self.config.input_clip }
    }
}

/// Adds the ARX rule's prediction of channel `c`'s next velocity (times its scale) to the row
/// being built, in lag-vector columns; returns the constant part.
fn arx_row(arx: &Arx, c: usize, layout: &maps::Layout, row: &mut maps::AffineBuilder) -> f64 {
    let (dim, m, p) = (arx.dim, arx.command_dim, arx.order);
    let features = arx.features();
    let coef = crate::data::channels::row(&arx.coefficients, features, c);
    let scale = arx.velocity_scale[c];
    let mut bias = coef[features - 1];
    for (j, &a) in coef[..dim].iter().enumerate() {
        row.add(layout.state_col(j), scale * a / arx.state_scale[j]);
        bias -= a * arx.state_mean[j] / arx.state_scale[j];
    }
    for k in 0..p {
        for j in 0..dim {
            row.add(layout.velocity_col(k, j), scale * coef[dim + k * dim + j] / arx.velocity_scale[j]);
        }
    }
    let base = dim + p * dim;
    for k in 0..p {
        for i in 0..m {
            let a = coef[base + k * m + i];
            row.add(layout.command_col(k, i), scale * a / arx.command_scale[i]);
            bias -= a * arx.command_mean[i] / arx.command_scale[i];
        }
    }
    scale * bias
}

impl CommandEncoding {
    /// The commands' statistics on the training segments; their pairs with the state channels
    /// they drive; the ARX base when the target is linear.
    fn fit(
        dataset: &Dataset,
        segments: &[Segment],
        floor: &[f32],
        history: usize,
        config: &EncodingConfig,
        baselines: &Baselines,
    ) -> Result<Self> {
        let m = dataset.meta.command_dim();
        let pairs: Vec<(usize, usize)> =
            dataset.meta.driven_channels().into_iter().enumerate().filter_map(|(i, c)| Some((i, c?))).collect();
        let arx = match config.target {
            TargetBase::LinearAr => Some(baselines.arx.clone().ok_or_else(|| {
                Error::Config(
                    "the data has commands but no ARX baseline was fitted (baselines.commands = false)".into(),
                )
            })?),
            _ => None,
        };
        // Commands read: as many as the ARX base reads, and two at least (their change).
        let lags = arx.as_ref().map_or(2, |a| a.order).max(2).min(history + 1);
        let (mut u, mut du, mut err) = (Moments::new(m), Moments::new(m), Moments::new(pairs.len()));
        for s in segments {
            let e = &dataset.episodes[s.episode];
            for t in s.frames.clone() {
                let now = e.command(t);
                u.add(now.iter().map(|&v| v as f64));
                if t > s.frames.start {
                    du.add(now.iter().zip(e.command(t - 1)).map(|(a, b)| (a - b) as f64));
                }
                err.add(pairs.iter().map(|&(i, c)| (now[i] - e.frame(t)[c]) as f64));
            }
        }
        let command_floor: Vec<f32> = vec![1e-6; m];
        let pair_floor: Vec<f32> = pairs.iter().map(|&(_, c)| floor[c]).collect();
        let (mean, std) = u.mean_std(&command_floor);
        Ok(Self {
            dim: m,
            lags,
            mean,
            std,
            delta_std: du.mean_std(&command_floor).1,
            error_std: err.mean_std(&pair_floor).1,
            pairs,
            arx,
        })
    }

    /// Checks sizes and values against `dim` state channels and the encoding's history.
    fn validate(&self, dim: usize, history: usize) -> std::result::Result<(), String> {
        let m = self.dim;
        if m == 0 || m > crate::limits::MAX_FEATURES || self.lags < 2 || self.lags > history + 1 {
            return Err(format!("encoding: {m} commands read over {} frames with a history of {history}", self.lags));
        }
        for (name, v, n) in [
            ("command mean", &self.mean, m),
            ("command std", &self.std, m),
            ("command delta_std", &self.delta_std, m),
            ("command error_std", &self.error_std, self.pairs.len()),
        ] {
            if v.len() != n
                || v.iter().any(|x| !x.is_finite())
                || (name != "command mean" && v.iter().any(|&x| x <= 0.0))
            {
                return Err(format!("encoding: `{name}` must hold {n} finite (positive) values"));
            }
        }
        if self.pairs.iter().any(|&(i, c)| i >= m || c >= dim) {
            return Err("encoding: a command pair names a channel out of range".into());
        }
        if let Some(arx) = &self.arx {
            arx.validate(dim, m).map_err(|e| format!("encoding: the ARX base: {e}"))?;
            if arx.order > history || arx.order > self.lags {
                return Err("encoding: the ARX base reads more frames than the encoding keeps".into());
            }
        }
        Ok(())
    }
}

/// The smallest scale each channel may be divided by: its resolution (the grid it moves on),
/// and never below a millionth of its magnitude.
fn scale_floors(profiles: &[ChannelProfile]) -> Vec<f32> {
    profiles
        .iter()
        .map(|p| {
            let magnitude = p.min.abs().max(p.max.abs()).max(1.0);
            (p.resolution.unwrap_or(0.0).max(magnitude * 1e-6) as f32).max(MIN_STD)
        })
        .collect()
}
