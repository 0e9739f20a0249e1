//! An Elman network *without* weight sharing over time, for experiment 3: step t has its own
//! `W_x[t]`, `W_h[t]` and `b[t]` (initialised as the shared cell's are), so its parameter count
//! grows with the window length T. It has no weights for a step beyond T: run on a longer
//! sequence, [`UnsharedRnn::forward`] reuses the last step's weights there, which is one choice
//! among equally arbitrary ones (nothing was learned for those steps).

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::model::{CellKind, RecurrentLayer};

/// An Elman network with its own weights for each of `T` steps and a shared linear head.
#[derive(Module, Debug)]
pub(crate) struct UnsharedRnn {
    /// One Elman layer per step (each holds that step's own weights).
    pub(crate) steps: Vec<RecurrentLayer>,
    /// Maps each step's `h` to the output (`[hidden, output]`, starts at zero).
    pub(crate) head: Linear,
}

impl UnsharedRnn {
    /// `steps` layers of `hidden` units; the head starts at zero like the trainer's models.
    pub(crate) fn new(input: usize, hidden: usize, steps: usize, output: usize, device: &Device, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = (0..steps).map(|_| RecurrentLayer::new(CellKind::Rnn, input, hidden, device, &mut rng)).collect();
        let head = Linear {
            weight: Param::from_tensor(Tensor::zeros([hidden, output], device)),
            bias: Some(Param::from_tensor(Tensor::zeros([output], device))),
        };
        Self { steps: layers, head }
    }

    /// Outputs `[batch, T', output]` for `input` `[batch, T', in]`; steps past the last weight
    /// set reuse it.
    pub(crate) fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let [batch, steps, _] = input.dims();
        let mut state = self.steps[0].zero_state(batch, &input.device());
        let mut hs = Vec::with_capacity(steps);
        for t in 0..steps {
            let layer = &self.steps[t.min(self.steps.len() - 1)];
            state = layer.step(input.clone().narrow(1, t, 1).squeeze_dim::<2>(1), state);
            hs.push(state.h.clone());
        }
        self.head.forward(Tensor::stack(hs, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    #[test]
    fn parameters_grow_with_the_window_and_each_step_uses_its_own_weights() {
        let device = crate::Backend::Flex.device().unwrap();
        let m = UnsharedRnn::new(3, 4, 5, 2, &device, 0);
        // Per step (3 + 4 + 1)·4 = 32, five steps, plus the head (4 + 1)·2.
        assert_eq!(m.num_params(), 5 * 32 + 10);
        // With a non-zero head, changing step 2's weights changes the output from step 2 on only.
        let mut m = m;
        m.head.weight = Param::from_tensor(Tensor::ones([4, 2], &device));
        let x = Tensor::<3>::ones([1, 5, 3], &device);
        let before = m.forward(x.clone()).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        m.steps[2].b = Param::from_tensor(Tensor::ones([4], &device) * 3.0);
        let after = m.forward(x).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        for t in 0..5 {
            let changed = (0..2).any(|o| (before[t * 2 + o] - after[t * 2 + o]).abs() > 1e-6);
            assert_eq!(changed, t >= 2, "step {t}");
        }
    }
}
