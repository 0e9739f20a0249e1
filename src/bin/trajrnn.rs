//! The `trajrnn` command: argument parsing and printing over the library (`trajrnn::run` and
//! friends). Every decision a library user would also need lives in the library.
//!
//!     trajrnn inspect DATASET [--json]
//!     trajrnn train --dataset DIR --run-dir DIR [--config FILE] [--epochs N …] [--resume RUN_DIR]
//!     trajrnn eval --checkpoint FILE --dataset DIR [--part test|valid|train|all] [--report FILE]
//!     trajrnn bench-quality DATASET… [--config FILE] [--tasks each|all|both]
//!     trajrnn rollout --checkpoint FILE --dataset DIR [--episode NAME] [--csv FILE.csv] [--out FILE.rrd | --spawn | --connect [URL]]
//!     trajrnn generate --out DIR [--episodes N] [--seed S] [--rate HZ]
//!     trajrnn experiment NAME [--out DIR] [--quick]
//!     trajrnn import FORMAT SOURCE OUT_DIR [--mapping FILE] [--joints a,b] [--gripper c,d] …

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::de::DeserializeOwned;
use trajrnn::data::csv_episode::ReadOptions;
use trajrnn::data::dataset::{AngleUnit, TimeUnit};
use trajrnn::data::import::{Format, Mapping};
use trajrnn::data::inspect::{InspectConfig, inspect};
use trajrnn::data::{Dataset, SplitMode};
use trajrnn::encoding::TargetBase;
use trajrnn::eval::EvalConfig;
use trajrnn::model::CellKind;
use trajrnn::run::console::Console;
use trajrnn::run::{self, PartChoice, RunConfig, RunEvent, TrainOptions};
use trajrnn::train::{Schedule, Selection};
use trajrnn::{Error, Result};

