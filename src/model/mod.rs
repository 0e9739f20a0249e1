//! Recurrent next-state predictors: a stack of Elman RNN, LSTM or GRU layers and a linear head.
//!
//! One API for the three cells: [`TrajectoryModel::forward`] takes an optional initial state and
//! returns the head's output at every step, every layer's hidden state at every step, and the
//! final state (to carry across windows, or to step a rollout); [`TrajectoryModel::step`] runs
//! one step.

mod cell;
pub mod kernel;

use std::fmt;
use std::str::FromStr;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use cell::{Engine, LayerState, RecurrentLayer};

use crate::error::{Error, Result};

/// The recurrent cell of every layer of a model.
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
    /// The three cells, in the order tables list them.
    pub const ALL: [CellKind; 3] = [CellKind::Rnn, CellKind::Lstm, CellKind::Gru];

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
            other => Err(Error::option("cell", format!("unknown cell \"{other}\": expected rnn, lstm or gru"))),
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

pub use crate::limits::{MAX_FEATURES, MAX_HIDDEN, MAX_LAYERS};

/// A model's shape, as stored in checkpoints: `layers` recurrent layers of `hidden` units reading
/// `input_dim` features per step, and a linear head `[hidden] → [output_dim]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The cell of every layer.
    pub cell: CellKind,
    /// Features per step of the model's input (the encoding's
    /// [`input_dim`](crate::encoding::Encoding::input_dim)).
    pub input_dim: usize,
    /// Units per layer (the width of every layer's `h`, and `c` for an LSTM).
    pub hidden: usize,
    /// Stacked recurrent layers (the first reads the input, each next one the `h` below).
    pub layers: usize,
    /// Values per step of the head's output: one per state channel (the encoded correction of
    /// the next state).
    pub output_dim: usize,
    /// Dropout between stacked layers during training (0 = none).
    #[serde(default)]
    pub dropout: f64,
    /// Start the head at zero, so that an untrained model predicts exactly its encoding's base
    /// (the linear autoregressive base, constant velocity or hold).
    #[serde(default)]
    pub zero_head: bool,
}

