//! Training windows: indices into episode storage (never copies), gathered into batches on
//! demand. A window of context `T` spans `history + T + 1` frames: the frames before the first
//! input that its encoding reads (velocity, acceleration), `T` inputs, and the frame after the
//! last input.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Encoding, Segment};
use crate::error::{Error, Result};

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
    pub episode: usize,
    pub start: usize,
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
pub fn frames_needed(context: usize, history: usize) -> usize {
    // Saturating: a huge context needs more frames than any episode has, not an overflow.
    history.saturating_add(context).saturating_add(1)
}

/// Cuts every segment into windows. A segment shorter than a window is an error that names
/// the episode, since silently dropping it would change what the model learns from.
pub fn windows(dataset: &Dataset, segments: &[Segment], spec: WindowSpec, history: usize) -> Result<Vec<Window>> {
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

/// Host-side batch, row-major: inputs `[batch, context, input_dim]`, targets `[batch, context, dim]`,
/// and the windows' raw states `[batch, history + context + 1, dim]`.
#[derive(Debug, Clone)]
pub struct Batch {
    pub inputs: Vec<f32>,
    pub targets: Vec<f32>,
    pub frames: Vec<f32>,
    pub batch: usize,
    pub context: usize,
    pub input_dim: usize,
    pub target_dim: usize,
}

/// Gathers windows (all of one context length) into a batch of encoded inputs and targets.
pub fn gather_batch(dataset: &Dataset, encoding: &Encoding, windows: &[Window]) -> Batch {
    let context = windows.first().map_or(0, |w| w.context);
    let (dim, input_dim, history) = (encoding.dim(), encoding.input_dim(), encoding.history());
    let mut inputs = vec![0f32; windows.len() * context * input_dim];
    let mut targets = vec![0f32; windows.len() * context * dim];
    let mut frames = Vec::with_capacity(windows.len() * (history + context + 1) * dim);
    for (b, w) in windows.iter().enumerate() {
        debug_assert_eq!((w.context, w.history), (context, history), "a batch mixes window shapes");
        let view = w.view(dataset);
        frames.extend_from_slice(view);
        for t in 0..context {
            let row = b * context + t;
            // Frames t ..= t + history end at input frame t + history; its target follows.
            let past = &view[t * dim..(t + history + 1) * dim];
            let next = &view[(t + history + 1) * dim..(t + history + 2) * dim];
            encoding.encode_input(past, &mut inputs[row * input_dim..(row + 1) * input_dim]);
            encoding.encode_target(past, next, &mut targets[row * dim..(row + 1) * dim]);
        }
    }
    Batch { inputs, targets, frames, batch: windows.len(), context, input_dim, target_dim: dim }
}
