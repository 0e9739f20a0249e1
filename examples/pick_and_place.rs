//! The whole path once, as a script over the library: train a recurrent next-state predictor on
//! real pick-and-place demonstrations, compare it with the baselines, roll it out on a
//! validation episode and record everything for the Rerun viewer.
//!
//!     cargo run --example pick_and_place                       # writes pick_and_place.rrd
//!     cargo run --example pick_and_place -- --spawn            # opens a viewer
//!     cargo run --example pick_and_place -- --help
//!
//! The same steps, with every option, are `trajrnn train`, `trajrnn eval` and `trajrnn rollout`.

use std::path::PathBuf;

use clap::Parser;
use trajrnn::RunConfig;
use trajrnn::model::CellKind;
use trajrnn::run::{self, TrainOptions, console::Console};
use trajrnn::viz::{Playback, Sink, record};

#[derive(Parser)]
#[command(about = "Train an RNN on pick-and-place trajectories, evaluate it and record a Rerun playback")]
struct Args {
    /// Dataset folder (trajrnn format, see docs/dataset-format.md).
    #[arg(long, default_value = "datasets/robosuite_pick_place/sawyer")]
    dataset: PathBuf,
    /// rnn (Elman), lstm or gru.
    #[arg(long, default_value = "lstm")]
    cell: CellKind,
    #[arg(long)]
    epochs: Option<usize>,
    /// flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Folder for the run (replaced on every run of the example).
    #[arg(long, default_value = "runs/pick_and_place")]
    run_dir: PathBuf,
    /// Where to write the recording.
    #[arg(long, default_value = "pick_and_place.rrd")]
    out: PathBuf,
    /// Open a Rerun viewer instead of writing a file.
    #[arg(long)]
    spawn: bool,
}

fn main() {
    if let Err(e) = run_example(Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run_example(args: Args) -> trajrnn::Result<()> {
    let sink = if args.spawn { Sink::Spawn } else { Sink::File(args.out.clone()) };
    sink.check()?; // before training, not after

    // 1. The default recipe, on the bundled Sawyer demonstrations.
    let mut config =
        RunConfig { dataset: args.dataset, run_dir: args.run_dir, backend: args.backend, ..RunConfig::default() };
    config.model.cell = args.cell;
    if let Some(epochs) = args.epochs {
        config.train.epochs = epochs;
    }

    // 2. Train: split into train, validation and test parts without leaks, fit the baselines and
    //    the encoding on the training part, BPTT with clipping, the best epoch chosen on
    //    validation, best and last checkpoints; then score the best one on the test part against
    //    the baselines. Ctrl-C stops at the next step with last.ckpt written.
    let options = TrainOptions { overwrite: true, ..TrainOptions::default() };
    let stop = run::stop_on_signals()?;
    let mut console = Console::new(config.train.epochs);
    let trained = run::train(&config, options, &mut |event| console.on_event(event), Some(&stop))?;
    println!("\n{}", trained.report);

    // 3. Free-running rollouts over the first test segment, restarted every 100 frames.
    let segment = &trained.prepared.split.test[0];
    let episode = &trained.dataset.episodes[segment.episode];
    let truth = episode.frames(segment.frames.clone());
    let horizon = 100;
    let track = trajrnn::rollout::prediction_track(
        &trained.model,
        &trained.meta.encoding,
        truth,
        episode.commands_of(segment.frames.clone()),
        config.data.context,
        horizon,
        &trained.device.clone().without_autodiff(),
    )?;

    // 4. Record the arm, the joint curves and the hidden state for the viewer.
    let summary =
        run::summary_markdown(&trained.meta, Some(&trained.report), &episode.name, run::Shown::Rollouts { horizon });
    let playback = Playback {
        prediction: Some(&track),
        ..Playback::of_segment(
            "trajrnn_pick_and_place",
            &trained.dataset,
            segment,
            trained.kinematics.as_ref(),
            &summary,
        )
    };
    match record(&sink, &playback)? {
        Some(path) => println!("wrote {}; open it with: rerun {}", path.display(), path.display()),
        None => println!("sent the recording to the viewer"),
    }
    Ok(())
}
