//! Evaluation against physics baselines on the same frames: hold (`q[t+1] = q[t]`) and constant
//! velocity (`q[t+1] = 2q[t] − q[t−1]`), one step ahead and free-running at several horizons.

use std::fmt;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::window::gather_batch;
use crate::data::{Dataset, Normalizer, Segment, Window};
use crate::model::TrajectoryModel;
use crate::rollout::rollout;
use crate::train::batch_tensors;

/// Per-channel root-mean-square errors of the model and both baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Errors {
    pub model: Vec<f64>,
    pub hold: Vec<f64>,
    pub const_vel: Vec<f64>,
    /// Frames (or rollouts) scored.
    pub count: usize,
}

/// Running sums of squared errors, per channel.
struct SquaredErrors {
    sums: [Vec<f64>; 3],
    count: usize,
}

impl SquaredErrors {
    fn new(dim: usize) -> Self {
        Self { sums: [vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]], count: 0 }
    }
    fn add(&mut self, truth: &[f32], model: &[f32], hold: &[f32], const_vel: &[f32]) {
        for (sum, pred) in self.sums.iter_mut().zip([model, hold, const_vel]) {
            for (c, s) in sum.iter_mut().enumerate() {
                let e = (pred[c] - truth[c]) as f64;
                *s += e * e;
            }
        }
        self.count += 1;
    }
    fn rmse(self) -> Errors {
        let n = self.count.max(1) as f64;
        let [model, hold, const_vel] = self.sums.map(|s| s.into_iter().map(|v| (v / n).sqrt()).collect());
        Errors { model, hold, const_vel, count: self.count }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonErrors {
    /// Frames after the last observed frame.
    pub horizon: usize,
    pub errors: Errors,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub channels: Vec<String>,
    /// The first `joints` channels are arm joints (radians); the rest are gripper channels (metres).
    pub joints: usize,
    pub rate_hz: f64,
    pub one_step: Errors,
    /// Observed frames each rollout starts from.
    pub warmup: usize,
    pub horizons: Vec<HorizonErrors>,
}

/// One-step errors of teacher-forced predictions over `windows` (use non-overlapping windows
/// so that every frame counts once).
pub fn one_step_errors(
    model: &TrajectoryModel,
    dataset: &Dataset,
    norm: &Normalizer,
    windows: &[Window],
    device: &Device,
) -> Errors {
    let dim = norm.dim();
    let device = device.clone().without_autodiff();
    let mut acc = SquaredErrors::new(dim);
    let (mut pred, mut cv) = (vec![0f32; dim], vec![0f32; dim]);
    for chunk in windows.chunks(64) {
        let (input, _) = batch_tensors(gather_batch(dataset, norm, chunk), &device);
        let y = model.forward(input, None).output.into_data().try_into_vec::<f32>().expect("f32 output");
        for (b, w) in chunk.iter().enumerate() {
            let view = w.view(dataset);
            let frame = |i: usize| &view[i * dim..(i + 1) * dim];
            for t in 0..w.context {
                let (prev, cur, next) = (frame(t), frame(t + 1), frame(t + 2));
                let row = (b * w.context + t) * dim;
                norm.decode_step(cur, &y[row..row + dim], &mut pred);
                constant_velocity(prev, cur, 1, &mut cv);
                acc.add(next, &pred, cur, &cv);
            }
        }
    }
    acc.rmse()
}

/// Which free-running rollouts to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutSpec {
    /// Observed frames each rollout starts from (at least 2).
    pub warmup: usize,
    /// Frames after the last observed frame at which errors are scored (each ≥ 1).
    pub horizons: Vec<usize>,
    /// Frames between rollout starts.
    pub stride: usize,
}

/// Free-running errors: from every `stride`-th frame of the segments, warm up on `warmup`
/// observed frames and roll out to the largest horizon; score each horizon.
pub fn rollout_errors(
    model: &TrajectoryModel,
    dataset: &Dataset,
    norm: &Normalizer,
    segments: &[Segment],
    spec: &RolloutSpec,
    device: &Device,
) -> Vec<HorizonErrors> {
    let RolloutSpec { warmup, ref horizons, stride } = *spec;
    let dim = norm.dim();
    let max_h = horizons.iter().copied().max().unwrap_or(0);
    assert!(horizons.iter().all(|&h| h > 0), "horizons count frames after the last observed one");
    // Anchor = last observed frame; needs `warmup` frames up to it and `max_h` after it.
    let anchors: Vec<(usize, usize)> = segments
        .iter()
        .flat_map(|s| {
            let first = s.frames.start + warmup.max(2) - 1;
            let last = s.frames.end.saturating_sub(max_h + 1);
            (first..=last).step_by(stride.max(1)).map(move |a| (s.episode, a))
        })
        .collect();
    let mut acc: Vec<SquaredErrors> = horizons.iter().map(|_| SquaredErrors::new(dim)).collect();
    let mut cv = vec![0f32; dim];
    for chunk in anchors.chunks(256) {
        let contexts: Vec<&[f32]> =
            chunk.iter().map(|&(e, a)| dataset.episodes[e].frames(a + 1 - warmup.max(2)..a + 1)).collect();
        let r = rollout(model, norm, &contexts, max_h, device);
        for (b, &(e, a)) in chunk.iter().enumerate() {
            let ep = &dataset.episodes[e];
            for (acc, &h) in acc.iter_mut().zip(horizons) {
                constant_velocity(ep.frame(a - 1), ep.frame(a), h, &mut cv);
                acc.add(ep.frame(a + h), r.state(b, h - 1), ep.frame(a), &cv);
            }
        }
    }
    horizons.iter().zip(acc).map(|(&horizon, acc)| HorizonErrors { horizon, errors: acc.rmse() }).collect()
}

