//! Spectral radius of the recurrent weights, and `W_hh` rescaled to a chosen radius.
//!
//! The layer stores `w_h` as `[H, G·H]` (row-vector convention, gate blocks side by side), so
//! block g is `W_hgᵀ`; a matrix and its transpose have the same eigenvalues. For the Elman cell
//! the one block is W_hh. For an LSTM the blocks are the input, forget, cell-candidate and
//! output gates (PyTorch's order) and for a GRU reset, update and candidate; the candidate
//! block (LSTM `g`, GRU `n`) is the one that plays W_hh's part in the state update.

use burn::module::Param;
use burn::prelude::*;
use nalgebra::DMatrix;

use super::matrix;
use crate::model::{CellKind, RecurrentLayer};

/// Names of the recurrent blocks of a cell, in storage order.
pub fn block_names(kind: CellKind) -> &'static [&'static str] {
    match kind {
        CellKind::Rnn => &["W_hh"],
        CellKind::Lstm => &["W_hi", "W_hf", "W_hg (candidate)", "W_ho"],
        CellKind::Gru => &["W_hr", "W_hz", "W_hn (candidate)"],
    }
}

/// Index of the block that plays W_hh's part (the candidate).
pub fn candidate_block(kind: CellKind) -> usize {
    match kind {
        CellKind::Rnn => 0,
        CellKind::Lstm => 2,
        CellKind::Gru => 2,
    }
}

/// Largest eigenvalue modulus.
pub fn spectral_radius(m: &DMatrix<f64>) -> f64 {
    m.complex_eigenvalues().iter().map(|z| z.norm()).fold(0.0, f64::max)
}

/// Every recurrent block of `layer` with its spectral radius.
pub fn recurrent_radii(layer: &RecurrentLayer) -> Vec<(&'static str, f64)> {
    let h = layer.hidden_size();
    let w = matrix(layer.w_h.val());
    block_names(layer.kind())
        .iter()
        .enumerate()
        .map(|(g, name)| (*name, spectral_radius(&w.view((0, g * h), (h, h)).into_owned())))
        .collect()
}

/// `layer` with its candidate block (W_hh for the Elman cell) scaled to spectral radius
/// `radius`; the other blocks are unchanged. A block whose radius is 0 is left as it is.
pub fn with_radius(mut layer: RecurrentLayer, radius: f64) -> RecurrentLayer {
    let h = layer.hidden_size();
    let g = candidate_block(layer.kind());
    let w = layer.w_h.val();
    let device = w.device();
    let current = spectral_radius(&matrix(w.clone()).view((0, g * h), (h, h)).into_owned());
    if current == 0.0 {
        return layer;
    }
    let block = w.clone().narrow(1, g * h, h) * (radius / current) as f32;
    let scaled = w.slice_assign(s![.., g * h..(g + 1) * h], block);
    layer.w_h = Param::from_tensor(Tensor::from_data(scaled.into_data(), &device));
    layer
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn radius_of_known_matrices() {
        // A rotation by 90° scaled by 2 has eigenvalues ±2i: radius 2 (its entries are all ≤ 2).
        assert!((spectral_radius(&DMatrix::from_row_slice(2, 2, &[0.0, -2.0, 2.0, 0.0])) - 2.0).abs() < 1e-12);
        // Nilpotent: radius 0 although a norm of it is 5.
        assert!(spectral_radius(&DMatrix::from_row_slice(2, 2, &[0.0, 5.0, 0.0, 0.0])).abs() < 1e-12);
    }

    #[test]
    fn rescaling_sets_the_radius_of_the_candidate_block_only() {
        let device = crate::Backend::Flex.device().unwrap();
        for kind in CellKind::ALL {
            let mut rng = rand::rngs::StdRng::seed_from_u64(4);
            let layer = RecurrentLayer::new(kind, 3, 5, &device, &mut rng);
            let before = recurrent_radii(&layer);
            let after = recurrent_radii(&with_radius(layer, 1.7));
            for (g, ((name, b), (_, a))) in before.iter().zip(&after).enumerate() {
                if g == candidate_block(kind) {
                    assert!((a - 1.7).abs() < 1e-5, "{kind} {name}: {a}");
                } else {
                    assert!((a - b).abs() < 1e-9, "{kind} {name} changed");
                }
            }
        }
    }
}
