//! Fast paths for the recurrence, each checked against the burn model of record by the same
//! reference tests. The host kernels live in the `trajrnn-kernels` crate (compiled with full
//! optimisation in every profile); here `fused` makes the whole-window kernel one burn operation
//! on flex, and [`host`] copies a model's weights for the streaming step.

#[cfg(feature = "flex")]
mod fused;
#[cfg(feature = "flex")]
mod head;
pub mod host;

/// How long the kernels' rayon workers spin after a parallel region before they sleep (see
/// `trajrnn_kernels::awake`), and how to change it (`TRAJRNN_SPIN_US` sets it too).
pub use trajrnn_kernels::awake::{set_spin_window, spin_window};

use burn::prelude::*;

use super::{CellKind, LayerState, RecurrentLayer};

/// The kernels' name for a cell.
pub(crate) fn cell(kind: CellKind) -> trajrnn_kernels::Cell {
    match kind {
        CellKind::Rnn => trajrnn_kernels::Cell::Rnn,
        CellKind::Lstm => trajrnn_kernels::Cell::Lstm,
        CellKind::Gru => trajrnn_kernels::Cell::Gru,
    }
}

/// Whether the fused kernel runs on `device` (flex, with or without autodiff).
pub(crate) fn available(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        fused::is_flex(device)
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// Runs `layer` over `x` (`[batch, steps, input]`) with the fused kernel, or returns `None`
/// where it does not apply (another backend).
pub(crate) fn forward(layer: &RecurrentLayer, x: Tensor<3>, state: LayerState) -> Option<(Tensor<3>, LayerState)> {
    #[cfg(feature = "flex")]
    {
        if !available(&x.device()) {
            return None;
        }
        let steps = x.dims()[1];
        let weights = fused::LayerWeights {
            w_x: layer.w_x.val(),
            b: layer.b.val(),
            w_h: layer.w_h.val(),
            b_hn: layer.b_hn.as_ref().map(|b| b.val()),
        };
        let (hs, c) = fused::recurrence(layer.kind(), x, weights, state.h, state.c)?;
        let h = hs.clone().narrow(1, steps - 1, 1).squeeze_dim::<2>(1);
        Some((hs, LayerState { h, c }))
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = (layer, x, state);
        None
    }
}

/// `head` over every step of every sequence of `top` (`[batch, steps, hidden]`): on flex as one
/// product each way (see `head`), elsewhere through burn's `Linear`.
pub(crate) fn apply_head(head: &burn::nn::Linear, top: Tensor<3>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    if let Some(b) = &head.bias
        && let Some(y) = head::linear_rows(top.clone(), head.weight.val(), b.val())
    {
        return y;
    }
    head.forward(top)
}
