//! Fast paths for the recurrence, each checked against the burn model of record by the same
//! reference tests: [`host`] steps a model in plain Rust (streaming inference).

pub mod host;

use burn::prelude::*;

use super::{LayerState, RecurrentLayer};

/// Whether the fused kernel runs on `device` (`required`: the caller asked for it explicitly).
pub fn available(_device: &Device, _required: bool) -> bool {
    false
}

/// Runs `layer` over `x` with the fused kernel, or returns `None` where it does not apply.
pub fn forward(
    _layer: &RecurrentLayer,
    _x: Tensor<3>,
    _state: LayerState,
    _required: bool,
) -> Option<(Tensor<3>, LayerState)> {
    None
}