/// `q[t+h] ≈ q[t] + h·(q[t] − q[t−1])`.
pub fn constant_velocity(prev: &[f32], cur: &[f32], h: usize, out: &mut [f32]) {
    for c in 0..cur.len() {
        out[c] = cur[c] + h as f32 * (cur[c] - prev[c]);
    }
}

impl EvalReport {
    /// RMSE over the arm joints (radians) of one column of errors.
    pub fn joint_rmse(&self, per_channel: &[f64]) -> f64 {
        pooled(&per_channel[..self.joints])
    }

    /// RMSE over the gripper channels (metres), if any.
    pub fn gripper_rmse(&self, per_channel: &[f64]) -> Option<f64> {
        (self.channels.len() > self.joints).then(|| pooled(&per_channel[self.joints..]))
    }
}

fn pooled(rmse: &[f64]) -> f64 {
    (rmse.iter().map(|r| r * r).sum::<f64>() / rmse.len().max(1) as f64).sqrt()
}

fn ratio(model: f64, baseline: f64) -> String {
    if baseline > 0.0 { format!("{:.2}", model / baseline) } else { "-".into() }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deg = 180.0 / std::f64::consts::PI;
        let e = &self.one_step;
        writeln!(f, "One-step prediction, {} validation frames: RMSE per channel", e.count)?;
        writeln!(
            f,
            "{:<28} {:>12} {:>11} {:>11} {:>11} {:>10} {:>10}",
            "channel", "model (rad)", "model (°)", "hold (°)", "c.vel (°)", "/hold", "/c.vel"
        )?;
        for (c, name) in self.channels.iter().enumerate() {
            if c < self.joints {
                writeln!(
                    f,
                    "{:<28} {:>12.6} {:>11.4} {:>11.4} {:>11.4} {:>10} {:>10}",
                    name,
                    e.model[c],
                    e.model[c] * deg,
                    e.hold[c] * deg,
                    e.const_vel[c] * deg,
                    ratio(e.model[c], e.hold[c]),
                    ratio(e.model[c], e.const_vel[c])
                )?;
            } else {
                writeln!(
                    f,
                    "{:<28} {:>12} {:>11} {:>11} {:>11} {:>10} {:>10}",
                    format!("{name} (mm)"),
                    format!("{:.4}", e.model[c] * 1e3),
                    "",
                    format!("{:.4}", e.hold[c] * 1e3),
                    format!("{:.4}", e.const_vel[c] * 1e3),
                    ratio(e.model[c], e.hold[c]),
                    ratio(e.model[c], e.const_vel[c])
                )?;
            }
        }
        let (m, h, v) = (self.joint_rmse(&e.model), self.joint_rmse(&e.hold), self.joint_rmse(&e.const_vel));
        writeln!(
            f,
            "{:<28} {:>12.6} {:>11.4} {:>11.4} {:>11.4} {:>10} {:>10}",
            "all arm joints",
            m,
            m * deg,
            h * deg,
            v * deg,
            ratio(m, h),
            ratio(m, v)
        )?;
        if let Some(first) = self.horizons.first() {
            writeln!(
                f,
                "\nFree-running rollouts from {} starts after {} observed frames: RMSE at each horizon",
                first.errors.count, self.warmup
            )?;
            writeln!(
                f,
                "{:>8} {:>8} | {:>10} {:>10} {:>10} {:>6} {:>6} | {:>12} {:>12} {:>12}",
                "horizon",
                "seconds",
                "model (°)",
                "hold (°)",
                "c.vel (°)",
                "/hold",
                "/c.vel",
                "grip mdl mm",
                "grip hold",
                "grip c.vel"
            )?;
        }
        for he in &self.horizons {
            let e = &he.errors;
            let (m, h, v) = (self.joint_rmse(&e.model), self.joint_rmse(&e.hold), self.joint_rmse(&e.const_vel));
            let grip = |x: &[f64]| self.gripper_rmse(x).map_or("-".into(), |g| format!("{:.3}", g * 1e3));
            writeln!(
                f,
                "{:>8} {:>8.2} | {:>10.3} {:>10.3} {:>10.3} {:>6} {:>6} | {:>12} {:>12} {:>12}",
                he.horizon,
                he.horizon as f64 / self.rate_hz,
                m * deg,
                h * deg,
                v * deg,
                ratio(m, h),
                ratio(m, v),
                grip(&e.model),
                grip(&e.hold),
                grip(&e.const_vel)
            )?;
        }
        Ok(())
    }
}
