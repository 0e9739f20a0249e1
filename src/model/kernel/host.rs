//! A model's weights on the host and one step of it in plain Rust, for streaming inference:
//! nothing is allocated per step, and the gate products are row-vector AXPYs over contiguous
//! weight rows (`W_x`, `W_h` are `[in, gates·hidden]` row-major), which compilers vectorise.

use burn::prelude::*;

use crate::model::{CellKind, TrajectoryModel};

#[derive(Debug, Clone)]
struct HostLayer {
    input: usize,
    w_x: Vec<f32>,
    w_h: Vec<f32>,
    b: Vec<f32>,
    b_hn: Vec<f32>,
}

/// A trained model's weights in host memory.
#[derive(Debug, Clone)]
pub struct HostModel {
    kind: CellKind,
    hidden: usize,
    layers: Vec<HostLayer>,
    /// Head `[hidden, out]` row-major and its bias.
    head_w: Vec<f32>,
    head_b: Vec<f32>,
    out: usize,
}

/// The recurrent state, plus scratch space so a step allocates nothing.
#[derive(Debug, Clone)]
pub struct HostState {
    /// Per layer: `h` then (LSTM) `c`, each `hidden` long.
    h: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    gates: Vec<f32>,
    gates_h: Vec<f32>,
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 weights")
}

impl HostModel {
    pub fn from_model(model: &TrajectoryModel) -> Self {
        let layers = model
            .layers
            .iter()
            .map(|l| HostLayer {
                input: l.input_size(),
                w_x: host(l.w_x.val()),
                w_h: host(l.w_h.val()),
                b: host(l.b.val()),
                b_hn: l.b_hn.as_ref().map(|b| host(b.val())).unwrap_or_default(),
            })
            .collect();
        let head_w = host(model.head.weight.val());
        let out = model.head.weight.dims()[1];
        let head_b = model.head.bias.as_ref().map(|b| host(b.val())).unwrap_or_else(|| vec![0.0; out]);
        Self { kind: model.cell(), hidden: model.hidden_size(), layers, head_w, head_b, out }
    }

    pub fn zero_state(&self) -> HostState {
        let h = self.hidden;
        let width = self.kind.gates() * h;
        HostState {
            h: vec![vec![0.0; h]; self.layers.len()],
            c: if self.kind == CellKind::Lstm { vec![vec![0.0; h]; self.layers.len()] } else { vec![] },
            gates: vec![0.0; width],
            gates_h: vec![0.0; width],
        }
    }

    /// One step: reads `x` (`input` values of the first layer), advances `state`, writes the
    /// head's output into `out`.
    pub fn step(&self, x: &[f32], state: &mut HostState, out: &mut [f32]) {
        let hd = self.hidden;
        for (l, layer) in self.layers.iter().enumerate() {
            let HostState { h, c, gates, gates_h } = state;
            let (below, here) = h.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &below[l - 1] };
            debug_assert_eq!(input.len(), layer.input);
            gates.copy_from_slice(&layer.b);
            axpy_rows(gates, &layer.w_x, input);
            let h_l = &mut here[0];
            match self.kind {
                CellKind::Rnn => {
                    axpy_rows(gates, &layer.w_h, h_l);
                    for (hv, g) in h_l.iter_mut().zip(gates.iter()) {
                        *hv = g.tanh();
                    }
                }
                CellKind::Lstm => {
                    axpy_rows(gates, &layer.w_h, h_l);
                    let c_l = &mut c[l];
                    for j in 0..hd {
                        let i = sigmoid(gates[j]);
                        let f = sigmoid(gates[hd + j]);
                        let g = gates[2 * hd + j].tanh();
                        let o = sigmoid(gates[3 * hd + j]);
                        c_l[j] = f * c_l[j] + i * g;
                        h_l[j] = o * c_l[j].tanh();
                    }
                }
                CellKind::Gru => {
                    gates_h.fill(0.0);
                    axpy_rows(gates_h, &layer.w_h, h_l);
                    for j in 0..hd {
                        let r = sigmoid(gates[j] + gates_h[j]);
                        let z = sigmoid(gates[hd + j] + gates_h[hd + j]);
                        let n = (gates[2 * hd + j] + r * (gates_h[2 * hd + j] + layer.b_hn[j])).tanh();
                        h_l[j] = n + z * (h_l[j] - n);
                    }
                }
            }
        }
        out.copy_from_slice(&self.head_b);
        axpy_rows(out, &self.head_w, state.h.last().expect("at least one layer"));
        debug_assert_eq!(out.len(), self.out);
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `acc += Σ_i v[i] · rows[i]` where `rows` is row-major `[v.len(), acc.len()]`.
fn axpy_rows(acc: &mut [f32], rows: &[f32], v: &[f32]) {
    let n = acc.len();
    for (row, &a) in rows.chunks_exact(n).zip(v) {
        for (s, w) in acc.iter_mut().zip(row) {
            *s += a * w;
        }
    }
}
