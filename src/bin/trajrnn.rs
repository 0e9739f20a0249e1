//! The `trajrnn` command: a thin layer over the library (`trajrnn::run` and friends).
//!
//!     trajrnn inspect DATASET [--json]
//!     trajrnn train --dataset DIR --run-dir DIR [--config FILE] [--epochs N …] [--resume RUN_DIR]
//!     trajrnn eval --checkpoint FILE --dataset DIR [--report FILE]
//!     trajrnn bench-quality DATASET… [--config FILE] [--tasks each|all|both]
//!     trajrnn rollout --checkpoint FILE --dataset DIR [--episode NAME] [--out FILE.rrd | --spawn | --connect [URL]]
//!     trajrnn generate --out DIR [--episodes N] [--seed S] [--rate HZ]
//!     trajrnn experiment NAME [--out DIR] [--quick]
//!     trajrnn import FORMAT SOURCE OUT_DIR [--mapping FILE] [--joints a,b] [--gripper c,d] [--drop-duplicates] …

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args, Parser, Subcommand};
use trajrnn::config::RunConfig;
use trajrnn::data::csv_episode::ReadOptions;
use trajrnn::data::dataset::{AngleUnit, TimeUnit};
use trajrnn::data::import::{Format, Mapping};
use trajrnn::data::inspect::{InspectConfig, inspect};
use trajrnn::data::{Dataset, SplitMode, TargetBase};
use trajrnn::eval::EvalConfig;
use trajrnn::model::CellKind;
use trajrnn::run::{self, Part, TrainOptions};
use trajrnn::train::Schedule;
use trajrnn::{Error, Result};

#[derive(Parser)]
#[command(name = "trajrnn", version, about = "Recurrent networks for robot joint-angle trajectories")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Episodes, timing, per-channel statistics and anomalies of a dataset.
    Inspect {
        /// Dataset folder (trajrnn format, see docs/dataset-format.md).
        dataset: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// A frame-to-frame change above this many stds of the channel's changes is a jump.
        #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
        jump_sigma: f64,
    },
    /// Train a model; writes config.toml, best.ckpt, last.ckpt, log.csv and eval.json to the run folder.
    Train(Box<TrainArgs>),
    /// Evaluate a checkpoint on a dataset against hold, constant velocity and the linear models.
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        dataset: PathBuf,
        /// Also write the report as JSON.
        #[arg(long)]
        report: Option<PathBuf>,
        /// `valid`: the checkpoint's validation split (the default on the data it was trained on);
        /// `all`: every frame (the default on other data).
        #[arg(long)]
        part: Option<PartArg>,
        #[command(flatten)]
        eval: EvalArgs,
        #[arg(long, default_value = "flex")]
        backend: String,
    },
    /// Train the recipe on every dataset under one protocol and score it against the baselines.
    BenchQuality {
        /// Dataset folders.
        #[arg(required = true)]
        datasets: Vec<PathBuf>,
        /// The recipe to test (default: the default recipe of `trajrnn train`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the runs go (one folder per task).
        #[arg(long, default_value = "runs/bench-quality")]
        out: PathBuf,
        /// Also write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Which tasks each dataset gives: each episode alone, all together, or both.
        #[arg(long, value_enum, default_value = "both")]
        tasks: trajrnn::run::quality::Tasks,
    },
    /// Free-running rollouts of an episode, played back in Rerun.
    Rollout {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        dataset: PathBuf,
        /// Episode to play back (default: the first validation episode on the training data,
        /// else the first episode).
        #[arg(long)]
        episode: Option<String>,
        /// Frames each rollout predicts before it restarts from observed frames.
        #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
        horizon: usize,
        /// Observed frames before each rollout (default: the checkpoint's context).
        #[arg(long, allow_negative_numbers = true)]
        warmup: Option<usize>,
        #[command(flatten)]
        viewer: ViewerArgs,
        #[arg(long, default_value = "flex")]
        backend: String,
    },
    /// Generate a synthetic Panda pick-and-place dataset with phase labels (deterministic for a seed).
    Generate(GenerateArgs),
    /// Run an RNN-fundamentals experiment: memory, hidden-size, weight-sharing, gradients,
    /// long-range or probes (or `all`); prints its table, writes PNG plots (and an .rrd).
    Experiment(ExperimentArgs),
    /// Import LeRobot, robomimic, robosuite or CSV data into a new dataset folder.
    Import(Box<ImportArgs>),
}

