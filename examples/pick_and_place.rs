//! The whole path once: load the bundled pick-and-place demonstrations, train a recurrent
//! next-state predictor, compare it with the hold and constant-velocity baselines, roll it out
//! autoregressively on a validation episode and record everything for the Rerun viewer.
//!
//!     cargo run --example pick_and_place                       # writes pick_and_place.rrd
//!     cargo run --example pick_and_place -- --spawn            # opens a viewer
//!     cargo run --example pick_and_place -- --connect          # sends to a running viewer
//!     cargo run --example pick_and_place -- --help

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use trajrnn::data::{self, Dataset, SplitConfig, WindowSpec};
use trajrnn::eval::{self, EvalReport, RolloutSpec};
use trajrnn::kinematics::RobotModel;
use trajrnn::model::{CellKind, ModelConfig};
use trajrnn::rollout::prediction_track;
use trajrnn::train::{self, CheckpointMeta, CheckpointTarget, DataInfo, Progress, TrainConfig, TrainingSet};
use trajrnn::viz::{self, Playback, Sink};
use trajrnn::{Backend, io};

#[derive(Parser, Debug)]
#[command(about = "Train an RNN on pick-and-place trajectories, evaluate it and record a Rerun playback")]
struct Args {
    /// Dataset folder (trajrnn format, see docs/dataset-format.md).
    #[arg(long, default_value = "datasets/robosuite_pick_place/sawyer")]
    dataset: PathBuf,
    /// Compute backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: Backend,
    /// Recurrent cell: rnn (Elman), lstm or gru.
    #[arg(long, default_value = "lstm")]
    cell: CellKind,
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    #[arg(long, default_value_t = 1)]
    layers: usize,
    /// Steps per training window (BPTT length); also the warm-up of evaluation rollouts.
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Frames between the starts of training windows.
    #[arg(long, default_value_t = 4)]
    stride: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Global gradient-norm bound (0 disables clipping).
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Frames each free-running rollout predicts before it restarts from observed frames.
    #[arg(long, default_value_t = 100)]
    horizon: usize,
    /// Folder for the checkpoint and the evaluation report.
    #[arg(long, default_value = "runs/pick_and_place")]
    run_dir: PathBuf,
    /// Where to write the recording.
    #[arg(long, default_value = "pick_and_place.rrd")]
    out: PathBuf,
    /// Open a Rerun viewer instead of writing a file.
    #[arg(long, conflicts_with = "connect")]
    spawn: bool,
    /// Send to a running viewer (default address rerun+http://127.0.0.1:9876/proxy).
    #[arg(long, num_args = 0..=1, default_missing_value = "rerun+http://127.0.0.1:9876/proxy")]
    connect: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let device = args.backend.device()?;
    let sink = match (&args.connect, args.spawn) {
        (Some(url), _) => Sink::Connect(url.clone()),
        (None, true) => Sink::Spawn,
        (None, false) => Sink::File(args.out.clone()),
    };
    sink.check()?;

    let dataset = Dataset::load(&args.dataset)?;
    let meta = &dataset.meta;
    println!(
        "dataset {} ({}): {} episodes, {} frames, {} Hz, channels: {}",
        meta.name,
        meta.robot,
        dataset.episodes.len(),
        dataset.total_frames(),
        meta.rate_hz,
        meta.channels().join(", ")
    );
    let spec = WindowSpec { context: args.context, stride: args.stride };
    let prepared = data::prepare(&dataset, &SplitConfig { gap: args.context, ..SplitConfig::default() }, spec)?;
    println!("{}", prepared.split.describe(&dataset));
    println!(
        "{} training windows, {} validation windows of {} steps",
        prepared.train.len(),
        prepared.valid.len(),
        args.context
    );

