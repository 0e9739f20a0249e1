//! The evaluation report: errors per horizon and predictor, the baseline chosen on validation at
//! each horizon and the model's ratio to it, and the best baseline on the scored frames
//! themselves (the oracle: chosen on the data it is scored on). Empty measurements are `None`
//! (printed "n/a").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::data::ChannelRole;

/// Running squared errors of one predictor at one horizon.
pub(crate) struct Accumulator {
    sums: Vec<f64>,
    ee_sum: f64,
    ee_count: usize,
    count: usize,
}

impl Accumulator {
    pub(crate) fn new(dim: usize) -> Self {
        Self { sums: vec![0.0; dim], ee_sum: 0.0, ee_count: 0, count: 0 }
    }

    pub(crate) fn add(&mut self, truth: &[f32], predicted: &[f32], ee_error: Option<f64>) {
        for (c, s) in self.sums.iter_mut().enumerate() {
            let e = (predicted[c] - truth[c]) as f64;
            *s += e * e;
        }
        if let Some(e) = ee_error {
            self.ee_sum += e * e;
            self.ee_count += 1;
        }
        self.count += 1;
    }

    pub(crate) fn finish(self, name: &str, roles: &[ChannelRole]) -> Score {
        if self.count == 0 {
            return Score::empty(name);
        }
        let n = self.count as f64;
        let rmse: Vec<f64> = self.sums.iter().map(|s| (s / n).sqrt()).collect();
        let pooled = |role: ChannelRole| {
            let picked: Vec<f64> = rmse.iter().zip(roles).filter(|(_, r)| **r == role).map(|(v, _)| v * v).collect();
            (!picked.is_empty()).then(|| (picked.iter().sum::<f64>() / picked.len() as f64).sqrt())
        };
        Score {
            name: name.into(),
            arm: pooled(ChannelRole::Joint),
            gripper: pooled(ChannelRole::Gripper),
            end_effector_mm: (self.ee_count > 0).then(|| (self.ee_sum / self.ee_count as f64).sqrt() * 1e3),
            per_channel: Some(rmse),
        }
    }
}

/// One predictor's errors at one horizon (RMSE; radians for joints, the channel's unit else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The predictor: `model`, or a baseline's name (`hold`, `const_vel`, `linear_ar`…).
    pub name: String,
    /// RMSE of each channel, in the dataset's channel order (`None`: nothing scored).
    pub per_channel: Option<Vec<f64>>,
    /// Over the arm joints together (radians).
    pub arm: Option<f64>,
    /// Over the gripper channels together.
    pub gripper: Option<f64>,
    /// End-effector position error through forward kinematics, millimetres.
    pub end_effector_mm: Option<f64>,
}

impl Score {
    /// A score with no measurement (printed "n/a").
    pub fn empty(name: &str) -> Self {
        Self { name: name.into(), per_channel: None, arm: None, gripper: None, end_effector_mm: None }
    }
}

/// The baseline each horizon is compared with, chosen on the validation part (the one with the
/// lowest arm error there), so that the comparison on the test part involves no choice made on
/// it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineChoice {
    /// `(horizon, baseline name)`.
    pub chosen: Vec<(usize, String)>,
}

impl BaselineChoice {
    /// The best baseline at each measured horizon of a (validation) report.
    pub fn from_report(report: &EvalReport) -> Self {
        let chosen = report.horizons.iter().filter_map(|h| Some((h.horizon, h.oracle()?.name.clone()))).collect();
        Self { chosen }
    }

    /// The baseline chosen for `horizon`.
    pub fn at(&self, horizon: usize) -> Option<&str> {
        self.chosen.iter().find(|(h, _)| *h == horizon).map(|(_, n)| n.as_str())
    }
}

/// Every predictor's errors at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonErrors {
    /// Frames after the last observed frame.
    pub horizon: usize,
    /// Rollouts scored (0: n/a).
    pub count: usize,
    /// The baseline chosen on validation for this horizon.
    #[serde(default)]
    pub chosen: Option<String>,
    /// The model first, then the baselines.
    pub scores: Vec<Score>,
}

impl HorizonErrors {
    /// The model's score (always first).
    pub fn model(&self) -> &Score {
        &self.scores[0]
    }

    /// The baseline with the lowest arm error on the scored frames themselves (an oracle: it is
    /// chosen on the data it is scored on).
    pub fn oracle(&self) -> Option<&Score> {
        self.scores[1..].iter().filter(|s| s.arm.is_some()).min_by(|a, b| a.arm.unwrap().total_cmp(&b.arm.unwrap()))
    }

    /// The baseline chosen on validation, as scored here.
    pub fn chosen(&self) -> Option<&Score> {
        let name = self.chosen.as_deref()?;
        self.scores[1..].iter().find(|s| s.name == name)
    }

    /// Model arm RMSE over the oracle baseline's (below 1: the model beats every baseline).
    pub fn ratio_to_oracle(&self) -> Option<f64> {
        ratio(self.model(), self.oracle()?)
    }

    /// Model arm RMSE over the validation-chosen baseline's.
    pub fn ratio_to_chosen(&self) -> Option<f64> {
        ratio(self.model(), self.chosen()?)
    }
}

fn ratio(model: &Score, baseline: &Score) -> Option<f64> {
    let (m, b) = (model.arm?, baseline.arm?);
    (b > 0.0).then(|| m / b)
}

