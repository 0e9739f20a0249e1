//! Gradient flow through time: ‖∂L/∂h_t‖ at every step t of a window.
//!
//! burn only reports gradients of leaves, and an intermediate `h_t` cannot be made one. Adding a
//! zero leaf `p_t` to each `h_t` (`h_t ← h_t + p_t`, which changes no value) makes the gradient
//! of `p_t` equal ∂L/∂h_t: the total derivative through every later step and every output.

use burn::prelude::*;

use super::{host, layer_on};
use crate::model::{LayerState, RecurrentLayer};

/// ‖∂L/∂h_t‖ for t = 1..=T, where `h_t` is the stack's top hidden state and `loss` maps the top
/// hidden states of all steps (`[batch, hidden]` each) to a scalar. `layers` is a stack (bottom
/// first, as in a `TrajectoryModel`) and `input` is `[batch, T, in]`; both are copied onto the
/// autodiff version of `device`. The norm is over the batch and the units (Frobenius).
///
/// For an LSTM the leaf sits on `h_t` only: the returned value is the gradient arriving at the
/// hidden output of step t (the path through the cell state `c_t` reaches it at later steps).
pub fn hidden_grad_norms(
    layers: &[RecurrentLayer],
    input: Tensor<3>,
    device: &Device,
    loss: impl FnOnce(&[Tensor<2>]) -> Tensor<1>,
) -> Vec<f64> {
    let ad = device.clone().without_autodiff().autodiff();
    let layers: Vec<RecurrentLayer> = layers.iter().map(|l| layer_on(l, &ad)).collect();
    let input = Tensor::<3>::from_data(input.into_data(), &ad);
    let [batch, steps, _] = input.dims();
    let mut states: Vec<LayerState> = layers.iter().map(|l| l.zero_state(batch, &ad)).collect();
    let mut leaves = Vec::with_capacity(steps);
    let mut top = Vec::with_capacity(steps);
    for t in 0..steps {
        let mut x = input.clone().narrow(1, t, 1).squeeze_dim::<2>(1);
        let last = layers.len() - 1;
        for (l, layer) in layers.iter().enumerate() {
            let mut s = layer.step(x, states[l].clone());
            if l == last {
                let leaf = Tensor::<2>::zeros(s.h.dims(), &ad).require_grad();
                s.h = s.h + leaf.clone();
                leaves.push(leaf);
            }
            x = s.h.clone();
            states[l] = s;
        }
        top.push(x);
    }
    let grads = loss(&top).backward();
    leaves.iter().map(|p| p.grad(&grads).map_or(0.0, |g| host(g).iter().map(|v| v * v).sum::<f64>().sqrt())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CellKind;
    use rand::SeedableRng;

    /// ∂L/∂h_t by central differences: perturb h_t after step t and rerun the rest.
    fn finite_difference(layer: &RecurrentLayer, x: &Tensor<3>, head: &Tensor<2>, t0: usize, unit: usize) -> f64 {
        let loss_with = |eps: f32| {
            let steps = x.dims()[1];
            let mut state = layer.zero_state(1, &x.device());
            let mut total = 0.0;
            for t in 0..steps {
                state = layer.step(x.clone().narrow(1, t, 1).squeeze_dim::<2>(1), state);
                if t == t0 {
                    let h = layer.hidden_size();
                    let mut bump = vec![0f32; h];
                    bump[unit] = eps;
                    state.h = state.h + Tensor::<2>::from_data(TensorData::new(bump, [1, h]), &x.device());
                }
                if t == steps - 1 {
                    total = host(state.h.clone().matmul(head.clone()).sum())[0];
                }
            }
            total
        };
        let eps = 1e-2;
        (loss_with(eps) - loss_with(-eps)) / (2.0 * eps as f64)
    }

    #[test]
    fn zero_leaf_gradients_match_finite_differences_for_every_cell() {
        let device = crate::Backend::Flex.device().unwrap();
        for kind in CellKind::ALL {
            let mut rng = rand::rngs::StdRng::seed_from_u64(3);
            let layer = RecurrentLayer::new(kind, 2, 3, &device, &mut rng);
            let x = Tensor::<3>::from_data(
                TensorData::new(vec![0.5f32, -1.0, 0.3, 0.8, -0.2, 0.1, 1.0, 0.4], [1, 4, 2]),
                &device,
            );
            let head = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 0.5], [3, 1]), &device);
            let ad = device.clone().autodiff();
            let head_ad = Tensor::<2>::from_data(head.to_data(), &ad);
            // L = head · h_T (loss on the last step only).
            let norms = hidden_grad_norms(std::slice::from_ref(&layer), x.clone(), &device, |hs| {
                hs.last().unwrap().clone().matmul(head_ad).sum()
            });
            assert_eq!(norms.len(), 4);
            // At the last step ∂L/∂h_T is the head itself.
            assert!((norms[3] - (1.0f64 + 4.0 + 0.25).sqrt()).abs() < 1e-5, "{kind}: {norms:?}");
            for (t, &norm) in norms.iter().enumerate() {
                let fd: f64 = (0..3).map(|u| finite_difference(&layer, &x, &head, t, u).powi(2)).sum::<f64>().sqrt();
                assert!((norm - fd).abs() < 2e-3 * (1.0 + fd), "{kind} t={t}: leaf {norm} vs finite difference {fd}");
            }
        }
    }
}
