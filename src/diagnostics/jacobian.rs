//! Jacobians of the recurrence, computed by autodiff in one backward pass per step: the state
//! `s` (h, or [h, c] for an LSTM) of one sequence is replicated once per output component in the
//! batch, and the loss `Σ_b s'_b[b]` makes row b of each input's gradient the derivative of
//! component b. Chaining the step Jacobians forward gives ∂s_T/∂x_1 for every T in one sweep.

use burn::prelude::*;
use nalgebra::DMatrix;

use super::{layer_on, matrix};
use crate::model::{CellKind, LayerState, RecurrentLayer};

/// Derivatives of one step `s_t = f(x_t, s_{t−1})` at a point.
#[derive(Debug, Clone)]
pub struct StepJacobian {
    /// ∂s_t/∂s_{t−1}, `[S, S]` (S = H, or 2H for an LSTM: h first, then c).
    pub state: DMatrix<f64>,
    /// ∂s_t/∂x_t, `[S, in]`.
    pub input: DMatrix<f64>,
}

impl StepJacobian {
    /// The `[H, H]` block ∂h_t/∂h_{t−1}.
    pub fn hh(&self, hidden: usize) -> DMatrix<f64> {
        self.state.view((0, 0), (hidden, hidden)).into_owned()
    }
}

/// Size of a layer's state vector: h, plus c for an LSTM.
pub fn state_size(layer: &RecurrentLayer) -> usize {
    layer.hidden_size() * if layer.kind() == CellKind::Lstm { 2 } else { 1 }
}

/// The state of row `row` of `s` as one vector (h, then c).
fn flatten(s: &LayerState, row: usize) -> Vec<f32> {
    let take = |t: &Tensor<2>| {
        t.clone().narrow(0, row, 1).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 tensor")
    };
    let mut v = take(&s.h);
    if let Some(c) = &s.c {
        v.extend(take(c));
    }
    v
}

/// The Jacobian of one step of `layer` (which must live on an autodiff device `ad`) at input `x`
/// and previous state `state` (flattened as in [`StepJacobian`]).
pub fn step_jacobian(layer: &RecurrentLayer, x: &[f32], state: &[f32], ad: &Device) -> StepJacobian {
    let h = layer.hidden_size();
    let s = state_size(layer);
    let rows = |v: &[f32], n: usize| {
        let data: Vec<f32> = (0..s).flat_map(|_| v.iter().copied()).collect();
        Tensor::<2>::from_data(TensorData::new(data, [s, n]), ad).require_grad()
    };
    let x_leaf = rows(x, x.len());
    let h_leaf = rows(&state[..h], h);
    let c_leaf = (s > h).then(|| rows(&state[h..], h));
    let next = layer.step(x_leaf.clone(), LayerState { h: h_leaf.clone(), c: c_leaf.clone() });
    let out = match next.c {
        Some(c) => Tensor::cat(vec![next.h, c], 1),
        None => next.h,
    };
    let grads = (out * Tensor::<2>::eye(s, ad)).sum().backward();
    let grad = |t: &Tensor<2>| t.grad(&grads).map(matrix).expect("leaf on the graph");
    let mut j_state = DMatrix::zeros(s, s);
    j_state.view_mut((0, 0), (s, h)).copy_from(&grad(&h_leaf));
    if let Some(c) = &c_leaf {
        j_state.view_mut((0, h), (s, h)).copy_from(&grad(c));
    }
    StepJacobian { state: j_state, input: grad(&x_leaf) }
}

/// Jacobian norms along one sequence.
#[derive(Debug, Clone)]
pub struct JacobianTrace {
    /// ‖∂h_t/∂h_{t−1}‖₂ (largest singular value) for t = 2..=T (index 0 is t = 2).
    pub step_norms: Vec<f64>,
    /// ‖∂h_T/∂x_1‖_F for T = 1..=T_max (index 0 is T = 1).
    pub first_input_norms: Vec<f64>,
}

/// Runs `layer` over one sequence `inputs` (`[T, in]`, row-major) from the zero state and
/// measures the Jacobians along it. `device` is where the layer is copied for autodiff.
pub fn trace(layer: &RecurrentLayer, inputs: &[f32], device: &Device) -> JacobianTrace {
    let ad = device.clone().without_autodiff().autodiff();
    let plain = device.clone().without_autodiff();
    let layer_ad = layer_on(layer, &ad);
    let layer_plain = layer_on(layer, &plain);
    let d = layer.input_size();
    let h = layer.hidden_size();
    let steps = inputs.len() / d;
    let mut state = layer_plain.zero_state(1, &plain);
    let mut chain: Option<DMatrix<f64>> = None; // ∂s_t/∂x_1
    let mut out = JacobianTrace { step_norms: Vec::new(), first_input_norms: Vec::with_capacity(steps) };
    for t in 0..steps {
        let x = crate::data::channels::row(inputs, d, t);
        let j = step_jacobian(&layer_ad, x, &flatten(&state, 0), &ad);
        chain = Some(match chain {
            None => j.input.clone(),
            Some(m) => {
                out.step_norms.push(spectral_norm(&j.hh(h)));
                &j.state * m
            }
        });
        let m = chain.as_ref().expect("set above");
        out.first_input_norms.push(m.view((0, 0), (h, d)).norm());
        let x_t = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, d]), &plain);
        state = layer_plain.step(x_t, state);
    }
    out
}

