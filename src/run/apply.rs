//! A checkpoint applied to a dataset: its channels put in the model's order, resampled as in
//! training, and each episode recognised by content as part of the checkpoint's training,
//! validation or test data, or as data it has never seen. This decides what `eval` scores and
//! which segment `rollout` plays back, for the command line and library users alike.

use std::path::Path;

use burn::prelude::Device;

use super::{Observer, load_dataset, warn};
use crate::checkpoint::{self, CheckpointMeta, SegmentRecord};
use crate::data::{Dataset, Part, Segment, fingerprint};
use crate::error::{Error, Result};
use crate::eval::{self, EvalConfig, EvalInputs, EvalReport};
use crate::kinematics::Kinematics;
use crate::model::TrajectoryModel;

/// Which frames of a dataset to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartChoice {
    /// The checkpoint's test part, and every episode it has never seen (the default).
    #[default]
    Test,
    /// The checkpoint's validation part.
    Valid,
    /// The checkpoint's training part.
    Train,
    /// Every frame, whatever the model saw in training.
    All,
}

/// A checkpoint and a dataset it applies to.
pub struct Applied {
    /// The checkpoint's network, on the device without autodiff.
    pub model: TrajectoryModel,
    /// The checkpoint's header, validated.
    pub meta: CheckpointMeta,
    /// Channels in the model's order, irregular episodes resampled as in training.
    pub dataset: Dataset,
    /// Forward kinematics of the robot (`None` when the dataset has no robot description).
    pub kinematics: Option<Kinematics>,
    /// For each episode, the segments of the checkpoint's split it was recognised as (empty:
    /// an episode the checkpoint has never seen).
    pub recognised: Vec<Vec<SegmentRecord>>,
}

/// The frames chosen for scoring, and what they are.
pub struct Scored {
    /// The chosen frames, as frame ranges of `dataset`'s episodes.
    pub segments: Vec<Segment>,
    /// One sentence: which part, how many episodes recognised, how many unseen, what was left out.
    pub description: String,
    /// What the report calls the part.
    pub part: &'static str,
}

/// Loads `checkpoint` (on `device`, without autodiff) and `dataset`, matches the channels by
/// name and recognises the episodes by content.
pub fn apply_checkpoint(checkpoint: &Path, dataset: &Path, device: &Device, observer: Observer) -> Result<Applied> {
    let meta = checkpoint::load_meta(checkpoint)?;
    let raw = load_dataset(dataset, observer)?;
    apply_to(checkpoint, raw, meta, device, observer)
}

/// As [`apply_checkpoint`], with a dataset already in memory.
pub(crate) fn apply_to(
    checkpoint: &Path,
    raw: Dataset,
    meta: CheckpointMeta,
    device: &Device,
    observer: Observer,
) -> Result<Applied> {
    let ordered = meta.data.matching(&raw)?;
    let fingerprints = fingerprint::episodes(&ordered);
    let (dataset, warnings) = meta.data.prepare(&ordered)?;
    for w in warnings {
        warn(observer, w);
    }
    if meta.split.kind.is_none() {
        warn(
            observer,
            format!(
                "{} (checkpoint version {}) does not record which data it trained on: every episode counts as unseen",
                checkpoint.display(),
                meta.checkpoint_version
            ),
        );
    }
    let recognised: Vec<Vec<SegmentRecord>> =
        fingerprints.iter().map(|&f| meta.split.of_episode(f).cloned().collect()).collect();
    for (e, records) in recognised.iter().enumerate() {
        let len = dataset.episodes[e].len();
        if let Some(r) = records.iter().find(|r| r.frames.end > len) {
            return Err(Error::Mismatch(format!(
                "episode {} matches the checkpoint's episode {} by content but has {len} frames, not {}",
                dataset.episodes[e].name, r.episode, r.frames.end
            )));
        }
    }
    let kinematics = Kinematics::for_dataset(&dataset)?;
    let ck = checkpoint::load(checkpoint, &device.clone().without_autodiff())?;
    Ok(Applied { model: ck.model, meta: ck.meta, dataset, kinematics, recognised })
}

impl Applied {
    /// Episodes recognised as (part of) the checkpoint's data.
    pub fn recognised_count(&self) -> usize {
        self.recognised.iter().filter(|r| !r.is_empty()).count()
    }

