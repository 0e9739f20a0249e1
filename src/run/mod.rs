//! Whole runs, as the `trajrnn` command and the example use them: check every input and output
//! first, then train (writing `config.toml`, `best.ckpt`, `last.ckpt`, `log.csv`), evaluate
//! against the baselines (`eval.json`), and play rollouts back in Rerun.

pub mod progress;
pub mod quality;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::prelude::Device;

use crate::checkpoint::{self, CHECKPOINT_VERSION, CheckpointMeta, DataInfo};
use crate::config::RunConfig;
use crate::data::{self, Dataset, Prepared, Segment};
use crate::error::{Error, Result};
use crate::eval::{self, Baseline, ConstantVelocity, EvalConfig, EvalReport, Hold, LinearAr};
use crate::kinematics::Kinematics;
use crate::model::{ModelConfig, TrajectoryModel};
use crate::rollout::{PredictionTrack, prediction_track};
use crate::train::{self, RunFiles, Start, TrainOutcome, TrainingSet};

/// Files of a run directory that a new run would replace.
const RUN_FILES: [&str; 5] = ["config.toml", "best.ckpt", "last.ckpt", "log.csv", "eval.json"];

#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Continue the run in `run_dir` from its `last.ckpt`.
    pub resume: bool,
    /// Replace a finished run in `run_dir` (otherwise that is an error).
    pub overwrite: bool,
    /// Print nothing (for runs inside other commands).
    pub quiet: bool,
}

/// Everything a finished training run produced.
pub struct TrainedRun {
    pub dataset: Dataset,
    pub prepared: Prepared,
    pub kinematics: Option<Kinematics>,
    pub outcome: TrainOutcome,
    /// The best checkpoint, reloaded from disk as a user would.
    pub model: TrajectoryModel,
    pub meta: CheckpointMeta,
    pub report: EvalReport,
    pub best_checkpoint: PathBuf,
    pub device: Device,
}

/// Loads a dataset and prints what its checks found suspicious.
pub fn load_dataset(path: &Path) -> Result<Dataset> {
    let dataset = Dataset::load(path)?;
    for w in &dataset.warnings {
        eprintln!("warning: {w}");
    }
    Ok(dataset)
}

/// The model configuration a run builds for its data.
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
    }
}

/// Trains as configured, then evaluates the best checkpoint. Every input and output is checked
/// before the first epoch; `stop` (e.g. set by Ctrl-C) ends the run after the current epoch.
pub fn train(config: &RunConfig, options: TrainOptions, stop: Arc<AtomicBool>) -> Result<TrainedRun> {
    config.validate()?;
    let dataset = load_dataset(&config.dataset)?;
    train_dataset(config, dataset, options, stop)
}

/// As [`train()`], on a dataset already in memory (`config.dataset` is only recorded).
pub fn train_dataset(
    config: &RunConfig,
    dataset: Dataset,
    options: TrainOptions,
    stop: Arc<AtomicBool>,
) -> Result<TrainedRun> {
    config.validate()?;
    let device = config.backend()?.device()?;
    let kinematics = Kinematics::for_dataset(&dataset)?;
    let say = |text: String| {
        if !options.quiet {
            println!("{text}");
        }
    };
    let dataset = if config.data.resample && data::resample::is_irregular(&dataset, checkpoint::RESAMPLE_TOLERANCE) {
        say(format!("timestamps are irregular: resampling onto {} Hz", dataset.meta.rate_hz));
        data::resample::resample(&dataset, dataset.meta.rate_hz)?
    } else {
        dataset
    };
    check_run_dir(&config.run_dir, options)?;
    // Windows carry the frames of the free-running steps scored after them, if any.
    let spec = data::WindowSpec {
        context: config.data.context + config.train.rollout_steps.saturating_sub(1),
        ..config.data.window()
    };
    let prepared = data::prepare(&dataset, &config.data.split, spec, config.data.encoding.clone())?;
    if config.data.split.gap < config.data.context
        && prepared.split.kind == data::split::SplitKind::TimeBlocks
        && !options.quiet
    {
        eprintln!(
            "warning: the split's gap ({}) is shorter than the context ({}): windows near the boundary see both sides",
            config.data.split.gap, config.data.context
        );
    }
    let linear = [true, false]
        .into_iter()
        .map(|joint| LinearAr::fit(&dataset, &prepared.split.train, config.eval.ar_order, config.eval.ar_ridge, joint))
        .collect::<Result<Vec<_>>>()?;
    let model_config = model_config(config, &prepared);
    say(format!(
        "dataset {} ({}): {} episodes, {} frames at {} Hz; {}",
        dataset.meta.name,
        dataset.meta.robot,
        dataset.episodes.len(),
        dataset.total_frames(),
        dataset.meta.rate_hz,
        prepared.split.describe(&dataset)
    ));
    say(format!(
        "{} training and {} validation windows of {} steps; {} (hidden {}, {} layer(s), {} parameters) on {}",
        prepared.train.len(),
        prepared.valid.len(),
        config.data.context,
        model_config.cell,
        model_config.hidden,
        model_config.layers,
        model_config.parameter_count(),
        config.backend
    ));

    if !options.resume {
        let text = config.to_toml();
        crate::io::write_atomic(&config.run_dir.join("config.toml"), |f| f.write_all(text.as_bytes()))?;
    }
    let files = RunFiles {
        dir: config.run_dir.clone(),
        meta: CheckpointMeta {
            checkpoint_version: CHECKPOINT_VERSION,
            trajrnn_version: env!("CARGO_PKG_VERSION").into(),
            model: model_config.clone(),
            encoding: prepared.encoding.clone(),
            data: DataInfo { resample: config.data.resample, ..DataInfo::of(&dataset) },
            window: config.data.window(),
            split: config.data.split.clone(),
            train: config.train.clone(),
            baselines: linear,
            eval: config.eval.clone(),
            epoch: 0,
            valid_loss: None,
            training: None,
            sections: vec![],
        },
    };
    let set = TrainingSet {
        dataset: &dataset,
        encoding: &prepared.encoding,
        train_segments: &prepared.split.train,
        train: &prepared.train,
        valid: &prepared.valid,
    };
    let start = if options.resume { Start::Resume(files.last()) } else { Start::Fresh };
    let mut console = progress::ConsoleProgress::new(config.train.epochs, stop, options.quiet);
    let outcome =
        train::train(&model_config, set, &config.train, &device, Some(&files), start, |e| console.on_event(e))?;
    say(format!(
        "best epoch {} (validation loss {:.5}) → {}",
        outcome.best_epoch,
        outcome.best_valid_loss,
        files.best().display()
    ));

    let best = checkpoint::load(&files.best(), &device)?;
    let report = evaluate_checkpoint(
        &best.model,
        &best.meta,
        &dataset,
        &prepared.split.valid,
        kinematics.as_ref(),
        &config.eval,
        &device,
    )?;
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

/// Refuses to replace a finished run unless asked to; for `--resume`, requires one.
fn check_run_dir(dir: &Path, options: TrainOptions) -> Result<()> {
    crate::io::check_writable_dir(dir)?;
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
    Ok(())
}

/// The baselines a checkpoint is compared with: hold, constant velocity and the linear models
/// fitted on its training data.
pub fn baselines(meta: &CheckpointMeta) -> Vec<Box<dyn Baseline>> {
    let mut out: Vec<Box<dyn Baseline>> = vec![Box::new(Hold), Box::new(ConstantVelocity)];
    out.extend(meta.baselines.iter().map(|ar| Box::new(ar.clone()) as Box<dyn Baseline>));
    out
}

/// Evaluates a checkpoint on `segments` of `dataset` (channels already in the model's order).
pub fn evaluate_checkpoint(
    model: &TrajectoryModel,
    meta: &CheckpointMeta,
    dataset: &Dataset,
    segments: &[Segment],
    kinematics: Option<&Kinematics>,
    config: &EvalConfig,
    device: &Device,
) -> Result<EvalReport> {
    let baselines = baselines(meta);
    let refs: Vec<&dyn Baseline> = baselines.iter().map(|b| b.as_ref()).collect();
    let plain = device.clone().without_autodiff();
    eval::evaluate(model, &meta.encoding, dataset, segments, &refs, kinematics, config, &plain)
}

pub fn write_report(path: &Path, report: &EvalReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(report).expect("report serialises");
    crate::io::write_atomic(path, |f| f.write_all(&json))
}

/// Which part of a dataset to evaluate a checkpoint on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every frame of every episode.
    All,
    /// The validation part of the checkpoint's split (for the dataset it was trained on).
    Valid,
}

