//! One recurrent layer. Written here rather than using burn's `Rnn`/`Lstm`/`Gru` because the
//! toolkit needs what those do not offer together: the exact single-bias Elman formula, the same
//! state in/out API for all three cells (burn's `Gru::forward` returns no final state), every
//! step's hidden state for probes, weights laid out for a plain-Rust streaming predictor, and the
//! input projection hoisted out of the time loop (one matrix product per window).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use rand::rngs::StdRng;

use super::{CellKind, uniform};

/// Row-vector convention: `h_t = act(x_t·W_x + h_{t-1}·W_h + b)`, i.e. `W_x = W_xhᵀ`.
#[derive(Module, Debug)]
pub struct RecurrentLayer {
    /// `[input, gates·hidden]`.
    pub w_x: Param<Tensor<2>>,
    /// `[hidden, gates·hidden]`.
    pub w_h: Param<Tensor<2>>,
    /// `[gates·hidden]`.
    pub b: Param<Tensor<1>>,
    /// GRU only: the hidden bias of the candidate, applied inside the reset gate's product.
    pub b_hn: Option<Param<Tensor<1>>>,
    #[module(skip)]
    kind: CellKind,
}

#[derive(Debug, Clone)]
pub struct LayerState {
    /// Hidden state `[batch, hidden]`.
    pub h: Tensor<2>,
    /// LSTM cell state `[batch, hidden]`; `None` for RNN and GRU.
    pub c: Option<Tensor<2>>,
}

impl RecurrentLayer {
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

    pub fn kind(&self) -> CellKind {
        self.kind
    }

    pub fn hidden_size(&self) -> usize {
        self.w_h.dims()[0]
    }

    pub fn zero_state(&self, batch: usize, device: &Device) -> LayerState {
        let zeros = || Tensor::zeros([batch, self.hidden_size()], device);
        LayerState { h: zeros(), c: (self.kind == CellKind::Lstm).then(zeros) }
    }

    /// Runs the layer over `x` (`[batch, steps, input]`); returns every step's `h` and the final state.
    pub fn forward(&self, x: Tensor<3>, state: LayerState) -> (Tensor<3>, LayerState) {
        let [batch, steps, input] = x.dims();
        let hidden = self.hidden_size();
        let width = self.kind.gates() * hidden;
        // The input projection of all steps in one product, outside the recurrence.
        let projected = (x.reshape([batch * steps, input]).matmul(self.w_x.val()) + self.b.val().unsqueeze())
            .reshape([batch, steps, width]);
        let w_h = self.w_h.val();
        let b_hn = self.b_hn.as_ref().map(|b| b.val().unsqueeze::<2>());
        let LayerState { mut h, mut c } = state;
        let mut outputs = Vec::with_capacity(steps);
        for t in 0..steps {
            let x_t = projected.clone().narrow(1, t, 1).reshape([batch, width]);
            let h_proj = h.clone().matmul(w_h.clone());
            h = match self.kind {
                CellKind::Rnn => (x_t + h_proj).tanh(),
                CellKind::Lstm => {
                    let mut g = (x_t + h_proj).chunk(4, 1).into_iter();
                    let (i, f, cand, o) = (g.next().unwrap(), g.next().unwrap(), g.next().unwrap(), g.next().unwrap());
                    let c_prev = c.take().expect("LSTM state carries a cell state");
                    let c_new = sigmoid(f) * c_prev + sigmoid(i) * cand.tanh();
                    let h_new = sigmoid(o) * c_new.clone().tanh();
                    c = Some(c_new);
                    h_new
                }
                CellKind::Gru => {
                    let mut xg = x_t.chunk(3, 1).into_iter();
                    let mut hg = h_proj.chunk(3, 1).into_iter();
                    let r = sigmoid(xg.next().unwrap() + hg.next().unwrap());
                    let z = sigmoid(xg.next().unwrap() + hg.next().unwrap());
                    let hn = hg.next().unwrap() + b_hn.clone().expect("GRU layer has b_hn");
                    let n = (xg.next().unwrap() + r * hn).tanh();
                    // h' = (1 - z)·n + z·h
                    n.clone() + z * (h - n)
                }
            };
            outputs.push(h.clone());
        }
        (Tensor::stack(outputs, 1), LayerState { h, c })
    }
}
