//! A contiguous run of frames of one episode — what the splits are made of and what every pass
//! over a part reads — and `fold_segments`, the deterministic parallel pass over runs that the
//! encoding's and the linear rules' fits use.

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;

/// A contiguous run of frames of one episode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Index of the episode in the dataset.
    pub episode: usize,
    /// Frame indices within that episode, end exclusive.
    pub frames: Range<usize>,
}

/// Frames per chunk when a pass over segments runs in parallel ([`fold_segments`]).
const CHUNK_FRAMES: usize = 1 << 16;

/// Folds `segments` on rayon's threads: consecutive segments are grouped into chunks of at least
/// [`CHUNK_FRAMES`] frames, `fold` makes each chunk's result, and the results are merged in
/// order. The chunks depend on the segments alone, so the result (floating-point sums included)
/// is the same on any number of threads; a single chunk folds exactly as a serial loop would.
pub(crate) fn fold_segments<T: Send>(
    segments: &[Segment],
    fold: impl Fn(&[Segment]) -> T + Sync,
    merge: impl Fn(&mut T, T),
) -> T {
    let mut chunks = vec![];
    let (mut start, mut frames) = (0, 0);
    for (i, s) in segments.iter().enumerate() {
        frames += s.frames.len();
        if frames >= CHUNK_FRAMES {
            chunks.push(&segments[start..=i]);
            (start, frames) = (i + 1, 0);
        }
    }
    if start < segments.len() || chunks.is_empty() {
        chunks.push(&segments[start..]);
    }
    let parts: Vec<T> = chunks.par_iter().map(|chunk| fold(chunk)).collect();
    let mut parts = parts.into_iter();
    let mut total = parts.next().expect("at least one chunk");
    for part in parts {
        merge(&mut total, part);
    }
    total
}

impl Segment {
    /// The whole of episode `episode` of `dataset`.
    pub fn whole(dataset: &Dataset, episode: usize) -> Self {
        Self { episode, frames: 0..dataset.episodes[episode].len() }
    }
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }
    /// Whether the segment holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}
