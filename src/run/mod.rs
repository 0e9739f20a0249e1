//! Whole runs, as the `trajrnn` command, the example and Python use them: check every input and
//! output first, then train (writing `config.toml`, `best.ckpt`, `last.ckpt`, `log.csv`), choose
//! the baselines on validation and report on the test part (`eval.json`); apply a checkpoint to
//! any dataset (`apply`); run the prediction-quality benchmark ([`quality`]).
//!
//! Nothing here prints: a run reports what it does through [`RunEvent`]s to the caller's
//! observer ([`console::Console`] prints them, for the command line).

pub(crate) mod apply;
pub(crate) mod config;
pub mod console;
mod log;
pub mod quality;
mod signals;

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use burn::prelude::Device;

pub use apply::{Applied, PartChoice, Rollouts, Scored, apply_checkpoint, apply_checkpoint_to};
pub use config::{DataSection, ModelSection, RunConfig};
pub use signals::stop_on_signals;

use crate::checkpoint::{self, CHECKPOINT_VERSION, CheckpointMeta, DataInfo, SplitRecord};
use crate::data::channels::ChannelKind;
use crate::data::{self, Dataset, Segment, fingerprint};
use crate::encoding::Treatment;
use crate::error::{Error, Location, Result};
use crate::eval::{self, BaselineChoice, EvalInputs, EvalReport, RolloutScorer};
use crate::kinematics::Kinematics;
use crate::model::{ModelConfig, TrajectoryModel};
use crate::train::{self, Event, Hooks, Prepared, Selection, Start, TrainOutcome};

/// Files of a run directory that a new run would replace.
const RUN_FILES: [&str; 5] = ["config.toml", "best.ckpt", "last.ckpt", "log.csv", "eval.json"];

/// How a training run treats its run folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Continue the run in `run_dir` from its `last.ckpt`.
    pub resume: bool,
    /// Replace a finished run in `run_dir` (otherwise that is an error).
    pub overwrite: bool,
}

/// What a run reports as it goes.
pub enum RunEvent<'a> {
    /// A line worth showing (what data was found, how it was split, what training will do).
    Note(String),
    /// Something suspicious but not wrong.
    Warning(String),
    /// The trainer's own events.
    Train(&'a Event<'a>),
}

/// The observer of a run; `Break` from an epoch event stops the run after that epoch.
pub(crate) type Observer<'a> = &'a mut dyn FnMut(RunEvent) -> ControlFlow<()>;

fn note(observer: Observer, text: String) {
    let _ = observer(RunEvent::Note(text));
}

fn warn(observer: Observer, text: String) {
    let _ = observer(RunEvent::Warning(text));
}

/// An observer that ignores everything (a quiet run).
pub fn quiet(_: RunEvent) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Everything a finished training run produced.
pub struct TrainedRun {
    /// The data as trained on (channels in the model's order, irregular episodes resampled).
    pub dataset: Dataset,
    /// The split, the fitted baselines and encoding, and the training and validation windows.
    pub prepared: Prepared,
    /// Forward kinematics of the robot (`None` when the dataset has no robot description).
    pub kinematics: Option<Kinematics>,
    /// The trainer's result: per-epoch statistics, the best epoch and its score.
    pub outcome: TrainOutcome,
    /// The best checkpoint, reloaded from disk as a user would.
    pub model: TrajectoryModel,
    /// The best checkpoint's header.
    pub meta: CheckpointMeta,
    /// The report on the test part (also written to `eval.json`).
    pub report: EvalReport,
    /// Path of `best.ckpt` in the run folder.
    pub best_checkpoint: PathBuf,
    /// The device of the configured backend.
    pub device: Device,
}

/// Loads a dataset; its warnings go to the observer.
pub fn load_dataset(path: &Path, observer: Observer) -> Result<Dataset> {
    let dataset = Dataset::load(path)?;
    for w in &dataset.warnings {
        warn(observer, w.clone());
    }
    Ok(dataset)
}

