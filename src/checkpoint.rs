//! Checkpoints: one file holding everything inference needs (model configuration, encoding,
//! channels) and the weights; `last.ckpt` of a run adds the optimiser and the training state to
//! resume from. Written atomically.
//!
//! Layout (little-endian): the 8-byte magic `TRAJRNN1`, a u64 length `n`, `n` bytes of JSON
//! ([`CheckpointMeta`], whose `sections` give the sizes of what follows), then the sections in
//! order: the weights as a burnpack record (burn's format) and, optionally, the optimiser state
//! (burnpack). Every size and shape in the header is checked against the file and the model
//! before anything is allocated, each section must match its checksum (from version 3), and
//! weights must be finite.

use std::io::Write;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::data::{ChannelRole, Dataset, Encoding, SplitConfig, WindowSpec};
use crate::error::{Error, Location, Result, parser_message};
use crate::eval::{EvalConfig, LinearAr};
use crate::model::{ModelConfig, TrajectoryModel};
use crate::train::{EpochStats, TrainConfig};

const MAGIC: &[u8; 8] = b"TRAJRNN1";
/// A step this far (fraction of the period) from the nominal one makes a recording irregular.
pub const RESAMPLE_TOLERANCE: f64 = 0.01;
/// Version of the header layout. Checkpoints written by this version keep loading in later
/// ones (a fixture under `tests/fixtures/` checks it).
pub const CHECKPOINT_VERSION: u32 = 3;
/// Largest JSON header accepted (a real one is a few kilobytes).
const MAX_HEADER: u64 = 16 << 20;
/// Bytes a burnpack record may hold beyond its f32 values (names, shapes, alignment).
const MAX_RECORD_OVERHEAD: usize = 1 << 20;

/// What the data looked like, so a checkpoint is only applied to matching data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataInfo {
    pub dataset: String,
    pub robot: String,
    /// Channel names in model order.
    pub channels: Vec<String>,
    /// What each channel is (scored as a joint, a gripper, or not scored).
    pub roles: Vec<ChannelRole>,
    pub rate_hz: f64,
    /// Irregular recordings were resampled onto `rate_hz` before training (and are before
    /// evaluation).
    #[serde(default)]
    pub resample: bool,
}

impl DataInfo {
    pub fn of(dataset: &Dataset) -> Self {
        let meta = &dataset.meta;
        Self {
            dataset: meta.name.clone(),
            robot: meta.robot.clone(),
            channels: meta.channels(),
            roles: meta.roles(),
            rate_hz: meta.rate_hz,
            resample: false,
        }
    }

    /// The dataset with its channels in this checkpoint's order, or an error listing both sets.
    pub fn matching(&self, dataset: &Dataset) -> Result<Dataset> {
        let ordered = dataset.with_channel_order(&self.channels)?;
        if ordered.meta.roles() != self.roles {
            return Err(Error::Mismatch(format!(
                "the channels have other roles in the dataset than in the model (joints: model [{}], dataset [{}])",
                crate::error::list(
                    &self
                        .channels
                        .iter()
                        .zip(&self.roles)
                        .filter(|(_, r)| **r == ChannelRole::Joint)
                        .map(|(c, _)| c)
                        .collect::<Vec<_>>()
                ),
                crate::error::list(&ordered.meta.joints)
            )));
        }
        let ordered = if self.resample && crate::data::resample::is_irregular(&ordered, RESAMPLE_TOLERANCE) {
            crate::data::resample::resample(&ordered, ordered.meta.rate_hz)?
        } else {
            ordered
        };
        if (ordered.meta.rate_hz - self.rate_hz).abs() > 1e-6 * self.rate_hz {
            eprintln!(
                "warning: the model was trained at {} Hz and the dataset is {} Hz; predictions are per frame",
                self.rate_hz, ordered.meta.rate_hz
            );
        }
        Ok(ordered)
    }
}

impl TrainingState {
    /// Checks that the state is one a run can have written, so that a resumed run continues
    /// from it (rather than failing later with a message about something else).
    fn validate(&self) -> std::result::Result<(), String> {
        if !(self.lr_scale > 0.0 && self.lr_scale <= 1.0) {
            // A resumed run multiplies its learning rate by this: negative would ascend.
            return Err(format!("lr_scale must be in (0, 1], got {}", self.lr_scale));
        }
        if self.history.len() != self.epoch {
            return Err(format!("history holds {} epochs where {} were completed", self.history.len(), self.epoch));
        }
        // The first epoch with a finite validation loss is always a best one.
        let first_finite = self.history.iter().position(|h| h.valid_loss.is_finite());
        match (self.best_epoch, first_finite) {
            (None, Some(f)) => Err(format!("no best_epoch, but epoch {} has a finite validation loss", f + 1)),
            (None, None) if self.best_valid_loss.is_some() => Err("best_valid_loss without a best_epoch".into()),
            (None, None) => Ok(()),
            (Some(b), _) if b == 0 || b > self.epoch => Err(format!("best_epoch {b} of {} epochs", self.epoch)),
            (Some(b), _) if self.best_valid_loss != Some(self.history[b - 1].valid_loss) => Err(format!(
                "best_valid_loss {:?} is not epoch {b}'s validation loss {}",
                self.best_valid_loss,
                self.history[b - 1].valid_loss
            )),
            (Some(_), _) => Ok(()),
        }
    }
}

