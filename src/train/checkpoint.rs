//! Checkpoints: one file holding everything a rollout needs (model configuration, normaliser,
//! dataset channels, training settings) and the weights, written atomically.
//!
//! Layout: the 8-byte magic `TRAJRNN1`, a little-endian u64 length `n`, `n` bytes of JSON
//! ([`CheckpointMeta`]), then the weights as a burnpack record (burn's native format).

use std::io::Write;
use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::data::{Normalizer, WindowSpec};
use crate::error::{Error, Location, Result};
use crate::model::{ModelConfig, TrajectoryModel};
use crate::train::TrainConfig;

const MAGIC: &[u8; 8] = b"TRAJRNN1";

/// What the data looked like, so a checkpoint is only applied to matching data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub dataset: String,
    pub robot: String,
    pub channels: Vec<String>,
    /// Leading channels that are arm joints (radians); the rest are gripper channels.
    pub joints: usize,
    pub rate_hz: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub trajrnn_version: String,
    pub model: ModelConfig,
    pub normalizer: Normalizer,
    pub data: DataInfo,
    pub window: WindowSpec,
    pub train: TrainConfig,
    /// Epoch (1-based) whose weights these are (0: not trained), and its validation loss.
    pub epoch: usize,
    pub valid_loss: Option<f64>,
}

/// Writes the checkpoint atomically: an interrupted write leaves the previous file intact.
pub fn save(path: &Path, model: &TrajectoryModel, meta: &CheckpointMeta) -> Result<()> {
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::invalid(Location::file(path), format!("cannot serialise weights: {e:?}")))?;
    let header = serde_json::to_vec_pretty(meta).expect("checkpoint metadata serialises");
    crate::io::write_atomic(path, |f| {
        f.write_all(MAGIC)?;
        f.write_all(&(header.len() as u64).to_le_bytes())?;
        f.write_all(&header)?;
        f.write_all(&weights)
    })
}

/// Loads a checkpoint onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<(TrajectoryModel, CheckpointMeta)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (meta, weights) = split(path, &bytes)?;
    let bad = |msg: String| Error::invalid(Location::file(path), msg);
    meta.model.validate()?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights.to_vec()))
        .map_err(|e| bad(format!("corrupt weights: {e:?}")))?;
    let model = meta
        .model
        .init(device, 0)
        .try_load_record(record)
        .map_err(|e| bad(format!("weights do not fit the model configuration: {e:?}")))?;
    Ok((model, meta))
}

fn split<'a>(path: &Path, bytes: &'a [u8]) -> Result<(CheckpointMeta, &'a [u8])> {
    let bad = |msg: &str| Error::invalid(Location::file(path), msg.to_string());
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("not a trajrnn checkpoint (missing TRAJRNN1 header)"));
    }
    let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
    let header = bytes.get(16..16 + len).ok_or_else(|| bad("truncated checkpoint header"))?;
    let meta = serde_json::from_slice(header)
        .map_err(|e| Error::invalid(Location::file(path).line(e.line() as u64), format!("checkpoint metadata: {e}")))?;
    Ok((meta, &bytes[16 + len..]))
}