#[derive(Args)]
struct ExperimentArgs {
    /// memory, hidden-size, weight-sharing, gradients, long-range, probes, or all.
    name: String,
    /// Folder for the plots, recordings and reports.
    #[arg(long, default_value = "experiments")]
    out: PathBuf,
    /// The synthetic pick-and-place dataset.
    #[arg(long, default_value = "datasets/synthetic_pick_place")]
    synthetic: PathBuf,
    /// The real Panda demonstrations (for `probes`).
    #[arg(long, default_value = "datasets/robosuite_pick_place/panda")]
    real: PathBuf,
    /// Tiny sizes, seconds instead of minutes (checks that it runs; not for conclusions).
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The defaults regenerate `datasets/synthetic_pick_place` byte for byte.
#[derive(Args)]
struct GenerateArgs {
    /// Folder to create (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = trajrnn::synthetic::GeneratorConfig::default().episodes)]
    episodes: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Frames per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
}

/// `trajrnn import`: every field of the mapping file as a flag; a flag overrides the file.
#[derive(Args)]
struct ImportArgs {
    /// lerobot, robomimic and robosuite need a build with `--features import`.
    format: Format,
    /// A LeRobot folder, a robomimic .hdf5 file, a robosuite demo folder, a CSV file or folder.
    source: PathBuf,
    /// The dataset folder to write (must not exist, or be empty).
    out: PathBuf,
    /// A TOML mapping file (see docs/dataset-format.md, "Importing").
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Source entries that are arm joints (comma-separated, in this order).
    #[arg(long, value_delimiter = ',')]
    joints: Option<Vec<String>>,
    /// Source entries that are gripper channels.
    #[arg(long, value_delimiter = ',')]
    gripper: Option<Vec<String>>,
    /// Source entries read and predicted but not scored as robot channels.
    #[arg(long, value_delimiter = ',')]
    auxiliary: Option<Vec<String>>,
    /// Drop frames that repeat the previous frame exactly.
    #[arg(long)]
    drop_duplicates: bool,
    /// Dataset name (default: OUT's folder name).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    robot: Option<String>,
    /// Unit of the arm joints in the source: rad or deg.
    #[arg(long, value_parser = parse_angle_unit)]
    angle_unit: Option<AngleUnit>,
    /// CSV: the time column.
    #[arg(long)]
    time_column: Option<String>,
    /// CSV: the time column's unit: s, ms, us or ns.
    #[arg(long, value_parser = parse_time_unit)]
    time_unit: Option<TimeUnit>,
    /// CSV: a column naming each row's episode.
    #[arg(long)]
    episode_column: Option<String>,
    /// Sampling rate in Hz (robomimic has no timestamps; elsewhere it overrides the measured rate).
    #[arg(long)]
    rate: Option<f64>,
    /// LeRobot: the state feature.
    #[arg(long)]
    state_key: Option<String>,
    /// robomimic: the robot's observation prefix.
    #[arg(long)]
    robot_prefix: Option<String>,
    /// robosuite / robomimic: the MJCF site that is the end effector.
    #[arg(long)]
    end_effector: Option<String>,
    /// Round state values to this many significant digits.
    #[arg(long)]
    significant_digits: Option<u32>,
    /// Round timestamps to this many decimals.
    #[arg(long)]
    time_decimals: Option<u32>,
    /// Licence text to record in dataset.json.
    #[arg(long)]
    license: Option<String>,
}

fn parse_angle_unit(s: &str) -> std::result::Result<AngleUnit, String> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| format!("\"{s}\": expected rad or deg"))
}

fn parse_time_unit(s: &str) -> std::result::Result<TimeUnit, String> {
    serde_json::from_value(serde_json::Value::String(s.into()))
        .map_err(|_| format!("\"{s}\": expected s, ms, us or ns"))
}

