//! Trajectory data: the in-memory dataset and its checks, the folder format, splits that never
//! leak, the input/target encoding and windows.
//!
//! The flow is [`Dataset::load`] (or [`Dataset::new`] from an importer) → [`split::split`] (by
//! episode, or by time blocks with a gap) → [`Encoding::fit`] on the training part only →
//! [`window::windows`] (indices into episode storage, never copies) → [`window::gather_batch`]
//! on demand.

pub mod csv_episode;
pub mod dataset;
pub mod encoding;
pub mod folder;
pub mod import;
pub mod inspect;
pub mod resample;
pub mod split;
pub mod window;

pub use dataset::{ChannelRole, Dataset, DatasetMeta, DeclaredSplit, Episode, RobotDescriptionRef};
pub use encoding::{Encoding, EncodingConfig, TargetBase};
pub use split::{Segment, Split, SplitConfig, SplitMode};
pub use window::{Batch, Window, WindowSpec};

use crate::error::Result;

/// A dataset made ready for training: split, encoding fitted on the training part, windows.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub split: Split,
    pub encoding: Encoding,
    pub train: Vec<Window>,
    pub valid: Vec<Window>,
}

/// Splits `dataset`, fits the encoding on the training segments only and cuts both parts into
/// windows.
pub fn prepare(
    dataset: &Dataset,
    split_config: &SplitConfig,
    spec: WindowSpec,
    encoding: EncodingConfig,
) -> Result<Prepared> {
    let split = split::split(dataset, split_config)?;
    let encoding = Encoding::fit(dataset, &split.train, encoding)?;
    let history = encoding.history();
    let train = window::windows(dataset, &split.train, spec, history)?;
    let valid = window::windows(dataset, &split.valid, spec, history)?;
    Ok(Prepared { split, encoding, train, valid })
}