/// A section of the file after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub name: String,
    pub bytes: u64,
    /// [`checksum`] of the section (version 3 on): a damaged weight that is still a finite
    /// number would otherwise load silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fnv1a64: Option<u64>,
}

/// FNV-1a (64 bit) of `bytes`: detects accidental damage (not tampering), at memory speed.
pub fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Where a run stands, for `--resume` (only in `last.ckpt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    /// Factor on the scheduled learning rate (halved at each divergence rollback).
    pub lr_scale: f64,
    pub rollbacks: usize,
    pub best_epoch: Option<usize>,
    pub best_valid_loss: Option<f64>,
    pub epochs_without_improvement: usize,
    pub history: Vec<EpochStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    pub checkpoint_version: u32,
    pub trajrnn_version: String,
    pub model: ModelConfig,
    pub encoding: Encoding,
    pub data: DataInfo,
    pub window: WindowSpec,
    pub split: SplitConfig,
    pub train: TrainConfig,
    /// The linear autoregressive baselines fitted on the same training data, so evaluations on
    /// other data compare against baselines that learned from what the model learned from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub baselines: Vec<LinearAr>,
    /// How the run evaluated the model (`trajrnn eval` starts from these settings).
    #[serde(default)]
    pub eval: EvalConfig,
    /// Epoch (1-based) whose weights these are (0: not trained), and its validation loss.
    pub epoch: usize,
    pub valid_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingState>,
    pub sections: Vec<Section>,
}

impl CheckpointMeta {
    /// Checks that the parts agree: sizes in range, the encoding and channels fit the model.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, msg: String| Err(Error::invalid(Location::file(path).column(field), msg));
        if self.checkpoint_version == 0 || self.checkpoint_version > CHECKPOINT_VERSION {
            return bad(
                "checkpoint_version",
                format!(
                    "version {} is not readable by this build (reads 1..={CHECKPOINT_VERSION}); update trajrnn",
                    self.checkpoint_version
                ),
            );
        }
        self.model.validate().map_err(|e| Error::invalid(Location::file(path).column("model"), e.to_string()))?;
        let dim = self.model.output_dim;
        if let Err(e) = self.encoding.validate(dim) {
            return bad("encoding", e);
        }
        if self.encoding.input_dim() != self.model.input_dim {
            return bad(
                "encoding",
                format!("gives {} inputs, the model reads {}", self.encoding.input_dim(), self.model.input_dim),
            );
        }
        if self.data.channels.len() != dim || self.data.roles.len() != dim {
            return bad(
                "data",
                format!(
                    "{} channel names and {} roles for a model of {dim} outputs",
                    self.data.channels.len(),
                    self.data.roles.len()
                ),
            );
        }
        if !self.data.roles.contains(&ChannelRole::Joint) {
            return bad("data", "no channel is an arm joint".into());
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(c) = self.data.channels.iter().find(|c| !seen.insert(c.as_str())) {
            return bad("data", format!("channel {} is listed twice", crate::error::quote(c)));
        }
        if !(self.data.rate_hz.is_finite() && self.data.rate_hz > 0.0) {
            return bad("data", format!("rate_hz must be positive, got {}", self.data.rate_hz));
        }
        if !(1..=crate::config::MAX_COUNT).contains(&self.window.context) {
            return bad(
                "window",
                format!("context must be in 1..={}, got {}", crate::config::MAX_COUNT, self.window.context),
            );
        }
        for ar in &self.baselines {
            // The baseline indexes its coefficients by these sizes when it is scored.
            if let Err(m) = ar.validate(dim) {
                return bad("baselines", m);
            }
        }
        if let Some(t) = &self.training {
            t.validate().map_err(|m| Error::invalid(Location::file(path).column("training"), m))?;
        }
        Ok(())
    }
}

/// Writes a checkpoint atomically: an interrupted write leaves the previous file intact.
/// `optimizer` is the optimiser's burnpack bytes, for `last.ckpt`.
pub fn save(path: &Path, model: &TrajectoryModel, meta: &CheckpointMeta, optimizer: Option<&[u8]>) -> Result<()> {
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::invalid(Location::file(path), format!("cannot serialise weights: {e:?}")))?;
    let mut meta = meta.clone();
    meta.checkpoint_version = CHECKPOINT_VERSION;
    let section = |name: &str, bytes: &[u8]| Section {
        name: name.into(),
        bytes: bytes.len() as u64,
        fnv1a64: Some(checksum(bytes)),
    };
    meta.sections = vec![section("weights", &weights)];
    meta.sections.extend(optimizer.map(|o| section("optimizer", o)));
    let header = serde_json::to_vec_pretty(&meta).expect("checkpoint metadata serialises");
    crate::io::write_atomic(path, |f| {
        f.write_all(MAGIC)?;
        f.write_all(&(header.len() as u64).to_le_bytes())?;
        f.write_all(&header)?;
        f.write_all(&weights)?;
        if let Some(o) = optimizer {
            f.write_all(o)?;
        }
        Ok(())
    })
}

/// A loaded checkpoint.
pub struct Checkpoint {
    pub model: TrajectoryModel,
    pub meta: CheckpointMeta,
    /// The optimiser's burnpack bytes (only in `last.ckpt`).
    pub optimizer: Option<Vec<u8>>,
}

/// Loads a checkpoint onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (meta, sections) = parse(path, &bytes)?;
    let bad = |msg: String| Error::invalid(Location::file(path), msg);
    let weights = sections[0];
    let expected = meta.model.parameter_count() * 4;
    if weights.len() < expected || weights.len() > expected + MAX_RECORD_OVERHEAD {
        return Err(bad(format!(
            "the weights section holds {} bytes where the model configuration needs about {expected}: \
             the header does not describe these weights",
            weights.len()
        )));
    }
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| bad(format!("corrupt weights: {}", parser_message(format!("{e:?}")))))?;
    let model = meta
        .model
        .init(device, 0)
        .try_load_record(record)
        .map_err(|e| bad(format!("weights do not fit the model configuration: {e:?}")))?;
    if let Some(name) = first_non_finite(&model) {
        return Err(bad(format!("weight tensor `{name}` holds a non-finite value (NaN or infinity)")));
    }
    let optimizer = sections.get(1).map(|s| s.to_vec());
    Ok(Checkpoint { model, meta, optimizer })
}

/// Reads only the header (no weights are decoded).
pub fn load_meta(path: &Path) -> Result<CheckpointMeta> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(parse(path, &bytes)?.0)
}

/// Splits the file into its header and sections, checking every size against the file.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<(CheckpointMeta, Vec<&'a [u8]>)> {
    let bad = |msg: String| Error::invalid(Location::file(path), msg);
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("not a trajrnn checkpoint (missing TRAJRNN1 header)".into()));
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let rest = (bytes.len() - 16) as u64;
    if len > MAX_HEADER || len > rest {
        return Err(bad(format!("truncated or damaged checkpoint: header length {len} but {rest} bytes follow")));
    }
    let (header, body) = bytes[16..].split_at(len as usize);
    let meta: CheckpointMeta = serde_json::from_slice(header).map_err(|e| {
        Error::invalid(Location::file(path).line(e.line() as u64), format!("checkpoint header: {}", parser_message(&e)))
    })?;
    meta.validate(path)?;
    if meta.sections.first().map(|s| s.name.as_str()) != Some("weights") || meta.sections.len() > 2 {
        return Err(bad("checkpoint header: sections must be `weights` and optionally `optimizer`".into()));
    }
    let total = meta.sections.iter().try_fold(0u64, |acc, s| acc.checked_add(s.bytes));
    if total != Some(body.len() as u64) {
        return Err(bad(format!(
            "truncated or damaged checkpoint: the header announces {} bytes of sections, the file holds {}",
            total.map_or("too many".into(), |t| t.to_string()),
            body.len()
        )));
    }
    let mut out = Vec::with_capacity(meta.sections.len());
    let mut at = 0usize;
    for s in &meta.sections {
        let bytes = &body[at..at + s.bytes as usize];
        if meta.checkpoint_version >= 3 && s.fnv1a64.is_none() {
            return Err(bad(format!("checkpoint header: the `{}` section has no checksum", s.name)));
        }
        if s.fnv1a64.is_some_and(|sum| sum != checksum(bytes)) {
            return Err(bad(format!(
                "the `{}` section is damaged: its checksum does not match (the file changed after it was written)",
                s.name
            )));
        }
        out.push(bytes);
        at += s.bytes as usize;
    }
    Ok((meta, out))
}

/// The name of the first parameter tensor holding NaN or infinity.
fn first_non_finite(model: &TrajectoryModel) -> Option<String> {
    struct Finder {
        index: usize,
        found: Option<String>,
    }
    impl ModuleVisitor for Finder {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.found.is_none() {
                let values = param.val().into_data().convert::<f32>();
                if values.as_slice::<f32>().map_or(true, |v| v.iter().any(|x| !x.is_finite())) {
                    self.found = Some(format!("parameter {} {:?}", self.index, param.shape().dims::<D>()));
                }
            }
            self.index += 1;
        }
    }
    let mut finder = Finder { index: 0, found: None };
    model.visit(&mut finder);
    finder.found
}
