//! The prediction-quality benchmark (`trajrnn bench-quality`): a recipe (the default one unless a
//! configuration is given) trained on every dataset under one fixed protocol, and scored on the
//! test part against hold, constant velocity and the linear autoregressive baselines.
//!
//! Protocol: every episode alone, split into time blocks (train, gap, validation, gap, test), and
//! — where a dataset has several — all its episodes together (whole episodes when there are at
//! least `data.split.min_episodes`, time blocks otherwise). The encoding, the baselines and the
//! model are fitted on the training part; the best epoch and the baseline compared with at each
//! horizon are chosen on the validation part; the test part is scored once. The report gives the
//! ratio to that chosen baseline and to the best baseline on the test part itself (the oracle).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{RunConfig, TrainOptions, quiet, train_dataset};
use crate::data::{Dataset, SplitMode};
use crate::error::{Error, Result};
use crate::eval::EvalReport;

/// One training and evaluation of the benchmark.
pub struct Task {
    /// `DATASET/EPISODE`, or `DATASET/all-episodes`.
    pub name: String,
    /// The task's data: one episode, or the whole dataset.
    pub dataset: Dataset,
    /// How it is split: time blocks for one episode, `auto` for all of them.
    pub split: SplitMode,
}

/// Which tasks a dataset gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tasks {
    /// Each episode alone, and all episodes together.
    Both,
    /// Each episode alone (time blocks).
    Each,
    /// All episodes together (each episode alone when there is one).
    All,
}

/// The tasks of a dataset: each episode alone (time blocks), then all episodes.
pub(crate) fn tasks(dataset: &Dataset, which: Tasks) -> Vec<Task> {
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
            split: SplitMode::Auto,
        });
    }
    out
}

/// What one task gave.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    /// The task's name (see [`Task::name`]).
    pub name: String,
    /// Frames of the task's data, before resampling.
    pub frames: usize,
    /// The best epoch on validation (0: the untrained model).
    pub best_epoch: usize,
    /// Wall time of training and evaluation, seconds.
    pub seconds: f64,
    /// On the test part.
    pub report: EvalReport,
}

/// Trains and evaluates `task` with `recipe`, in `run_dir` (replaced).
pub(crate) fn run_task(task: &Task, recipe: &RunConfig, run_dir: &Path) -> Result<TaskResult> {
    let started = Instant::now();
    let mut config = recipe.clone();
    config.run_dir = run_dir.to_path_buf();
    config.data.split.mode = task.split;
    let options = TrainOptions { overwrite: true, ..TrainOptions::default() };
    let trained = train_dataset(&config, task.dataset.clone(), options, &mut quiet, None)?;
    Ok(TaskResult {
        name: task.name.clone(),
        frames: task.dataset.total_frames(),
        best_epoch: trained.outcome.best_epoch,
        seconds: started.elapsed().as_secs_f64(),
        report: trained.report,
    })
}

/// Where a task's run goes under `out`.
pub(crate) fn task_dir(out: &Path, task: &Task) -> PathBuf {
    out.join(task.name.replace(['/', ' '], "_"))
}