    /// The segments to score for `choice`.
    pub fn scored(&self, choice: PartChoice) -> Result<Scored> {
        let known = self.recognised_count();
        let unseen = self.dataset.episodes.len() - known;
        let recorded = |part: Part| -> Vec<Segment> {
            self.recognised
                .iter()
                .enumerate()
                .flat_map(|(e, records)| {
                    records
                        .iter()
                        .filter(move |r| r.part == part)
                        .map(move |r| Segment { episode: e, frames: r.frames.clone() })
                })
                .collect()
        };
        let whole_unseen: Vec<Segment> = (0..self.dataset.episodes.len())
            .filter(|&e| self.recognised[e].is_empty())
            .map(|e| Segment::whole(&self.dataset, e))
            .collect();
        let (segments, description, part) = match choice {
            PartChoice::All => (
                (0..self.dataset.episodes.len()).map(|e| Segment::whole(&self.dataset, e)).collect(),
                if known > 0 {
                    format!(
                        "every frame, including {known} episode(s) of the checkpoint's own data (training frames among \
                         them): these numbers are not a test"
                    )
                } else {
                    format!("every frame of {unseen} episode(s) the checkpoint has never seen")
                },
                "all",
            ),
            PartChoice::Test => {
                let mut segments = recorded(Part::Test);
                let tested = segments.iter().map(|s| s.episode).collect::<std::collections::BTreeSet<_>>().len();
                segments.extend(whole_unseen);
                let left_out = known - tested.min(known);
                let description = format!(
                    "test part: {tested} episode(s) recognised by content as the checkpoint's test data, {unseen} \
                     unseen episode(s) scored whole{}",
                    if left_out > 0 {
                        format!("; {left_out} episode(s) of its training and validation data left out")
                    } else {
                        String::new()
                    }
                );
                (segments, description, "test")
            }
            PartChoice::Valid | PartChoice::Train => {
                let part = if choice == PartChoice::Valid { Part::Valid } else { Part::Train };
                let segments = recorded(part);
                if segments.is_empty() {
                    return Err(Error::Mismatch(format!(
                        "no episode of {} is the checkpoint's {part} data (episodes are recognised by content)",
                        self.dataset.meta.name
                    )));
                }
                let n = segments.iter().map(|s| s.episode).collect::<std::collections::BTreeSet<_>>().len();
                (
                    segments,
                    format!("{part} part: {n} episode(s) recognised by content"),
                    if part == Part::Valid { "validation" } else { "train" },
                )
            }
        };
        if segments.is_empty() {
            return Err(Error::Mismatch(format!(
                "nothing to score: every episode of {} is the checkpoint's training or validation data \
                 (use --part valid, train or all)",
                self.dataset.meta.name
            )));
        }
        Ok(Scored { segments, description, part })
    }

    /// Evaluates the model on `scored` against the baselines, comparing at each horizon with the
    /// baseline chosen on the checkpoint's validation part. The report warns of channels the
    /// model holds (constant in training) that move in the scored frames.
    pub fn evaluate(&self, scored: &Scored, config: &EvalConfig, device: &Device) -> Result<EvalReport> {
        let baselines = self.meta.baselines.all();
        let inputs = EvalInputs {
            model: &self.model,
            encoding: &self.meta.encoding,
            dataset: &self.dataset,
            segments: &scored.segments,
            baselines: &baselines,
            choice: self.meta.choice.as_ref(),
            kinematics: self.kinematics.as_ref(),
            part: scored.part,
        };
        let mut report = eval::evaluate(&inputs, config, &device.clone().without_autodiff())?;
        for name in super::held_but_moving(&self.dataset, &scored.segments, &self.meta.encoding) {
            report.warnings.push(format!(
                "channel {name} was constant in training and moves here: the model holds it at its current value"
            ));
        }
        Ok(report)
    }

    /// The segment a playback shows by default: the first test segment of the checkpoint's own
    /// data, else the first unseen episode, else the first episode.
    pub fn playback_segment(&self, episode: Option<&str>) -> Result<Segment> {
        if let Some(name) = episode {
            let e = self.dataset.episode_index(name, "--episode")?;
            return Ok(Segment::whole(&self.dataset, e));
        }
        let test = self.recognised.iter().enumerate().find_map(|(e, records)| {
            records.iter().find(|r| r.part == Part::Test).map(|r| Segment { episode: e, frames: r.frames.clone() })
        });
        let unseen = self.recognised.iter().position(Vec::is_empty).map(|e| Segment::whole(&self.dataset, e));
        Ok(test.or(unseen).unwrap_or_else(|| Segment::whole(&self.dataset, 0)))
    }
}
