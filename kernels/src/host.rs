//! One step of a stack of recurrent layers and a linear head, in plain Rust, for streaming
//! inference: nothing is allocated per step, and the gate products are row-vector AXPYs over
//! contiguous weight rows (`W_x`, `W_h` are `[in, gates·hidden]` row-major), which the compiler
//! vectorises for the widest SIMD the CPU has.

use crate::Cell;
use crate::math::{SimdLevel, multiversion, sigmoid_slice, simd_level, tanh_slice};

/// One layer's weights, row-vector convention: `gates = x·W_x + h·W_h + b`.
#[derive(Debug, Clone)]
pub struct Layer {
    /// `[input, gates·hidden]`.
    pub w_x: Vec<f32>,
    /// `[hidden, gates·hidden]`.
    pub w_h: Vec<f32>,
    /// `[gates·hidden]`.
    pub b: Vec<f32>,
    /// GRU: `[hidden]` (empty otherwise).
    pub b_hn: Vec<f32>,
}

/// A model's weights in host memory.
#[derive(Debug, Clone)]
pub struct HostModel {
    cell: Cell,
    hidden: usize,
    layers: Vec<Layer>,
    /// Head `[hidden, out]` row-major and its bias `[out]`.
    head_w: Vec<f32>,
    head_b: Vec<f32>,
}

/// The recurrent state, plus scratch space so a step allocates nothing.
#[derive(Debug, Clone)]
pub struct HostState {
    h: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    gates: Vec<f32>,
    gates_h: Vec<f32>,
}

impl HostModel {
    /// Checks the shapes: every layer `[in, G·H]` / `[H, G·H]` / `[G·H]`, the head `[H, out]`.
    pub fn new(cell: Cell, hidden: usize, layers: Vec<Layer>, head_w: Vec<f32>, head_b: Vec<f32>) -> Self {
        let width = cell.gates() * hidden;
        assert!(!layers.is_empty(), "at least one layer");
        for (l, layer) in layers.iter().enumerate() {
            assert_eq!(layer.w_h.len(), hidden * width, "layer {l}: W_h");
            assert_eq!(layer.b.len(), width, "layer {l}: b");
            assert!(layer.w_x.len() % width == 0, "layer {l}: W_x");
            assert_eq!(layer.b_hn.len(), if cell == Cell::Gru { hidden } else { 0 }, "layer {l}: b_hn");
        }
        assert_eq!(head_w.len(), hidden * head_b.len(), "head");
        Self { cell, hidden, layers, head_w, head_b }
    }

    /// Values of the input `x` of a step (rows of the first layer's `W_x`).
    pub fn input_size(&self) -> usize {
        self.layers[0].w_x.len() / (self.cell.gates() * self.hidden)
    }

    /// Values of a step's output (the head's width).
    pub fn output_size(&self) -> usize {
        self.head_b.len()
    }

    /// The all-zero state: every layer's `h` (and an LSTM's `c`) `[hidden]`.
    pub fn zero_state(&self) -> HostState {
        let h = self.hidden;
        let width = self.cell.gates() * h;
        HostState {
            h: vec![vec![0.0; h]; self.layers.len()],
            c: if self.cell == Cell::Lstm { vec![vec![0.0; h]; self.layers.len()] } else { vec![] },
            gates: vec![0.0; width],
            gates_h: vec![0.0; width],
        }
    }

    /// One step: reads `x` (`input_size()` values), advances `state`, writes the head's output
    /// (`output_size()` values) into `out`.
    pub fn step(&self, x: &[f32], state: &mut HostState, out: &mut [f32]) {
        assert_eq!(x.len(), self.input_size());
        assert_eq!(out.len(), self.output_size());
        step_simd(self, x, state, out);
    }
}

multiversion!(fn step_simd(model: &HostModel, x: &[f32], state: &mut HostState, out: &mut [f32]) => step_inline);

