//! The recurrence of one layer over a whole window, forward and backward, on host slices.
//!
//! Input: the layer's input `x` (`[B, T, F]`), its weights (`W_x [F, G·H]`, `b [G·H]`,
//! `W_h [H, G·H]`, the GRU's `b_hn [H]`) and the initial state. Each step's gate pre-activations
//! are one product `[x_t | h_{t−1}] · [W_x; W_h]` (GRU: two, since its candidate gate keeps the
//! two sides apart), so the input projection costs no separate pass over a `[B, T, G·H]` tensor.
//! The batch is split across threads for the whole window (sequences are independent), so the
//! time loop needs no synchronisation; each step is one small GEMM per thread plus vectorised
//! passes over the gates. The weight gradients are one large GEMM after the loop. Everything is
//! O(T).
//!
//! Inputs and outputs are row-major and batch-major (`[B, T, ·]`). The buffers the kernel keeps
//! for itself (`[x_t | h_{t−1}]` rows, gates, cell states, pre-activation gradients) are split
//! into the threads' blocks of sequences like the batch, and each block is time-major
//! (`[T, rows, ·]`): the rows of a run of steps are one matrix, which the backward's products
//! over blocks of steps need (see `weight_gradient_block`). (The layout alone changed nothing
//! measurable: LSTM-128 forward and backward 11.83 against 11.87 ms, medians of ten.)

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::Cell;
use crate::host::axpy_rows;
use crate::math::{multiversion, sigmoid_bias_into, sigmoid_slice, tanh, tanh_bias_into, tanh_bias_slice};
use crate::pool;
use crate::product::{View, matmul, sum_parts, transpose};

/// Sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// The cell (`G` = [`Cell::gates`] gate blocks).
    pub kind: Cell,
    /// Sequences `B`.
    pub batch: usize,
    /// Time steps `T`.
    pub steps: usize,
    /// Features of the layer's input `F`.
    pub input: usize,
    /// Units `H`.
    pub hidden: usize,
}

impl Dims {
    fn width(&self) -> usize {
        self.kind.gates() * self.hidden
    }
    /// Width of a `[x_t | h_{t−1}]` row.
    fn k(&self) -> usize {
        self.input + self.hidden
    }
}

/// A layer's weights, row-vector convention (`gates = x·W_x + h·W_h + b`).
#[derive(Debug, Clone, Copy)]
pub struct Weights<'a> {
    /// `[F, G·H]`.
    pub w_x: &'a [f32],
    /// `[G·H]`.
    pub b: &'a [f32],
    /// `[H, G·H]`.
    pub w_h: &'a [f32],
    /// GRU: `[H]`; empty otherwise.
    pub b_hn: &'a [f32],
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct Cache {
    /// The sizes of the forward call.
    pub dims: Dims,
    /// Sequences per thread block (the layout of the buffers below).
    rows: usize,
    /// `[x_t | h_{t−1}]` of every step (`h0` at `t = 0`), `F + H` wide: the left factor of
    /// the weight gradients. This and the next two are in blocks of `rows` sequences, each
    /// block time-major (see the module docs).
    xh: Vec<f32>,
    /// LSTM: activated gates `i f g o`; GRU: `r z n`; `G·H` wide. RNN: empty (its backward needs
    /// only `h_t`).
    gates: Vec<f32>,
    /// LSTM: cell state `c_t`; GRU: `h·W_hn + b_hn`; RNN: `h_t`. `H` wide.
    cells: Vec<f32>,
    /// LSTM: the initial cell state `[B, H]`.
    c0: Vec<f32>,
    /// `W_hᵀ` (`[G·H, H]`): the backward's per-step product reads it row by row (measured 3×
    /// faster than reading `W_h` with transposed strides).
    w_h_t: Vec<f32>,
    /// `W_x` (`[F, G·H]`), for the input's gradient.
    w_x: Vec<f32>,
}

/// The window-sized buffers go back to the pool when the backward is done with them.
impl Drop for Cache {
    fn drop(&mut self) {
        for v in [&mut self.xh, &mut self.gates, &mut self.cells] {
            pool::give(std::mem::take(v));
        }
    }
}

/// What [`forward`] returns.
pub struct ForwardOut {
    /// `h_t` of every step, `[B, T, H]`.
    pub hs: Vec<f32>,
    /// LSTM: the final cell state `[B, H]` (empty otherwise).
    pub c_last: Vec<f32>,
    /// What [`backward`] needs (only when asked for with `keep_cache`).
    pub cache: Option<Cache>,
}

/// Gradients of a loss with respect to every input (empty where not asked for or not used).
pub struct Gradients {
    /// `[B, T, F]`.
    pub x: Vec<f32>,
    /// `[F, G·H]`.
    pub w_x: Vec<f32>,
    /// `[G·H]`.
    pub b: Vec<f32>,
    /// `[H, G·H]`.
    pub w_h: Vec<f32>,
    /// GRU: `[H]`.
    pub b_hn: Vec<f32>,
    /// `[B, H]`.
    pub h0: Vec<f32>,
    /// LSTM: `[B, H]`.
    pub c0: Vec<f32>,
}

