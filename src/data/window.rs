//! Training windows: indices into episode storage (never copies), gathered into batches on
//! demand. A window of context `T` spans `T + 2` frames: the frame before the first input (its
//! change of state is part of the input), `T` inputs, and the frame after the last input.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Normalizer, Segment};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// Input steps per window (the BPTT length).
    pub context: usize,
    /// Frames between the starts of consecutive windows.
    pub stride: usize,
}

impl WindowSpec {
    /// Frames a window touches.
    pub fn frames_needed(&self) -> usize {
        self.context + 2
    }
}

/// A window: `context` input steps of one episode, starting at frame `start + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub episode: usize,
    pub start: usize,
    pub context: usize,
}

impl Window {
    /// All frames the window touches (predecessor, inputs, final target).
    pub fn frames(&self) -> Range<usize> {
        self.start..self.start + self.context + 2
    }

    /// The window's states as a view into the episode (row-major `[context + 2, dim]`).
    pub fn view<'a>(&self, dataset: &'a Dataset) -> &'a [f32] {
        dataset.episodes[self.episode].frames(self.frames())
    }
}

/// Cuts every segment into windows. A segment shorter than a window is an error that names
/// the episode, since silently dropping it would change what the model learns from.
pub fn windows(dataset: &Dataset, segments: &[Segment], spec: WindowSpec) -> Result<Vec<Window>> {
    if spec.context == 0 || spec.stride == 0 {
        return Err(Error::Config(format!("context and stride must be positive, got {spec:?}")));
    }
    let need = spec.frames_needed();
    let mut out = Vec::new();
    for seg in segments {
        if seg.len() < need {
            return Err(Error::Config(format!(
                "{}: frames {}..{} ({} frames) are shorter than a window (context {} needs {need} frames); \
                 use a shorter context",
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
        }));
    }
    Ok(out)
}

/// Host-side batch, row-major: inputs `[batch, context, input_dim]`, targets `[batch, context, dim]`.
#[derive(Debug, Clone)]
pub struct Batch {
    pub inputs: Vec<f32>,
    pub targets: Vec<f32>,
    pub batch: usize,
    pub context: usize,
    pub input_dim: usize,
    pub target_dim: usize,
}

/// Gathers windows (all of one context length) into a batch of encoded inputs and targets.
pub fn gather_batch(dataset: &Dataset, norm: &Normalizer, windows: &[Window]) -> Batch {
    let context = windows.first().map_or(0, |w| w.context);
    let (dim, input_dim) = (norm.dim(), norm.input_dim());
    let mut inputs = vec![0f32; windows.len() * context * input_dim];
    let mut targets = vec![0f32; windows.len() * context * dim];
    for (b, w) in windows.iter().enumerate() {
        debug_assert_eq!(w.context, context, "a batch mixes context lengths");
        let view = w.view(dataset);
        let frame = |i: usize| &view[i * dim..(i + 1) * dim];
        for t in 0..context {
            let row = b * context + t;
            norm.encode_input(frame(t), frame(t + 1), &mut inputs[row * input_dim..(row + 1) * input_dim]);
            norm.encode_target(frame(t + 1), frame(t + 2), &mut targets[row * dim..(row + 1) * dim]);
        }
    }
    Batch { inputs, targets, batch: windows.len(), context, input_dim, target_dim: dim }
}