#[derive(Parser)]
#[command(name = "trajrnn", version, about = "Recurrent networks for robot joint-angle trajectories")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Let datasets read files they name outside their own folder (a robot description by
    /// absolute path or through `..`, a URDF's meshes elsewhere); only for datasets you trust.
    #[arg(long, global = true)]
    allow_outside_files: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Episodes, timing, per-channel statistics, channel kinds and anomalies of a dataset.
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
    /// Train a model; writes config.toml, best.ckpt, last.ckpt, log.csv and eval.json (the test
    /// part) to the run folder. Ctrl-C or SIGTERM stops at the next step with last.ckpt written.
    Train(Box<TrainArgs>),
    /// Evaluate a checkpoint on a dataset against hold, constant velocity and the linear models.
    Eval {
        /// A checkpoint (best.ckpt or last.ckpt of a run).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Any dataset with the checkpoint's channels (matched by name).
        #[arg(long)]
        dataset: PathBuf,
        /// Also write the report as JSON.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Frames to score. Episodes are recognised by content as the checkpoint's own training,
        /// validation or test data. `test`: its test part plus every episode it has never seen;
        /// `valid`, `train`: those parts of its own data; `all`: every frame.
        #[arg(long, value_enum, default_value = "test")]
        part: PartChoice,
        #[command(flatten)]
        eval: EvalArgs,
        /// flex, ndarray or wgpu.
        #[arg(long, default_value = "flex")]
        backend: String,
    },
    /// Train the recipe on every dataset under one protocol and score it on the test parts.
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
        tasks: run::quality::Tasks,
    },
    /// Free-running rollouts of an episode, played back in Rerun.
    Rollout {
        /// A checkpoint (best.ckpt of a run).
        #[arg(long)]
        checkpoint: PathBuf,
        /// A dataset with the checkpoint's channels.
        #[arg(long)]
        dataset: PathBuf,
        /// Episode to play back (default: the first test segment of the checkpoint's own data,
        /// else the first episode it has never seen).
        #[arg(long)]
        episode: Option<String>,
        /// Frames each rollout predicts before it restarts from observed frames.
        #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
        horizon: usize,
        /// Observed frames before each rollout (default: the checkpoint's context).
        #[arg(long, allow_negative_numbers = true)]
        warmup: Option<usize>,
        /// A command plan: a CSV with `time` and the checkpoint's command columns, one row per
        /// frame (radians for commands that drive joints). One rollout after the warm-up follows
        /// it instead of the recorded commands: what the robot would do if sent these commands.
        #[arg(long, value_name = "FILE.csv")]
        commands: Option<PathBuf>,
        /// Also write the predicted frames as CSV (episode, frame, time, the rollout's first
        /// frame, then every channel); alone, without --out, --spawn or --connect, no recording.
        #[arg(long, value_name = "FILE.csv")]
        csv: Option<PathBuf>,
        #[command(flatten)]
        viewer: ViewerArgs,
        /// flex, ndarray or wgpu.
        #[arg(long, default_value = "flex")]
        backend: String,
    },
    /// Play a dataset in Rerun without a model: the arm in 3D (with the commanded arm when
    /// commands drive joints), every channel with its commands, and the phases.
    View {
        /// Dataset folder.
        dataset: PathBuf,
        /// Episode to play (default: the first).
        #[arg(long)]
        episode: Option<String>,
        #[command(flatten)]
        viewer: ViewerArgs,
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
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads, whatever the machine has (the tables depend on the count; docs/fundamentals.md's
    /// were printed with the default).
    #[cfg(feature = "experiments")]
    #[arg(long, default_value_t = trajrnn::experiments::DEFAULT_THREADS)]
    threads: usize,
}

/// The defaults regenerate `datasets/synthetic_pick_place` byte for byte.
#[derive(Args)]
struct GenerateArgs {
    /// Folder to create (must not exist, or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Episodes to generate.
    #[arg(long, default_value_t = trajrnn::synthetic::GeneratorConfig::default().episodes)]
    episodes: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Frames per second.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Record commands: each frame's inverse-kinematics solution is sent to the arm as a
    /// command (`target_<joint>`), and the joints follow it through a servo (0.1 s lag behind a
    /// two-frame delay).
    #[arg(long)]
    commands: bool,
}

/// `trajrnn import`: every field of the mapping file as a flag; a flag overrides the file.
#[derive(Args)]
struct ImportArgs {
    /// lerobot, robomimic, robosuite or csv.
    format: Format,
    /// A LeRobot folder, a robomimic .hdf5 file, a robosuite demo folder, a CSV file or folder.
    source: PathBuf,
    /// The dataset folder to write (must not exist, or be empty).
    out: PathBuf,
    /// A TOML mapping file (see docs/dataset-format.md, "Importing").
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Source entries that are arm joints (comma-separated, in this order) [default: the entries
    /// not named like a gripper or hand].
    #[arg(long, value_delimiter = ',')]
    joints: Option<Vec<String>>,
    /// Source entries that are gripper channels [default: entries named like a gripper or hand].
    #[arg(long, value_delimiter = ',')]
    gripper: Option<Vec<String>>,
    /// Source entries read and predicted but not scored as robot channels [default: none].
    #[arg(long, value_delimiter = ',')]
    auxiliary: Option<Vec<String>>,
    /// Drop frames that repeat the previous frame exactly.
    #[arg(long)]
    drop_duplicates: bool,
    /// Dataset name [default: OUT's folder name].
    #[arg(long)]
    name: Option<String>,
    /// Robot identifier [default: what the source says].
    #[arg(long)]
    robot: Option<String>,
    /// Unit of the arm joints in the source: rad or deg [default: rad].
    #[arg(long, value_parser = parse_enum::<AngleUnit>)]
    angle_unit: Option<AngleUnit>,
    /// CSV: the time column [default: time, else timestamp].
    #[arg(long)]
    time_column: Option<String>,
    /// CSV: the time column's unit: s, ms, us or ns [default: s].
    #[arg(long, value_parser = parse_enum::<TimeUnit>)]
    time_unit: Option<TimeUnit>,
    /// CSV: a column naming each row's episode [default: one file per episode].
    #[arg(long)]
    episode_column: Option<String>,
    /// Sampling rate in Hz (robomimic has no timestamps; elsewhere it overrides the measured rate).
    #[arg(long)]
    rate: Option<f64>,
    /// LeRobot: the state feature [default: observation.state, else state].
    #[arg(long)]
    state_key: Option<String>,
    /// LeRobot: the command feature [default: action, else actions, when there is one].
    #[arg(long)]
    action_key: Option<String>,
    /// CSV: source columns that are commands sent to the robot (comma-separated) [default: none].
    #[arg(long, value_delimiter = ',')]
    commands: Option<Vec<String>>,
    /// Leave the source's commands out of the dataset.
    #[arg(long)]
    no_commands: bool,
    /// robomimic: the robot's observation prefix [default: robot0].
    #[arg(long)]
    robot_prefix: Option<String>,
    /// robosuite / robomimic: the MJCF site that is the end effector [default: the robot's grip site].
    #[arg(long)]
    end_effector: Option<String>,
    /// Round state values to this many significant digits [default: no rounding].
    #[arg(long)]
    significant_digits: Option<u32>,
    /// Round timestamps to this many decimals [default: no rounding].
    #[arg(long)]
    time_decimals: Option<u32>,
    /// Licence text to record in dataset.json.
    #[arg(long)]
    license: Option<String>,
}

/// A serde enum from its name as typed (`time-blocks` or `time_blocks`); the error lists the
/// names it accepts.
fn parse_enum<T: DeserializeOwned>(s: &str) -> std::result::Result<T, String> {
    let value = serde_json::Value::String(s.replace('-', "_"));
    serde_json::from_value(value.clone())
        .or_else(|_| serde_json::from_value(serde_json::Value::String(s.to_string())))
        .map_err(|e| trajrnn::error::parser_message(e.to_string().replace('_', "-")))
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
            action_key: self.action_key.clone(),
            commands: self.commands.clone(),
            no_commands: self.no_commands,
            robot_prefix: self.robot_prefix.clone(),
            end_effector: self.end_effector.clone(),
            drop_duplicates: self.drop_duplicates,
            significant_digits: self.significant_digits,
            time_decimals: self.time_decimals,
            license: self.license.clone(),
            robot_description: None,
        };
        Ok(Mapping::resolve(file, flags, self.name.is_some()))
    }
}