/// Rows per thread: the batch split into at most one chunk per thread.
fn rows_per_chunk(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// A mutable buffer handed out to threads in disjoint row ranges.
#[derive(Clone, Copy)]
struct Shared(*mut f32, usize);
// SAFETY: used only to give each thread of one parallel loop its own row range.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

impl Shared {
    fn new(v: &mut [f32]) -> Self {
        Self(v.as_mut_ptr(), v.len())
    }
    /// Elements `[start, start + len)`.
    ///
    /// # Safety
    /// No two live slices from one `Shared` may overlap.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.1 || len == 0);
        if len == 0 {
            return &mut [];
        }
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Runs the recurrence over `x` (`[B, T, F]`) from `h0` (`[B, H]`) and, for an LSTM, `c0`
/// (`[B, H]`; empty otherwise). `keep_cache`: whether a backward pass will follow.
pub fn forward(dims: Dims, x: &[f32], w: Weights, h0: &[f32], c0: &[f32], keep_cache: bool) -> ForwardOut {
    let Dims { kind, batch, steps, input, hidden } = dims;
    let (width, k) = (dims.width(), dims.k());
    assert_eq!(x.len(), batch * steps * input);
    assert_eq!((w.w_x.len(), w.b.len(), w.w_h.len()), (input * width, width, hidden * width));
    assert_eq!(w.b_hn.len(), if kind == Cell::Gru { hidden } else { 0 });
    assert_eq!(h0.len(), batch * hidden);
    assert_eq!(c0.len(), if kind == Cell::Lstm { batch * hidden } else { 0 });

    // [W_x; W_h], so that one product per step gives both sides (not for the GRU, which
    // multiplies the two sides apart).
    let w_xh = if kind == Cell::Gru { vec![] } else { [w.w_x, w.w_h].concat() };
    // Zeroed by the threads that then write it, each its own rows: as one `vec!` it was a serial
    // memset on the caller's thread before the region (0.7 % of an LSTM-128 step's samples).
    let mut hs: Vec<f32> = Vec::with_capacity(batch * steps * hidden);
    // Every element of these is written before it is read (the time loop below).
    let mut xh = pool::take_for_overwrite(batch * steps * k);
    // The RNN's backward needs no gates: it keeps none.
    let gates_width = if kind == Cell::Rnn { 0 } else { width };
    let mut gates = pool::take_for_overwrite(batch * steps * gates_width);
    let mut cells = pool::take_for_overwrite(batch * steps * hidden);
    let lstm = kind == Cell::Lstm;
    let mut c_state = c0.to_vec();

    let rows = rows_per_chunk(batch);
    let (seq_h, seq_k, seq_g) = (steps * hidden, steps * k, steps * gates_width);
    let (xh_s, gates_s, cells_s, c_s) =
        (Shared::new(&mut xh), Shared::new(&mut gates), Shared::new(&mut cells), Shared::new(&mut c_state));
    hs.spare_capacity_mut()[..batch * steps * hidden].par_chunks_mut(rows * seq_h).enumerate().for_each(
        |(chunk, hs)| {
            hs.fill(MaybeUninit::new(0.0));
            // SAFETY: every element was just initialised, and `MaybeUninit<f32>` has f32's layout.
            let hs = unsafe { &mut *(hs as *mut [MaybeUninit<f32>] as *mut [f32]) };
            let first = chunk * rows;
            let bs = hs.len() / seq_h;
            // SAFETY: chunk `chunk` owns rows [first, first + bs) of every buffer.
            let (xh, gates, cells, c) = unsafe {
                (
                    xh_s.slice(first * seq_k, bs * seq_k),
                    gates_s.slice(first * seq_g, bs * seq_g),
                    cells_s.slice(first * seq_h, bs * seq_h),
                    c_s.slice(if lstm { first * hidden } else { 0 }, if lstm { bs * hidden } else { 0 }),
                )
            };
            let rows_in = Rows {
                bs,
                x: &x[first * steps * input..(first + bs) * steps * input],
                h0: &h0[first * hidden..(first + bs) * hidden],
            };
            let mut gh = vec![0f32; if kind == Cell::Gru { bs * width } else { 0 }];
            let out = RowsOut { hs, xh, gates, cells };
            forward_rows_simd(dims, &rows_in, &w_xh, w, out, c, &mut gh);
        },
    );
    // SAFETY: the threads initialised all `batch × steps × hidden` values.
    unsafe { hs.set_len(batch * steps * hidden) };
    let cache = if keep_cache {
        Some(Cache {
            dims,
            rows,
            xh,
            gates,
            cells,
            c0: c0.to_vec(),
            w_h_t: transpose(w.w_h, hidden, width),
            w_x: w.w_x.to_vec(),
        })
    } else {
        pool::give(xh);
        pool::give(gates);
        pool::give(cells);
        None
    };
    crate::awake::keep_awake();
    // `c_state` started as `c0`, which is empty unless the cell is an LSTM.
    ForwardOut { hs, c_last: c_state, cache }
}

/// A thread's rows of the inputs.
struct Rows<'a> {
    bs: usize,
    x: &'a [f32],
    h0: &'a [f32],
}

multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn forward_rows_simd(
        dims: Dims,
        rows: &Rows,
        w_xh: &[f32],
        w: Weights,
        out: RowsOut,
        c_state: &mut [f32],
        gh: &mut [f32],
    ) => forward_rows
);