/// The model configuration a run builds for its data (`prepared` by [`train::prepare`] with
/// [`RunConfig::training_windows`]).
pub fn model_config(config: &RunConfig, prepared: &Prepared) -> ModelConfig {
    ModelConfig {
        cell: config.model.cell,
        input_dim: prepared.encoding.input_dim(),
        hidden: config.model.hidden,
        layers: config.model.layers,
        output_dim: prepared.encoding.dim(),
        dropout: config.model.dropout,
        // Start at the encoding's base (by default the per-channel linear AR) and learn corrections.
        zero_head: true,
        members: config.model.members,
    }
}

/// Trains as configured, then evaluates the best checkpoint on the test part. Every input and
/// output is checked before the first epoch; `stop` (set by Ctrl-C or SIGTERM, see
/// [`stop_on_signals`]) ends the run at the next step boundary with `last.ckpt` written.
pub fn train(
    config: &RunConfig,
    options: TrainOptions,
    observer: Observer,
    stop: Option<&AtomicBool>,
) -> Result<TrainedRun> {
    config.validate()?;
    let dataset = load_dataset(&config.dataset, observer)?;
    train_dataset(config, dataset, options, observer, stop)
}

/// As [`train()`], on a dataset already in memory (`config.dataset` is only recorded).
pub fn train_dataset(
    config: &RunConfig,
    dataset: Dataset,
    options: TrainOptions,
    observer: Observer,
    stop: Option<&AtomicBool>,
) -> Result<TrainedRun> {
    config.validate()?;
    let device = config.backend()?.device()?;
    let kinematics = Kinematics::for_dataset(&dataset)?;
    // Episodes are recognised by what they held when given to training.
    let fingerprints = fingerprint::episodes(&dataset);
    let (dataset, irregular) = config.training_data(dataset)?;
    if irregular > 0 {
        note(
            observer,
            format!(
                "timestamps of {irregular} of {} episode(s) are irregular: resampling them onto {} Hz",
                dataset.episodes.len(),
                dataset.meta.rate_hz
            ),
        );
    }
    let _lock = check_run_dir(&config.run_dir, options, observer)?;
    let prepared = config.prepare(&dataset)?;
    let model_config = model_config(config, &prepared);
    note(
        observer,
        format!(
            "dataset {} ({}): {} episodes, {} frames at {} Hz; {}",
            dataset.meta.name,
            dataset.meta.robot,
            dataset.episodes.len(),
            dataset.total_frames(),
            dataset.meta.rate_hz,
            prepared.split.describe(&dataset)
        ),
    );
    for (p, t) in prepared.profiles.iter().zip(&prepared.encoding.treatments) {
        if p.kind != ChannelKind::Smooth || *t != Treatment::Modelled {
            note(observer, format!("channel {} is {} in training: {}", p.name, p.kind, t.describe()));
        }
    }
    let held_out: Vec<Segment> = prepared.split.valid.iter().chain(&prepared.split.test).cloned().collect();
    for name in held_but_moving(&dataset, &held_out, &prepared.encoding) {
        warn(
            observer,
            format!(
                "channel {name} is constant in the training part but moves outside the training part: the model holds it \
             at its current value (it cannot learn a motion it never saw)"
            ),
        );
    }
    if config.data.split.gap < config.data.context && prepared.split.kind == data::split::SplitKind::TimeBlocks {
        warn(
            observer,
            format!(
                "the split's gap ({}) is shorter than the context ({}): windows near the boundary see both sides",
                config.data.split.gap, config.data.context
            ),
        );
    }
    note(
        observer,
        format!(
            "{} training and {} validation windows of {} steps; {} (hidden {}, {} layer(s), {} parameters) on {}",
            prepared.train.len(),
            prepared.valid.len(),
            config.data.context,
            model_config.cell,
            model_config.hidden,
            model_config.layers,
            model_config.parameter_count(),
            config.backend
        ),
    );

    let plain = device.clone().without_autodiff();
    let baselines = prepared.baselines.all();
    let valid_report = eval::evaluate_baselines(&dataset, &prepared.split.valid, &baselines, &config.eval)?;
    let choice = BaselineChoice::from_report(&valid_report);
    let meta = CheckpointMeta {
        checkpoint_version: CHECKPOINT_VERSION,
        trajrnn_version: env!("CARGO_PKG_VERSION").into(),
        model: model_config.clone(),
        encoding: prepared.encoding.clone(),
        data: DataInfo {
            // A model that does not read the commands needs none from the data it is applied to.
            commands: if prepared.encoding.command_dim() > 0 { dataset.meta.command_names() } else { vec![] },
            ..DataInfo::of(&dataset, config.data.resample)
        },
        window: config.data.window(),
        split: SplitRecord::of(&config.data.split, &prepared.split, &dataset, &fingerprints),
        train: config.train.clone(),
        baseline_config: config.baselines.clone(),
        baselines: prepared.baselines.clone(),
        choice: Some(choice.clone()),
        eval: config.eval.clone(),
        epoch: 0,
        valid_score: None,
        training: None,
        sections: vec![],
    };
    let files = RunFiles { dir: config.run_dir.clone() };
    let start = if options.resume { files.resume(&model_config, &config.train, &device)? } else { Start::Fresh };
    let path = config.run_dir.join("config.toml");
    let written = match (options.resume, RunConfig::load(&path)) {
        // The run's own file, with the epochs a resume added (so that it still repeats the run).
        (true, Ok(mut own)) => (own.train.epochs != config.train.epochs).then(|| {
            own.train.epochs = config.train.epochs;
            own
        }),
        // A new run, or a resumed one (through the library) whose folder lacks the file.
        _ => Some(config.clone()),
    };
    if let Some(c) = written {
        let text = c.to_toml();
        crate::io::write_atomic(&path, |f| f.write_all(text.as_bytes()))?;
    }
    let mut log = match &start {
        Start::Fresh => log::StepLog::create(&files.log())?,
        Start::Resume { state, .. } => log::StepLog::resume(&files.log(), state.step)?,
    };
    let scorer = match config.train.selection {
        Selection::Rollout => Some(RolloutScorer::new(
            &dataset,
            &prepared.split.valid,
            &prepared.encoding,
            &baselines,
            &config.eval,
            &plain,
        )?),
        Selection::Loss => None,
    };
    let mut score = |model: &TrajectoryModel| scorer.as_ref().expect("a scorer with rollout selection").score(model);
    let set = prepared.training_set(&dataset);
    let mut write = |event: Event| -> Result<ControlFlow<()>> {
        files.record(&event, &meta, &mut log)?;
        Ok(observer(RunEvent::Train(&event)))
    };
    let hooks = Hooks {
        observer: &mut write,
        score: scorer.is_some().then_some(&mut score as &mut dyn FnMut(&TrajectoryModel) -> Result<f64>),
        stop,
    };
    let outcome = train::train(&model_config, set, &config.train, &device, start, hooks)?;
    log.flush()?;
    if outcome.interrupted {
        note(observer, format!("interrupted: {} holds the run; continue it with --resume", files.last().display()));
    }
    note(
        observer,
        format!(
            "best epoch {} (validation score {:.5}) → {}",
            outcome.best_epoch,
            outcome.best_score,
            files.best().display()
        ),
    );

    let best = checkpoint::load(&files.best(), &plain)?;
    let inputs = EvalInputs {
        model: &best.model,
        encoding: &best.meta.encoding,
        dataset: &dataset,
        segments: &prepared.split.test,
        baselines: &baselines,
        choice: Some(&choice),
        kinematics: kinematics.as_ref(),
        part: "test",
    };
    let report = eval::evaluate(&inputs, &config.eval, &plain)?;
    write_report(&config.run_dir.join("eval.json"), &report)?;
    Ok(TrainedRun {
        dataset,
        prepared,
        kinematics,
        outcome,
        model: best.model,
        meta: best.meta,
        report,
        best_checkpoint: files.best(),
        device,
    })
}

