//! Recurrent next-state predictors: a stack of Elman RNN, LSTM or GRU layers and a linear head.
//!
//! One API for the three cells: [`TrajectoryModel::forward`] takes an optional initial state and
//! returns the head's output at every step, every layer's hidden state at every step, and the
//! final state (to carry across windows, or to step a rollout); [`TrajectoryModel::step`] runs
//! one step.
//!
//! A model may be an *ensemble*: several networks of the same shape from different initial
//! weights (`members`), each trained on its own loss, whose outputs are averaged when the model
//! predicts. Seeds alone moved the test error of one network by ±10 % on real teleoperation
//! data; the average of a few is both better and steadier (docs/prediction-quality.md).

mod cell;
pub mod kernel;
mod stacked;

use std::fmt;
use std::str::FromStr;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use cell::LayerState;
pub use cell::{Engine, RecurrentLayer};
pub(crate) use stacked::StackedMembers;

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

pub(crate) use crate::limits::MAX_FEATURES;
pub use crate::limits::{MAX_HIDDEN, MAX_LAYERS};

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
    /// Networks in the ensemble (1: a single network).
    #[serde(default = "one")]
    pub members: usize,
}

fn one() -> usize {
    1
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
        if !(1..=MAX_MEMBERS).contains(&self.members) {
            return Err(Error::option("members", format!("must be in 1..={MAX_MEMBERS}, got {}", self.members)));
        }
        Ok(())
    }

    /// Number of f32 parameters (what the weights of a checkpoint must hold).
    pub(crate) fn parameter_count(&self) -> usize {
        self.member_parameter_count() * self.members
    }

    /// Parameters of one member.
    fn member_parameter_count(&self) -> usize {
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
    ///
    /// The members of an ensemble draw their weights one after the other from the same seeded
    /// generator, so each starts elsewhere.
    pub fn init(&self, device: &Device, seed: u64) -> TrajectoryModel {
        let mut rng = StdRng::seed_from_u64(seed);
        let Member { layers, head } = self.init_member(device, &mut rng);
        let others = (1..self.members).map(|_| self.init_member(device, &mut rng)).collect();
        TrajectoryModel { layers, head, others, dropout: self.dropout, engine: Engine::Auto }
    }

    fn init_member(&self, device: &Device, rng: &mut StdRng) -> Member {
        let layers = (0..self.layers)
            .map(|l| {
                let input = if l == 0 { self.input_dim } else { self.hidden };
                RecurrentLayer::new(self.cell, input, self.hidden, device, rng)
            })
            .collect();
        let k = if self.zero_head { 0.0 } else { 1.0 / (self.hidden as f32).sqrt() };
        let head = Linear {
            weight: uniform([self.hidden, self.output_dim], k, rng, device),
            bias: Some(uniform([self.output_dim], k, rng, device)),
        };
        Member { layers, head }
    }
}

/// Largest number of ensemble members.
pub(crate) const MAX_MEMBERS: usize = 16;

/// A further network of an ensemble: a stack of layers and a head of the model's shape.
#[derive(Module, Debug)]
pub struct Member {
    /// Bottom first, as [`TrajectoryModel::layers`].
    pub layers: Vec<RecurrentLayer>,
    /// Maps the top layer's `h` to the output, as [`TrajectoryModel::head`].
    pub head: Linear,
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
    /// The ensemble's other members (empty: a single network); `layers` and `head` are the first.
    pub others: Vec<Member>,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    engine: Engine,
}

/// State of every layer, bottom first (of every member, one member's layers after another).
#[derive(Debug, Clone)]
pub struct RecurrentState {
    /// One per layer, bottom first; each holds `h` `[batch, hidden]` (and an LSTM's `c`, same shape).
    pub layers: Vec<LayerState>,
}

impl RecurrentState {
    /// Cuts the autodiff graph (truncated BPTT).
    pub(crate) fn detach(self) -> Self {
        Self { layers: self.layers.into_iter().map(LayerState::detach).collect() }
    }

