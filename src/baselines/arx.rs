//! The rules that use the commands (what was sent to the robot at each frame):
//!
//! - [`Arx`]: a linear ARX model, `v[t+1] = A·[q[t], v[t..t−p+1], u[t..t−p+1], 1]` — every
//!   channel's next velocity from the current state, the last `p` velocities and the last `p`
//!   commands — fitted by ridge regression on the training part, rolled out with the recorded
//!   commands of the predicted frames;
//! - [`LaggedCommand`]: the state becomes its command after a fixed lag, `q[t] = u[t − L] + b`,
//!   lag and offset fitted per commanded channel on the training part (hold for channels no
//!   command drives).
//!
//! A model that reads the commands has learned dynamics only where it beats these.

use serde::{Deserialize, Serialize};

use super::linear_ar::NormalEquations;
use super::{Baseline, Context};
use crate::data::commands::fit_lag;
use crate::data::segment::fold_segments;
use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// Rows accumulated into the normal equations at once.
const BLOCK: usize = 512;
/// Longest lag [`LaggedCommand`] considers, in frames.
pub use crate::data::commands::MAX_LAG;

/// A fitted linear ARX model: the next velocity from the state, its recent velocities and the commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arx {
    /// Past velocities and commands read.
    pub order: usize,
    /// State channels.
    pub dim: usize,
    /// Command channels.
    pub command_dim: usize,
    /// Per state channel: mean of the state on the training part (the state is read
    /// standardised).
    pub state_mean: Vec<f64>,
    /// Per state channel: standard deviation of the state on the training part (at least 1e-9).
    pub state_scale: Vec<f64>,
    /// Per state channel: the velocity scale (velocities are read and predicted in it).
    pub velocity_scale: Vec<f64>,
    /// Per command channel: mean on the training part (commands are read standardised).
    pub command_mean: Vec<f64>,
    /// Per command channel: standard deviation on the training part (at least 1e-9).
    pub command_scale: Vec<f64>,
    /// `[dim, features]`, row-major: row `c` predicts channel `c`'s next velocity from the
    /// features `[q (dim), v lags (order·dim), u lags (order·command_dim), 1]`.
    pub coefficients: Vec<f64>,
}

impl Arx {
    /// Features per equation.
    pub fn features(&self) -> usize {
        self.dim + self.order * self.dim + self.order * self.command_dim + 1
    }

    /// Fits on the training segments (whose episodes must have commands). `ridge` is relative:
    /// λ = ridge × (number of samples).
    pub fn fit(dataset: &Dataset, segments: &[Segment], order: usize, ridge: f64) -> Result<Self> {
        let (dim, m) = (dataset.dim(), dataset.meta.command_dim());
        if m == 0 {
            return Err(Error::Config("the ARX baseline needs command channels".into()));
        }
        let mut model = Self {
            order,
            dim,
            command_dim: m,
            state_mean: vec![0.0; dim],
            state_scale: vec![1.0; dim],
            velocity_scale: vec![1.0; dim],
            command_mean: vec![0.0; m],
            command_scale: vec![1.0; m],
            coefficients: vec![],
        };
        model.fit_scales(dataset, segments);
        let features = model.features();
        let chunk = |segments: &[Segment]| {
            let mut equations = NormalEquations::new(features, dim, BLOCK);
            for s in segments {
                let e = &dataset.episodes[s.episode];
                for t in s.frames.start + order..s.frames.end.saturating_sub(1) {
                    equations.push_with(|x, y| {
                        model.feature_row(|j| e.frame(j), |j| e.command(j), t, x);
                        for (c, v) in y.iter_mut().enumerate() {
                            *v = (e.frame(t + 1)[c] - e.frame(t)[c]) as f64 / model.velocity_scale[c];
                        }
                    });
                }
            }
            equations.finish()
        };
        let NormalEquations { mut xtx, xty, samples, .. } = fold_segments(segments, chunk, NormalEquations::merge);
        if samples < order + 1 {
            return Err(Error::Config(format!(
                "the ARX baseline of order {order} needs at least {} training frames, found {samples}",
                order + 1
            )));
        }
        for f in 0..features - 1 {
            xtx[(f, f)] += ridge.max(1e-9) * samples as f64;
        }
        let solution = xtx
            .cholesky()
            .ok_or_else(|| Error::Config("the ARX baseline's normal equations are singular".into()))?
            .solve(&xty);
        model.coefficients =
            (0..dim).flat_map(|c| (0..features).map(move |f| (c, f))).map(|(c, f)| solution[(f, c)]).collect();
        Ok(model)
    }