#[inline(always)]
fn step_inline(model: &HostModel, x: &[f32], state: &mut HostState, out: &mut [f32]) {
    {
        let hd = model.hidden;
        for (l, layer) in model.layers.iter().enumerate() {
            let HostState { h, c, gates, gates_h } = state;
            let (below, here) = h.split_at_mut(l);
            let input: &[f32] = if l == 0 { x } else { &below[l - 1] };
            gates.copy_from_slice(&layer.b);
            axpy_rows(gates, &layer.w_x, input);
            let h_l = &mut here[0];
            match model.cell {
                Cell::Rnn => {
                    axpy_rows(gates, &layer.w_h, h_l);
                    h_l.copy_from_slice(gates);
                    tanh_slice(h_l);
                }
                Cell::Lstm => {
                    axpy_rows(gates, &layer.w_h, h_l);
                    // One vectorised pass per activation (see `math::sigmoid_slice`).
                    sigmoid_slice(&mut gates[..2 * hd]);
                    tanh_slice(&mut gates[2 * hd..3 * hd]);
                    sigmoid_slice(&mut gates[3 * hd..]);
                    let c_l = &mut c[l];
                    let (gi, rest) = gates.split_at(hd);
                    let (gf, rest) = rest.split_at(hd);
                    let (gg, go) = rest.split_at(hd);
                    for (((c, i), f), g) in c_l.iter_mut().zip(gi).zip(gf).zip(gg) {
                        *c = f * *c + i * g;
                    }
                    h_l.copy_from_slice(c_l);
                    tanh_slice(h_l);
                    for (h, o) in h_l.iter_mut().zip(go) {
                        *h *= o;
                    }
                }
                Cell::Gru => {
                    gates_h.fill(0.0);
                    axpy_rows(gates_h, &layer.w_h, h_l);
                    for (g, gh) in gates[..2 * hd].iter_mut().zip(&gates_h[..2 * hd]) {
                        *g += gh;
                    }
                    sigmoid_slice(&mut gates[..2 * hd]);
                    let (rz, gn) = gates.split_at_mut(2 * hd);
                    let (gr, gz) = rz.split_at(hd);
                    for (((n, r), hn), bn) in gn.iter_mut().zip(gr).zip(&gates_h[2 * hd..]).zip(&layer.b_hn) {
                        *n += r * (hn + bn);
                    }
                    tanh_slice(gn);
                    for ((h, n), z) in h_l.iter_mut().zip(gn.iter()).zip(gz) {
                        *h = n + z * (*h - n);
                    }
                }
            }
        }
        out.copy_from_slice(&model.head_b);
        axpy_rows(out, &model.head_w, state.h.last().expect("at least one layer"));
    }
}

/// `acc += Σ_i v[i] · rows[i]` where `rows` is row-major `[v.len(), acc.len()]`. Blocks of the
/// accumulator stay in registers across all rows (a row-by-row AXPY stores and reloads the whole
/// accumulator per row). With AVX-512, blocks of 256 lanes (16 of its 32 registers; 1 KiB of each
/// row read contiguously) stepped LSTM-128 1.3–1.5× faster than blocks of 64, which is what fits
/// AVX2's 16 registers (the `rnn` bench's `host` backend, A/B in `docs/records/bench/`).
#[inline(always)]
pub(crate) fn axpy_rows(acc: &mut [f32], rows: &[f32], v: &[f32]) {
    let mut start = 0;
    if simd_level() == SimdLevel::Avx512 {
        start = axpy_blocks::<256>(acc, rows, v, start);
        start = axpy_blocks::<128>(acc, rows, v, start);
    }
    start = axpy_blocks::<64>(acc, rows, v, start);
    let n = acc.len();
    for (row, &a) in rows.chunks_exact(n).zip(v) {
        for (s, w) in acc[start..].iter_mut().zip(&row[start..]) {
            *s += a * w;
        }
    }
}

/// [`axpy_rows`] over the whole blocks of `LANES` accumulator values from `start` on; returns
/// where they end.
#[inline(always)]
fn axpy_blocks<const LANES: usize>(acc: &mut [f32], rows: &[f32], v: &[f32], mut start: usize) -> usize {
    let n = acc.len();
    while start + LANES <= n {
        let mut r = [0f32; LANES];
        r.copy_from_slice(&acc[start..start + LANES]);
        for (row, &a) in rows.chunks_exact(n).zip(v) {
            let w: &[f32; LANES] = row[start..start + LANES].try_into().expect("a block");
            for k in 0..LANES {
                r[k] += a * w[k];
            }
        }
        acc[start..start + LANES].copy_from_slice(&r);
        start += LANES;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every split of the accumulator into blocks (256, 128, 64 lanes and a tail) adds what a
    /// plain row-by-row AXPY adds.
    #[test]
    fn blocked_axpy_matches_row_by_row() {
        for n in [8, 48, 64, 96, 192, 256, 288, 384, 448, 512, 1024 + 40] {
            let k = 37;
            let rows: Vec<f32> = (0..k * n).map(|i| ((i * 7907 % 1000) as f32 - 500.0) * 1e-3).collect();
            let v: Vec<f32> = (0..k).map(|i| (i as f32 * 0.37).sin()).collect();
            let start: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
            let mut expected = start.clone();
            for (row, a) in rows.chunks_exact(n).zip(&v) {
                for (e, w) in expected.iter_mut().zip(row) {
                    *e += a * w;
                }
            }
            let mut acc = start;
            axpy_rows(&mut acc, &rows, &v);
            for (j, (a, e)) in acc.iter().zip(&expected).enumerate() {
                assert!((a - e).abs() <= 1e-5 * (1.0 + e.abs()), "n {n}, lane {j}: {a} against {e}");
            }
        }
    }
}
