//! Whole runs from Python: train (with a progress callback, and Ctrl-C that stops at the next
//! step with `last.ckpt` written), evaluate a checkpoint, record rollouts for the Rerun viewer.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use serde::de::DeserializeOwned;
use trajrnn::RunConfig;
use trajrnn::data::Dataset;
use trajrnn::run::{self, PartChoice, RunEvent, TrainOptions};
use trajrnn::train::Event;

use crate::checkpoint::PyCheckpoint;
use crate::dataset::PyDataset;
use crate::errors::{IntoPy, TrajrnnError, json_to_py};

/// A Python dict (nested dicts, lists, numbers, strings, paths) as a library value, through the
/// same TOML reader as a file: unknown keys are refused with their name. `None` is what
/// `none` says: the library's `"none"` (a setting that is off) or a key left out.
pub(crate) fn from_python<T: DeserializeOwned>(value: &Bound<'_, PyAny>, what: &str, none: NoneIs) -> PyResult<T> {
    let py = value.py();
    let json = py.import("json")?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("default", py.get_type::<pyo3::types::PyString>())?;
    let text: String = json
        .call_method("dumps", (value,), Some(&kwargs))
        .map_err(|e| PyTypeError::new_err(format!("{what} must be a dict of numbers, strings and lists: {e}")))?
        .extract()?;
    let parsed: serde_json::Value = serde_json::from_str(&text).map_err(|e| TrajrnnError::new_err(e.to_string()))?;
    let Some(toml::Value::Table(table)) = to_toml(parsed, none) else {
        return Err(PyTypeError::new_err(format!("{what} must be a dict")));
    };
    let text = toml::to_string(&table).map_err(|e| TrajrnnError::new_err(e.to_string()))?;
    toml::from_str(&text).map_err(|e| TrajrnnError::new_err(format!("{what}: {}", e.message().trim())))
}

/// What Python's `None` means in a dict given for a library value.
#[derive(Clone, Copy)]
pub(crate) enum NoneIs {
    /// A setting that is off (a run configuration's `"none"`).
    Off,
    /// A key not given (an import mapping's).
    #[cfg_attr(not(feature = "import"), allow(dead_code))]
    Unset,
}

/// JSON as TOML (TOML has no null: see [`NoneIs`]).
fn to_toml(value: serde_json::Value, none: NoneIs) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Null => match none {
            NoneIs::Off => toml::Value::String("none".into()),
            NoneIs::Unset => return None,
        },
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        J::String(s) => toml::Value::String(s),
        J::Array(items) => toml::Value::Array(items.into_iter().filter_map(|v| to_toml(v, none)).collect()),
        J::Object(map) => {
            toml::Value::Table(map.into_iter().filter_map(|(k, v)| Some((k, to_toml(v, none)?))).collect())
        }
    })
}

/// A dataset given as a loaded `Dataset` or as a folder path.
pub(crate) enum DatasetArg {
    Loaded(Arc<Dataset>),
    Folder(PathBuf),
}

impl<'py> FromPyObject<'_, 'py> for DatasetArg {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(d) = value.cast::<PyDataset>() {
            return Ok(DatasetArg::Loaded(Arc::clone(&d.get().inner)));
        }
        value
            .extract::<PathBuf>()
            .map(DatasetArg::Folder)
            .map_err(|_| PyTypeError::new_err("dataset must be a trajrnn.Dataset or the path of a dataset folder"))
    }
}

impl DatasetArg {
    fn load(self) -> trajrnn::Result<Dataset> {
        match self {
            DatasetArg::Loaded(d) => Ok(Dataset::clone(&d)),
            DatasetArg::Folder(path) => Dataset::load(&path),
        }
    }
}

/// A checkpoint given as a loaded `Checkpoint` or as a file path.
pub(crate) fn checkpoint_path(value: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    if let Ok(c) = value.cast::<PyCheckpoint>() {
        return Ok(c.get().path.clone());
    }
    value
        .extract::<PathBuf>()
        .map_err(|_| PyTypeError::new_err("checkpoint must be a trajrnn.Checkpoint or the path of a .ckpt file"))
}

