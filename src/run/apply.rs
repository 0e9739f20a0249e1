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
use crate::rollout::PredictionTrack;

/// Which frames of a dataset to score (`--part` of `trajrnn eval`, `part=` in Python).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PartChoice {
    /// The checkpoint's test part, and every episode it has never seen (the default).
    #[default]
    Test,
    /// The checkpoint's validation part.
    #[value(alias = "validation")]
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

/// Free-running rollouts over a segment, as `trajrnn rollout` plays and writes them.
pub struct Rollouts {
    /// The frames shown: the segment, or the warm-up and the plan's frames.
    pub shown: Segment,
    /// The predictions; frame indices relative to `shown`'s first frame.
    pub track: PredictionTrack,
    /// With a plan: the commands to show as sent (the recorded ones during the warm-up, then
    /// the plan), row-major `[frames, command_dim]`.
    pub commands_shown: Option<Vec<f32>>,
    /// What the rollouts are, for the summary.
    pub what: super::Shown,
}

/// Loads `checkpoint` (on `device`, without autodiff) and `dataset`, matches the channels by
/// name and recognises the episodes by content.
pub fn apply_checkpoint(checkpoint: &Path, dataset: &Path, device: &Device, observer: Observer) -> Result<Applied> {
    let meta = checkpoint::load_meta(checkpoint)?;
    let raw = load_dataset(dataset, observer)?;
    apply_checkpoint_to(checkpoint, raw, meta, device, observer)
}

/// As [`apply_checkpoint`], with a dataset already in memory and the checkpoint's header read
/// ([`checkpoint::load_meta`]).
pub fn apply_checkpoint_to(
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

    /// Free-running rollouts of `segment`: each observes `warmup` frames (default: the
    /// checkpoint's context), predicts `horizon`, and restarts from the recorded frames. With a
    /// command `plan` (`[rows, command_dim]`), one rollout after the warm-up follows the plan's
    /// commands instead of the recorded ones, for as many frames as the plan has rows.
    pub fn rollouts(
        &self,
        segment: &Segment,
        horizon: usize,
        warmup: Option<usize>,
        plan: Option<&[f32]>,
        device: &Device,
    ) -> Result<Rollouts> {
        if horizon == 0 {
            return Err(Error::option("--horizon", "must be at least 1"));
        }
        let encoding = &self.meta.encoding;
        let warmup = warmup.unwrap_or(self.meta.window.context).max(encoding.history() + 1);
        let episode = &self.dataset.episodes[segment.episode];
        if segment.len() <= warmup {
            return Err(Error::option(
                "--warmup",
                format!(
                    "{} ({} frames) is not longer than the warm-up of {warmup} frames",
                    episode.name,
                    segment.len()
                ),
            ));
        }
        let plain = device.clone().without_autodiff();
        let frames = segment.frames.clone();
        let Some(plan) = plan else {
            let truth = episode.frames(frames.clone());
            let commands = episode.commands_of(frames);
            let track =
                crate::rollout::prediction_track(&self.model, encoding, truth, commands, warmup, horizon, &plain)?;
            return Ok(Rollouts {
                shown: segment.clone(),
                track,
                commands_shown: None,
                what: super::Shown::Rollouts { horizon },
            });
        };
        let rows = plan.len() / encoding.command_dim().max(1);
        if warmup + rows > segment.len() {
            return Err(Error::option(
                "--commands",
                format!(
                    "the plan has {rows} rows but {} has {} frames after the warm-up of {warmup}: \
                     choose a longer episode (--episode) or a shorter plan",
                    episode.name,
                    segment.len() - warmup
                ),
            ));
        }
        let start = frames.start;
        let observed = episode.frames(start..start + warmup);
        let sent = episode.commands_of(start..start + warmup);
        let track = crate::rollout::planned_track(&self.model, encoding, observed, sent, plan, &plain)?;
        let what = super::Shown::Plan { frames: track.states.len() / encoding.dim() };
        Ok(Rollouts {
            shown: Segment { episode: segment.episode, frames: start..start + warmup + rows },
            track,
            // What the viewer shows as commanded: the recorded commands, then the plan.
            commands_shown: Some([sent, plan].concat()),
            what,
        })
    }

    /// Writes `rollouts` as CSV, atomically: one row per predicted frame, with the episode, the
    /// frame's index in it and its time, the first frame of the rollout that predicted it, then
    /// the predicted channels (the model's order and units: radians for joints).
    pub fn write_rollouts_csv(&self, rollouts: &Rollouts, path: &Path) -> Result<()> {
        let episode = &self.dataset.episodes[rollouts.shown.episode];
        let dim = self.dataset.dim();
        let first = rollouts.shown.frames.start + rollouts.track.start;
        let mut anchors = rollouts.track.anchors.iter().map(|a| rollouts.shown.frames.start + a).peekable();
        let mut anchor = first;
        crate::io::write_atomic(path, |f| {
            let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
            let header = ["episode", "frame", "time", "rollout_start"].map(String::from);
            w.write_record(header.into_iter().chain(self.dataset.meta.channels()))?;
            for (k, row) in rollouts.track.states.chunks_exact(dim).enumerate() {
                let frame = first + k;
                while let Some(a) = anchors.next_if(|&a| a <= frame) {
                    anchor = a;
                }
                let fields =
                    [episode.name.clone(), frame.to_string(), episode.time[frame].to_string(), anchor.to_string()];
                w.write_record(fields.into_iter().chain(row.iter().map(f32::to_string)))?;
            }
            w.flush()
        })
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