    /// Zeroes the rows whose `keep` entry (`[batch, 1]`) is 0.
    pub(crate) fn mask_rows(self, keep: &Tensor<2>) -> Self {
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

    /// Networks in the ensemble (1 for a single network).
    pub fn members(&self) -> usize {
        1 + self.others.len()
    }

    /// Layers and head of member `k`.
    fn member(&self, k: usize) -> (&[RecurrentLayer], &Linear) {
        match k {
            0 => (&self.layers, &self.head),
            k => (&self.others[k - 1].layers, &self.others[k - 1].head),
        }
    }

    /// Member `k` alone, as a model of one network (a copy of its weights).
    pub(crate) fn member_model(&self, k: usize) -> TrajectoryModel {
        let (layers, head) = self.member(k);
        TrajectoryModel {
            layers: layers.to_vec(),
            head: head.clone(),
            others: vec![],
            dropout: self.dropout,
            engine: self.engine,
        }
    }

    /// Chooses how whole windows are run (the results agree within float rounding).
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// The all-zero initial state for `batch` sequences: every layer's `h` (and `c`)
    /// `[batch, hidden]`, of every member.
    pub fn zero_state(&self, batch: usize, device: &Device) -> RecurrentState {
        let layers =
            (0..self.members()).flat_map(|k| self.member(k).0.iter().map(|l| l.zero_state(batch, device))).collect();
        RecurrentState { layers }
    }

    /// Splits a state into each member's layers.
    fn split_state(&self, state: RecurrentState) -> Vec<Vec<LayerState>> {
        let per = self.layers.len();
        let mut layers = state.layers.into_iter();
        (0..self.members()).map(|_| layers.by_ref().take(per).collect()).collect()
    }

    /// One step for every sequence of a batch: `input` is `[batch, input_dim]`; returns the head
    /// output `[batch, output_dim]` (the members' mean) and the next state.
    pub fn step(&self, input: Tensor<2>, state: RecurrentState) -> (Tensor<2>, RecurrentState) {
        let mut outputs = Vec::with_capacity(self.members());
        let mut next = Vec::with_capacity(self.layers.len() * self.members());
        for (k, member_state) in self.split_state(state).into_iter().enumerate() {
            let (y, s) = self.step_member(k, input.clone(), member_state);
            outputs.push(y);
            next.extend(s);
        }
        (mean(outputs), RecurrentState { layers: next })
    }

    /// One step of member `k` alone, from its layers' states.
    pub(crate) fn step_member(
        &self,
        k: usize,
        input: Tensor<2>,
        state: Vec<LayerState>,
    ) -> (Tensor<2>, Vec<LayerState>) {
        let (layers, head) = self.member(k);
        let mut x = input;
        let mut next = Vec::with_capacity(layers.len());
        for (layer, s) in layers.iter().zip(state) {
            let s = layer.step(x, s);
            x = s.h.clone();
            next.push(s);
        }
        (head.forward(x), next)
    }

    /// Runs `input` (`[batch, steps, input_dim]`) from `state` (zeros when `None`), without
    /// dropout; the output is `[batch, steps, output_dim]` (the members' mean), see
    /// [`SequenceOutput`] (its hidden states are the first member's).
    pub fn forward(&self, input: Tensor<3>, state: Option<RecurrentState>) -> SequenceOutput {
        let outputs = self.forward_members(input, state, None);
        combine(outputs)
    }

    /// As [`forward`](Self::forward) (same shapes), with dropout between layers whose masks are
    /// drawn from `rng` (training).
    pub fn forward_train(&self, input: Tensor<3>, state: Option<RecurrentState>, rng: &mut StdRng) -> SequenceOutput {
        combine(self.forward_members(input, state, Some(rng)))
    }

    /// Every member's own output, hidden states and final state (what each member is trained
    /// on); with `rng`, dropout between layers.
    pub(crate) fn forward_members(
        &self,
        input: Tensor<3>,
        state: Option<RecurrentState>,
        mut rng: Option<&mut StdRng>,
    ) -> Vec<SequenceOutput> {
        let [batch, _, _] = input.dims();
        let device = input.device();
        let state = state.unwrap_or_else(|| self.zero_state(batch, &device));
        self.split_state(state)
            .into_iter()
            .enumerate()
            .map(|(k, s)| {
                let masks = rng.as_deref_mut().and_then(|r| self.dropout_masks(&input, r));
                self.run(k, input.clone(), s, masks)
            })
            .collect()
    }

    /// Dropout masks between the layers of one member (none without dropout or with one layer).
    fn dropout_masks(&self, input: &Tensor<3>, rng: &mut StdRng) -> Option<Vec<Tensor<3>>> {
        if self.dropout == 0.0 || self.layers.len() < 2 {
            return None;
        }
        let [batch, steps, _] = input.dims();
        let keep = 1.0 - self.dropout;
        let h = self.hidden_size();
        Some(
            (1..self.layers.len())
                .map(|_| {
                    let values: Vec<f32> = (0..batch * steps * h)
                        .map(|_| if rng.random::<f64>() < keep { (1.0 / keep) as f32 } else { 0.0 })
                        .collect();
                    Tensor::from_data(TensorData::new(values, [batch, steps, h]), &input.device())
                })
                .collect(),
        )
    }

    fn run(&self, k: usize, input: Tensor<3>, state: Vec<LayerState>, masks: Option<Vec<Tensor<3>>>) -> SequenceOutput {
        let (layers, head) = self.member(k);
        let steps = input.dims()[1];
        let device = input.device();
        let fused = self.engine != Engine::StepLoop && kernel::available(&device);
        let (top, hidden, final_states) = if fused {
            // Layer by layer, each window in one fused operation.
            let mut x = input;
            let mut hidden = Vec::with_capacity(layers.len());
            let mut finals = Vec::with_capacity(layers.len());
            for (l, (layer, s)) in layers.iter().zip(state).enumerate() {
                let (h, s) = layer.forward(x, s, Engine::Fused);
                hidden.push(h.clone());
                finals.push(s);
                x = match (&masks, l + 1 < layers.len()) {
                    (Some(m), true) => h * m[l].clone(),
                    _ => h,
                };
            }
            (x, hidden, finals)
        } else {
            // Time-major: every layer advances one step before the next step. Only the input
            // (which needs no gradient) and constant masks are sliced per step, so the backward
            // stays O(T).
            let mut states = state;
            let mut per_layer: Vec<Vec<Tensor<2>>> = vec![Vec::with_capacity(steps); layers.len()];
            for t in 0..steps {
                let mut x = input.clone().narrow(1, t, 1).squeeze_dim::<2>(1);
                for (l, layer) in layers.iter().enumerate() {
                    let s = layer.step(x, states[l].clone());
                    per_layer[l].push(s.h.clone());
                    x = match &masks {
                        Some(m) if l + 1 < layers.len() => {
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
        // The fused engine runs the head as one product each way too; the step loop keeps burn's
        // `Linear`, the model of record the fused path is tested against.
        let output = if fused { kernel::apply_head(head, top) } else { head.forward(top) };
        SequenceOutput { output, hidden, state: RecurrentState { layers: final_states } }
    }
}

/// The mean of the members' outputs (the single output when there is one).
fn mean<const D: usize>(outputs: Vec<Tensor<D>>) -> Tensor<D> {
    let n = outputs.len();
    let mut it = outputs.into_iter();
    let first = it.next().expect("at least one member");
    if n == 1 {
        return first;
    }
    it.fold(first, |a, b| a + b) / n as f32
}

/// The ensemble's output from its members': the mean output, the first member's hidden states,
/// and every member's final state.
fn combine(members: Vec<SequenceOutput>) -> SequenceOutput {
    let mut outputs = Vec::with_capacity(members.len());
    let mut hidden = None;
    let mut state = Vec::new();
    for m in members {
        outputs.push(m.output);
        hidden.get_or_insert(m.hidden);
        state.extend(m.state.layers);
    }
    SequenceOutput {
        output: mean(outputs),
        hidden: hidden.unwrap_or_default(),
        state: RecurrentState { layers: state },
    }
}