/// Reports a run's notes to the `trajrnn` logger and its warnings as Python warnings; epochs to
/// `progress`; checks for Ctrl-C at every step.
struct Reporter<'a> {
    progress: Option<&'a Py<PyAny>>,
    stop: &'a AtomicBool,
    /// The first error of a callback (or the KeyboardInterrupt), raised when the run returns.
    raised: Option<PyErr>,
}

impl Reporter<'_> {
    fn on_event(&mut self, event: RunEvent) -> ControlFlow<()> {
        if self.raised.is_some() {
            return ControlFlow::Break(());
        }
        let result = Python::attach(|py| -> PyResult<()> {
            match event {
                RunEvent::Note(text) => {
                    py.import("logging")?.call_method1("getLogger", ("trajrnn",))?.call_method1("info", (text,))?;
                }
                RunEvent::Warning(text) => {
                    py.import("warnings")?
                        .call_method1("warn", (text, py.get_type::<pyo3::exceptions::PyUserWarning>(), 2))?;
                }
                RunEvent::Train(Event::Step { .. }) => py.check_signals()?,
                RunEvent::Train(Event::Epoch { stats, best, .. }) => {
                    py.check_signals()?;
                    if let Some(progress) = self.progress {
                        let record = json_to_py(py, stats)?;
                        record.set_item("best", best.is_some())?;
                        progress.call1(py, (record,))?;
                    }
                }
                RunEvent::Train(_) => {}
            }
            Ok(())
        });
        match result {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                // Stop at the next step boundary (the trainer writes last.ckpt), then raise.
                self.stop.store(true, Ordering::SeqCst);
                self.raised = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

/// Trains a model on `dataset` as `config` says (a dict of `config.toml`'s keys, the path of a
/// TOML file, or `None` for the default recipe) into `run_dir`, and evaluates it on the test
/// part. Returns the run's summary (paths, per-epoch statistics, the test report).
#[pyfunction]
#[pyo3(signature = (dataset, config, run_dir, *, progress = None, overwrite = false, resume = false))]
pub(crate) fn train<'py>(
    py: Python<'py>,
    dataset: DatasetArg,
    config: Option<&Bound<'py, PyAny>>,
    run_dir: PathBuf,
    progress: Option<Py<PyAny>>,
    overwrite: bool,
    resume: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mut config: RunConfig = match config {
        None => RunConfig::default(),
        Some(c) if c.is_instance_of::<pyo3::types::PyDict>() => from_python(c, "config", NoneIs::Off)?,
        Some(c) => {
            let path: PathBuf = c.extract().map_err(|_| {
                PyTypeError::new_err("config must be a dict, the path of a TOML file, or None (the default recipe)")
            })?;
            RunConfig::load(&path).py_err()?
        }
    };
    config.run_dir = run_dir;
    // What config.toml records as the data trained on.
    match &dataset {
        DatasetArg::Folder(path) => config.dataset = path.clone(),
        DatasetArg::Loaded(d) => config.dataset = d.root.clone().unwrap_or_default(),
    }
    let stop = AtomicBool::new(false);
    let mut reporter = Reporter { progress: progress.as_ref(), stop: &stop, raised: None };
    let options = TrainOptions { resume, overwrite };
    let trained = py.detach(|| -> trajrnn::Result<run::TrainedRun> {
        config.validate()?;
        run::train_dataset(&config, dataset.load()?, options, &mut |e| reporter.on_event(e), Some(&stop))
    });
    if let Some(e) = reporter.raised.take() {
        return Err(e);
    }
    let trained = trained.py_err()?;
    let summary = pyo3::types::PyDict::new(py);
    summary.set_item("run_dir", &config.run_dir)?;
    summary.set_item("best_checkpoint", &trained.best_checkpoint)?;
    summary.set_item("last_checkpoint", config.run_dir.join("last.ckpt"))?;
    summary.set_item("best_epoch", trained.outcome.best_epoch)?;
    summary.set_item("best_score", trained.outcome.best_score)?;
    summary.set_item("interrupted", trained.outcome.interrupted)?;
    summary.set_item("history", json_to_py(py, &trained.outcome.history)?)?;
    summary.set_item("report", json_to_py(py, &trained.report)?)?;
    summary.set_item("report_text", trained.report.to_string())?;
    Ok(summary.into_any())
}

fn part(name: &str) -> PyResult<PartChoice> {
    use clap::ValueEnum;
    PartChoice::from_str(name, false)
        .map_err(|_| TrajrnnError::new_err(format!("part `{name}`: test, valid, train or all")))
}

/// Scores `checkpoint` on `dataset` against the baselines it chose on validation: by default on
/// its test part and every episode it has never seen (`part`: test, valid, train or all).
/// Returns the report as a dict (the JSON of `trajrnn eval --report`; empty measurements `None`).
#[pyfunction]
#[pyo3(signature = (checkpoint, dataset, *, part = "test"))]
pub(crate) fn evaluate<'py>(
    py: Python<'py>,
    checkpoint: &Bound<'py, PyAny>,
    dataset: DatasetArg,
    part: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let path = checkpoint_path(checkpoint)?;
    let choice = self::part(part)?;
    let (report, description) = py
        .detach(|| -> trajrnn::Result<_> {
            let device = trajrnn::Backend::default_cpu_device()?;
            let applied = applied(&path, dataset, &device)?;
            let scored = applied.scored(choice)?;
            let report = applied.evaluate(&scored, &applied.meta.eval, &device)?;
            Ok((report, scored.description))
        })
        .py_err()?;
    let out = json_to_py(py, &report)?;
    out.set_item("scored", description)?;
    out.set_item("text", report.to_string())?;
    Ok(out)
}

