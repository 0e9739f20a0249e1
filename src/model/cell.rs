//! One recurrent layer and the seam every way of running it goes through.
//!
//! Written here rather than using burn's `Rnn`/`Lstm`/`Gru` because the toolkit needs what those
//! do not offer together: the exact single-bias Elman formula, one state-in/state-out API for the
//! three cells (burn's `Gru::forward` returns no final state), every step's hidden state for
//! probes, fused gate weights (one product per step for all gates) and a whole-window fast path.
//!
//! The cell equations live in one place, [`CellKind::update`]. A layer runs them either one step
//! at a time ([`RecurrentLayer::step`], the primitive, as in candle-nn's `RNN` trait) or over a
//! whole window ([`RecurrentLayer::forward`]), which picks an [`Engine`]: the step loop in burn's
//! graph, or a fused kernel that runs the whole recurrence (and its backward) in one operation.
//! The reference tests run every engine.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand::rngs::StdRng;

use super::{CellKind, uniform};

/// Row-vector convention: `h_t = act(x_t·W_x + h_{t-1}·W_h + b)`, i.e. `W_x = W_xhᵀ`; the gate
/// blocks are side by side in PyTorch's order (LSTM `i f g o`, GRU `r z n`).
#[derive(Module, Debug)]
pub struct RecurrentLayer {
    /// `[input, gates·hidden]`.
    pub w_x: Param<Tensor<2>>,
    /// `[hidden, gates·hidden]`.
    pub w_h: Param<Tensor<2>>,
    /// `[gates·hidden]`.
    pub b: Param<Tensor<1>>,
    /// GRU only: the hidden bias of the candidate, `[hidden]`, applied inside the reset gate's
    /// product (`n = tanh(x·W_xn + b_n + r ⊙ (h·W_hn + b_hn))`).
    pub b_hn: Option<Param<Tensor<1>>>,
    #[module(skip)]
    kind: CellKind,
}

/// The state of one layer.
#[derive(Debug, Clone)]
pub struct LayerState {
    /// Hidden state `[batch, hidden]`.
    pub h: Tensor<2>,
    /// LSTM cell state `[batch, hidden]`; `None` for RNN and GRU.
    pub c: Option<Tensor<2>>,
}

impl LayerState {
    /// Cuts the autodiff graph (truncated BPTT).
    pub(crate) fn detach(self) -> Self {
        Self { h: self.h.detach(), c: self.c.map(|c| c.detach()) }
    }

    /// Keeps rows whose `keep` entry is 1 and zeroes the others (`keep`: `[batch, 1]`), e.g. to
    /// restart some sequences of a batch.
    pub(crate) fn mask_rows(self, keep: &Tensor<2>) -> Self {
        Self { h: self.h * keep.clone(), c: self.c.map(|c| c * keep.clone()) }
    }
}

/// How a whole window is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The fused kernel where it is available for the device, else the step loop.
    #[default]
    Auto,
    /// One graph node per operation per step (any backend).
    StepLoop,
    /// The whole recurrence as one operation with a hand-written backward (on flex; on other
    /// backends the step loop, as `Auto`).
    Fused,
}

impl CellKind {
    /// The cell equations: the next state from the gate pre-activations of the input
    /// (`gx = x·W_x + b`) and of the previous hidden state (`gh = h·W_h`), both
    /// `[batch, gates·hidden]`.
    pub fn update(self, gx: Tensor<2>, gh: Tensor<2>, b_hn: Option<Tensor<2>>, state: LayerState) -> LayerState {
        match self {
            CellKind::Rnn => LayerState { h: (gx + gh).tanh(), c: None },
            CellKind::Lstm => {
                let mut g = (gx + gh).chunk(4, 1).into_iter();
                let (i, f, cand, o) = (g.next().unwrap(), g.next().unwrap(), g.next().unwrap(), g.next().unwrap());
                let c_prev = state.c.expect("LSTM state carries a cell state");
                let c = sigmoid(f) * c_prev + sigmoid(i) * cand.tanh();
                let h = sigmoid(o) * c.clone().tanh();
                LayerState { h, c: Some(c) }
            }
            CellKind::Gru => {
                let mut xg = gx.chunk(3, 1).into_iter();
                let mut hg = gh.chunk(3, 1).into_iter();
                let r = sigmoid(xg.next().unwrap() + hg.next().unwrap());
                let z = sigmoid(xg.next().unwrap() + hg.next().unwrap());
                let hn = hg.next().unwrap() + b_hn.expect("GRU layer has b_hn");
                let n = (xg.next().unwrap() + r * hn).tanh();
                // h' = (1 − z)·n + z·h
                LayerState { h: n.clone() + z * (state.h - n), c: None }
            }
        }
    }
}

