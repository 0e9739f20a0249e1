//! Content fingerprints of episodes: a checkpoint records those of the episodes in each part of
//! its split, so `eval` recognises its own training, validation and test data by what the
//! episodes hold, whatever the dataset or its files are called.

use std::hash::Hasher;

use twox_hash::XxHash64;

use crate::data::{Dataset, Episode};

/// A 64-bit hash of an episode's channel count, timestamps, values and commands (exact bits),
/// in the channel order given. Two episodes with the same fingerprint hold the same frames.
pub fn episode(e: &Episode) -> u64 {
    let mut h = XxHash64::with_seed(0x7472_616a_726e_6e31); // "trajrnn1"
    h.write_u64(e.dim as u64);
    h.write_u64(e.len() as u64);
    let mut bytes = Vec::with_capacity(e.time.len() * 8 + e.states.len() * 4);
    bytes.extend(e.time.iter().flat_map(|t| t.to_le_bytes()));
    bytes.extend(e.states.iter().flat_map(|v| v.to_le_bytes()));
    if let Some(commands) = &e.commands {
        bytes.extend(commands.iter().flat_map(|v| v.to_le_bytes()));
    }
    h.write(&bytes);
    h.finish()
}

/// The fingerprint of every episode of `dataset`, in episode order.
pub fn episodes(dataset: &Dataset) -> Vec<u64> {
    dataset.episodes.iter().map(episode).collect()
}