#[derive(Args)]
struct ViewerArgs {
    /// Where to write the recording (default: rollout.rrd, or view.rrd for `view`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Open a Rerun viewer instead of writing a file.
    #[arg(long, conflicts_with = "connect")]
    spawn: bool,
    /// Send to a running viewer (default address rerun+http://127.0.0.1:9876/proxy).
    #[arg(long, num_args = 0..=1, default_missing_value = "rerun+http://127.0.0.1:9876/proxy")]
    connect: Option<String>,
}

impl ViewerArgs {
    /// Whether any of the flags was given.
    fn given(&self) -> bool {
        self.out.is_some() || self.spawn || self.connect.is_some()
    }

    #[cfg(feature = "rerun")]
    fn sink(&self, default_file: &str) -> trajrnn::viz::Sink {
        use trajrnn::viz::Sink;
        match (&self.connect, self.spawn) {
            (Some(url), _) => Sink::Connect(url.clone()),
            (None, true) => Sink::Spawn,
            (None, false) => Sink::File(self.out.clone().unwrap_or_else(|| default_file.into())),
        }
    }
}

#[derive(Args, Default)]
struct EvalArgs {
    /// Observed frames before each scored rollout.
    #[arg(long, allow_negative_numbers = true)]
    warmup: Option<usize>,
    /// Horizons to score, in frames, comma-separated.
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

/// The main fields of the run configuration as flags (all of them through --config); a flag
/// overrides the config file. Each help line ends with the default of the run configuration,
/// filled in from `RunConfig::default()` (see `with_defaults`). Numeric flags take negative
/// numbers as values, so `--lr -1` is refused by the option's own check (naming it) rather than
/// read as an unknown flag `-1`.
#[derive(Args)]
struct TrainArgs {
    /// A TOML run configuration (e.g. a previous run's config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this folder from its last.ckpt, with its config.toml. Only --epochs
    /// (more epochs) may be given beside it.
    #[arg(long, conflicts_with = "config")]
    resume: Option<PathBuf>,
    /// Replace a finished run in --run-dir.
    #[arg(long)]
    overwrite: bool,
    /// Dataset folder (trajrnn format).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Folder for the run's files.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// flex, ndarray or wgpu.
    #[arg(long)]
    backend: Option<String>,
    /// rnn (Elman), lstm or gru.
    #[arg(long)]
    cell: Option<CellKind>,
    /// Hidden units per layer.
    #[arg(long, allow_negative_numbers = true)]
    hidden: Option<usize>,
    /// Stacked recurrent layers.
    #[arg(long, allow_negative_numbers = true)]
    layers: Option<usize>,
    /// Dropout between stacked layers.
    #[arg(long, allow_negative_numbers = true)]
    dropout: Option<f64>,
    /// Networks in the ensemble (each trained on its own loss, their outputs averaged).
    #[arg(long, allow_negative_numbers = true)]
    members: Option<usize>,
    /// Teacher-forced steps per training window (the BPTT length).
    #[arg(long, allow_negative_numbers = true)]
    context: Option<usize>,
    /// Frames between the starts of training windows.
    #[arg(long, allow_negative_numbers = true)]
    stride: Option<usize>,
    /// How to hold data out: auto, episodes, time-blocks or declared.
    #[arg(long, value_parser = parse_enum::<SplitMode>)]
    split: Option<SplitMode>,
    /// Share held out for validation (early stopping, the best epoch, the baseline choice).
    #[arg(long, alias = "val-fraction", allow_negative_numbers = true)]
    valid_fraction: Option<f64>,
    /// Share held out for the test report (never used for a decision).
    #[arg(long, allow_negative_numbers = true)]
    test_fraction: Option<f64>,
    /// Frames left out between time blocks.
    #[arg(long, allow_negative_numbers = true)]
    gap: Option<usize>,
    /// Seed of the episode split.
    #[arg(long, allow_negative_numbers = true)]
    split_seed: Option<u64>,
    /// The rule the model's output corrects: linear-ar, constant-velocity or hold.
    #[arg(long, value_parser = parse_enum::<TargetBase>)]
    target: Option<TargetBase>,
    /// Most epochs.
    #[arg(long, allow_negative_numbers = true)]
    epochs: Option<usize>,
    /// Windows per optimiser step.
    #[arg(long, allow_negative_numbers = true)]
    batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// cosine or constant.
    #[arg(long, value_parser = parse_enum::<Schedule>)]
    schedule: Option<Schedule>,
    /// Optimiser steps of linear warm-up.
    #[arg(long, allow_negative_numbers = true)]
    warmup_steps: Option<usize>,
    /// Global gradient-norm bound, or `none`.
    #[arg(long, allow_negative_numbers = true)]
    clip: Option<String>,
    /// Truncated BPTT every K steps (state carried across windows), or `none` for full BPTT.
    #[arg(long, allow_negative_numbers = true)]
    tbptt: Option<String>,
    /// Free-running steps scored after each window (0: one-step loss only).
    #[arg(long, allow_negative_numbers = true)]
    rollout_steps: Option<usize>,
    /// What chooses the best epoch on validation: rollout (the evaluation's score) or loss.
    #[arg(long, value_parser = parse_enum::<Selection>)]
    selection: Option<Selection>,
    /// Epochs without improvement before stopping, or `none`.
    #[arg(long, allow_negative_numbers = true)]
    patience: Option<String>,
    /// Seed of the initial weights, the shuffles and dropout.
    #[arg(long, allow_negative_numbers = true)]
    seed: Option<u64>,
    #[command(flatten)]
    eval: EvalArgs,
}

/// `none`/`off` → None, else a value parsed for `option`.
fn optional<T: std::str::FromStr>(option: &str, text: &str) -> Result<Option<T>> {
    if trajrnn::train::is_off(text) {
        return Ok(None);
    }
    text.parse::<T>().map(Some).map_err(|_| Error::option(option, format!("\"{text}\" is neither a number nor `none`")))
}

/// The run configuration's default of each train flag, for its help line.
fn train_defaults() -> Vec<(&'static str, String)> {
    let d = RunConfig::default();
    let none = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    vec![
        ("dataset", d.dataset.display().to_string()),
        ("run_dir", d.run_dir.display().to_string()),
        ("backend", d.backend.clone()),
        ("cell", d.model.cell.to_string()),
        ("hidden", d.model.hidden.to_string()),
        ("layers", d.model.layers.to_string()),
        ("dropout", d.model.dropout.to_string()),
        ("members", d.model.members.to_string()),
        ("context", d.data.context.to_string()),
        ("stride", d.data.stride.to_string()),
        ("split", serde_name(&d.data.split.mode)),
        ("valid_fraction", d.data.split.valid_fraction.to_string()),
        ("test_fraction", d.data.split.test_fraction.to_string()),
        ("gap", d.data.split.gap.to_string()),
        ("split_seed", d.data.split.seed.to_string()),
        ("target", serde_name(&d.data.encoding.target)),
        ("epochs", d.train.epochs.to_string()),
        ("batch_size", d.train.batch_size.to_string()),
        ("lr", d.train.learning_rate.to_string()),
        ("schedule", serde_name(&d.train.schedule)),
        ("warmup_steps", d.train.warmup_steps.to_string()),
        ("clip", none(d.train.clip_norm.map(|v| v.to_string()))),
        ("tbptt", none(d.train.tbptt.map(|v| v.to_string()))),
        ("rollout_steps", d.train.rollout_steps.to_string()),
        ("selection", serde_name(&d.train.selection)),
        ("patience", none(d.train.patience.map(|v| v.to_string()))),
        ("seed", d.train.seed.to_string()),
        ("warmup", d.eval.warmup.to_string()),
        ("horizons", d.eval.horizons.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",")),
        ("eval_stride", d.eval.stride.to_string()),
    ]
}