/// The segments of `part` of `dataset`.
pub fn segments(dataset: &Dataset, meta: &CheckpointMeta, part: Part) -> Result<Vec<Segment>> {
    Ok(match part {
        Part::All => {
            dataset.episodes.iter().enumerate().map(|(e, ep)| Segment { episode: e, frames: 0..ep.len() }).collect()
        }
        Part::Valid => data::split::split(dataset, &meta.split)?.valid,
    })
}

/// A checkpoint applied to a dataset: the model, its metadata and the dataset with its
/// channels in the model's order (refused with both lists when they differ).
pub struct Applied {
    pub model: TrajectoryModel,
    pub meta: CheckpointMeta,
    pub dataset: Dataset,
    pub kinematics: Option<Kinematics>,
}

pub fn apply_checkpoint(checkpoint: &Path, dataset: &Path, device: &Device) -> Result<Applied> {
    let meta = checkpoint::load_meta(checkpoint)?;
    let raw = load_dataset(dataset)?;
    let dataset = meta.data.matching(&raw)?;
    let kinematics = Kinematics::for_dataset(&dataset)?;
    let ck = checkpoint::load(checkpoint, &device.clone().without_autodiff())?;
    Ok(Applied { model: ck.model, meta: ck.meta, dataset, kinematics })
}

/// Free-running predictions over `frames` of an episode, restarting every `horizon` frames.
pub fn track(applied: &Applied, frames: &[f32], warmup: usize, horizon: usize, device: &Device) -> PredictionTrack {
    prediction_track(
        &applied.model,
        &applied.meta.encoding,
        frames,
        warmup,
        horizon,
        &device.clone().without_autodiff(),
    )
}

/// A short Markdown summary of a model and its report, for the viewer.
pub fn summary_markdown(meta: &CheckpointMeta, report: Option<&EvalReport>, episode: &str, horizon: usize) -> String {
    let m = &meta.model;
    let mut s = format!(
        "**{}** on `{}` ({} Hz). Model: {} · hidden {} · {} layer(s), epoch {}.\n\n\
         Playback of `{episode}`: green = observed, orange = free-running rollouts of {horizon} frames, \
         each restarted from observed frames.\n\n",
        meta.data.robot, meta.data.dataset, meta.data.rate_hz, m.cell, m.hidden, m.layers, meta.epoch,
    );
    if let Some(r) = report {
        let names = r.predictor_names();
        s += &format!("| horizon | {} |\n|---|{}\n", names.join(" ° | ") + " °", "---|".repeat(names.len()));
        for h in &r.horizons {
            let cells: Vec<String> =
                h.scores.iter().map(|sc| sc.arm.map_or("n/a".into(), |v| format!("{:.3}", v.to_degrees()))).collect();
            s += &format!("| {} | {} |\n", h.horizon, cells.join(" | "));
        }
    }
    s
}
