//! What a recurrent layer remembers and how gradients flow through it, measured:
//!
//! - [`grad_flow`]: ‖∂L/∂h_t‖ at every step of a window, for any cell (burn cannot mark an
//!   intermediate tensor as requiring a gradient; a zero leaf added to each `h_t` can, and its
//!   gradient is ∂L/∂h_t).
//! - [`jacobian`]: the Jacobian of one step with respect to the previous state and the input,
//!   the per-step norms ‖∂h_t/∂h_{t−1}‖ along a sequence and ‖∂h_T/∂x_1‖ for every T.
//! - [`readout`]: how well a linear read-out recovers a quantity (e.g. `x_1`) from hidden states,
//!   as R² on held-out sequences; and linear probes for labels; [`pca`] to draw hidden states.
//! - [`spectral`]: spectral radius of the recurrent weight blocks, and rescaling `W_hh`.
//!
//! Every function runs its own time loop over [`RecurrentLayer::step`], the model's primitive,
//! so it measures exactly the cell the model runs.

pub mod grad_flow;
pub mod jacobian;
pub mod memory;
pub mod pca;
pub mod readout;
pub mod spectral;

use burn::module::Param;
use burn::prelude::*;
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::model::{LayerState, RecurrentLayer};

/// A copy of `layer` with its weights on `device` (e.g. an autodiff device for gradients).
pub fn layer_on(layer: &RecurrentLayer, device: &Device) -> RecurrentLayer {
    // Build a layer of the same shape, then overwrite every parameter (the draw is discarded).
    let mut rng = StdRng::seed_from_u64(0);
    let mut out = RecurrentLayer::new(layer.kind(), layer.input_size(), layer.hidden_size(), device, &mut rng);
    let copy2 = |p: &Param<Tensor<2>>| Param::from_tensor(Tensor::from_data(p.val().into_data(), device));
    let copy1 = |p: &Param<Tensor<1>>| Param::from_tensor(Tensor::from_data(p.val().into_data(), device));
    out.w_x = copy2(&layer.w_x);
    out.w_h = copy2(&layer.w_h);
    out.b = copy1(&layer.b);
    out.b_hn = layer.b_hn.as_ref().map(copy1);
    out
}

/// A tensor's values as f64 (host copy).
pub fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 tensor").into_iter().map(f64::from).collect()
}

/// A `[rows, cols]` tensor as a matrix.
pub fn matrix(t: Tensor<2>) -> DMatrix<f64> {
    let [r, c] = t.dims();
    DMatrix::from_row_slice(r, c, &host(t))
}

/// Runs `layer` over `input` (`[batch, steps, in]`) from zeros; returns `h_t` of every step.
pub fn hidden_states(layer: &RecurrentLayer, input: Tensor<3>) -> Vec<Tensor<2>> {
    let [batch, steps, _] = input.dims();
    let mut state: LayerState = layer.zero_state(batch, &input.device());
    (0..steps)
        .map(|t| {
            state = layer.step(input.clone().narrow(1, t, 1).squeeze_dim::<2>(1), state.clone());
            state.h.clone()
        })
        .collect()
}
