//! Recurrent next-state predictors: a stack of Elman RNN, LSTM or GRU layers and a linear head.
//!
//! One API for the three cells: [`TrajectoryModel::forward`] takes an optional initial state,
//! returns the head's output at every step, every layer's hidden state at every step, and the
//! final state (to carry across windows, or to step a rollout).

mod cell;

use std::fmt;
use std::str::FromStr;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use cell::{LayerState, RecurrentLayer};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Elman: `h_t = tanh(W_hh·h_{t-1} + W_xh·x_t + b)`.
    Rnn,
    /// LSTM with input, forget, cell and output gates (PyTorch's gate order).
    Lstm,
    /// GRU with reset and update gates (PyTorch's formulation, `b_hn` inside the reset product).
    Gru,
}

impl CellKind {
    /// Gate blocks per layer: the width of `W_xh` and `W_hh` is `gates · hidden`.
    pub fn gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }
}

impl FromStr for CellKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rnn" | "elman" | "vanilla" => Ok(CellKind::Rnn),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            other => Err(Error::Config(format!("unknown cell \"{other}\": expected rnn, lstm or gru"))),
        }
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub cell: CellKind,
    pub input_dim: usize,
    pub hidden: usize,
    pub layers: usize,
    pub output_dim: usize,
}

impl ModelConfig {
    pub fn validate(&self) -> Result<()> {
        if self.input_dim == 0 || self.hidden == 0 || self.layers == 0 || self.output_dim == 0 {
            return Err(Error::Config(format!("model sizes must be positive: {self:?}")));
        }
        Ok(())
    }

    /// A freshly initialised model, PyTorch's scheme: every recurrent weight and bias uniform in
    /// ±1/√hidden, the head's in ±1/√hidden (its fan-in). The numbers are drawn on the host from
    /// `seed`, so every backend gets the same weights, whatever else runs in the process
    /// (burn's backend RNG is global and shared between threads).
    pub fn init(&self, device: &Device, seed: u64) -> TrajectoryModel {
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = (0..self.layers)
            .map(|l| {
                let input = if l == 0 { self.input_dim } else { self.hidden };
                RecurrentLayer::new(self.cell, input, self.hidden, device, &mut rng)
            })
            .collect();
        let k = 1.0 / (self.hidden as f32).sqrt();
        let head = Linear {
            weight: uniform([self.hidden, self.output_dim], k, &mut rng, device),
            bias: Some(uniform([self.output_dim], k, &mut rng, device)),
        };
        TrajectoryModel { layers, head }
    }
}

/// A parameter of the given shape, uniform in ±`k`, drawn from `rng` on the host.
pub(crate) fn uniform<const D: usize>(
    shape: [usize; D],
    k: f32,
    rng: &mut StdRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let values: Vec<f32> = (0..shape.iter().product::<usize>()).map(|_| rng.random_range(-k..k)).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

#[derive(Module, Debug)]
pub struct TrajectoryModel {
    pub layers: Vec<RecurrentLayer>,
    /// Maps the top layer's hidden state to the (normalised) change to the next state.
    pub head: Linear,
}

/// State of every layer, bottom first.
#[derive(Debug, Clone)]
pub struct RecurrentState {
    pub layers: Vec<LayerState>,
}

/// What a forward pass over a sequence returns.
#[derive(Debug, Clone)]
pub struct SequenceOutput {
    /// Head output at every step, `[batch, steps, output_dim]`.
    pub output: Tensor<3>,
    /// Hidden state `h_t` of every layer at every step, bottom first, each `[batch, steps, hidden]`.
    pub hidden: Vec<Tensor<3>>,
    /// State after the last step.
    pub state: RecurrentState,
}

impl TrajectoryModel {
    pub fn hidden_size(&self) -> usize {
        self.layers[0].hidden_size()
    }

    /// The all-zero initial state for `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> RecurrentState {
        RecurrentState { layers: self.layers.iter().map(|l| l.zero_state(batch, device)).collect() }
    }

    /// Runs `input` (`[batch, steps, input_dim]`) from `state` (zeros when `None`).
    pub fn forward(&self, input: Tensor<3>, state: Option<RecurrentState>) -> SequenceOutput {
        let batch = input.dims()[0];
        let state = state.unwrap_or_else(|| self.zero_state(batch, &input.device()));
        let mut x = input;
        let mut hidden = Vec::with_capacity(self.layers.len());
        let mut final_states = Vec::with_capacity(self.layers.len());
        for (layer, s) in self.layers.iter().zip(state.layers) {
            let (h, s) = layer.forward(x, s);
            x = h.clone();
            hidden.push(h);
            final_states.push(s);
        }
        SequenceOutput { output: self.head.forward(x), hidden, state: RecurrentState { layers: final_states } }
    }
}
