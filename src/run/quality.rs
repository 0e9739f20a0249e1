//! The prediction-quality benchmark (`trajrnn bench-quality`): a recipe (the default one unless a
//! configuration is given) trained on every dataset under one fixed, leak-free protocol, and
//! scored against hold, constant velocity and the linear autoregressive baseline.
//!
//! Protocol: every episode alone, split into time blocks (training, a gap, validation), and —
//! where a dataset has several — all its episodes together, split by episode. The scores are the
//! evaluation report's arm-joint RMSE at each horizon on the validation part.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::{TrainOptions, train_dataset};
use crate::config::RunConfig;
use crate::data::{Dataset, SplitMode};
use crate::error::Result;
use crate::eval::EvalReport;

/// One training and evaluation of the benchmark.
pub struct Task {
    pub name: String,
    pub dataset: Dataset,
    pub split: SplitMode,
}

/// Which tasks a dataset gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tasks {
    /// Each episode alone, and all episodes together.
    Both,
    /// Each episode alone (time blocks).
    Each,
    /// All episodes together (by episode; each episode alone when there is one).
    All,
}

/// The tasks of a dataset: each episode alone (time blocks), then all episodes (by episode).
pub fn tasks(dataset: &Dataset, which: Tasks) -> Vec<Task> {
    let each = which != Tasks::All || dataset.episodes.len() < 2;
    let mut out: Vec<Task> = dataset
        .episodes
        .iter()
        .filter(|_| each)
        .map(|e| Task {
            name: format!("{}/{}", dataset.meta.name, e.name),
            dataset: Dataset { episodes: vec![e.clone()], ..dataset.clone() },
            split: SplitMode::TimeBlocks,
        })
        .collect();
    if dataset.episodes.len() >= 2 && which != Tasks::Each {
        out.push(Task {
            name: format!("{}/all-episodes", dataset.meta.name),
            dataset: dataset.clone(),
            split: SplitMode::Episodes,
        });
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub name: String,
    pub frames: usize,
    pub best_epoch: usize,
    pub seconds: f64,
    pub report: EvalReport,
}

/// Trains and evaluates `task` with `recipe`, in `run_dir` (replaced).
pub fn run_task(task: &Task, recipe: &RunConfig, run_dir: &Path) -> Result<TaskResult> {
    let started = Instant::now();
    let mut config = recipe.clone();
    config.run_dir = run_dir.to_path_buf();
    config.data.split.mode = task.split;
    let options = TrainOptions { overwrite: true, quiet: true, ..TrainOptions::default() };
    let trained = train_dataset(&config, task.dataset.clone(), options, Arc::new(AtomicBool::new(false)))?;
    Ok(TaskResult {
        name: task.name.clone(),
        frames: task.dataset.total_frames(),
        best_epoch: trained.outcome.best_epoch,
        seconds: started.elapsed().as_secs_f64(),
        report: trained.report,
    })
}

/// Where a task's run goes under `out`.
pub fn task_dir(out: &Path, task: &Task) -> PathBuf {
    out.join(task.name.replace(['/', ' '], "_"))
}

/// Wins and the median ratio at one horizon, over the tasks where it was measured.
#[derive(Debug, Clone, Serialize)]
pub struct HorizonSummary {
    pub horizon: usize,
    pub measured: usize,
    pub wins: usize,
    pub median_ratio: Option<f64>,
}

/// A task the protocol could not run (e.g. an episode too short for a window), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub name: String,
    pub frames: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Benchmark {
    pub results: Vec<TaskResult>,
    pub skipped: Vec<Skipped>,
    pub summary: Vec<HorizonSummary>,
}

impl Benchmark {
    pub fn new(results: Vec<TaskResult>, skipped: Vec<Skipped>) -> Self {
        let horizons: Vec<usize> =
            results.first().map_or(vec![], |r| r.report.horizons.iter().map(|h| h.horizon).collect());
        let summary = horizons
            .iter()
            .map(|&horizon| {
                let mut ratios: Vec<f64> = results
                    .iter()
                    .filter_map(|r| r.report.horizons.iter().find(|h| h.horizon == horizon)?.ratio_to_best())
                    .collect();
                ratios.sort_by(f64::total_cmp);
                let median = (!ratios.is_empty()).then(|| {
                    let n = ratios.len();
                    if n % 2 == 1 { ratios[n / 2] } else { 0.5 * (ratios[n / 2 - 1] + ratios[n / 2]) }
                });
                HorizonSummary {
                    horizon,
                    measured: ratios.len(),
                    wins: ratios.iter().filter(|r| **r < 1.0).count(),
                    median_ratio: median,
                }
            })
            .collect();
        Self { results, skipped, summary }
    }
}

fn deg(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.4}", v.to_degrees()))
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Arm-joint RMSE (degrees) on the validation part; ratio = model / best baseline (below 1: the model wins)"
        )?;
        // Columns: every predictor the reports scored (the model first), then the verdict.
        let names = self.results.first().map_or(vec![], |r| r.report.predictor_names());
        write!(f, "{:<44} {:>7}", "task", "horizon")?;
        for n in &names {
            write!(f, " {n:>10}")?;
        }
        writeln!(f, " {:>10} {:>7}", "best", "ratio")?;
        for r in &self.results {
            for h in &r.report.horizons {
                write!(f, "{:<44} {:>7}", r.name, h.horizon)?;
                for n in &names {
                    write!(f, " {:>10}", deg(h.scores.iter().find(|s| s.name == *n).and_then(|s| s.arm)))?;
                }
                writeln!(
                    f,
                    " {:>10} {:>7}",
                    h.best_baseline().map_or("n/a", |b| b.name.as_str()),
                    h.ratio_to_best().map_or("n/a".into(), |v| format!("{v:.3}")),
                )?;
            }
        }
        for s in &self.skipped {
            writeln!(f, "{:<44} skipped ({} frames): {}", s.name, s.frames, s.reason)?;
        }
        writeln!(f)?;
        for s in &self.summary {
            writeln!(
                f,
                "{:>4} frames: the model wins on {} of {} task(s); median ratio {}",
                s.horizon,
                s.wins,
                s.measured,
                s.median_ratio.map_or("n/a".into(), |m| format!("{m:.3}"))
            )?;
        }
        Ok(())
    }
}