    let norm = &prepared.normalizer;
    let model_config = ModelConfig {
        cell: args.cell,
        input_dim: norm.input_dim(),
        hidden: args.hidden,
        layers: args.layers,
        output_dim: norm.dim(),
    };
    let train_config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        clip_norm: (args.clip > 0.0).then_some(args.clip),
        seed: args.seed,
    };
    let checkpoint_path = args.run_dir.join("best.ckpt");
    let checkpoint_meta = CheckpointMeta {
        trajrnn_version: env!("CARGO_PKG_VERSION").into(),
        model: model_config.clone(),
        normalizer: norm.clone(),
        data: DataInfo {
            dataset: meta.name.clone(),
            robot: meta.robot.clone(),
            channels: meta.channels(),
            joints: meta.joints.len(),
            rate_hz: meta.rate_hz,
        },
        window: spec,
        train: train_config.clone(),
        epoch: 0,
        valid_loss: None,
    };
    let set = TrainingSet { dataset: &dataset, normalizer: norm, train: &prepared.train, valid: &prepared.valid };
    println!(
        "training {} (hidden {}, {} layer(s)) on {} for {} epochs",
        args.cell, args.hidden, args.layers, args.backend, args.epochs
    );
    let outcome = train::train(
        &model_config,
        set,
        &train_config,
        &device,
        Some(CheckpointTarget { path: &checkpoint_path, meta: checkpoint_meta }),
        print_progress,
    )?;
    println!("best epoch {} → {}", outcome.best_epoch, checkpoint_path.display());

    // Evaluate the checkpoint as a user would load it.
    let (model, ckpt) = train::checkpoint::load(&checkpoint_path, &device)?;
    let norm = &ckpt.normalizer;
    let tiles = data::window::windows(
        &dataset,
        &prepared.split.valid,
        WindowSpec { context: args.context, stride: args.context },
    )?;
    let rollout_spec = RolloutSpec {
        warmup: args.context,
        horizons: [1, 10, 50, 100].into_iter().filter(|&h| h <= args.horizon).collect(),
        stride: 10,
    };
    let report = EvalReport {
        channels: meta.channels(),
        joints: meta.joints.len(),
        rate_hz: meta.rate_hz,
        one_step: eval::one_step_errors(&model, &dataset, norm, &tiles, &device),
        warmup: args.context,
        horizons: eval::rollout_errors(&model, &dataset, norm, &prepared.split.valid, &rollout_spec, &device),
    };
    println!("\n{report}");
    let report_path = args.run_dir.join("eval.json");
    let json = serde_json::to_vec_pretty(&report)?;
    io::write_atomic(&report_path, |f| f.write_all(&json))?;

    // Playback of the first validation segment.
    let segment = &prepared.split.valid[0];
    let episode = &dataset.episodes[segment.episode];
    let truth = episode.frames(segment.frames.clone());
    let track = prediction_track(&model, norm, truth, args.context, args.horizon, &device);
    let robot_path = dataset.robot_description_path().context("dataset.json names no robot_description")?;
    let robot = RobotModel::from_mjcf_file(&robot_path)?;
    let ee_site = meta.robot_description.as_ref().and_then(|r| robot.site(&r.end_effector_site));
    let summary = summary_markdown(&args, &dataset, &report, outcome.best_epoch, &episode.name());
    let playback = Playback {
        app_id: "trajrnn_pick_and_place",
        robot: &robot,
        end_effector_site: ee_site,
        channels: &report.channels,
        rate_hz: meta.rate_hz,
        time: &episode.time[segment.frames.clone()],
        truth,
        prediction: &track,
        summary: &summary,
    };
    match viz::record(&sink, &playback)? {
        Some(path) => println!("\nwrote {}; open it with: rerun {}", path.display(), path.display()),
        None => println!("\nsent the recording to the viewer"),
    }
    println!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_progress(p: Progress) {
    match p {
        // Batch-by-batch updates on one terminal line; logs get the epoch lines only.
        Progress::Batch { epoch, batch, batches, loss } if std::io::stdout().is_terminal() => {
            print!("\r  epoch {epoch:>3}  batch {batch:>4}/{batches}  loss {loss:.4}   ");
            let _ = std::io::stdout().flush();
        }
        Progress::Batch { .. } => {}
        Progress::Epoch(s) => println!(
            "\r  epoch {:>3}  train {:.4}  valid {:.4}  |grad| {:.3}  clipped {:>3.0}%  {:.1} s",
            s.epoch,
            s.train_loss,
            s.valid_loss,
            s.grad_norm,
            s.clipped * 100.0,
            s.seconds
        ),
    }
}

fn summary_markdown(args: &Args, dataset: &Dataset, report: &EvalReport, best_epoch: usize, episode: &str) -> String {
    let deg = 180.0 / std::f64::consts::PI;
    let mut s = format!(
        "**{}** on `{}` ({} Hz). Model: {} · hidden {} · {} layer(s), best epoch {best_epoch}.\n\n\
         Playback of validation episode `{episode}`: green = observed, orange = free-running rollouts of \
         {} frames, each restarted from the {} frames before it.\n\n\
         | horizon | model ° | hold ° | const. vel. ° |\n|---|---|---|---|\n",
        dataset.meta.robot,
        dataset.meta.name,
        dataset.meta.rate_hz,
        args.cell,
        args.hidden,
        args.layers,
        args.horizon,
        args.context
    );
    let e = &report.one_step;
    s += &format!(
        "| 1 (teacher-forced) | {:.3} | {:.3} | {:.3} |\n",
        report.joint_rmse(&e.model) * deg,
        report.joint_rmse(&e.hold) * deg,
        report.joint_rmse(&e.const_vel) * deg
    );
    for h in &report.horizons {
        let e = &h.errors;
        s += &format!(
            "| {} | {:.3} | {:.3} | {:.3} |\n",
            h.horizon,
            report.joint_rmse(&e.model) * deg,
            report.joint_rmse(&e.hold) * deg,
            report.joint_rmse(&e.const_vel) * deg
        );
    }
    s
}