/// A thread's rows of what the forward writes.
struct RowsOut<'a> {
    hs: &'a mut [f32],
    xh: &'a mut [f32],
    gates: &'a mut [f32],
    cells: &'a mut [f32],
}

/// The time loop for `rows.bs` sequences (contiguous rows of every buffer).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows(dims: Dims, rows: &Rows, w_xh: &[f32], w: Weights, out: RowsOut, c_state: &mut [f32], gh: &mut [f32]) {
    let RowsOut { hs, xh, gates, cells } = out;
    let Dims { kind, steps, input: f, hidden: hd, .. } = dims;
    let (wd, k) = (dims.width(), dims.k());
    let seq_h = steps * hd;
    let bs = rows.bs;
    // Row `(t, b)` of this block's own buffers (time-major, see the module docs).
    let at = |t: usize, b: usize| t * bs + b;
    // Each step's product goes to this buffer, which stays in cache, and its activations to the
    // window-sized buffers: LSTM-128's forward took 3.9–4.2 ms so, 4.2–4.9 with the product
    // written to the window-sized buffer (six interleaved runs). The GRU, which needs two
    // products, still writes its gates in place.
    let mut pre = vec![0f32; if kind == Cell::Gru { 0 } else { bs * wd }];
    for t in 0..steps {
        for b in 0..bs {
            let row = &mut xh[at(t, b) * k..(at(t, b) + 1) * k];
            row[..f].copy_from_slice(&rows.x[(b * steps + t) * f..(b * steps + t + 1) * f]);
            let h_prev =
                if t == 0 { &rows.h0[b * hd..(b + 1) * hd] } else { &hs[b * seq_h + (t - 1) * hd..b * seq_h + t * hd] };
            row[f..].copy_from_slice(h_prev);
        }
        let lhs = View { ptr: xh[at(t, 0) * k..].as_ptr(), row_stride: k, col_stride: 1 };
        // SAFETY: the views cover bs rows of this chunk's buffers and the whole weight matrices.
        unsafe {
            if kind == Cell::Gru {
                // The candidate gate needs x·W_xn and h·W_hn apart: two products.
                let dst = gates[at(t, 0) * wd..].as_mut_ptr();
                let rhs_x = View { ptr: w.w_x.as_ptr(), row_stride: wd, col_stride: 1 };
                matmul(bs, wd, f, dst, wd, false, lhs, rhs_x, false);
                let lhs_h = View { ptr: xh[at(t, 0) * k + f..].as_ptr(), ..lhs };
                let rhs_h = View { ptr: w.w_h.as_ptr(), row_stride: wd, col_stride: 1 };
                matmul(bs, wd, hd, gh.as_mut_ptr(), wd, false, lhs_h, rhs_h, false);
            } else {
                let rhs = View { ptr: w_xh.as_ptr(), row_stride: wd, col_stride: 1 };
                matmul(bs, wd, k, pre.as_mut_ptr(), wd, false, lhs, rhs, false);
            }
        }
        for b in 0..bs {
            // The product left out the bias: each activation's pass adds it.
            let g = || at(t, b) * wd..(at(t, b) + 1) * wd;
            let h = &mut hs[b * seq_h + t * hd..b * seq_h + (t + 1) * hd];
            let cell = &mut cells[at(t, b) * hd..(at(t, b) + 1) * hd];
            let pre = &pre[if kind == Cell::Gru { 0..0 } else { b * wd..(b + 1) * wd }];
            match kind {
                Cell::Rnn => {
                    tanh_bias_into(h, pre, w.b);
                    cell.copy_from_slice(h);
                }
                Cell::Lstm => {
                    let g = &mut gates[g()];
                    // One vectorised pass per activation: i f | g | o. (Fused multi-slice loops
                    // stayed scalar.)
                    sigmoid_bias_into(&mut g[..2 * hd], &pre[..2 * hd], &w.b[..2 * hd]);
                    tanh_bias_into(&mut g[2 * hd..3 * hd], &pre[2 * hd..3 * hd], &w.b[2 * hd..3 * hd]);
                    sigmoid_bias_into(&mut g[3 * hd..], &pre[3 * hd..], &w.b[3 * hd..]);
                    let c = &mut c_state[b * hd..(b + 1) * hd];
                    let (gi, rest) = g.split_at(hd);
                    let (gf, rest) = rest.split_at(hd);
                    let (gg, go) = rest.split_at(hd);
                    lstm_update(LstmGates { i: gi, f: gf, g: gg, o: go }, c, [cell, h]);
                }
                Cell::Gru => {
                    let g = &mut gates[g()];
                    let ghb = &gh[b * wd..(b + 1) * wd];
                    for ((g, gh), bias) in g[..2 * hd].iter_mut().zip(&ghb[..2 * hd]).zip(w.b) {
                        *g += gh + bias;
                    }
                    sigmoid_slice(&mut g[..2 * hd]);
                    let (rz, gn) = g.split_at_mut(2 * hd);
                    let (gr, gz) = rz.split_at(hd);
                    for (((cell, hn), bn), (gn, r)) in
                        cell.iter_mut().zip(&ghb[2 * hd..]).zip(w.b_hn).zip(gn.iter_mut().zip(gr))
                    {
                        *cell = hn + bn;
                        *gn += r * *cell;
                    }
                    tanh_bias_slice(gn, &w.b[2 * hd..]);
                    let h_prev = &xh[at(t, b) * k + f..(at(t, b) + 1) * k];
                    for (((h, n), z), hp) in h.iter_mut().zip(gn.iter()).zip(gz).zip(h_prev) {
                        *h = n + z * (hp - n);
                    }
                }
            }
        }
    }
}