/// The result of an evaluation (a run writes it as `eval.json`): errors per horizon of the model
/// and the baselines on the same rollouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Name of the scored dataset.
    pub dataset: String,
    /// Which part of the data was scored (`test`, `validation`, `all`…).
    #[serde(default)]
    pub part: String,
    /// Channel names, in the order of each score's `per_channel`.
    pub channels: Vec<String>,
    /// What each channel is (arm joint, gripper, other): which ones `arm` and `gripper` pool.
    pub roles: Vec<ChannelRole>,
    /// Frame rate of the scored data, Hz (horizons are in frames at this rate).
    pub rate_hz: f64,
    /// Observed frames before each rollout.
    pub warmup: usize,
    /// Frames between rollout starts.
    pub stride: usize,
    /// Whether end-effector errors were computed (the dataset has a robot description).
    pub end_effector: bool,
    /// One entry per requested horizon, in the order requested (n/a ones included).
    pub horizons: Vec<HorizonErrors>,
    /// What the evaluation could not do (e.g. horizons longer than every segment).
    pub warnings: Vec<String>,
}

fn deg(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.3}", v.to_degrees()))
}

fn num(v: Option<f64>, scale: f64, digits: usize) -> String {
    v.map_or("n/a".into(), |v| format!("{:.digits$}", v * scale))
}

impl EvalReport {
    /// The names of the scored predictors, the model first (every horizon lists them in this order).
    pub fn predictor_names(&self) -> Vec<&str> {
        self.horizons.first().map_or(vec![], |h| h.scores.iter().map(|s| s.name.as_str()).collect())
    }

    /// One sentence per horizon: who wins against the best baseline on these frames (the
    /// oracle, the stricter comparison) and by how much.
    pub(crate) fn verdicts(&self) -> Vec<String> {
        self.horizons
            .iter()
            .map(|h| match (h.oracle(), h.ratio_to_oracle()) {
                (Some(best), Some(r)) if r < 1.0 => format!(
                    "{:>4} frames: the model beats every baseline (best: {}) by {:.1} %",
                    h.horizon,
                    best.name,
                    (1.0 - r) * 100.0
                ),
                (Some(best), Some(r)) => format!(
                    "{:>4} frames: a baseline ({}) beats the model by {:.1} %",
                    h.horizon,
                    best.name,
                    (r - 1.0) * 100.0
                ),
                _ => format!("{:>4} frames: n/a (no rollout fits)", h.horizon),
            })
            .collect()
    }

    /// The geometric mean over the measured horizons of the model's arm error over the
    /// oracle's (lower is better; `None` when nothing was measured): one number to choose
    /// epochs and recipes by, on validation.
    pub fn score(&self) -> Option<f64> {
        let logs: Vec<f64> = self.horizons.iter().filter_map(HorizonErrors::ratio_to_oracle).map(f64::ln).collect();
        (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.predictor_names();
        if let Some(h1) = self.horizons.iter().find(|h| h.count > 0) {
            writeln!(
                f,
                "Errors {} frame(s) ahead, per channel (RMSE: joints in degrees, others ×1000, e.g. mm), {} rollouts after {} observed frames",
                h1.horizon, h1.count, self.warmup
            )?;
            write!(f, "{:<28}", "channel")?;
            for n in &names {
                write!(f, " {n:>11}")?;
            }
            writeln!(f, " {:>9}", "/best")?;
            for (c, name) in self.channels.iter().enumerate() {
                let joint = self.roles[c] == ChannelRole::Joint;
                let value = |s: &Score| s.per_channel.as_ref().map(|v| v[c]);
                write!(f, "{:<28}", if joint { name.clone() } else { format!("{name} (×1000)") })?;
                for s in &h1.scores {
                    let v = value(s);
                    write!(f, " {:>11}", if joint { deg(v) } else { num(v, 1e3, 4) })?;
                }
                let best = h1.scores[1..].iter().filter_map(value).fold(f64::INFINITY, f64::min);
                let ratio = value(&h1.scores[0]).filter(|_| best > 0.0 && best.is_finite()).map(|m| m / best);
                writeln!(f, " {:>9}", num(ratio, 1.0, 2))?;
            }
        }
        writeln!(
            f,
            "\nFree-running rollouts after {} observed frames, arm joints (RMSE, degrees), {} part of {}",
            self.warmup, self.part, self.dataset
        )?;
        write!(f, "{:>8} {:>8} {:>7} |", "horizon", "seconds", "starts")?;
        for n in &names {
            write!(f, " {n:>10}")?;
        }
        write!(f, " | {:>10} {:>8} | {:>10} {:>8}", "chosen", "/chosen", "oracle", "/oracle")?;
        if self.end_effector {
            write!(f, " | {:>10} {:>10}", "EE mdl mm", "EE best mm")?;
        }
        writeln!(f)?;
        for h in &self.horizons {
            write!(f, "{:>8} {:>8.2} {:>7} |", h.horizon, h.horizon as f64 / self.rate_hz, h.count)?;
            for s in &h.scores {
                write!(f, " {:>10}", deg(s.arm))?;
            }
            write!(
                f,
                " | {:>10} {:>8} | {:>10} {:>8}",
                h.chosen.as_deref().unwrap_or("n/a"),
                num(h.ratio_to_chosen(), 1.0, 3),
                h.oracle().map_or("n/a", |b| b.name.as_str()),
                num(h.ratio_to_oracle(), 1.0, 3)
            )?;
            if self.end_effector {
                let best_ee = h.scores[1..].iter().filter_map(|s| s.end_effector_mm).fold(f64::INFINITY, f64::min);
                write!(
                    f,
                    " | {:>10} {:>10}",
                    num(h.model().end_effector_mm, 1.0, 2),
                    num(best_ee.is_finite().then_some(best_ee), 1.0, 2)
                )?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "chosen: the baseline with the lowest error on the validation part (no choice is made on the scored \
             frames); oracle: the best baseline on the scored frames themselves"
        )?;
        for v in self.verdicts() {
            writeln!(f, "{v}")?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}
