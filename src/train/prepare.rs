//! A dataset made ready for training: its three parts, the baselines and the encoding fitted on
//! the training part, and the windows of the training and validation parts.

use crate::baselines::{BaselineConfig, Baselines};
use crate::data::split::{self, Split, SplitConfig};
use crate::data::window::{self, Window, WindowSpec};
use crate::data::{Dataset, channels};
use crate::encoding::{Encoding, EncodingConfig};
use crate::error::Result;
use crate::train::TrainingSet;

/// What [`prepare`] makes of a dataset.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The training, validation and test segments.
    pub split: Split,
    /// Every learned rule, fitted on the training part.
    pub baselines: Baselines,
    /// Fitted on the training part.
    pub encoding: Encoding,
    /// Each channel's profile on the training part (what the encoding's treatments were decided
    /// from).
    pub profiles: Vec<channels::ChannelProfile>,
    /// The training windows (full BPTT), `context` input steps each.
    pub train: Vec<Window>,
    /// The validation segments that hold a whole window (possibly none).
    pub valid: Vec<Window>,
}

impl Prepared {
    /// What training reads of `dataset` (the dataset these parts were prepared from).
    pub fn training_set<'a>(&'a self, dataset: &'a Dataset) -> TrainingSet<'a> {
        TrainingSet {
            dataset,
            encoding: &self.encoding,
            train_segments: &self.split.train,
            train: &self.train,
            valid: &self.valid,
        }
    }
}

/// Splits `dataset`, fits the baselines and the encoding on the training part only and cuts the
/// training and validation parts into windows (the test part is left alone).
pub fn prepare(
    dataset: &Dataset,
    split_config: &SplitConfig,
    spec: WindowSpec,
    baselines: &BaselineConfig,
    encoding: EncodingConfig,
) -> Result<Prepared> {
    let split = split::split_dataset(dataset, split_config)?;
    // The rules that read commands need them at evaluation too; a model that does not read
    // them is checked, stored and applied without them, so its rules do without them as well.
    let baselines = BaselineConfig { commands: baselines.commands && encoding.commands, ..baselines.clone() };
    let baselines = Baselines::fit(dataset, &split.train, &baselines)?;
    let profiles = channels::profiles(dataset, &split.train);
    let encoding = Encoding::fit_profiled(dataset, &split.train, encoding, &baselines, &profiles)?;
    let history = encoding.history();
    let train = window::cut_windows(dataset, &split.train, spec, history)?;
    // The validation loss is a diagnostic (the best epoch is chosen by the rollout score by
    // default): validation segments too short for a training window are left out of it.
    let valid = window::cut_windows_where_they_fit(dataset, &split.valid, spec, history)?;
    Ok(Prepared { split, baselines, encoding, profiles, train, valid })
}