/// Gradients of a loss with respect to the inputs, given its gradient `dhs` (`[B, T, H]`) with
/// respect to every step's hidden state and, for the LSTM, `dc_last` (`[B, H]`, or empty for
/// zero) with respect to the final cell state. `want_x`: whether the input needs a gradient (not
/// for the first layer, whose input is data).
pub fn backward(cache: &Cache, dhs: &[f32], dc_last: &[f32], want_x: bool) -> Gradients {
    let dims = cache.dims;
    let Dims { kind, batch, steps, input, hidden } = dims;
    let (width, k) = (dims.width(), dims.k());
    assert_eq!(dhs.len(), batch * steps * hidden);
    let (lstm, gru) = (kind == Cell::Lstm, kind == Cell::Gru);
    let mut dh0 = vec![0f32; batch * hidden];
    // ∂L/∂c flows back from the final cell state; it ends as ∂L/∂c_0.
    let mut dc0 = vec![0f32; if lstm { batch * hidden } else { 0 }];
    if lstm && !dc_last.is_empty() {
        assert_eq!(dc_last.len(), batch * hidden);
        dc0.copy_from_slice(dc_last);
    }

    // The forward's blocks of sequences, which its buffers are laid out in.
    let rows = cache.rows;
    let chunks = batch.div_ceil(rows);
    // The RNN keeps no gates (see `Cache::gates`).
    let (seq_h, seq_k, seq_g) = (steps * hidden, steps * k, if kind == Cell::Rnn { 0 } else { steps * width });
    let block_steps = weight_gradient_block(dims, rows);
    // ∂L/∂(pre-activation), input side; the hidden side differs only for the GRU's candidate
    // block (`r ⊙ (h·W_hn + b_hn)`). Written step by step before anything reads them. Each
    // thread keeps the steps of one block of the weight gradient (see below), or of the whole
    // window when the weight gradient is one product after the loop.
    let slots = if block_steps > 0 { block_steps } else { steps };
    let mut da = pool::take_for_overwrite(chunks * rows * slots * width);
    let mut dah = pool::take_for_overwrite(if gru { chunks * rows * slots * width } else { 0 });
    let mut dx = vec![0f32; if want_x { batch * steps * input } else { 0 }];
    let dx_s = Shared::new(&mut dx);
    // Per-chunk partial weight and bias gradients, summed below in a fixed order
    // (deterministic). Weight gradients small enough to stay in a core's cache beside the blocks
    // of rows they are made from are summed by each thread as its loop goes (see
    // `weight_gradient_block`); larger ones in one product after the loop.
    // Written by each thread's first block before anything reads them.
    let mut dw_parts = pool::take_for_overwrite(if block_steps > 0 { chunks * k * width } else { 0 });
    let mut db_parts = vec![0f32; chunks * width];
    let mut dbhn_parts = vec![0f32; if gru { chunks * hidden } else { 0 }];
    let (dah_s, dc0_s, db_s, dbhn_s) =
        (Shared::new(&mut dah), Shared::new(&mut dc0), Shared::new(&mut db_parts), Shared::new(&mut dbhn_parts));
    let dw_s = Shared::new(&mut dw_parts);
    da.par_chunks_mut(rows * slots * width).zip(dh0.par_chunks_mut(rows * hidden)).enumerate().for_each(
        |(chunk, (da, dh0))| {
            let bs = dh0.len() / hidden;
            let first = chunk * rows;
            // SAFETY: chunk `chunk` owns rows [first, first + bs) and its own partial sums.
            let out = unsafe {
                PartGrads {
                    da,
                    dah: dah_s.slice(
                        if gru { chunk * rows * slots * width } else { 0 },
                        if gru { rows * slots * width } else { 0 },
                    ),
                    dh_next: dh0,
                    dc_next: dc0_s.slice(if lstm { first * hidden } else { 0 }, if lstm { bs * hidden } else { 0 }),
                    db: db_s.slice(chunk * width, width),
                    dbhn: dbhn_s.slice(if gru { chunk * hidden } else { 0 }, if gru { hidden } else { 0 }),
                    dx: dx_s.slice(
                        if want_x { first * steps * input } else { 0 },
                        if want_x { bs * steps * input } else { 0 },
                    ),
                    dw: dw_s.slice(
                        if block_steps > 0 { chunk * k * width } else { 0 },
                        if block_steps > 0 { k * width } else { 0 },
                    ),
                }
            };
            let part = Part {
                bs,
                xh: &cache.xh[first * seq_k..(first + bs) * seq_k],
                gates: &cache.gates[first * seq_g..(first + bs) * seq_g],
                cells: &cache.cells[first * seq_h..(first + bs) * seq_h],
                c0: if lstm { &cache.c0[first * hidden..(first + bs) * hidden] } else { &[] },
                dhs: &dhs[first * seq_h..(first + bs) * seq_h],
                w_x: &cache.w_x,
            };
            backward_rows_simd(dims, &part, &cache.w_h_t, out, block_steps);
        },
    );
    let db = sum_parts(db_parts.chunks_exact(width), width);
    let db_hn = if gru { sum_parts(dbhn_parts.chunks_exact(hidden), hidden) } else { vec![] };

    // `[dW_x; dW_h]`.
    let mut dw = if block_steps > 0 {
        let dw = sum_parts(dw_parts.chunks_exact(k * width), k * width);
        pool::give(dw_parts);
        dw
    } else {
        // [x | h_prev]ᵀ · dA over every (b, t) row in large products (the rows' order does not
        // matter, so the blocks' layout does not either).
        let mut dw = vec![0f32; k * width];
        // SAFETY: xh is B·T rows of k, dA (and the GRU's dA_h) B·T rows of G·H; dw is k × G·H.
        unsafe { weight_gradient(kind, input, width, k, batch * steps, &cache.xh, &da, &dah, &mut dw, false, true) };
        dw
    };
    let dw_h = dw.split_off(input * width);
    let dw_x = dw;
    pool::give(da);
    pool::give(dah);
    crate::awake::keep_awake();
    Gradients { x: dx, w_x: dw_x, b: db, w_h: dw_h, b_hn: db_hn, h0: dh0, c0: dc0 }
}