fn applied(checkpoint: &Path, dataset: DatasetArg, device: &trajrnn::backend::Device) -> trajrnn::Result<run::Applied> {
    let meta = trajrnn::checkpoint::load_meta(checkpoint)?;
    run::apply_checkpoint_to(checkpoint, dataset.load()?, meta, device, &mut run::quiet)
}

/// Writes free-running rollouts of an episode (default: the checkpoint's first test segment) to
/// a Rerun recording `out` (.rrd), as `trajrnn rollout` does: the arm, observed and predicted
/// joints, the hidden state. Open it with `rerun out` or the `rerun` Python package.
#[cfg(feature = "rerun")]
#[pyfunction]
#[pyo3(signature = (checkpoint, dataset, out, *, episode = None, horizon = 100, warmup = None))]
pub(crate) fn record_rollouts(
    py: Python<'_>,
    checkpoint: &Bound<'_, PyAny>,
    dataset: DatasetArg,
    out: PathBuf,
    episode: Option<String>,
    horizon: usize,
    warmup: Option<usize>,
) -> PyResult<PathBuf> {
    let path = checkpoint_path(checkpoint)?;
    py.detach(|| -> trajrnn::Result<PathBuf> {
        let sink = trajrnn::viz::Sink::File(out.clone());
        sink.check()?;
        let device = trajrnn::Backend::default_cpu_device()?;
        let applied = applied(&path, dataset, &device)?;
        let segment = applied.playback_segment(episode.as_deref())?;
        trajrnn::viz::record_rollouts(&applied, &segment, horizon, warmup, None, &sink, &device)?;
        Ok(out)
    })
    .py_err()
}

/// Without the Rerun SDK in the build, says how to get it.
#[cfg(not(feature = "rerun"))]
#[pyfunction]
#[pyo3(signature = (checkpoint, dataset, out, *, episode = None, horizon = 100, warmup = None))]
pub(crate) fn record_rollouts(
    checkpoint: &Bound<'_, PyAny>,
    dataset: &Bound<'_, PyAny>,
    out: PathBuf,
    episode: Option<String>,
    horizon: usize,
    warmup: Option<usize>,
) -> PyResult<PathBuf> {
    let _ = (checkpoint, dataset, out, episode, horizon, warmup);
    Err(crate::errors::missing_feature("record_rollouts", "rerun"))
}