/// The channels the encoding holds (constant in training) that move in `segments`.
pub(crate) fn held_but_moving(
    dataset: &Dataset,
    segments: &[Segment],
    encoding: &crate::encoding::Encoding,
) -> Vec<String> {
    let profiles = data::channels::profiles(dataset, segments);
    profiles
        .into_iter()
        .zip(&encoding.treatments)
        .filter(|(p, t)| **t == Treatment::Held && p.range() > 0.0)
        .map(|(p, _)| p.name)
        .collect()
}

/// Where a run writes `best.ckpt`, `last.ckpt` and `log.csv`.
struct RunFiles {
    dir: PathBuf,
}

impl RunFiles {
    fn best(&self) -> PathBuf {
        self.dir.join("best.ckpt")
    }
    fn last(&self) -> PathBuf {
        self.dir.join("last.ckpt")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("log.csv")
    }

    /// Writes what `event` asks for: a log line per step and rollback, `best.ckpt` when an epoch
    /// (or the untrained model) is the best so far, `last.ckpt` at every epoch's end and when
    /// the run is interrupted.
    fn record(&self, event: &Event, template: &CheckpointMeta, log: &mut log::StepLog) -> Result<()> {
        let meta_at = |epoch: usize, score: Option<f64>, state: Option<&train::TrainingState>| {
            let mut meta = template.clone();
            meta.epoch = epoch;
            meta.valid_score = score;
            meta.training = state.cloned();
            meta
        };
        match event {
            Event::Initial { score, model } => {
                checkpoint::save(&self.best(), model, &meta_at(0, Some(*score), None), None)
            }
            Event::Step { record, .. } => log.step(record),
            Event::Rollback { epoch, step, lr, reason, .. } => {
                log.event(*epoch, *step, *lr, &format!("rollback: {reason}; learning rate halved"))?;
                log.flush()
            }
            Event::Epoch { stats, best, snapshot } => {
                if let Some(model) = best {
                    checkpoint::save(&self.best(), model, &meta_at(stats.epoch, Some(stats.valid_score), None), None)?;
                }
                let meta = meta_at(stats.epoch, Some(stats.valid_score), Some(snapshot.state));
                checkpoint::save(&self.last(), snapshot.model, &meta, Some(snapshot.optimizer))?;
                log.flush()
            }
            Event::Interrupted { snapshot, .. } => {
                let state = snapshot.state;
                let score = state.history.last().map(|h| h.valid_score);
                checkpoint::save(
                    &self.last(),
                    snapshot.model,
                    &meta_at(state.epoch, score, Some(state)),
                    Some(snapshot.optimizer),
                )?;
                // The log keeps only what the checkpoint holds: a resumed run repeats the rest.
                log.flush()
            }
            Event::EarlyStop { .. } => Ok(()),
        }
    }