/// An LSTM step's activated gates (each `hidden` long).
struct LstmGates<'a> {
    i: &'a [f32],
    f: &'a [f32],
    g: &'a [f32],
    o: &'a [f32],
}

impl LstmGates<'_> {
    /// Lanes `j..j + L` of each gate.
    #[inline(always)]
    fn block<const L: usize>(&self, j: usize) -> [&[f32; L]; 4] {
        // Written out: `array::map` was not inlined into the SIMD-compiled callers.
        let r = j..j + L;
        [
            self.i[r.clone()].try_into().expect("a block"),
            self.f[r.clone()].try_into().expect("a block"),
            self.g[r.clone()].try_into().expect("a block"),
            self.o[r].try_into().expect("a block"),
        ]
    }
}

/// One LSTM step's state update from its activated gates: `c ← f·c + i·g` (also written to
/// `cell`) and `h = o·tanh(c)`, in one pass of blocks of 16 lanes (see [`lstm_backward`]).
#[inline(always)]
fn lstm_update(g: LstmGates, c: &mut [f32], out: [&mut [f32]; 2]) {
    /// `(c_t, h_t)` of one lane from `i f g o` and `c_{t−1}`.
    #[inline(always)]
    fn lane(i: f32, f: f32, g: f32, o: f32, c: f32) -> (f32, f32) {
        let c = f * c + i * g;
        (c, o * tanh(c))
    }
    const L: usize = 16;
    let n = c.len();
    let [cell, h] = out;
    let mut j = 0;
    while j + L <= n {
        let r = j..j + L;
        let [i, f, gv, o] = g.block::<L>(j);
        let c_in: [f32; L] = c[r.clone()].try_into().expect("a block");
        let (mut c_out, mut h_out) = ([0f32; L], [0f32; L]);
        for l in 0..L {
            (c_out[l], h_out[l]) = lane(i[l], f[l], gv[l], o[l], c_in[l]);
        }
        c[r.clone()].copy_from_slice(&c_out);
        cell[r.clone()].copy_from_slice(&c_out);
        h[r].copy_from_slice(&h_out);
        j += L;
    }
    for j in j..n {
        (c[j], h[j]) = lane(g.i[j], g.f[j], g.g[j], g.o[j], c[j]);
        cell[j] = c[j];
    }
}