impl ImportArgs {
    fn mapping(&self) -> Result<Mapping> {
        let file = match &self.mapping {
            Some(path) => Mapping::load(path)?,
            None => Mapping::default(),
        };
        let flags = Mapping {
            name: self.name.clone().or_else(|| self.out.file_name().map(|n| n.to_string_lossy().into_owned())),
            robot: self.robot.clone(),
            joints: self.joints.clone(),
            gripper: self.gripper.clone(),
            auxiliary: self.auxiliary.clone().unwrap_or_default(),
            angle_unit: self.angle_unit,
            gripper_unit: None,
            time_column: self.time_column.clone(),
            time_unit: self.time_unit,
            episode_column: self.episode_column.clone(),
            rate_hz: self.rate,
            state_key: self.state_key.clone(),
            robot_prefix: self.robot_prefix.clone(),
            end_effector: self.end_effector.clone(),
            drop_duplicates: self.drop_duplicates,
            significant_digits: self.significant_digits,
            time_decimals: self.time_decimals,
            license: self.license.clone(),
            robot_description: None,
        };
        // The output folder names the dataset unless the file or --name does.
        let name_from_flags = self.name.is_some() || file.name.is_none();
        let mut mapping = file.overridden_by(Mapping { name: None, ..flags.clone() });
        if name_from_flags {
            mapping.name = flags.name;
        }
        Ok(mapping)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PartArg {
    All,
    Valid,
}

#[derive(Args)]
struct ViewerArgs {
    /// Where to write the recording.
    #[arg(long, default_value = "rollout.rrd")]
    out: PathBuf,
    /// Open a Rerun viewer instead of writing a file.
    #[arg(long, conflicts_with = "connect")]
    spawn: bool,
    /// Send to a running viewer (default address rerun+http://127.0.0.1:9876/proxy).
    #[arg(long, num_args = 0..=1, default_missing_value = DEFAULT_VIEWER_URL)]
    connect: Option<String>,
}

/// The default address of a running viewer.
const DEFAULT_VIEWER_URL: &str = "rerun+http://127.0.0.1:9876/proxy";

#[cfg(feature = "rerun")]
impl ViewerArgs {
    fn sink(&self) -> trajrnn::viz::Sink {
        use trajrnn::viz::Sink;
        match (&self.connect, self.spawn) {
            (Some(url), _) => Sink::Connect(url.clone()),
            (None, true) => Sink::Spawn,
            (None, false) => Sink::File(self.out.clone()),
        }
    }
}

#[derive(Args, Default)]
struct EvalArgs {
    /// Observed frames before each scored rollout.
    #[arg(long, allow_negative_numbers = true)]
    warmup: Option<usize>,
    /// Horizons to score, in frames (comma-separated).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    horizons: Option<Vec<usize>>,
    /// Frames between scored rollout starts.
    #[arg(long, allow_negative_numbers = true)]
    eval_stride: Option<usize>,
}

impl EvalArgs {
    fn apply(&self, c: &mut EvalConfig) {
        if let Some(v) = self.warmup {
            c.warmup = v;
        }
        if let Some(v) = &self.horizons {
            c.horizons = v.clone();
        }
        if let Some(v) = self.eval_stride {
            c.stride = v;
        }
    }
}

/// The main fields of the run configuration as flags (the others through --config); a flag
/// overrides the config file. Numeric flags take negative numbers as values, so `--lr -1` is
/// refused by the option's own check (naming it) rather than read as an unknown flag `-1`.
#[derive(Args)]
struct TrainArgs {
    /// A TOML run configuration (e.g. a previous run's config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this folder from its last.ckpt, with its config.toml.
    #[arg(long, conflicts_with = "config")]
    resume: Option<PathBuf>,
    /// Replace a finished run in --run-dir.
    #[arg(long)]
    overwrite: bool,
    #[arg(long)]
    dataset: Option<PathBuf>,
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// flex, ndarray or wgpu.
    #[arg(long)]
    backend: Option<String>,
    /// rnn (Elman), lstm or gru.
    #[arg(long)]
    cell: Option<CellKind>,
    #[arg(long, allow_negative_numbers = true)]
    hidden: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    layers: Option<usize>,
    /// Dropout between stacked layers.
    #[arg(long, allow_negative_numbers = true)]
    dropout: Option<f64>,
    /// Teacher-forced steps per training window (the BPTT length).
    #[arg(long, allow_negative_numbers = true)]
    context: Option<usize>,
    /// Frames between the starts of training windows.
    #[arg(long, allow_negative_numbers = true)]
    stride: Option<usize>,
    /// Share held out for validation.
    #[arg(long, allow_negative_numbers = true)]
    val_fraction: Option<f64>,
    /// auto (the dataset's declared split if it has one, else episodes when there are two or
    /// more, else time-blocks), episodes, time-blocks or declared.
    #[arg(long)]
    split: Option<String>,
    /// Frames left out between training and validation blocks.
    #[arg(long, allow_negative_numbers = true)]
    gap: Option<usize>,
    /// The model's output corrects this rule: linear-ar (default), constant-velocity or hold.
    #[arg(long)]
    target: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Base learning rate of Adam.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// cosine or constant.
    #[arg(long)]
    schedule: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    warmup_steps: Option<usize>,
    /// Global gradient-norm bound, or `none`.
    #[arg(long, allow_negative_numbers = true)]
    clip: Option<String>,
    /// Truncated BPTT every K steps (state carried across windows), or `none` for full BPTT.
    #[arg(long, allow_negative_numbers = true)]
    tbptt: Option<String>,
    /// Epochs without improvement before stopping, or `none`.
    #[arg(long, allow_negative_numbers = true)]
    patience: Option<String>,
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    #[command(flatten)]
    eval: EvalArgs,
}

/// `none`/`off` → None, else a value parsed for `option`.
fn optional<T: std::str::FromStr>(option: &str, text: &str) -> Result<Option<T>> {
    if matches!(text.to_ascii_lowercase().as_str(), "none" | "off") {
        return Ok(None);
    }
    text.parse::<T>().map(Some).map_err(|_| Error::option(option, format!("\"{text}\" is neither a number nor `none`")))
}

impl TrainArgs {
    fn resolve(&self) -> Result<(RunConfig, TrainOptions)> {
        if let Some(dir) = &self.resume {
            let mut config = RunConfig::load(&dir.join("config.toml"))?;
            config.run_dir = dir.clone();
            return Ok((config, TrainOptions { resume: true, ..TrainOptions::default() }));
        }
        let mut c = match &self.config {
            Some(path) => RunConfig::load(path)?,
            None => RunConfig::default(),
        };
        macro_rules! set {
            ($flag:expr, $field:expr) => {
                if let Some(v) = &$flag {
                    $field = v.clone();
                }
            };
        }
        set!(self.dataset, c.dataset);
        set!(self.run_dir, c.run_dir);
        set!(self.backend, c.backend);
        set!(self.cell, c.model.cell);
        set!(self.hidden, c.model.hidden);
        set!(self.layers, c.model.layers);
        set!(self.dropout, c.model.dropout);
        set!(self.context, c.data.context);
        set!(self.stride, c.data.stride);
        set!(self.val_fraction, c.data.split.val_fraction);
        set!(self.gap, c.data.split.gap);
        set!(self.epochs, c.train.epochs);
        set!(self.batch_size, c.train.batch_size);
        set!(self.lr, c.train.learning_rate);
        set!(self.warmup_steps, c.train.warmup_steps);
        set!(self.seed, c.train.seed);
        if let Some(s) = &self.split {
            c.data.split.mode = match s.as_str() {
                "auto" => SplitMode::Auto,
                "episodes" => SplitMode::Episodes,
                "time-blocks" | "time_blocks" => SplitMode::TimeBlocks,
                "declared" => SplitMode::Declared,
                other => {
                    return Err(Error::option(
                        "--split",
                        format!("\"{other}\": expected auto, episodes, time-blocks or declared"),
                    ));
                }
            };
        }
        if let Some(t) = &self.target {
            c.data.encoding.target = match t.as_str() {
                "constant-velocity" | "constant_velocity" => TargetBase::ConstantVelocity,
                "hold" => TargetBase::Hold,
                "linear-ar" | "linear_ar" => TargetBase::LinearAr,
                other => {
                    return Err(Error::option(
                        "--target",
                        format!("\"{other}\": expected linear-ar, constant-velocity or hold"),
                    ));
                }
            };
        }
        if let Some(s) = &self.schedule {
            c.train.schedule = match s.as_str() {
                "cosine" => Schedule::Cosine,
                "constant" => Schedule::Constant,
                other => return Err(Error::option("--schedule", format!("\"{other}\": expected cosine or constant"))),
            };
        }
        if let Some(v) = &self.clip {
            c.train.clip_norm = optional("--clip", v)?;
        }
        if let Some(v) = &self.tbptt {
            c.train.tbptt = optional("--tbptt", v)?;
        }
        if let Some(v) = &self.patience {
            c.train.patience = optional("--patience", v)?;
        }
        self.eval.apply(&mut c.eval);
        Ok((c, TrainOptions { overwrite: self.overwrite, ..TrainOptions::default() }))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message alone: a user-facing error is not a crash, whatever RUST_BACKTRACE says.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Inspect { dataset, json, jump_sigma } => {
            if !(jump_sigma.is_finite() && jump_sigma > 0.0) {
                return Err(Error::option("--jump-sigma", format!("must be positive, got {jump_sigma}")));
            }
            let ds = Dataset::load_with(&dataset, ReadOptions { drop_duplicate_frames: true })?;
            let report = inspect(&ds, InspectConfig { jump_sigma, ..InspectConfig::default() });
            if json {
                println!("{}", serde_json::to_string_pretty(&report).expect("report serialises"));
            } else {
                print!("{report}");
            }
            Ok(())
        }
        Command::Train(args) => {
            let (config, options) = args.resolve()?;
            let trained = run::train(&config, options, Arc::new(AtomicBool::new(false)))?;
            println!("\n{}", trained.report);
            println!("wrote {}", config.run_dir.display());
            Ok(())
        }
        Command::Eval { checkpoint, dataset, report, part, eval, backend } => {
            let device = backend.parse::<trajrnn::Backend>()?.device()?;
            if let Some(path) = &report {
                trajrnn::io::check_writable(path)?;
            }
            let applied = run::apply_checkpoint(&checkpoint, &dataset, &device)?;
            let same_data = applied.dataset.meta.name == applied.meta.data.dataset;
            let part = match part {
                Some(PartArg::All) => Part::All,
                Some(PartArg::Valid) => Part::Valid,
                None if same_data => Part::Valid,
                None => Part::All,
            };
            if part == Part::All && same_data {
                eprintln!(
                    "warning: evaluating on every frame of the training dataset, including frames the model trained on"
                );
            }
            let mut config = applied.meta.eval.clone();
            eval.apply(&mut config);
            let segments = run::segments(&applied.dataset, &applied.meta, part)?;
            let r = run::evaluate_checkpoint(
                &applied.model,
                &applied.meta,
                &applied.dataset,
                &segments,
                applied.kinematics.as_ref(),
                &config,
                &device,
            )?;
            println!("{r}");
            if let Some(path) = report {
                run::write_report(&path, &r)?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        Command::BenchQuality { datasets, config, out, json, tasks } => {
            use trajrnn::run::quality;
            let recipe = match &config {
                Some(path) => RunConfig::load(path)?,
                None => RunConfig::default(),
            };
            recipe.validate()?;
            trajrnn::io::check_writable_dir(&out)?;
            if let Some(path) = &json {
                trajrnn::io::check_writable(path)?;
            }
            let loaded = datasets.iter().map(|d| run::load_dataset(d)).collect::<Result<Vec<_>>>()?;
            let (mut results, mut skipped) = (Vec::new(), Vec::new());
            for task in loaded.iter().flat_map(|d| quality::tasks(d, tasks)) {
                let result = match quality::run_task(&task, &recipe, &quality::task_dir(&out, &task)) {
                    Ok(r) => r,
                    // A task the data cannot hold (too short for the protocol) is reported, not fatal.
                    Err(e @ (Error::Config(_) | Error::Option { .. })) => {
                        eprintln!("{:<44} skipped: {e}", task.name);
                        let frames = task.dataset.total_frames();
                        skipped.push(quality::Skipped { name: task.name.clone(), frames, reason: e.to_string() });
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let ratios: Vec<String> = result
                    .report
                    .horizons
                    .iter()
                    .map(|h| {
                        format!("{}: {}", h.horizon, h.ratio_to_best().map_or("n/a".into(), |r| format!("{r:.3}")))
                    })
                    .collect();
                eprintln!(
                    "{:<44} {:>6} frames, best epoch {:>2}, {:>5.1} s; ratios {}",
                    result.name,
                    result.frames,
                    result.best_epoch,
                    result.seconds,
                    ratios.join(", ")
                );
                results.push(result);
            }
            let bench = quality::Benchmark::new(results, skipped);
            println!("\n{bench}");
            if let Some(path) = json {
                let text = serde_json::to_vec_pretty(&bench).expect("results serialise");
                trajrnn::io::write_atomic(&path, |f| std::io::Write::write_all(f, &text))?;
            }
            Ok(())
        }
        Command::Rollout { checkpoint, dataset, episode, horizon, warmup, viewer, backend } => {
            rollout(checkpoint, dataset, episode, horizon, warmup, viewer, backend)
        }
        Command::Experiment(a) => experiment(a),
        Command::Generate(a) => {
            let config = trajrnn::synthetic::GeneratorConfig {
                episodes: a.episodes,
                seed: a.seed,
                rate_hz: a.rate,
                ..Default::default()
            };
            let ds = trajrnn::synthetic::write(config, &a.out)?;
            println!(
                "wrote {}: {} episodes, {} frames at {} Hz, phases {}",
                a.out.display(),
                ds.episodes.len(),
                ds.total_frames(),
                ds.meta.rate_hz,
                ds.meta.phases.join(", ")
            );
            Ok(())
        }
        Command::Import(args) => {
            trajrnn::data::folder::check_new_folder(&args.out)?;
            let mapping = args.mapping()?;
            let imported = trajrnn::data::import::import(args.format, &args.source, &mapping)?;
            print!("{}", imported.report);
            imported.save(&args.out)?;
            println!("wrote {}", args.out.display());
            Ok(())
        }
    }
}

#[cfg(feature = "rerun")]
fn rollout(
    checkpoint: PathBuf,
    dataset: PathBuf,
    episode: Option<String>,
    horizon: usize,
    warmup: Option<usize>,
    viewer: ViewerArgs,
    backend: String,
) -> Result<()> {
    use trajrnn::viz::{Playback, record};
    if horizon == 0 {
        return Err(Error::option("--horizon", "must be at least 1"));
    }
    let device = backend.parse::<trajrnn::Backend>()?.device()?;
    let sink = viewer.sink();
    sink.check()?;
    let applied = run::apply_checkpoint(&checkpoint, &dataset, &device)?;
    let ds = &applied.dataset;
    let same_data = ds.meta.name == applied.meta.data.dataset;
    let segment = match &episode {
        Some(name) => {
            let e = ds.episodes.iter().position(|e| &e.name == name).ok_or_else(|| {
                let names: Vec<&str> = ds.episodes.iter().map(|e| e.name.as_str()).collect();
                Error::option(
                    "--episode",
                    format!("no episode {} (episodes: {})", trajrnn::error::quote(name), trajrnn::error::list(&names)),
                )
            })?;
            trajrnn::data::Segment { episode: e, frames: 0..ds.episodes[e].len() }
        }
        None if same_data => run::segments(ds, &applied.meta, Part::Valid)?.remove(0),
        None => trajrnn::data::Segment { episode: 0, frames: 0..ds.episodes[0].len() },
    };
    let warmup = warmup.unwrap_or(applied.meta.window.context).max(applied.meta.encoding.history() + 1);
    let ep = &ds.episodes[segment.episode];
    if segment.len() <= warmup {
        return Err(Error::option(
            "--warmup",
            format!("{} ({} frames) is not longer than the warm-up of {warmup} frames", ep.name, segment.len()),
        ));
    }
    let truth = ep.frames(segment.frames.clone());
    let track = run::track(&applied, truth, warmup, horizon, &device);
    let summary = run::summary_markdown(&applied.meta, None, &ep.name, horizon);
    let playback = Playback {
        app_id: "trajrnn_rollout",
        kinematics: applied.kinematics.as_ref(),
        channels: &ds.meta.channels(),
        rate_hz: ds.meta.rate_hz,
        time: &ep.time[segment.frames.clone()],
        truth,
        prediction: &track,
        summary: &summary,
    };
    match record(&sink, &playback)? {
        Some(path) => println!("wrote {}; open it with: rerun {}", path.display(), path.display()),
        None => println!("sent the recording to the viewer"),
    }
    Ok(())
}

#[cfg(not(feature = "rerun"))]
fn rollout(
    _: PathBuf,
    _: PathBuf,
    _: Option<String>,
    _: usize,
    _: Option<usize>,
    _: ViewerArgs,
    _: String,
) -> Result<()> {
    Err(Error::Viz("this build has no Rerun support (cargo feature `rerun`)".into()))
}

#[cfg(feature = "experiments")]
fn experiment(a: ExperimentArgs) -> Result<()> {
    use trajrnn::experiments::{self, Experiment, Options};
    let list = if a.name == "all" { Experiment::ALL.to_vec() } else { vec![a.name.parse::<Experiment>()?] };
    let options = Options { out_dir: a.out, synthetic: a.synthetic, real: a.real, quick: a.quick, seed: a.seed };
    let device = trajrnn::Backend::Flex.device()?;
    for e in list {
        let started = std::time::Instant::now();
        let report = experiments::run(e, &options, &device)?;
        println!("{}", report.text);
        for f in &report.files {
            println!("wrote {}", f.display());
        }
        println!("({e}: {:.0} s)\n", started.elapsed().as_secs_f64());
    }
    Ok(())
}

#[cfg(not(feature = "experiments"))]
fn experiment(_: ExperimentArgs) -> Result<()> {
    Err(Error::Config("this build has no experiments (cargo feature `experiments`)".into()))
}