    /// The start of a resumed run: `last.ckpt`'s weights, optimiser and state, checked against
    /// this run's settings, and the best weights so far.
    fn resume(&self, model_config: &ModelConfig, config: &train::TrainConfig, device: &Device) -> Result<Start> {
        let path = self.last();
        let train_device = device.clone().without_autodiff().autodiff();
        let ck = checkpoint::load(&path, &train_device)?;
        let (Some(state), Some(optimizer)) = (ck.meta.training.clone(), ck.optimizer) else {
            return Err(Error::Config(format!(
                "{}: holds no training state to resume from (use last.ckpt)",
                path.display()
            )));
        };
        if &ck.meta.model != model_config {
            return Err(Error::Config(format!("{}: the model configuration differs from this run's", path.display())));
        }
        // More epochs may be given on resuming (the schedule then stretches to the new end).
        if config.epochs < ck.meta.train.epochs {
            return Err(Error::option(
                "train.epochs (--epochs)",
                format!(
                    "a resumed run may only add epochs: it was set to {}, not {}",
                    ck.meta.train.epochs, config.epochs
                ),
            ));
        }
        if ck.meta.train != (train::TrainConfig { epochs: ck.meta.train.epochs, ..config.clone() }) {
            return Err(Error::Config(format!(
                "{}: the training settings differ from this run's; resume with the run's config.toml",
                path.display()
            )));
        }
        checkpoint::check_optimizer_state(&optimizer, &ck.model)
            .map_err(|m| Error::invalid(Location::file(&path).column("optimizer"), format!("optimiser state: {m}")))?;
        let best = match state.best_epoch {
            Some(_) => Some(checkpoint::load(&self.best(), &device.clone().without_autodiff())?.model),
            None => None,
        };
        Ok(Start::Resume { model: ck.model, optimizer, state, best })
    }
}