/// One LSTM step's gradients: from `dh` (∂L/∂h_t) and `dc` (∂L/∂c_t from the step after, updated
/// in place to ∂L/∂c_{t−1}), the pre-activation gradients `[di, df, dg, do]`. `c` is c_t: tanh(c_t)
/// is computed again rather than kept by the forward: keeping it (one more window-sized buffer
/// written and read) measured no faster (LSTM-128 forward 4.3–5.3 ms with it, 4.3–5.1 without;
/// backward 7.2–8.0 either way, six interleaved runs).
///
/// Blocks of 16 lanes are read into registers, computed and written back. A plain indexed loop
/// over the thirteen slices, once inlined, vectorised only 4 lanes wide behind run-time overlap
/// checks and then ran its scalar version (`perf annotate`); in blocks, LSTM-128 forward and
/// backward took 10.7 ms instead of 11.7 (medians of eight interleaved runs).
#[inline(always)]
fn lstm_backward(g: LstmGates, c: &[f32], c_prev: &[f32], dh: &[f32], dc: &mut [f32], da: [&mut [f32]; 4]) {
    /// `[di, df, dg, do, ∂L/∂c_{t−1}]` of one lane from `i f g o`, tanh(c_t), c_{t−1}, ∂L/∂h_t and
    /// ∂L/∂c_t.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn lane(i: f32, f: f32, g: f32, o: f32, tc: f32, c_prev: f32, dh: f32, dc: f32) -> [f32; 5] {
        let dc = dc + dh * o * (1.0 - tc * tc);
        [dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f), dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o), dc * f]
    }
    const L: usize = 16;
    let n = c.len();
    let [dai, daf, dag, dao] = da;
    let mut j = 0;
    while j + L <= n {
        let r = j..j + L;
        let [i, f, gv, o] = g.block::<L>(j);
        let block = |v: &[f32]| -> [f32; L] { v[r.clone()].try_into().expect("a block") };
        let (c, c_prev, dh, dc_in) = (block(c), block(c_prev), block(dh), block(dc));
        // tanh in a pass of its own: the loop below vectorises as it stands.
        let mut tc = [0f32; L];
        for (t, c) in tc.iter_mut().zip(&c) {
            *t = tanh(*c);
        }
        let mut out = [[0f32; L]; 5];
        for l in 0..L {
            let v = lane(i[l], f[l], gv[l], o[l], tc[l], c_prev[l], dh[l], dc_in[l]);
            for (o, v) in out.iter_mut().zip(v) {
                o[l] = v;
            }
        }
        for (dst, v) in [&mut *dai, &mut *daf, &mut *dag, &mut *dao, &mut *dc].into_iter().zip(&out) {
            dst[r.clone()].copy_from_slice(v);
        }
        j += L;
    }
    for j in j..n {
        [dai[j], daf[j], dag[j], dao[j], dc[j]] =
            lane(g.i[j], g.f[j], g.g[j], g.o[j], tanh(c[j]), c_prev[j], dh[j], dc[j]);
    }
}

/// One GRU step's gradients: from the activated gates `r z n`, `hn = h·W_hn + b_hn`, `h_prev`
/// and `dh` (∂L/∂h_t), the pre-activation gradients of the input side `[r z n]` and of the hidden
/// side `[r z r⊙n]`, and the direct path `dh·z` to ∂L/∂h_{t−1} (the step's product adds the
/// rest). In blocks of 16 lanes, as [`lstm_backward`]: the indexed loop ran scalar, and GRU-128's
/// backward took 6.2–7.3 ms with it, 5.3–6.3 in blocks (three interleaved runs).
#[inline(always)]
fn gru_backward(g: [&[f32]; 3], hn: &[f32], h_prev: &[f32], dh: &[f32], mut out: [&mut [f32]; 7]) {
    /// The seven outputs of one lane from `r z n`, `hn`, `h_{t−1}` and ∂L/∂h_t.
    #[inline(always)]
    fn lane(r: f32, z: f32, n: f32, hn: f32, h_prev: f32, dh: f32) -> [f32; 7] {
        let da_n = dh * (1.0 - z) * (1.0 - n * n);
        let da_r = da_n * hn * r * (1.0 - r);
        let da_z = dh * (h_prev - n) * z * (1.0 - z);
        [da_r, da_z, da_n, da_r, da_z, da_n * r, dh * z]
    }
    const L: usize = 16;
    let n = hn.len();
    let mut j = 0;
    while j + L <= n {
        let r = j..j + L;
        let block = |v: &[f32]| -> [f32; L] { v[r.clone()].try_into().expect("a block") };
        let (gr, gz, gn, hn, hp, dh) = (block(g[0]), block(g[1]), block(g[2]), block(hn), block(h_prev), block(dh));
        let mut res = [[0f32; L]; 7];
        for l in 0..L {
            for (o, v) in res.iter_mut().zip(lane(gr[l], gz[l], gn[l], hn[l], hp[l], dh[l])) {
                o[l] = v;
            }
        }
        for (o, v) in out.iter_mut().zip(&res) {
            o[r.clone()].copy_from_slice(v);
        }
        j += L;
    }
    for j in j..n {
        for (o, v) in out.iter_mut().zip(lane(g[0][j], g[1][j], g[2][j], hn[j], h_prev[j], dh[j])) {
            o[j] = v;
        }
    }
}

/// A thread's rows of the cache and of the incoming gradient.
struct Part<'a> {
    bs: usize,
    xh: &'a [f32],
    gates: &'a [f32],
    cells: &'a [f32],
    c0: &'a [f32],
    dhs: &'a [f32],
    /// `W_x` (`[F, G·H]`), for the input's gradient.
    w_x: &'a [f32],
}

