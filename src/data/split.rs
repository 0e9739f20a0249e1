//! Three parts that never leak into each other: *train* (what the model, the encoding and the
//! baselines are fitted on), *validation* (every choice: early stopping, the best epoch, the
//! baseline to compare with) and *test* (reported once, never used for a decision).
//!
//! - whole episodes, when the dataset has at least [`SplitConfig::min_episodes`] of them: a
//!   seeded permutation of the episode indices deals them out (the seed is saved in the
//!   checkpoint, so the same episodes are held out again, whatever they contain);
//! - otherwise contiguous time blocks of every episode: `train | gap | valid | gap | test`, the
//!   gaps unused, so that no window or rollout warm-up on one side sees frames of the other;
//! - or the split `dataset.json` declares.
//!
//! Which part a frame falls in depends only on the episode count, lengths, names and the seed:
//! never on the values, so that changing the test episodes cannot change training.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::data::segment::Segment;
use crate::error::{Error, Result};

/// How to split a dataset into its three parts (`data.split` of the run configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Whole episodes, time blocks, the declared split, or `auto` to choose.
    pub mode: SplitMode,
    /// Share of episodes (or of each episode's frames) for validation, in (0, 1).
    #[serde(alias = "val_fraction")]
    pub valid_fraction: f64,
    /// Share of episodes (or of each episode's frames) held out for the test report, in (0, 1).
    pub test_fraction: f64,
    /// Frames left unused between the time blocks of an episode.
    pub gap: usize,
    /// Fewest episodes for a split by whole episodes (`auto`).
    pub min_episodes: usize,
    /// Seed of the permutation that deals whole episodes out.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { mode: SplitMode::Auto, valid_fraction: 0.15, test_fraction: 0.15, gap: 64, min_episodes: 10, seed: 0 }
    }
}

impl SplitConfig {
    /// Checks the values before any work; errors name the option.
    pub fn validate(&self) -> Result<()> {
        let fraction = |name: &str, v: f64| crate::limits::check_range(name, v, 0.0, 1.0, true);
        fraction("data.split.valid_fraction (--valid-fraction)", self.valid_fraction)?;
        fraction("data.split.test_fraction (--test-fraction)", self.test_fraction)?;
        if self.valid_fraction + self.test_fraction >= 1.0 {
            return Err(Error::option(
                "data.split.valid_fraction + test_fraction",
                format!("must leave something to train on, got {} + {}", self.valid_fraction, self.test_fraction),
            ));
        }
        crate::limits::check_count("data.split.gap (--gap)", self.gap, 0)?;
        crate::limits::check_count("data.split.min_episodes", self.min_episodes, 3)
    }
}

/// How to hold data out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitMode {
    /// The dataset's declared split when it has one, else whole episodes when there are at
    /// least `min_episodes`, otherwise time blocks.
    #[default]
    Auto,
    /// Whole episodes (needs 3).
    Episodes,
    /// Time blocks of every episode.
    TimeBlocks,
    /// The episodes `dataset.json` names under `split` (an error when it names none).
    Declared,
}

/// How a split was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitKind {
    /// Whole episodes, dealt by a seeded permutation.
    ByEpisode,
    /// Each episode's blocks, with gaps.
    TimeBlocks,
    /// The episodes the dataset names.
    Declared,
}

/// One of the three parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// What the model, the encoding and the baselines are fitted on.
    Train,
    /// What every choice is made on (early stopping, the best epoch).
    Valid,
    /// Reported once, never used for a decision.
    Test,
}

impl Part {
    /// The three parts, in the order train, validation, test.
    pub const ALL: [Part; 3] = [Part::Train, Part::Valid, Part::Test];
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Train => "train",
            Part::Valid => "validation",
            Part::Test => "test",
        })
    }
}

/// A dataset's three parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// How the split was made.
    pub kind: SplitKind,
    /// Training segments, in episode order.
    pub train: Vec<Segment>,
    /// Validation segments, in episode order; never empty.
    pub valid: Vec<Segment>,
    /// Test segments, in episode order; never empty.
    pub test: Vec<Segment>,
}

impl Split {
    /// The segments of `part`.
    pub fn part(&self, part: Part) -> &[Segment] {
        match part {
            Part::Train => &self.train,
            Part::Valid => &self.valid,
            Part::Test => &self.test,
        }
    }

    /// One line: how the dataset was split and how much each part holds.
    pub(crate) fn describe(&self, dataset: &Dataset) -> String {
        let size = |segs: &[Segment]| {
            let episodes: std::collections::BTreeSet<usize> = segs.iter().map(|s| s.episode).collect();
            let frames: usize = segs.iter().map(Segment::len).sum();
            format!("{} episode(s), {frames} frames", episodes.len())
        };
        let names = |segs: &[Segment]| {
            let mut names: Vec<String> = segs
                .iter()
                .take(6)
                .map(|s| {
                    let e = &dataset.episodes[s.episode];
                    if s.frames == (0..e.len()) {
                        e.name.clone()
                    } else {
                        format!("{}[{}..{}]", e.name, s.frames.start, s.frames.end)
                    }
                })
                .collect();
            if segs.len() > 6 {
                names.push(format!("… ({} in all)", segs.len()));
            }
            names.join(", ")
        };
        let kind = match self.kind {
            SplitKind::ByEpisode => "whole episodes",
            SplitKind::TimeBlocks => "time blocks",
            SplitKind::Declared => "the dataset's declared split",
        };
        format!(
            "split by {kind}: train {} | validation {} ({}) | test {} ({})",
            size(&self.train),
            size(&self.valid),
            names(&self.valid),
            size(&self.test),
            names(&self.test)
        )
    }
}