/// Refuses to replace a finished run unless asked to; for `--resume`, requires one.
/// Checks the run folder and takes it: a second run on the same folder is refused while this one
/// holds the returned lock.
fn check_run_dir(dir: &Path, options: TrainOptions, observer: Observer) -> Result<crate::io::FolderLock> {
    crate::io::check_writable_dir(dir)?;
    let lock = crate::io::FolderLock::acquire(dir)?;
    if lock.unguarded {
        warn(
            observer,
            format!("{} is on a file system without locks: a second run on it would not be refused", dir.display()),
        );
    }
    if let Some(holder) = &lock.taken_over {
        note(
            observer,
            format!("{} was held by a run that ended without releasing it ({holder}); taking it over", dir.display()),
        );
    }
    crate::io::remove_stale_temps_in(dir); // left by a run that was killed mid-write
    let present: Vec<&str> = RUN_FILES.iter().copied().filter(|f| dir.join(f).exists()).collect();
    if options.resume {
        if !dir.join("last.ckpt").exists() {
            return Err(Error::option("--resume", format!("{} holds no last.ckpt to resume from", dir.display())));
        }
    } else if !present.is_empty() && !options.overwrite {
        return Err(Error::option(
            "--run-dir",
            format!(
                "{} already holds a run ({}); choose another folder, continue it with --resume, or pass --overwrite",
                dir.display(),
                present.join(", ")
            ),
        ));
    }
    Ok(lock)
}

/// Writes a report as pretty JSON, atomically.
pub fn write_report(path: &Path, report: &EvalReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).expect("report serialises");
    crate::io::write_atomic(path, |f| f.write_all(&json))
}

/// What a playback's prediction is.
#[derive(Debug, Clone, Copy)]
pub enum Shown {
    /// Rollouts of `horizon` frames restarted from the recorded frames.
    Rollouts {
        /// Frames each rollout runs free.
        horizon: usize,
    },
    /// One rollout of `frames` frames driven by a command plan.
    Plan {
        /// Frames the rollout runs.
        frames: usize,
    },
}

/// A short Markdown summary of a model and its report, for the viewer.
pub fn summary_markdown(meta: &CheckpointMeta, report: Option<&EvalReport>, episode: &str, shown: Shown) -> String {
    let m = &meta.model;
    let what = match shown {
        Shown::Rollouts { horizon } => {
            format!("orange = free-running rollouts of {horizon} frames, each restarted from observed frames")
        }
        Shown::Plan { frames } => format!("orange = one rollout of {frames} frames driven by the planned commands"),
    };
    let commands = if meta.data.commands.is_empty() { "" } else { ", blue = commanded" };
    let mut s = format!(
        "**{}** on `{}` ({} Hz). Model: {} · hidden {} · {} layer(s), epoch {}.\n\n\
         Playback of `{episode}`: green = observed{commands}, {what}.\n\n",
        meta.data.robot, meta.data.dataset, meta.data.rate_hz, m.cell, m.hidden, m.layers, meta.epoch,
    );
    if let Some(r) = report {
        let names = r.predictor_names();
        s += &format!("Errors on the {} part (arm joints, degrees):\n\n", r.part);
        s += &format!("| horizon | {} |\n|---|{}\n", names.join(" ° | ") + " °", "---|".repeat(names.len()));
        for h in &r.horizons {
            let cells: Vec<String> =
                h.scores.iter().map(|sc| sc.arm.map_or("n/a".into(), |v| format!("{:.3}", v.to_degrees()))).collect();
            s += &format!("| {} | {} |\n", h.horizon, cells.join(" | "));
        }
    }
    s
}