/// A thread's rows of the gradients (and its own partial sums of the parameters' ones).
struct PartGrads<'a> {
    /// ∂L/∂(pre-activation), input side (this block's own layout).
    da: &'a mut [f32],
    /// GRU: the hidden side.
    dah: &'a mut [f32],
    /// ∂L/∂h_t flowing back from step t + 1; it ends as ∂L/∂h_0.
    dh_next: &'a mut [f32],
    /// LSTM: ∂L/∂c_t, from the caller's ∂L/∂c_T to ∂L/∂c_0.
    dc_next: &'a mut [f32],
    db: &'a mut [f32],
    dbhn: &'a mut [f32],
    /// ∂L/∂x (`[rows, T, F]`), or empty.
    dx: &'a mut [f32],
    /// `[dW_x; dW_h]` of these rows when summed as the loop goes, or empty.
    dw: &'a mut [f32],
}

/// Steps per block of rows whose weight gradient a thread adds as its backward loop goes, or 0
/// to leave it to one product after the loop. The block's rows of `[x | h]` and dA, and the
/// thread's partial `[dW_x; dW_h]`, should stay in its core's L2 cache (1 MiB on the machine of
/// record), and dA then needs only a block's steps, not the window's. LSTM-128 backward: 6.9–7.1 ms
/// in blocks of 8 steps against 7.7–8.3 in one product after the loop (`recurrence_timing`
/// example, three interleaved runs). With a partial too large for that (LSTM-256: 1–2 MiB), per-
/// thread partials made training 8 % slower.
fn weight_gradient_block(dims: Dims, rows: usize) -> usize {
    const CACHE: usize = 1 << 20;
    let (k, width) = (dims.k(), dims.width());
    let partial = k * width * 4;
    if dims.steps == 0 {
        return 0;
    }
    let per_step = rows * (k + width) * 4;
    if partial > CACHE / 2 {
        return 0;
    }
    ((CACHE - partial) / per_step).clamp(1, dims.steps)
}

/// `dw (+)= [x | h_prev]ᵀ · dA` (`+=` when `accumulate`) over `n` rows (`xh` rows of `k`, `da` and the GRU's `dah` rows of
/// `width`): one product, or for the GRU two (its `x` side takes dA, its `h` side dA_h).
///
/// # Safety
/// `xh`, `da` (and `dah` for the GRU) hold `n` rows; `dw` is `k × width`.
#[allow(clippy::too_many_arguments)]
unsafe fn weight_gradient(
    kind: Cell,
    input: usize,
    width: usize,
    k: usize,
    n: usize,
    xh: &[f32],
    da: &[f32],
    dah: &[f32],
    dw: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    debug_assert!(xh.len() >= n * k && da.len() >= n * width && dw.len() == k * width);
    let lhs = |col: usize| View { ptr: xh[col..].as_ptr(), row_stride: 1, col_stride: k };
    let rhs = |m: &[f32]| View { ptr: m.as_ptr(), row_stride: width, col_stride: 1 };
    let dst = dw.as_mut_ptr();
    // SAFETY: xhᵀ column blocks are (F or H) × n, dA is n × G·H, dw is k × G·H (the caller's
    // promise).
    unsafe {
        if kind == Cell::Gru {
            matmul(input, width, n, dst, width, accumulate, lhs(0), rhs(da), parallel);
            matmul(k - input, width, n, dst.add(input * width), width, accumulate, lhs(input), rhs(dah), parallel);
        } else {
            matmul(k, width, n, dst, width, accumulate, lhs(0), rhs(da), parallel);
        }
    }
}

multiversion!(
    fn backward_rows_simd(dims: Dims, p: &Part, w_h_t: &[f32], out: PartGrads, block_steps: usize) => backward_rows
);

