//! The run configuration: every option of `trajrnn train` is a field here (and a flag). Read
//! from TOML (unknown keys are an error that names the file, line and key); the resolved
//! configuration of a run is written to `RUN_DIR/config.toml`, and training with that file
//! repeats the run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Backend;
use crate::baselines::BaselineConfig;
use crate::data::{Dataset, SplitConfig, WindowSpec};
use crate::encoding::EncodingConfig;
use crate::error::{Error, Location, Result};
use crate::eval::EvalConfig;
use crate::limits::{MAX_HIDDEN, MAX_LAYERS, check_count};
use crate::model::CellKind;
use crate::train::{Prepared, TrainConfig};

/// A whole run's settings: `trajrnn train`'s options, as read from or written to `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Dataset folder (trajrnn format).
    pub dataset: PathBuf,
    /// Folder for checkpoints, logs and the evaluation report.
    pub run_dir: PathBuf,
    /// `flex`, `ndarray` or `wgpu`.
    pub backend: String,
    /// The network's cell and size (`[model]`).
    pub model: ModelSection,
    /// How the data is windowed, split and encoded (`[data]`).
    pub data: DataSection,
    /// How the learned baselines (and the encoding's linear base) are fitted.
    pub baselines: BaselineConfig,
    /// How the model is trained (`[train]`).
    pub train: TrainConfig,
    /// How the best checkpoint is scored on the test part (`[eval]`).
    pub eval: EvalConfig,
}

/// The model's shape (its input and output widths follow from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// The recurrent cell of every layer (default `lstm`).
    pub cell: CellKind,
    /// Units per layer, in 1..=[`MAX_HIDDEN`] (default 64).
    pub hidden: usize,
    /// Stacked recurrent layers, in 1..=[`MAX_LAYERS`] (default 1).
    pub layers: usize,
    /// Dropout between stacked layers during training.
    pub dropout: f64,
    /// Networks in the ensemble: each trained on its own loss from other initial weights, their
    /// outputs averaged (default 3: chosen on the development sets' validation-free held parts,
    /// see docs/prediction-quality.md; 1 trains three times faster).
    pub members: usize,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self { cell: CellKind::Lstm, hidden: 64, layers: 1, dropout: 0.0, members: 3 }
    }
}

/// How the data is cut into training windows, split and encoded (`[data]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    /// Teacher-forced input steps per training window (the BPTT length); the windows hold
    /// `train.rollout_steps − 1` frames more for the free-running steps scored after them.
    pub context: usize,
    /// Frames between the starts of training windows.
    pub stride: usize,
    /// Resample episodes whose timestamps are irregular (a step more than 1 % off the nominal
    /// period) onto the nominal rate before anything else (see `data::resample`).
    pub resample: bool,
    /// How the episodes are split into training, validation and test parts (`[data.split]`).
    pub split: SplitConfig,
    /// How frames become model inputs and targets (`[data.encoding]`).
    pub encoding: EncodingConfig,
}

impl Default for DataSection {
    fn default() -> Self {
        Self {
            context: 64,
            stride: 4,
            resample: true,
            split: SplitConfig::default(),
            encoding: EncodingConfig::default(),
        }
    }
}

impl DataSection {
    /// Context and stride of the training windows, without the free-running frames.
    pub fn window(&self) -> WindowSpec {
        WindowSpec { context: self.context, stride: self.stride }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            dataset: PathBuf::from("datasets/robosuite_pick_place/sawyer"),
            run_dir: PathBuf::from("runs/pick_and_place"),
            backend: "flex".into(),
            model: ModelSection::default(),
            data: DataSection::default(),
            baselines: BaselineConfig::default(),
            // Every section's default is the recipe's, so a configuration file that sets one key
            // of a section keeps the recipe's other keys.
            train: TrainConfig::default(),
            eval: EvalConfig::default(),
        }
    }
}

impl RunConfig {
    /// Reads a TOML file; missing keys take their defaults, unknown keys are an error.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses TOML text; `path` names it in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let mut at = Location::file(path);
            if let Some(span) = e.span() {
                at = at.line(1 + text[..span.start.min(text.len())].matches('\n').count() as u64);
            }
            Error::invalid(at, crate::error::parser_message(e.message().trim()))
        })
    }

    /// The configuration as TOML text. Optional settings that are off are written as their
    /// explicit "off" value, so the text reads back as the same configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configuration serialises")
    }

    /// The training windows a run cuts: `data.context` teacher-forced steps and the frames of
    /// the `train.rollout_steps` free-running steps scored after them.
    pub fn training_windows(&self) -> WindowSpec {
        WindowSpec { context: self.data.context + self.train.rollout_steps.saturating_sub(1), ..self.data.window() }
    }

    /// What training makes of `dataset` before anything is fitted: irregular episodes resampled
    /// onto the nominal rate when `data.resample`. Also returns how many were irregular.
    pub fn training_data(&self, dataset: Dataset) -> Result<(Dataset, usize)> {
        if !self.data.resample {
            return Ok((dataset, 0));
        }
        let irregular = crate::data::resample::irregular_episodes(&dataset);
        Ok((crate::data::resample::resample_irregular(&dataset)?, irregular))
    }

    /// The parts, encoding and baselines training fits on `dataset` (as [`Self::training_data`]
    /// leaves it).
    pub fn prepare(&self, dataset: &Dataset) -> Result<Prepared> {
        crate::train::prepare(
            dataset,
            &self.data.split,
            self.training_windows(),
            &self.baselines,
            self.data.encoding.clone(),
        )
    }

    /// The backend named by `backend`, or an error naming the option.
    pub fn backend(&self) -> Result<Backend> {
        self.backend.parse::<Backend>().map_err(|e| Error::option("backend (--backend)", e.to_string()))
    }

    /// Checks every value that can be checked without the data, before any work starts.
    pub fn validate(&self) -> Result<()> {
        self.backend()?;
        let m = &self.model;
        if m.hidden == 0 || m.hidden > MAX_HIDDEN {
            return Err(Error::option(
                "model.hidden (--hidden)",
                format!("must be in 1..={MAX_HIDDEN}, got {}", m.hidden),
            ));
        }
        if m.layers == 0 || m.layers > MAX_LAYERS {
            return Err(Error::option(
                "model.layers (--layers)",
                format!("must be in 1..={MAX_LAYERS}, got {}", m.layers),
            ));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return Err(Error::option("model.dropout (--dropout)", format!("must be in [0, 1), got {}", m.dropout)));
        }
        if !(1..=crate::model::MAX_MEMBERS).contains(&m.members) {
            return Err(Error::option(
                "model.members (--members)",
                format!("must be in 1..={}, got {}", crate::model::MAX_MEMBERS, m.members),
            ));
        }
        check_count("data.context (--context)", self.data.context, 1)?;
        check_count("data.stride (--stride)", self.data.stride, 1)?;
        self.data.split.validate()?;
        self.data.encoding.validate()?;
        self.baselines.validate()?;
        self.train.validate()?;
        self.eval.validate()?;
        Ok(())
    }
}
