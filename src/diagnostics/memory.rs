//! What is left of the first input after T steps, two ways: the size of its influence,
//! ‖∂h_T/∂x_1‖, and how much of it a linear read-out recovers from h_T on held-out sequences
//! (R²). The inputs are white noise (each input independent of every other), so nothing but
//! the memory of x_1 itself can explain a read-out of x_1.

use burn::prelude::*;
use nalgebra::DMatrix;

use super::jacobian::trace;
use super::readout::heldout_r2;
use super::{hidden_states, host, layer_on};
use crate::model::RecurrentLayer;
use crate::synthetic::rng::SplitMix64;

/// How the memory of the first input is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryProbe {
    /// The T at which h_T is read (each ≥ 1).
    pub steps: Vec<usize>,
    /// Sequences whose Jacobians are averaged.
    pub jacobian_sequences: usize,
    /// Sequences the read-out is fitted on, and held-out sequences it is scored on.
    pub train: usize,
    /// Held-out sequences the read-out's R² is measured on.
    pub test: usize,
    /// Ridge penalty of the read-out.
    pub lambda: f64,
    /// Std of the white-noise inputs (1 = the scale of standardised data).
    pub input_std: f64,
    /// Seed of the white-noise inputs.
    pub seed: u64,
}

/// The memory of x_1 at one T.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPoint {
    /// The T at which h_T was read.
    pub steps: usize,
    /// Mean over sequences of ‖∂h_T/∂x_1‖_F.
    pub influence: f64,
    /// Held-out R² of the linear read-out of x_1 from h_T.
    pub r2: f64,
}

/// White noise `[n, steps, dim]`.
fn noise(n: usize, steps: usize, dim: usize, std: f64, rng: &mut SplitMix64) -> Vec<f32> {
    (0..n * steps * dim).map(|_| (std * rng.normal()) as f32).collect()
}

/// Measures both memories of `layer` at every T of `probe.steps`.
pub fn memory_curve(layer: &RecurrentLayer, probe: &MemoryProbe, device: &Device) -> Vec<MemoryPoint> {
    let plain = device.clone().without_autodiff();
    let layer = layer_on(layer, &plain);
    let d = layer.input_size();
    let t_max = probe.steps.iter().copied().max().unwrap_or(1).max(1);
    let mut rng = SplitMix64::new(probe.seed);

    let mut influence = vec![0.0; t_max];
    for _ in 0..probe.jacobian_sequences {
        let x = noise(1, t_max, d, probe.input_std, &mut rng);
        for (acc, v) in influence.iter_mut().zip(trace(&layer, &x, &plain).first_input_norms) {
            *acc += v / probe.jacobian_sequences as f64;
        }
    }

    let n = probe.train + probe.test;
    let x = noise(n, t_max, d, probe.input_std, &mut rng);
    let first = DMatrix::from_fn(n, d, |r, c| x[r * t_max * d + c] as f64);
    let input = Tensor::<3>::from_data(TensorData::new(x, [n, t_max, d]), &plain);
    let hs = hidden_states(&layer, input);
    let h = layer.hidden_size();
    probe
        .steps
        .iter()
        .map(|&t| {
            let states = DMatrix::from_row_slice(n, h, &host(hs[t - 1].clone()));
            let split =
                |m: &DMatrix<f64>| (m.rows(0, probe.train).into_owned(), m.rows(probe.train, probe.test).into_owned());
            let ((htr, hte), (ytr, yte)) = (split(&states), split(&first));
            MemoryPoint { steps: t, influence: influence[t - 1], r2: heldout_r2(&htr, &ytr, &hte, &yte, probe.lambda) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CellKind;
    use rand::SeedableRng;

    #[test]
    fn a_contracting_elman_layer_forgets_and_its_first_step_remembers() {
        let device = crate::Backend::Flex.device().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let layer =
            super::super::spectral::with_radius(RecurrentLayer::new(CellKind::Rnn, 2, 16, &device, &mut rng), 0.5);
        let probe = MemoryProbe {
            steps: vec![1, 30],
            jacobian_sequences: 2,
            train: 300,
            test: 200,
            lambda: 1e-4,
            input_std: 1.0,
            seed: 0,
        };
        let c = memory_curve(&layer, &probe, &device);
        // h_1 = tanh(x_1 W_x + b) with 16 units: x_1 (2 numbers) is almost linearly recoverable.
        assert!(c[0].r2 > 0.9, "{c:?}");
        // Spectral radius 0.5 and tanh′ ≤ 1: the influence shrinks about like 0.5^t.
        assert!(c[1].r2 < 0.05 && c[1].influence < 1e-4 * c[0].influence, "{c:?}");
    }
}