#[inline(always)]
fn backward_rows(dims: Dims, p: &Part, w_h_t: &[f32], out: PartGrads, block_steps: usize) {
    let PartGrads { da, dah, dh_next, dc_next, db, dbhn, dx, dw } = out;
    let Dims { kind, steps, input: f, hidden: hd, .. } = dims;
    let (wd, k) = (dims.width(), dims.k());
    let seq_h = steps * hd;
    let bs = p.bs;
    // Row `(t, b)` of this block's own buffers (time-major, see the module docs).
    let at = |t: usize, b: usize| t * bs + b;
    // dh_next holds ∂L/∂h_t flowing back from step t + 1; it ends as ∂L/∂h_0 (same for dc, which
    // starts as the caller's ∂L/∂c_T).
    dh_next.fill(0.0);
    let mut dh = vec![0f32; hd];
    let ones = vec![1f32; bs];
    // The steps of the current block of the weight gradient run from `t` up to `block_end`.
    let mut block_end = steps;
    let xh_rows = |start: usize| &p.xh[start * k..];
    // Row `(t, b)` of dA: a ring of `slots` steps (the whole window when the weight gradient
    // waits for the loop's end).
    let slots = if block_steps > 0 { block_steps } else { steps };
    let slot = |t: usize, b: usize| (t % slots) * bs + b;
    // The input's gradient of one block of steps, rows in dA's order.
    let mut dx_block = vec![0f32; if dx.is_empty() { 0 } else { slots * bs * f }];
    for t in (0..steps).rev() {
        for b in 0..p.bs {
            let r = b * seq_h + t * hd..b * seq_h + (t + 1) * hd;
            let rc = at(t, b) * hd..(at(t, b) + 1) * hd;
            let rw = at(t, b) * wd..(at(t, b) + 1) * wd;
            let rd = slot(t, b) * wd..(slot(t, b) + 1) * wd;
            let h_prev = &p.xh[at(t, b) * k + f..(at(t, b) + 1) * k];
            let dn = &mut dh_next[b * hd..(b + 1) * hd];
            for ((d, a), n) in dh.iter_mut().zip(&p.dhs[r.clone()]).zip(dn.iter()) {
                *d = a + n;
            }
            let da = &mut da[rd.clone()];
            match kind {
                Cell::Rnn => {
                    for ((da, h), d) in da.iter_mut().zip(&p.cells[rc.clone()]).zip(&dh) {
                        *da = d * (1.0 - h * h);
                    }
                }
                Cell::Lstm => {
                    let g = &p.gates[rw.clone()];
                    let c_prev = if t == 0 {
                        &p.c0[b * hd..(b + 1) * hd]
                    } else {
                        &p.cells[at(t - 1, b) * hd..(at(t - 1, b) + 1) * hd]
                    };
                    let dc = &mut dc_next[b * hd..(b + 1) * hd];
                    let (gi, rest) = g.split_at(hd);
                    let (gf, rest) = rest.split_at(hd);
                    let (gg, go) = rest.split_at(hd);
                    let (dai, rest) = da.split_at_mut(hd);
                    let (daf, rest) = rest.split_at_mut(hd);
                    let (dag, dao) = rest.split_at_mut(hd);
                    let c = &p.cells[rc.clone()];
                    lstm_backward(LstmGates { i: gi, f: gf, g: gg, o: go }, c, c_prev, &dh, dc, [dai, daf, dag, dao]);
                }
                Cell::Gru => {
                    let g = &p.gates[rw.clone()];
                    let hn = &p.cells[rc.clone()];
                    let dah = &mut dah[rd.clone()];
                    let (gr, rest) = g.split_at(hd);
                    let (gz, gn) = rest.split_at(hd);
                    let (dxr, rest) = da.split_at_mut(hd);
                    let (dxz, dxn) = rest.split_at_mut(hd);
                    let (dhr, rest) = dah.split_at_mut(hd);
                    let (dhz, dhn) = rest.split_at_mut(hd);
                    gru_backward([gr, gz, gn], hn, h_prev, &dh, [dxr, dxz, dxn, dhr, dhz, dhn, dn]);
                    for (s, v) in dbhn.iter_mut().zip(&dhn[..]) {
                        *s += v;
                    }
                }
            }
        }
        // db += the column sums of this step's dA, with the sums kept in registers (adding each row
        // as it was made took 0.25–0.34 ms a thread in LSTM-128's backward, this 0.06).
        axpy_rows(db, &da[slot(t, 0) * wd..(slot(t, 0) + bs) * wd], &ones);
        // dh_next = [dh·z +] dA_h · W_hᵀ for all rows of this step.
        let gru = kind == Cell::Gru;
        let lhs_buf = if gru { &*dah } else { &*da };
        let lhs = View { ptr: lhs_buf[slot(t, 0) * wd..].as_ptr(), row_stride: wd, col_stride: 1 };
        let rhs = View { ptr: w_h_t.as_ptr(), row_stride: hd, col_stride: 1 };
        // SAFETY: bs rows of this step's dA, W_hᵀ (G·H × H) over `w_h_t`, dh_next is bs × H.
        unsafe { matmul(p.bs, hd, wd, dh_next.as_mut_ptr(), hd, gru, lhs, rhs, false) };
        if t % slots == 0 {
            // Steps [t, block_end) are done: their rows of dA are contiguous (slots from 0 on)
            // and still in cache.
            let n = (block_end - t) * bs;
            if block_steps > 0 {
                let accumulate = block_end < steps; // the first block writes over the buffer
                // SAFETY: n rows of this block's xh from step t on, and of dA and dA_h; dw is k × G·H.
                unsafe { weight_gradient(kind, f, wd, k, n, xh_rows(at(t, 0)), da, dah, dw, accumulate, false) };
            }
            if !dx.is_empty() {
                // dx = dA · W_xᵀ (W_x read with transposed strides) for the block's rows in one
                // product (one per step packed W_x again every step: LSTM-256 × 2 trained 30 %
                // slower), then each row to its place in `[rows, T, F]`.
                let lhs = View { ptr: da.as_ptr(), row_stride: wd, col_stride: 1 };
                let w_x_t = View { ptr: p.w_x.as_ptr(), row_stride: 1, col_stride: wd };
                // SAFETY: n rows of dA, W_xᵀ (G·H × F) over `w_x`, n rows of F in `dx_block`.
                unsafe { matmul(n, f, wd, dx_block.as_mut_ptr(), f, false, lhs, w_x_t, false) };
                for (i, row) in dx_block[..n * f].chunks_exact(f).enumerate() {
                    let (tt, b) = (t + i / bs, i % bs);
                    dx[(b * steps + tt) * f..(b * steps + tt + 1) * f].copy_from_slice(row);
                }
            }
            block_end = t;
        }
    }
}
