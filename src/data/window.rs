//! Training windows: indices into episode storage (never copies), gathered into batches on
//! demand (`train::objective::gather_batch`). A window of context `T` spans `history + T + 1` frames: the frames before the first
//! input that its encoding reads (velocity, acceleration), `T` inputs, and the frame after the
//! last input.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// How training windows are cut from a segment: their length and spacing, in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    /// Input steps per window (the BPTT length).
    pub context: usize,
    /// Frames between the starts of consecutive windows.
    pub stride: usize,
}

/// A window: `context` input steps of one episode; the first input is frame `start + history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Index of the episode in the dataset.
    pub episode: usize,
    /// First frame the window touches (the first history frame).
    pub start: usize,
    /// Input steps (the BPTT length).
    pub context: usize,
    /// Frames before the first input that the encoding reads.
    pub history: usize,
}

impl Window {
    /// All frames the window touches (history, inputs, final target).
    pub fn frames(&self) -> Range<usize> {
        self.start..self.start + self.history + self.context + 1
    }

    /// The input frames.
    pub fn inputs(&self) -> Range<usize> {
        self.start + self.history..self.start + self.history + self.context
    }

    /// The window's states as a view into the episode (row-major `[frames, dim]`).
    pub fn view<'a>(&self, dataset: &'a Dataset) -> &'a [f32] {
        dataset.episodes[self.episode].frames(self.frames())
    }

    /// The window that continues this one (its first input follows this one's last), as used by
    /// truncated BPTT.
    pub fn next(&self) -> Window {
        Window { start: self.start + self.context, ..*self }
    }
}

/// Frames a window of `context` inputs touches with `history` frames before them.
pub(crate) fn frames_needed(context: usize, history: usize) -> usize {
    // Saturating: a huge context needs more frames than any episode has, not an overflow.
    history.saturating_add(context).saturating_add(1)
}

/// Cuts every segment into windows. A segment shorter than a window is an error that names
/// the episode, since silently dropping it would change what the model learns from.
pub fn cut_windows(dataset: &Dataset, segments: &[Segment], spec: WindowSpec, history: usize) -> Result<Vec<Window>> {
    if spec.context == 0 {
        return Err(Error::option("context", "must be at least 1"));
    }
    if spec.stride == 0 {
        return Err(Error::option("stride", "must be at least 1"));
    }
    let need = frames_needed(spec.context, history);
    let mut out = Vec::new();
    for seg in segments {
        if seg.len() < need {
            return Err(Error::Config(format!(
                "{}: frames {}..{} ({} frames) are shorter than a window (context {} needs {need} frames); \
                 use a shorter context (--context)",
                dataset.episodes[seg.episode].source.display(),
                seg.frames.start,
                seg.frames.end,
                seg.len(),
                spec.context
            )));
        }
        let last_start = seg.frames.end - need;
        out.extend((seg.frames.start..=last_start).step_by(spec.stride).map(|start| Window {
            episode: seg.episode,
            start,
            context: spec.context,
            history,
        }));
    }
    Ok(out)
}

/// Cuts the segments that hold a window into windows and skips the others (for a diagnostic such
/// as the validation loss, where a short segment is no reason to refuse a run).
pub(crate) fn cut_windows_where_they_fit(
    dataset: &Dataset,
    segments: &[Segment],
    spec: WindowSpec,
    history: usize,
) -> Result<Vec<Window>> {
    let need = frames_needed(spec.context, history);
    let fitting: Vec<Segment> = segments.iter().filter(|s| s.len() >= need).cloned().collect();
    cut_windows(dataset, &fitting, spec, history)
}