/// The name of a serde enum value as a user types it (`time-blocks`).
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(|s| s.replace('_', "-"))).unwrap_or_default()
}

/// The command with each train flag's help line ending in its default.
fn with_defaults(command: clap::Command) -> clap::Command {
    let append = |arg: clap::Arg, default: &str| {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        arg.help(format!("{help} [default: {default}]"))
    };
    command
        .mut_subcommand("train", |mut train| {
            for (id, default) in train_defaults() {
                train = train.mut_arg(id, |arg| append(arg, &default));
            }
            train
        })
        .mut_subcommand("eval", |mut eval| {
            for id in ["warmup", "horizons", "eval_stride"] {
                eval = eval.mut_arg(id, |arg| append(arg, "the checkpoint's"));
            }
            eval
        })
}

impl TrainArgs {
    fn resolve(&self) -> Result<(RunConfig, TrainOptions)> {
        if let Some(dir) = &self.resume {
            let mut config = RunConfig::load(&dir.join("config.toml"))?;
            config.run_dir = dir.clone();
            self.refuse_beside_resume()?;
            if let Some(epochs) = self.epochs {
                config.train.epochs = epochs; // more epochs only: the run checks it against last.ckpt
            }
            config.validate()?;
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
        set!(self.members, c.model.members);
        set!(self.context, c.data.context);
        set!(self.stride, c.data.stride);
        set!(self.split, c.data.split.mode);
        set!(self.valid_fraction, c.data.split.valid_fraction);
        set!(self.test_fraction, c.data.split.test_fraction);
        set!(self.gap, c.data.split.gap);
        set!(self.split_seed, c.data.split.seed);
        set!(self.target, c.data.encoding.target);
        set!(self.epochs, c.train.epochs);
        set!(self.batch_size, c.train.batch_size);
        set!(self.lr, c.train.learning_rate);
        set!(self.schedule, c.train.schedule);
        set!(self.warmup_steps, c.train.warmup_steps);
        set!(self.rollout_steps, c.train.rollout_steps);
        set!(self.selection, c.train.selection);
        set!(self.seed, c.train.seed);
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

    /// A resumed run trains with its own settings: any flag that would change them is refused
    /// (rather than dropped unseen).
    fn refuse_beside_resume(&self) -> Result<()> {
        let given: Vec<&str> = [
            ("--overwrite", self.overwrite),
            ("--dataset", self.dataset.is_some()),
            ("--run-dir", self.run_dir.is_some()),
            ("--backend", self.backend.is_some()),
            ("--cell", self.cell.is_some()),
            ("--hidden", self.hidden.is_some()),
            ("--layers", self.layers.is_some()),
            ("--dropout", self.dropout.is_some()),
            ("--members", self.members.is_some()),
            ("--context", self.context.is_some()),
            ("--stride", self.stride.is_some()),
            ("--split", self.split.is_some()),
            ("--valid-fraction", self.valid_fraction.is_some()),
            ("--test-fraction", self.test_fraction.is_some()),
            ("--gap", self.gap.is_some()),
            ("--split-seed", self.split_seed.is_some()),
            ("--target", self.target.is_some()),
            ("--batch-size", self.batch_size.is_some()),
            ("--lr", self.lr.is_some()),
            ("--schedule", self.schedule.is_some()),
            ("--warmup-steps", self.warmup_steps.is_some()),
            ("--clip", self.clip.is_some()),
            ("--tbptt", self.tbptt.is_some()),
            ("--rollout-steps", self.rollout_steps.is_some()),
            ("--selection", self.selection.is_some()),
            ("--patience", self.patience.is_some()),
            ("--seed", self.seed.is_some()),
            ("--warmup", self.eval.warmup.is_some()),
            ("--horizons", self.eval.horizons.is_some()),
            ("--eval-stride", self.eval.eval_stride.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        if given.is_empty() {
            Ok(())
        } else {
            Err(Error::option(
                "--resume",
                format!(
                    "continues the run with its own config.toml; {} cannot change it (only --epochs may add epochs)",
                    given.join(", ")
                ),
            ))
        }
    }
}

fn main() -> ExitCode {
    // Output piped into `head` and closed early ends the program quietly, as for any Unix tool,
    // rather than with a panic at the next print.
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = with_defaults(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    trajrnn::data::folder::allow_outside_files(cli.allow_outside_files);
    match run_command(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // The message alone: a user-facing error is not a crash, whatever RUST_BACKTRACE says.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_event(event: RunEvent) -> std::ops::ControlFlow<()> {
    Console::new(0).on_event(event)
}

fn run_command(command: Command) -> Result<ExitCode> {
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
        }
        Command::Train(args) => {
            let (config, options) = args.resolve()?;
            let stop = run::stop_on_signals()?;
            let mut console = Console::new(config.train.epochs);
            let trained = run::train(&config, options, &mut |e| console.on_event(e), Some(&stop))?;
            println!("\n{}", trained.report);
            println!("wrote {}", config.run_dir.display());
            if trained.outcome.interrupted && stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(ExitCode::from(130));
            }
        }
        Command::Eval { checkpoint, dataset, report, part, eval, backend } => {
            let device = backend.parse::<trajrnn::Backend>()?.device()?;
            if let Some(path) = &report {
                trajrnn::io::check_writable(path)?;
            }
            let applied = run::apply_checkpoint(&checkpoint, &dataset, &device, &mut print_event)?;
            let scored = applied.scored(part)?;
            let mut config = applied.meta.eval.clone();
            eval.apply(&mut config);
            let r = applied.evaluate(&scored, &config, &device)?;
            println!("scoring {}\n", scored.description);
            println!("{r}");
            if let Some(path) = report {
                run::write_report(&path, &r)?;
                println!("wrote {}", path.display());
            }
        }
        Command::BenchQuality { datasets, config, out, json, tasks } => {
            let recipe = match &config {
                Some(path) => RunConfig::load(path)?,
                None => RunConfig::default(),
            };
            recipe.validate()?;
            trajrnn::io::check_writable_dir(&out)?;
            if let Some(path) = &json {
                trajrnn::io::check_writable(path)?;
            }
            let loaded = datasets.iter().map(|d| run::load_dataset(d, &mut print_event)).collect::<Result<Vec<_>>>()?;
            let bench = run::quality::run(&loaded, tasks, &recipe, &out, &mut |task| match task {
                Ok(r) => {
                    let ratios: Vec<String> = r
                        .report
                        .horizons
                        .iter()
                        .map(|h| {
                            let v = h.ratio_to_oracle().map_or("n/a".into(), |v| format!("{v:.3}"));
                            format!("{}: {v}", h.horizon)
                        })
                        .collect();
                    eprintln!(
                        "{:<44} {:>6} frames, best epoch {:>2}, {:>5.1} s; ratios to the oracle {}",
                        r.name,
                        r.frames,
                        r.best_epoch,
                        r.seconds,
                        ratios.join(", ")
                    );
                }
                Err(s) => eprintln!("{:<44} skipped: {}", s.name, s.reason),
            })?;
            println!("\n{bench}");
            if let Some(path) = json {
                let text = serde_json::to_vec_pretty(&bench).expect("results serialise");
                trajrnn::io::write_atomic(&path, |f| std::io::Write::write_all(f, &text))?;
            }
        }
        Command::Rollout { checkpoint, dataset, episode, horizon, warmup, commands, csv, viewer, backend } => {
            rollout(RolloutArgs { checkpoint, dataset, episode, horizon, warmup, commands, csv, viewer, backend })?;
        }
        Command::View { dataset, episode, viewer } => view(dataset, episode, viewer)?,
        Command::Experiment(a) => experiment(a)?,
        Command::Generate(a) => {
            let config = trajrnn::synthetic::GeneratorConfig {
                episodes: a.episodes,
                seed: a.seed,
                rate_hz: a.rate,
                servo: a.commands.then(trajrnn::synthetic::Servo::default),
                ..Default::default()
            };
            let ds = trajrnn::synthetic::write(config, &a.out)?;
            println!(
                "wrote {}: {} episodes, {} frames at {} Hz, phases {}{}",
                a.out.display(),
                ds.episodes.len(),
                ds.total_frames(),
                ds.meta.rate_hz,
                ds.meta.phases.join(", "),
                if ds.meta.command_dim() > 0 {
                    format!(", {} command channels", ds.meta.command_dim())
                } else {
                    String::new()
                }
            );
        }
        Command::Import(args) => {
            trajrnn::data::folder::check_new_folder(&args.out)?;
            let mapping = args.mapping()?;
            let imported = trajrnn::data::import::import(args.format, &args.source, &mapping)?;
            imported.save(&args.out)?;
            print!("{}", imported.report);
            println!("wrote {}", args.out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct RolloutArgs {
    checkpoint: PathBuf,
    dataset: PathBuf,
    episode: Option<String>,
    horizon: usize,
    warmup: Option<usize>,
    commands: Option<PathBuf>,
    csv: Option<PathBuf>,
    viewer: ViewerArgs,
    backend: String,
}

fn rollout(a: RolloutArgs) -> Result<()> {
    let device = a.backend.parse::<trajrnn::Backend>()?.device()?;
    // With only --csv, no recording is made (and none needs the `rerun` feature).
    let record = a.csv.is_none() || a.viewer.given();
    if let Some(path) = &a.csv {
        trajrnn::io::check_writable(path)?;
    }
    let recorder = if record { Some(RolloutRecorder::new(&a.viewer)?) } else { None };
    let applied = run::apply_checkpoint(&a.checkpoint, &a.dataset, &device, &mut print_event)?;
    let plan = match &a.commands {
        Some(path) => {
            if applied.meta.encoding.command_dim() == 0 {
                return Err(Error::option("--commands", "the checkpoint's model reads no commands"));
            }
            Some(trajrnn::data::csv_episode::read_commands(path, &applied.dataset.meta)?)
        }
        None => None,
    };
    let segment = applied.playback_segment(a.episode.as_deref())?;
    let rollouts = applied.rollouts(&segment, a.horizon, a.warmup, plan.as_deref(), &device)?;
    if let Some(path) = &a.csv {
        applied.write_rollouts_csv(&rollouts, path)?;
        println!("wrote {}", path.display());
    }
    if let Some(recorder) = recorder {
        recorder.play(&applied, &rollouts)?;
    }
    Ok(())
}

/// Where `rollout` sends its recording, checked before any work.
#[cfg(feature = "rerun")]
struct RolloutRecorder(trajrnn::viz::Sink);

#[cfg(feature = "rerun")]
impl RolloutRecorder {
    fn new(viewer: &ViewerArgs) -> Result<Self> {
        let sink = viewer.sink("rollout.rrd");
        sink.check()?;
        Ok(Self(sink))
    }

    fn play(&self, applied: &run::Applied, rollouts: &run::Rollouts) -> Result<()> {
        report_recording(trajrnn::viz::play_rollouts(applied, rollouts, &self.0)?);
        Ok(())
    }
}

#[cfg(not(feature = "rerun"))]
struct RolloutRecorder;

#[cfg(not(feature = "rerun"))]
impl RolloutRecorder {
    fn new(_: &ViewerArgs) -> Result<Self> {
        Err(no_rerun())
    }

    fn play(&self, _: &run::Applied, _: &run::Rollouts) -> Result<()> {
        Err(no_rerun())
    }
}

#[cfg(feature = "rerun")]
fn view(dataset: PathBuf, episode: Option<String>, viewer: ViewerArgs) -> Result<()> {
    let sink = viewer.sink("view.rrd");
    sink.check()?;
    let ds = run::load_dataset(&dataset, &mut print_event)?;
    let e = match episode {
        Some(name) => ds.episode_index(&name, "--episode")?,
        None => 0,
    };
    let kinematics = trajrnn::kinematics::Kinematics::for_dataset(&ds)?;
    report_recording(trajrnn::viz::record_episode(&ds, e, kinematics.as_ref(), &sink)?);
    Ok(())
}

#[cfg(feature = "rerun")]
fn report_recording(written: Option<PathBuf>) {
    match written {
        Some(path) => println!("wrote {}; open it with: rerun {}", path.display(), path.display()),
        None => println!("sent the recording to the viewer"),
    }
}

#[cfg(not(feature = "rerun"))]
fn view(_: PathBuf, _: Option<String>, _: ViewerArgs) -> Result<()> {
    Err(no_rerun())
}

#[cfg(not(feature = "rerun"))]
fn no_rerun() -> Error {
    Error::Viz("this build has no Rerun support (cargo feature `rerun`)".into())
}

#[cfg(feature = "experiments")]
fn experiment(a: ExperimentArgs) -> Result<()> {
    use trajrnn::experiments::{self, Experiment, Options};
    let list = if a.name == "all" { Experiment::ALL.to_vec() } else { vec![a.name.parse::<Experiment>()?] };
    let options = Options {
        out_dir: a.out,
        synthetic: a.synthetic,
        real: a.real,
        quick: a.quick,
        seed: a.seed,
        threads: a.threads,
    };
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
