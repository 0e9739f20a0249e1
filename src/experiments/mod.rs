//! RNN fundamentals made runnable: six experiments, each one command
//! (`trajrnn experiment NAME`) that prints a table of measured numbers and writes a PNG plot
//! (and, for `probes`, a Rerun recording). `docs/fundamentals.md` shows what they produced.
//!
//! | name | question |
//! |---|---|
//! | `memory` | what is left of the first input after T steps (‖∂h_T/∂x_1‖, read-out R²), at initialisation and after training |
//! | `hidden-size` | 4 to 512 units: errors, parameters, time, latency, train/validation gap |
//! | `weight-sharing` | an RNN with its own weights per step against the shared one |
//! | `gradients` | vanishing against exploding: ‖∂L/∂h_t‖ by spectral radius, clipping, LSTM and GRU |
//! | `long-range` | the goal bin seen only at the start, the place D frames later: accuracy against D |
//! | `probes` | what the hidden state holds while the robot picks and places |
//!
//! `quick` runs every experiment at tiny sizes (the tests use it); the full runs take minutes
//! on two CPU cores.

pub(crate) mod bins;
pub(crate) mod fit;
mod gradients;
mod hidden_size;
mod long_range;
mod memory;
pub(crate) mod plot;
mod probes;
#[cfg(feature = "rerun")]
mod probes_viz;
pub(crate) mod robot;
mod sharing;
pub(crate) mod table;
pub(crate) mod unshared;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use burn::prelude::*;

use crate::data::Dataset;
use crate::error::{Error, Result};

/// The experiments `trajrnn experiment NAME` runs (the module documentation says what each asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experiment {
    /// `memory`: what is left of the first input after T steps.
    Memory,
    /// `hidden-size`: errors, parameters, time and latency from 4 to 512 units.
    HiddenSize,
    /// `weight-sharing`: an RNN with its own weights per step against the shared one.
    WeightSharing,
    /// `gradients`: vanishing against exploding gradients, with and without clipping.
    Gradients,
    /// `long-range`: the goal bin seen only at the start, asked for D frames later.
    LongRange,
    /// `probes`: what the hidden state holds while the robot picks and places.
    Probes,
}

impl Experiment {
    /// Every experiment, in the order `trajrnn experiment all` runs them.
    pub const ALL: [Experiment; 6] = [
        Experiment::Memory,
        Experiment::HiddenSize,
        Experiment::WeightSharing,
        Experiment::Gradients,
        Experiment::LongRange,
        Experiment::Probes,
    ];

    /// The name on the command line and of the output files (`hidden-size.png`…).
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Memory => "memory",
            Experiment::HiddenSize => "hidden-size",
            Experiment::WeightSharing => "weight-sharing",
            Experiment::Gradients => "gradients",
            Experiment::LongRange => "long-range",
            Experiment::Probes => "probes",
        }
    }
}

impl fmt::Display for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Experiment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Experiment::ALL.into_iter().find(|e| e.name() == s.replace('_', "-")).ok_or_else(|| {
            let names: Vec<&str> = Experiment::ALL.iter().map(|e| e.name()).collect();
            Error::option("experiment", format!("unknown experiment \"{s}\": expected one of {}", names.join(", ")))
        })
    }
}

/// Where the experiments read and write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Folder for the PNG plots, .rrd recordings and the text report.
    pub out_dir: PathBuf,
    /// The synthetic pick-and-place dataset (with phase labels).
    pub synthetic: PathBuf,
    /// The real Panda demonstrations (for `probes`).
    pub real: PathBuf,
    /// Tiny sizes (seconds instead of minutes): for tests, not for conclusions.
    pub quick: bool,
    /// Seed of every random draw (generated data, initial weights, batch order).
    pub seed: u64,
    /// Threads the experiment runs on, whatever the machine has: burn's matrix products and
    /// reductions split their sums by the thread count, and a training run that sums in another
    /// order ends elsewhere, so the tables are reproducible only at a fixed count.
    pub threads: usize,
}

/// Threads of [`Options::threads`] by default (the count the tables in `docs/fundamentals.md`
/// were printed with).
pub const DEFAULT_THREADS: usize = 2;

impl Options {
    /// The bundled datasets under `root` (the repository), output to `out_dir`.
    pub fn bundled(root: &Path, out_dir: PathBuf) -> Self {
        Self {
            out_dir,
            synthetic: root.join("datasets/synthetic_pick_place"),
            real: root.join("datasets/robosuite_pick_place/panda"),
            quick: false,
            seed: 0,
            threads: DEFAULT_THREADS,
        }
    }

    /// Picks the full or the quick value.
    pub fn size<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    fn path(&self, experiment: Experiment, ext: &str) -> PathBuf {
        self.out_dir.join(format!("{experiment}.{ext}"))
    }

    /// The synthetic dataset (only its first episodes when quick).
    pub(crate) fn load_synthetic(&self) -> Result<Dataset> {
        let ds = Dataset::load(&self.synthetic)?;
        if ds.meta.phases.is_empty() {
            return Err(Error::Config(format!("{} has no phase labels", self.synthetic.display())));
        }
        if self.quick { subset(&ds, 10) } else { Ok(ds) }
    }
}

/// The first `n` episodes of `ds`.
pub(crate) fn subset(ds: &Dataset, n: usize) -> Result<Dataset> {
    let mut out =
        Dataset::new(ds.meta.clone(), ds.episodes.iter().take(n).cloned().collect(), Path::new(&ds.meta.name))?;
    out.root = ds.root.clone();
    out.outside_files = ds.outside_files;
    Ok(out)
}

/// What an experiment produced.
#[derive(Debug, Clone)]
pub struct Report {
    /// The experiment that produced it.
    pub experiment: Experiment,
    /// Tables and notes, as printed.
    pub text: String,
    /// Files written (PNG, .rrd, the text report).
    pub files: Vec<PathBuf>,
}

/// Runs `experiment` on the CPU `device` (on `options.threads` threads), writes its files to `options.out_dir` and returns the
/// report (also saved there as `NAME.txt`).
pub fn run(experiment: Experiment, options: &Options, device: &Device) -> Result<Report> {
    std::fs::create_dir_all(&options.out_dir).map_err(|e| Error::io(&options.out_dir, e))?;
    crate::io::check_writable_dir(&options.out_dir)?;
    let device = device.clone().without_autodiff();
    let png = options.path(experiment, "png");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .build()
        .map_err(|e| Error::Config(format!("cannot start {} threads: {e}", options.threads)))?;
    let (text, mut files) = pool.install(|| match experiment {
        Experiment::Memory => memory::run(options, &device, &png),
        Experiment::HiddenSize => hidden_size::run(options, &device, &png),
        Experiment::WeightSharing => sharing::run(options, &device, &png),
        Experiment::Gradients => gradients::run(options, &device, &png),
        Experiment::LongRange => long_range::run(options, &device, &png),
        Experiment::Probes => probes::run(options, &device, &png),
    })?;
    let txt = options.path(experiment, "txt");
    crate::io::write_atomic(&txt, |f| std::io::Write::write_all(f, text.as_bytes()))?;
    files.push(txt);
    Ok(Report { experiment, text, files })
}