    fn fit_scales(&mut self, dataset: &Dataset, segments: &[Segment]) {
        let (dim, m) = (self.dim, self.command_dim);
        let (mut q, mut q2, mut v2, mut u, mut u2) =
            (vec![0f64; dim], vec![0f64; dim], vec![0f64; dim], vec![0f64; m], vec![0f64; m]);
        let (mut n, mut nv) = (0usize, 0usize);
        for s in segments {
            let e = &dataset.episodes[s.episode];
            for t in s.frames.clone() {
                for c in 0..dim {
                    let x = e.frame(t)[c] as f64;
                    q[c] += x;
                    q2[c] += x * x;
                    if t > s.frames.start {
                        v2[c] += ((e.frame(t)[c] - e.frame(t - 1)[c]) as f64).powi(2);
                    }
                }
                for (i, &x) in e.command(t).iter().enumerate() {
                    u[i] += x as f64;
                    u2[i] += (x as f64).powi(2);
                }
                n += 1;
                nv += (t > s.frames.start) as usize;
            }
        }
        let (n, nv) = (n.max(1) as f64, nv.max(1) as f64);
        let spread = |s: f64, s2: f64| ((s2 / n - (s / n).powi(2)).max(0.0)).sqrt().max(1e-9);
        self.state_mean = q.iter().map(|s| s / n).collect();
        self.state_scale = q.iter().zip(&q2).map(|(s, s2)| spread(*s, *s2)).collect();
        self.velocity_scale = v2.iter().map(|s| (s / nv).sqrt().max(1e-9)).collect();
        self.command_mean = u.iter().map(|s| s / n).collect();
        self.command_scale = u.iter().zip(&u2).map(|(s, s2)| spread(*s, *s2)).collect();
    }

    /// The features of frame `t` (which has `order` frames before it), from the frame and
    /// command accessors.
    fn feature_row<'a>(
        &self,
        frame: impl Fn(usize) -> &'a [f32],
        command: impl Fn(usize) -> &'a [f32],
        t: usize,
        out: &mut [f64],
    ) {
        let (dim, m, p) = (self.dim, self.command_dim, self.order);
        let q = frame(t);
        for c in 0..dim {
            out[c] = (q[c] as f64 - self.state_mean[c]) / self.state_scale[c];
        }
        for k in 0..p {
            let (a, b) = (frame(t - k), frame(t - k - 1));
            for c in 0..dim {
                out[dim + k * dim + c] = (a[c] - b[c]) as f64 / self.velocity_scale[c];
            }
        }
        let base = dim + p * dim;
        for k in 0..p {
            let u = command(t - k);
            for i in 0..m {
                out[base + k * m + i] = (u[i] as f64 - self.command_mean[i]) / self.command_scale[i];
            }
        }
        out[base + p * m] = 1.0;
    }

    /// Checks that the model fits `dim` state and `command_dim` command channels (a
    /// checkpoint's header carries it).
    pub fn validate(&self, dim: usize, command_dim: usize) -> std::result::Result<(), String> {
        if self.order == 0 || self.order > 1024 || self.dim != dim || self.command_dim != command_dim {
            return Err(format!(
                "ARX of order {} for {} + {} channels, the data has {dim} + {command_dim}",
                self.order, self.dim, self.command_dim
            ));
        }
        let sizes = [
            (self.state_mean.len(), dim),
            (self.state_scale.len(), dim),
            (self.velocity_scale.len(), dim),
            (self.command_mean.len(), command_dim),
            (self.command_scale.len(), command_dim),
        ];
        if sizes.iter().any(|(a, b)| a != b) || self.coefficients.len() != dim * self.features() {
            return Err("ARX sizes do not match its channels".into());
        }
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        let positive = |v: &[f64]| v.iter().all(|x| *x > 0.0);
        let finite_coefficients = finite(&self.coefficients) && finite(&self.state_mean) && finite(&self.command_mean);
        let positive_scales =
            positive(&self.state_scale) && positive(&self.velocity_scale) && positive(&self.command_scale);
        if !(finite_coefficients && positive_scales) {
            return Err("ARX scales must be positive and coefficients finite".into());
        }
        Ok(())
    }
}