/// Runs every task of every dataset; a task the data cannot hold (too short for the protocol)
/// is reported as skipped, not fatal. `progress` hears of each task as it ends.
pub fn run(
    datasets: &[Dataset],
    which: Tasks,
    recipe: &RunConfig,
    out: &Path,
    progress: &mut dyn FnMut(&std::result::Result<TaskResult, Skipped>),
) -> Result<Benchmark> {
    recipe.validate()?;
    let (mut results, mut skipped) = (Vec::new(), Vec::new());
    for task in datasets.iter().flat_map(|d| tasks(d, which)) {
        match run_task(&task, recipe, &task_dir(out, &task)) {
            Ok(r) => {
                progress(&Ok(r.clone()));
                results.push(r);
            }
            Err(e @ (Error::Config(_) | Error::Option { .. })) => {
                let s = Skipped { name: task.name.clone(), frames: task.dataset.total_frames(), reason: e.to_string() };
                progress(&Err(s.clone()));
                skipped.push(s);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Benchmark::new(results, skipped))
}

/// Wins and the median ratio at one horizon, over the tasks where it was measured.
#[derive(Debug, Clone, Serialize)]
pub struct HorizonSummary {
    /// Frames after the last observed one.
    pub horizon: usize,
    /// Tasks where the model's ratio to the oracle could be measured at this horizon.
    pub measured: usize,
    /// Tasks where the model beats the baseline chosen on validation.
    pub wins_chosen: usize,
    /// Median over tasks of the model's arm RMSE over the chosen baseline's (below 1: the model
    /// wins).
    pub median_chosen: Option<f64>,
    /// Tasks where the model beats every baseline on the test part (the oracle).
    pub wins_oracle: usize,
    /// Median over tasks of the model's arm RMSE over the oracle's.
    pub median_oracle: Option<f64>,
}

/// A task the protocol could not run (e.g. an episode too short for a window), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The task's name (see [`Task::name`]).
    pub name: String,
    /// Frames of the task's data.
    pub frames: usize,
    /// Why it could not run (the configuration or option error).
    pub reason: String,
}

/// The benchmark's outcome; its `Display` is the printed table.
#[derive(Debug, Clone, Serialize)]
pub struct Benchmark {
    /// Every task that ran, in order.
    pub results: Vec<TaskResult>,
    /// Every task that could not run, and why.
    pub skipped: Vec<Skipped>,
    /// Wins and median ratios per horizon, over the tasks.
    pub summary: Vec<HorizonSummary>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    (n > 0).then(|| if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

impl Benchmark {
    /// The outcome of these tasks, with the per-horizon summary computed from their reports.
    pub fn new(results: Vec<TaskResult>, skipped: Vec<Skipped>) -> Self {
        let horizons: Vec<usize> =
            results.first().map_or(vec![], |r| r.report.horizons.iter().map(|h| h.horizon).collect());
        let summary = horizons
            .iter()
            .map(|&horizon| {
                let at = |r: &TaskResult| r.report.horizons.iter().find(|h| h.horizon == horizon).cloned();
                let chosen: Vec<f64> = results.iter().filter_map(|r| at(r)?.ratio_to_chosen()).collect();
                let oracle: Vec<f64> = results.iter().filter_map(|r| at(r)?.ratio_to_oracle()).collect();
                HorizonSummary {
                    horizon,
                    measured: oracle.len(),
                    wins_chosen: chosen.iter().filter(|r| **r < 1.0).count(),
                    median_chosen: median(chosen),
                    wins_oracle: oracle.iter().filter(|r| **r < 1.0).count(),
                    median_oracle: median(oracle),
                }
            })
            .collect();
        Self { results, skipped, summary }
    }
}

fn deg(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.4}", v.to_degrees()))
}

fn ratio(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

impl fmt::Display for Benchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Arm-joint RMSE (degrees) on the test part. /chosen: model over the baseline chosen on validation; \
             /oracle: model over the best baseline on the test part itself (below 1: the model wins)"
        )?;
        let names = self.results.first().map_or(vec![], |r| r.report.predictor_names());
        write!(f, "{:<44} {:>7}", "task", "horizon")?;
        for n in &names {
            write!(f, " {n:>10}")?;
        }
        writeln!(f, " {:>10} {:>8} {:>10} {:>8}", "chosen", "/chosen", "oracle", "/oracle")?;
        for r in &self.results {
            for h in &r.report.horizons {
                write!(f, "{:<44} {:>7}", r.name, h.horizon)?;
                for n in &names {
                    write!(f, " {:>10}", deg(h.scores.iter().find(|s| s.name == *n).and_then(|s| s.arm)))?;
                }
                writeln!(
                    f,
                    " {:>10} {:>8} {:>10} {:>8}",
                    h.chosen.as_deref().unwrap_or("n/a"),
                    ratio(h.ratio_to_chosen()),
                    h.oracle().map_or("n/a", |b| b.name.as_str()),
                    ratio(h.ratio_to_oracle()),
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
                "{:>4} frames: the model beats the chosen baseline on {} of {} task(s) (median ratio {}), every baseline \
                 on {} (median ratio to the oracle {})",
                s.horizon,
                s.wins_chosen,
                s.measured,
                ratio(s.median_chosen),
                s.wins_oracle,
                ratio(s.median_oracle)
            )?;
        }
        Ok(())
    }
}