/// Largest singular value.
pub fn spectral_norm(m: &DMatrix<f64>) -> f64 {
    m.singular_values().iter().copied().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn run(layer: &RecurrentLayer, x: &[f32], d: usize, device: &Device) -> Vec<f64> {
        let steps = x.len() / d;
        let mut s = layer.zero_state(1, device);
        for t in 0..steps {
            s = layer.step(
                Tensor::from_data(TensorData::new(crate::data::channels::row(x, d, t).to_vec(), [1, d]), device),
                s,
            );
        }
        super::super::host(s.h)
    }

    #[test]
    fn first_input_jacobian_matches_finite_differences_for_every_cell() {
        let device = crate::Backend::Flex.device().unwrap();
        let x: Vec<f32> = vec![0.5, -1.0, 0.3, 0.8, -0.2, 0.1, 1.0, 0.4, -0.6, 0.2];
        for kind in CellKind::ALL {
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            let layer = RecurrentLayer::new(kind, 2, 3, &device, &mut rng);
            let tr = trace(&layer, &x, &device);
            assert_eq!((tr.first_input_norms.len(), tr.step_norms.len()), (5, 4));
            // The per-step norm at t = 2 is that of the step Jacobian at (x_2, h_1).
            let h1 = run(&layer, &x[..2], 2, &device);
            let mut s1: Vec<f32> = h1.iter().map(|v| *v as f32).collect();
            if kind == CellKind::Lstm {
                let mut st = layer.zero_state(1, &device);
                st = layer.step(Tensor::from_data(TensorData::new(x[..2].to_vec(), [1, 2]), &device), st);
                s1.extend(super::super::host(st.c.unwrap()).iter().map(|v| *v as f32));
            }
            let ad = device.clone().autodiff();
            let j2 = step_jacobian(&layer_on(&layer, &ad), &x[2..4], &s1, &ad);
            assert!((tr.step_norms[0] - spectral_norm(&j2.hh(3))).abs() < 1e-5, "{kind}");
            for big_t in [1usize, 3, 5] {
                let eps = 1e-2f32;
                let mut fd = 0.0;
                for i in 0..2 {
                    let (mut xp, mut xm) = (x[..big_t * 2].to_vec(), x[..big_t * 2].to_vec());
                    xp[i] += eps;
                    xm[i] -= eps;
                    let (hp, hm) = (run(&layer, &xp, 2, &device), run(&layer, &xm, 2, &device));
                    fd += hp.iter().zip(&hm).map(|(a, b)| ((a - b) / (2.0 * eps as f64)).powi(2)).sum::<f64>();
                }
                let fd = fd.sqrt();
                let got = tr.first_input_norms[big_t - 1];
                assert!((got - fd).abs() < 2e-3 * (1.0 + fd), "{kind} T={big_t}: {got} vs {fd}");
            }
        }
    }

    #[test]
    fn elman_step_jacobian_is_the_textbook_formula() {
        // h_t = tanh(x W_x + h W_h + b) ⇒ ∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hᵀ (column convention).
        let device = crate::Backend::Flex.device().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let layer = RecurrentLayer::new(CellKind::Rnn, 2, 3, &device, &mut rng);
        let ad = device.clone().autodiff();
        let (x, h0) = ([0.3f32, -0.7], [0.2f32, -0.5, 0.9]);
        let j = step_jacobian(&layer_on(&layer, &ad), &x, &h0, &ad);
        let h1 = super::super::host(
            layer
                .step(
                    Tensor::from_data(TensorData::new(x.to_vec(), [1, 2]), &device),
                    LayerState { h: Tensor::from_data(TensorData::new(h0.to_vec(), [1, 3]), &device), c: None },
                )
                .h,
        );
        let w_h = matrix(layer.w_h.val());
        for r in 0..3 {
            for c in 0..3 {
                let expected = (1.0 - h1[r] * h1[r]) * w_h[(c, r)];
                assert!((j.state[(r, c)] - expected).abs() < 1e-5, "[{r},{c}] {} vs {expected}", j.state[(r, c)]);
            }
        }
    }
}
