//! Train/validation splits that never leak: the split the dataset declares (robomimic's masks),
//! else whole episodes where there are enough of them, otherwise contiguous time blocks of each
//! episode separated by a gap of unused frames.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// A contiguous run of frames of one episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub episode: usize,
    pub frames: Range<usize>,
}

impl Segment {
    pub fn len(&self) -> usize {
        self.frames.len()
    }
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Share of episodes (or of each episode's frames) held out for validation, in (0, 1).
    pub val_fraction: f64,
    pub mode: SplitMode,
    /// Frames left unused between the training and validation blocks of an episode, so that no
    /// window or rollout warm-up on one side sees frames of the other.
    pub gap: usize,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { val_fraction: 0.2, mode: SplitMode::Auto, gap: 64 }
    }
}

/// How to hold data out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// The dataset's declared split when it has one, else by episode when there are at least
    /// two, otherwise by time blocks.
    #[default]
    Auto,
    Episodes,
    TimeBlocks,
    /// The episodes `dataset.json` names under `split` (an error when it names none).
    Declared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitKind {
    /// The last episodes (in file order) are the validation set.
    ByEpisode,
    /// Each episode's last block is validation, after a gap.
    TimeBlocks,
    /// The episodes named by the dataset's declared split (`val_fraction` does not apply).
    Declared,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Split {
    pub kind: SplitKind,
    pub train: Vec<Segment>,
    pub valid: Vec<Segment>,
}

impl Split {
    pub fn describe(&self, dataset: &Dataset) -> String {
        let names = |segs: &[Segment]| {
            segs.iter()
                .map(|s| format!("{}[{}..{}]", dataset.episodes[s.episode].name, s.frames.start, s.frames.end))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{:?} split: train {} | valid {}", self.kind, names(&self.train), names(&self.valid))
    }
}

pub fn split(dataset: &Dataset, config: &SplitConfig) -> Result<Split> {
    if !(config.val_fraction > 0.0 && config.val_fraction < 1.0) {
        return Err(Error::option("val_fraction", format!("must be in (0, 1), got {}", config.val_fraction)));
    }
    let n = dataset.episodes.len();
    let whole = |e: usize| Segment { episode: e, frames: 0..dataset.episodes[e].len() };
    match (&dataset.meta.split, config.mode) {
        (Some(declared), SplitMode::Auto | SplitMode::Declared) => return declared_split(dataset, declared),
        (None, SplitMode::Declared) => {
            return Err(Error::option("split", "`declared` needs a dataset whose dataset.json has a `split`"));
        }
        _ => {}
    }
    let by_episode = match config.mode {
        SplitMode::Declared => unreachable!("handled above"),
        SplitMode::Auto => n >= 2,
        SplitMode::Episodes if n < 2 => {
            return Err(Error::option("split", format!("a split by episode needs at least 2 episodes, found {n}")));
        }
        SplitMode::Episodes => true,
        SplitMode::TimeBlocks => false,
    };
    if by_episode {
        let n_valid = ((n as f64 * config.val_fraction).round() as usize).clamp(1, n - 1);
        return Ok(Split {
            kind: SplitKind::ByEpisode,
            train: (0..n - n_valid).map(whole).collect(),
            valid: (n - n_valid..n).map(whole).collect(),
        });
    }
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for (e, episode) in dataset.episodes.iter().enumerate() {
        let len = episode.len();
        let n_valid = (len as f64 * config.val_fraction).ceil() as usize;
        let train_end = len.saturating_sub(n_valid.saturating_add(config.gap));
        if train_end == 0 {
            return Err(Error::Config(format!(
                "{}: {len} frames are too few for a time-block split with {n_valid} validation frames and a gap of {} \
                 (lower --val-fraction or --context)",
                episode.source.display(),
                config.gap
            )));
        }
        train.push(Segment { episode: e, frames: 0..train_end });
        valid.push(Segment { episode: e, frames: len - n_valid..len });
    }
    Ok(Split { kind: SplitKind::TimeBlocks, train, valid })
}

/// The split named in `dataset.json`, in the dataset's episode order.
fn declared_split(dataset: &Dataset, declared: &crate::data::dataset::DeclaredSplit) -> Result<Split> {
    if declared.valid.is_empty() {
        return Err(Error::option(
            "split",
            "the dataset's declared split names no validation episode (use --split episodes or time-blocks)",
        ));
    }
    let pick = |names: &[String]| {
        let names: std::collections::HashSet<&String> = names.iter().collect();
        dataset
            .episodes
            .iter()
            .enumerate()
            .filter(|(_, e)| names.contains(&e.name))
            .map(|(i, e)| Segment { episode: i, frames: 0..e.len() })
            .collect::<Vec<_>>()
    };
    Ok(Split { kind: SplitKind::Declared, train: pick(&declared.train), valid: pick(&declared.valid) })
}