impl Baseline for Arx {
    fn name(&self) -> &str {
        "arx"
    }
    fn history(&self) -> usize {
        self.order
    }
    fn rollout(&self, context: &Context, horizon: usize, out: &mut [f32]) {
        let (dim, m) = (self.dim, self.command_dim);
        let n = context.frames();
        // The observed frames, then the predicted ones, in one buffer the features read.
        let mut frames: Vec<f32> = context.states.to_vec();
        frames.resize((n + horizon) * dim, 0.0);
        let mut row = vec![0f64; self.features()];
        let features = self.features();
        for k in 0..horizon {
            let t = n - 1 + k;
            {
                let frame = |j: usize| crate::data::channels::row(&frames, dim, j);
                let command = |j: usize| crate::data::channels::row(context.commands, m, j);
                self.feature_row(frame, command, t, &mut row);
            }
            for c in 0..dim {
                let coef = crate::data::channels::row(&self.coefficients, features, c);
                let v: f64 = coef.iter().zip(&row).map(|(a, x)| a * x).sum();
                let next = frames[t * dim + c] as f64 + v * self.velocity_scale[c];
                frames[(t + 1) * dim + c] = next as f32;
            }
        }
        out[..horizon * dim].copy_from_slice(&frames[n * dim..(n + horizon) * dim]);
    }
}

/// The state follows its command after a fixed lag: `q[t] = u[t − lag] + offset` per driven channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaggedCommand {
    /// State channels.
    pub dim: usize,
    /// Command channels.
    pub command_dim: usize,
    /// Per state channel: the command that drives it, its lag in frames and the offset
    /// (`None`: no command drives it; held).
    pub follows: Vec<Option<Follow>>,
}

/// How one state channel follows its command.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Follow {
    /// Index of the command channel that drives this state channel.
    pub command: usize,
    /// Frames between a command and the state that reaches it (at most [`MAX_LAG`]).
    pub lag: usize,
    /// Added to the command to give the state, in the state channel's unit (radians for a joint).
    pub offset: f64,
}

impl LaggedCommand {
    /// Fits each driven channel's lag (0..=[`MAX_LAG`] frames) and offset by least squares on
    /// the training segments; `drives[i]` is the state channel command `i` drives.
    pub fn fit(dataset: &Dataset, segments: &[Segment], drives: &[Option<usize>]) -> Self {
        let (dim, m) = (dataset.dim(), dataset.meta.command_dim());
        let mut follows = vec![None; dim];
        for (i, target) in drives.iter().enumerate() {
            let Some(c) = *target else { continue };
            if follows[c].is_some() {
                continue; // the first command that drives a channel
            }
            follows[c] = fit_lag(dataset, segments, i, c).map(|f| Follow { command: i, lag: f.lag, offset: f.offset });
        }
        Self { dim, command_dim: m, follows }
    }

    /// Checks sizes and indices (a checkpoint's header carries it).
    pub fn validate(&self, dim: usize, command_dim: usize) -> std::result::Result<(), String> {
        if self.dim != dim || self.command_dim != command_dim || self.follows.len() != dim {
            return Err("the lagged-command baseline does not match the channels".into());
        }
        if self.follows.iter().flatten().any(|f| f.command >= command_dim || f.lag > MAX_LAG || !f.offset.is_finite()) {
            return Err("the lagged-command baseline names a command or lag out of range".into());
        }
        Ok(())
    }
}

impl Baseline for LaggedCommand {
    fn name(&self) -> &str {
        "lag_cmd"
    }
    fn history(&self) -> usize {
        0
    }
    fn rollout(&self, context: &Context, horizon: usize, out: &mut [f32]) {
        let (dim, m) = (self.dim, self.command_dim);
        let n = context.frames();
        let current = &context.states[(n - 1) * dim..n * dim];
        for k in 0..horizon {
            let j = n + k; // the predicted frame
            for c in 0..dim {
                out[k * dim + c] = match self.follows[c] {
                    // Before the lag reaches back into the recording, hold.
                    Some(f) if j >= f.lag => (context.commands[(j - f.lag) * m + f.command] as f64 + f.offset) as f32,
                    _ => current[c],
                };
            }
        }
    }
}