impl ModelConfig {
    /// Checks every size is in `1..=MAX_*` and the dropout in `[0, 1)`; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let sizes = [
            ("input_dim", self.input_dim, MAX_FEATURES),
            ("hidden", self.hidden, MAX_HIDDEN),
            ("layers", self.layers, MAX_LAYERS),
            ("output_dim", self.output_dim, MAX_FEATURES),
        ];
        for (name, value, max) in sizes {
            if value == 0 || value > max {
                return Err(Error::option(name, format!("must be in 1..={max}, got {value}")));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::option("dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        Ok(())
    }

    /// Number of f32 parameters (what the weights of a checkpoint must hold).
    pub fn parameter_count(&self) -> usize {
        let g = self.cell.gates();
        let mut n = 0;
        for l in 0..self.layers {
            let input = if l == 0 { self.input_dim } else { self.hidden };
            n += (input + self.hidden + 1) * g * self.hidden;
            if self.cell == CellKind::Gru {
                n += self.hidden;
            }
        }
        n + (self.hidden + 1) * self.output_dim
    }

    /// A freshly initialised model, PyTorch's scheme: every recurrent weight and bias uniform in
    /// ±1/√hidden, the head's in ±1/√hidden (its fan-in) or zero. The numbers are drawn on the
    /// host from `seed`, so every backend gets the same weights, whatever else runs in the
    /// process (burn's backend RNG is global and shared between threads).
    pub fn init(&self, device: &Device, seed: u64) -> TrajectoryModel {
        let mut rng = StdRng::seed_from_u64(seed);
        let layers = (0..self.layers)
            .map(|l| {
                let input = if l == 0 { self.input_dim } else { self.hidden };
                RecurrentLayer::new(self.cell, input, self.hidden, device, &mut rng)
            })
            .collect();
        let k = if self.zero_head { 0.0 } else { 1.0 / (self.hidden as f32).sqrt() };
        let head = Linear {
            weight: uniform([self.hidden, self.output_dim], k, &mut rng, device),
            bias: Some(uniform([self.output_dim], k, &mut rng, device)),
        };
        TrajectoryModel { layers, head, dropout: self.dropout, engine: Engine::Auto }
    }
}

/// A parameter of the given shape, uniform in ±`k` (zero for `k = 0`), drawn from `rng` on the host.
pub(crate) fn uniform<const D: usize>(
    shape: [usize; D],
    k: f32,
    rng: &mut StdRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let values: Vec<f32> =
        (0..shape.iter().product::<usize>()).map(|_| if k > 0.0 { rng.random_range(-k..k) } else { 0.0 }).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A stack of recurrent layers and a linear head, on any burn backend. Inputs are encoded
/// states (`[batch, steps, input_dim]`, or `[batch, input_dim]` for one step, see
/// [`Encoding`](crate::encoding::Encoding)); outputs are encoded corrections of the next state
/// (`[batch, steps, output_dim]` / `[batch, output_dim]`), decoded by the encoding.
#[derive(Module, Debug)]
pub struct TrajectoryModel {
    /// Bottom first: layer 0 reads the input, layer `l` the `h` of layer `l − 1`.
    pub layers: Vec<RecurrentLayer>,
    /// Maps the top layer's hidden state (`[…, hidden]`) to the (encoded) correction of the next
    /// state (`[…, output_dim]`); weight `[hidden, output_dim]`, bias `[output_dim]`.
    pub head: Linear,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    engine: Engine,
}

/// State of every layer, bottom first.
#[derive(Debug, Clone)]
pub struct RecurrentState {
    /// One per layer, bottom first; each holds `h` `[batch, hidden]` (and an LSTM's `c`, same shape).
    pub layers: Vec<LayerState>,
}

impl RecurrentState {
    /// Cuts the autodiff graph (truncated BPTT).
    pub fn detach(self) -> Self {
        Self { layers: self.layers.into_iter().map(LayerState::detach).collect() }
    }

    /// Zeroes the rows whose `keep` entry (`[batch, 1]`) is 0.
    pub fn mask_rows(self, keep: &Tensor<2>) -> Self {
        Self { layers: self.layers.into_iter().map(|l| l.mask_rows(keep)).collect() }
    }
}

/// What a forward pass over a sequence returns.
#[derive(Debug, Clone)]
pub struct SequenceOutput {
    /// Head output at every step, `[batch, steps, output_dim]`.
    pub output: Tensor<3>,
    /// Hidden state `h_t` of every layer at every step, bottom first, each `[batch, steps, hidden]`.
    pub hidden: Vec<Tensor<3>>,
    /// State after the last step (each layer's `h`, and `c`, `[batch, hidden]`).
    pub state: RecurrentState,
}

impl TrajectoryModel {
    /// Units per layer (the width of `h`).
    pub fn hidden_size(&self) -> usize {
        self.layers[0].hidden_size()
    }

    /// The cell of every layer.
    pub fn cell(&self) -> CellKind {
        self.layers[0].kind()
    }

    /// Chooses how whole windows are run (the results agree within float rounding).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The all-zero initial state for `batch` sequences: every layer's `h` (and `c`) `[batch, hidden]`.
    pub fn zero_state(&self, batch: usize, device: &Device) -> RecurrentState {
        RecurrentState { layers: self.layers.iter().map(|l| l.zero_state(batch, device)).collect() }
    }

    /// One step for every sequence of a batch: `input` is `[batch, input_dim]`; returns the head
    /// output `[batch, output_dim]` and the next state.
    pub fn step(&self, input: Tensor<2>, state: RecurrentState) -> (Tensor<2>, RecurrentState) {
        let mut x = input;
        let mut next = Vec::with_capacity(self.layers.len());
        for (layer, s) in self.layers.iter().zip(state.layers) {
            let s = layer.step(x, s);
            x = s.h.clone();
            next.push(s);
        }
        (self.head.forward(x), RecurrentState { layers: next })
    }

    /// Runs `input` (`[batch, steps, input_dim]`) from `state` (zeros when `None`), without
    /// dropout; the output is `[batch, steps, output_dim]`, see [`SequenceOutput`].
    pub fn forward(&self, input: Tensor<3>, state: Option<RecurrentState>) -> SequenceOutput {
        self.run(input, state, None)
    }

    /// As [`forward`](Self::forward) (same shapes), with dropout between layers whose masks are
    /// drawn from `rng` (training).
    pub fn forward_train(&self, input: Tensor<3>, state: Option<RecurrentState>, rng: &mut StdRng) -> SequenceOutput {
        if self.dropout == 0.0 || self.layers.len() < 2 {
            return self.run(input, state, None);
        }
        let [batch, steps, _] = input.dims();
        let keep = 1.0 - self.dropout;
        let h = self.hidden_size();
        let masks = (1..self.layers.len())
            .map(|_| {
                let values: Vec<f32> = (0..batch * steps * h)
                    .map(|_| if rng.random::<f64>() < keep { (1.0 / keep) as f32 } else { 0.0 })
                    .collect();
                Tensor::from_data(TensorData::new(values, [batch, steps, h]), &input.device())
            })
            .collect();
        self.run(input, state, Some(masks))
    }

    fn run(&self, input: Tensor<3>, state: Option<RecurrentState>, masks: Option<Vec<Tensor<3>>>) -> SequenceOutput {
        let [batch, steps, _] = input.dims();
        let device = input.device();
        let state = state.unwrap_or_else(|| self.zero_state(batch, &device));
        let fused = self.engine != Engine::StepLoop && kernel::available(&device);
        let (top, hidden, final_states) = if fused {
            // Layer by layer, each window in one fused operation.
            let mut x = input;
            let mut hidden = Vec::with_capacity(self.layers.len());
            let mut finals = Vec::with_capacity(self.layers.len());
            for (l, (layer, s)) in self.layers.iter().zip(state.layers).enumerate() {
                let (h, s) = layer.forward(x, s, Engine::Fused);
                hidden.push(h.clone());
                finals.push(s);
                x = match (&masks, l + 1 < self.layers.len()) {
                    (Some(m), true) => h * m[l].clone(),
                    _ => h,
                };
            }
            (x, hidden, finals)
        } else {
            // Time-major: every layer advances one step before the next step. Only the input
            // (which needs no gradient) and constant masks are sliced per step, so the backward
            // stays O(T).
            let mut states = state.layers;
            let mut per_layer: Vec<Vec<Tensor<2>>> = vec![Vec::with_capacity(steps); self.layers.len()];
            for t in 0..steps {
                let mut x = input.clone().narrow(1, t, 1).squeeze_dim::<2>(1);
                for (l, layer) in self.layers.iter().enumerate() {
                    let s = layer.step(x, states[l].clone());
                    per_layer[l].push(s.h.clone());
                    x = match &masks {
                        Some(m) if l + 1 < self.layers.len() => {
                            s.h.clone() * m[l].clone().narrow(1, t, 1).squeeze_dim::<2>(1)
                        }
                        _ => s.h.clone(),
                    };
                    states[l] = s;
                }
            }
            let hidden: Vec<Tensor<3>> = per_layer.into_iter().map(|hs| Tensor::stack(hs, 1)).collect();
            (hidden.last().expect("at least one layer").clone(), hidden, states)
        };
        SequenceOutput { output: self.head.forward(top), hidden, state: RecurrentState { layers: final_states } }
    }
}