impl RecurrentLayer {
    /// A layer reading `input` features into `hidden` units, PyTorch's initialisation: every
    /// weight and bias uniform in ±1/√hidden, drawn from `rng`.
    pub fn new(kind: CellKind, input: usize, hidden: usize, device: &Device, rng: &mut StdRng) -> Self {
        let k = 1.0 / (hidden as f32).sqrt();
        let width = kind.gates() * hidden;
        Self {
            w_x: uniform([input, width], k, rng, device),
            w_h: uniform([hidden, width], k, rng, device),
            b: uniform([width], k, rng, device),
            b_hn: (kind == CellKind::Gru).then(|| uniform([hidden], k, rng, device)),
            kind,
        }
    }

    /// The layer's cell.
    pub fn kind(&self) -> CellKind {
        self.kind
    }

    /// Features per step of the layer's input (rows of `w_x`).
    pub fn input_size(&self) -> usize {
        self.w_x.dims()[0]
    }

    /// Units of the layer (rows of `w_h`).
    pub fn hidden_size(&self) -> usize {
        self.w_h.dims()[0]
    }

    /// The all-zero state of `batch` sequences: `h` (and an LSTM's `c`) `[batch, hidden]`.
    pub fn zero_state(&self, batch: usize, device: &Device) -> LayerState {
        let zeros = || Tensor::zeros([batch, self.hidden_size()], device);
        LayerState { h: zeros(), c: (self.kind == CellKind::Lstm).then(zeros) }
    }

    fn b_hn_row(&self) -> Option<Tensor<2>> {
        self.b_hn.as_ref().map(|b| b.val().unsqueeze::<2>())
    }

    /// One step: `x` is `[batch, input]`, `state` `[batch, hidden]`; returns the next state
    /// (its `h`, `[batch, hidden]`, is the output).
    pub fn step(&self, x: Tensor<2>, state: LayerState) -> LayerState {
        let gx = x.matmul(self.w_x.val()) + self.b.val().unsqueeze();
        let gh = state.h.clone().matmul(self.w_h.val());
        self.kind.update(gx, gh, self.b_hn_row(), state)
    }

    /// Runs the layer over `x` (`[batch, steps, input]`) from `state`; returns every step's `h`
    /// (`[batch, steps, hidden]`) and the final state.
    pub fn forward(&self, x: Tensor<3>, state: LayerState, engine: Engine) -> (Tensor<3>, LayerState) {
        if engine != Engine::StepLoop
            && let Some(out) = super::kernel::forward(self, x.clone(), state.clone())
        {
            return out;
        }
        let steps = x.dims()[1];
        // Per-step slices of the layer's *input* (not of a whole-window projection): the backward
        // of a slice builds a zero tensor the size of its source, so slicing a projection that
        // requires a gradient costs O(T²); the input of the first layer needs no gradient at all.
        let mut state = state;
        let mut outputs = Vec::with_capacity(steps);
        for t in 0..steps {
            let x_t = x.clone().narrow(1, t, 1).squeeze_dim::<2>(1);
            state = self.step(x_t, state);
            outputs.push(state.h.clone());
        }
        (Tensor::stack(outputs, 1), state)
    }
}