/// Splits `dataset` into its three parts as `config` says.
pub fn split_dataset(dataset: &Dataset, config: &SplitConfig) -> Result<Split> {
    config.validate()?;
    let n = dataset.episodes.len();
    match (&dataset.meta.split, config.mode) {
        (Some(declared), SplitMode::Auto | SplitMode::Declared) => return declared_split(dataset, declared, config),
        (None, SplitMode::Declared) => {
            return Err(Error::option("split", "`declared` needs a dataset whose dataset.json has a `split`"));
        }
        _ => {}
    }
    let by_episode = match config.mode {
        SplitMode::Declared => unreachable!("handled above"),
        SplitMode::Auto => n >= config.min_episodes,
        SplitMode::Episodes if n < 3 => {
            return Err(Error::option("split", format!("a split by episode needs at least 3 episodes, found {n}")));
        }
        SplitMode::Episodes => true,
        SplitMode::TimeBlocks => false,
    };
    if by_episode {
        let indices: Vec<usize> = (0..n).collect();
        let (train, valid, test) = deal(&indices, config);
        let whole = |ids: Vec<usize>| ids.into_iter().map(|e| Segment::whole(dataset, e)).collect();
        return Ok(Split { kind: SplitKind::ByEpisode, train: whole(train), valid: whole(valid), test: whole(test) });
    }
    time_blocks(dataset, config)
}

/// Deals `episodes` into train, validation and test by a permutation seeded with
/// `config.seed`: at least one each, the shares rounded.
fn deal(episodes: &[usize], config: &SplitConfig) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let n = episodes.len();
    let mut order = episodes.to_vec();
    order.shuffle(&mut StdRng::seed_from_u64(config.seed));
    let count = |f: f64| ((n as f64 * f).round() as usize).max(1);
    let n_test = count(config.test_fraction).min(n - 2);
    let n_valid = count(config.valid_fraction).min(n - 1 - n_test);
    let mut test: Vec<usize> = order[..n_test].to_vec();
    let mut valid: Vec<usize> = order[n_test..n_test + n_valid].to_vec();
    let mut train: Vec<usize> = order[n_test + n_valid..].to_vec();
    for part in [&mut train, &mut valid, &mut test] {
        part.sort_unstable();
    }
    (train, valid, test)
}

/// `train | gap | valid | gap | test` in every episode.
fn time_blocks(dataset: &Dataset, config: &SplitConfig) -> Result<Split> {
    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (e, episode) in dataset.episodes.iter().enumerate() {
        let len = episode.len();
        let n_test = (len as f64 * config.test_fraction).ceil() as usize;
        let n_valid = (len as f64 * config.valid_fraction).ceil() as usize;
        let held = n_test.saturating_add(n_valid).saturating_add(config.gap.saturating_mul(2));
        let train_end = len.saturating_sub(held);
        if train_end == 0 {
            return Err(Error::Config(format!(
                "{}: {len} frames are too few for time blocks of {n_valid} validation and {n_test} test frames \
                 and two gaps of {} (lower --valid-fraction, --test-fraction or --gap)",
                episode.source.display(),
                config.gap
            )));
        }
        let valid_start = train_end + config.gap;
        let test_start = len - n_test;
        train.push(Segment { episode: e, frames: 0..train_end });
        valid.push(Segment { episode: e, frames: valid_start..valid_start + n_valid });
        test.push(Segment { episode: e, frames: test_start..len });
    }
    Ok(Split { kind: SplitKind::TimeBlocks, train, valid, test })
}

/// The split named in `dataset.json`. Without a declared `test` list, the declared validation
/// episodes (held out by the data's authors) are the test part, and validation episodes are
/// dealt from the declared training ones.
fn declared_split(dataset: &Dataset, declared: &crate::data::DeclaredSplit, config: &SplitConfig) -> Result<Split> {
    let pick = |names: &[String]| -> Vec<usize> {
        let names: std::collections::HashSet<&String> = names.iter().collect();
        (0..dataset.episodes.len()).filter(|&i| names.contains(&dataset.episodes[i].name)).collect()
    };
    let whole = |ids: Vec<usize>| -> Vec<Segment> { ids.into_iter().map(|e| Segment::whole(dataset, e)).collect() };
    let train = pick(&declared.train);
    let valid = pick(&declared.valid);
    let (train, valid, test) = match &declared.test {
        Some(test) => (train, valid, pick(test)),
        None => {
            if train.len() < 2 {
                return Err(Error::option(
                    "split",
                    "the dataset's declared split leaves fewer than 2 training episodes to take validation episodes \
                     from (use --split episodes or time-blocks)",
                ));
            }
            let (train, from_train) = deal_two(&train, config);
            (train, from_train, valid)
        }
    };
    if valid.is_empty() || test.is_empty() {
        return Err(Error::option(
            "split",
            "the dataset's declared split leaves no validation or no test episode (use --split episodes or time-blocks)",
        ));
    }
    Ok(Split { kind: SplitKind::Declared, train: whole(train), valid: whole(valid), test: whole(test) })
}

/// Deals `episodes` into train and validation only (at least one each).
fn deal_two(episodes: &[usize], config: &SplitConfig) -> (Vec<usize>, Vec<usize>) {
    let mut order = episodes.to_vec();
    order.shuffle(&mut StdRng::seed_from_u64(config.seed));
    let n_valid = ((episodes.len() as f64 * config.valid_fraction).round() as usize).clamp(1, episodes.len() - 1);
    let (mut valid, mut train) = (order[..n_valid].to_vec(), order[n_valid..].to_vec());
    valid.sort_unstable();
    train.sort_unstable();
    (train, valid)
}
