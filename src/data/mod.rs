//! Trajectory data: the on-disk format, validation, episode splits, normalisation and windows.
//!
//! The flow is `Dataset::load` → [`split::split`] (by episode, or by time blocks with a gap)
//! → [`Normalizer::fit`] on the training part only → [`window::windows`] (indices into episode
//! storage, never copies) → [`window::gather_batch`] on demand.

pub mod csv_episode;
pub mod dataset;
pub mod normalize;
pub mod split;
pub mod window;

pub use dataset::{Dataset, DatasetMeta, Episode, RobotDescriptionRef};
pub use normalize::Normalizer;
pub use split::{Segment, Split, SplitConfig};
pub use window::{Batch, Window, WindowSpec};

use crate::error::Result;

/// A dataset made ready for training: split, normaliser fitted on the training part, windows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub split: Split,
    pub normalizer: Normalizer,
    pub train: Vec<Window>,
    pub valid: Vec<Window>,
}

/// Splits `dataset`, fits the normaliser on the training segments only and cuts both parts
/// into windows.
pub fn prepare(dataset: &Dataset, split_config: &SplitConfig, spec: WindowSpec) -> Result<Prepared> {
    let split = split::split(dataset, split_config)?;
    let normalizer = Normalizer::fit(dataset, &split.train)?;
    let train = window::windows(dataset, &split.train, spec)?;
    let valid = window::windows(dataset, &split.valid, spec)?;
    Ok(Prepared { split, normalizer, train, valid })
}
