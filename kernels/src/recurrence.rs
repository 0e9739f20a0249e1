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
//! Layouts are row-major and batch-major (`[B, T, ·]`), so each thread owns contiguous rows.

use rayon::prelude::*;

use crate::Cell;
use crate::math::{multiversion, sigmoid_slice, tanh_slice};
use crate::pool;

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
    /// `[x_t | h_{t−1}]` of every step (`h0` at `t = 0`), `[B, T, F + H]`: the left factor of
    /// the weight gradients.
    xh: Vec<f32>,
    /// LSTM: activated gates `i f g o`; GRU: `r z n`; RNN: unused. `[B, T, G·H]`.
    gates: Vec<f32>,
    /// LSTM: cell state `c_t`; GRU: `h·W_hn + b_hn`; RNN: `h_t`. `[B, T, H]`.
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

/// A strided matrix view for [`matmul`].
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    row_stride: usize,
    col_stride: usize,
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`. Strides are in elements.
///
/// # Safety
/// Every view must cover its matrix inside live allocations, and `dst` must not alias the inputs.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: View,
    rhs: View,
    parallel: bool,
) {
    let parallelism = if parallel { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // gemm computes dst = alpha·dst + beta·lhs·rhs and takes column strides first.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.ptr,
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.ptr,
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Rows per thread: the batch split into at most one chunk per thread.
fn rows_per_chunk(batch: usize) -> usize {
    batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// `[rows, cols]` → `[cols, rows]`, row-major.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
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
    let mut hs = vec![0f32; batch * steps * hidden];
    // Every element of these is written before it is read (the time loop below).
    let mut xh = pool::take_for_overwrite(batch * steps * k);
    let mut gates = pool::take_for_overwrite(batch * steps * width);
    let mut cells = pool::take_for_overwrite(batch * steps * hidden);
    let mut c_state = c0.to_vec();

    let rows = rows_per_chunk(batch);
    let (seq_h, seq_k, seq_w) = (steps * hidden, steps * k, steps * width);
    let (xh_s, gates_s, cells_s, c_s) =
        (Shared::new(&mut xh), Shared::new(&mut gates), Shared::new(&mut cells), Shared::new(&mut c_state));
    hs.par_chunks_mut(rows * seq_h).enumerate().for_each(|(chunk, hs)| {
        let first = chunk * rows;
        let bs = hs.len() / seq_h;
        // SAFETY: chunk `chunk` owns rows [first, first + bs) of every buffer.
        let (xh, gates, cells, c) = unsafe {
            (
                xh_s.slice(first * seq_k, bs * seq_k),
                gates_s.slice(first * seq_w, bs * seq_w),
                cells_s.slice(first * seq_h, bs * seq_h),
                c_s.slice(
                    if kind == Cell::Lstm { first * hidden } else { 0 },
                    if kind == Cell::Lstm { bs * hidden } else { 0 },
                ),
            )
        };
        let rows_in = Rows {
            bs,
            x: &x[first * steps * input..(first + bs) * steps * input],
            h0: &h0[first * hidden..(first + bs) * hidden],
        };
        let mut gh = vec![0f32; if kind == Cell::Gru { bs * width } else { 0 }];
        forward_rows_simd(dims, &rows_in, &w_xh, w, hs, xh, gates, cells, c, &mut gh);
    });
    let cache = if keep_cache {
        Some(Cache {
            dims,
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
        hs: &mut [f32],
        xh: &mut [f32],
        gates: &mut [f32],
        cells: &mut [f32],
        c_state: &mut [f32],
        gh: &mut [f32],
    ) => forward_rows
);

/// The time loop for `rows.bs` sequences (contiguous rows of every buffer).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows(
    dims: Dims,
    rows: &Rows,
    w_xh: &[f32],
    w: Weights,
    hs: &mut [f32],
    xh: &mut [f32],
    gates: &mut [f32],
    cells: &mut [f32],
    c_state: &mut [f32],
    gh: &mut [f32],
) {
    let Dims { kind, steps, input: f, hidden: hd, .. } = dims;
    let (wd, k) = (dims.width(), dims.k());
    let (seq_h, seq_k, seq_w) = (steps * hd, steps * k, steps * wd);
    let bs = rows.bs;
    for t in 0..steps {
        for b in 0..bs {
            let row = &mut xh[b * seq_k + t * k..b * seq_k + (t + 1) * k];
            row[..f].copy_from_slice(&rows.x[(b * steps + t) * f..(b * steps + t + 1) * f]);
            let h_prev =
                if t == 0 { &rows.h0[b * hd..(b + 1) * hd] } else { &hs[b * seq_h + (t - 1) * hd..b * seq_h + t * hd] };
            row[f..].copy_from_slice(h_prev);
        }
        let lhs = View { ptr: xh[t * k..].as_ptr(), row_stride: seq_k, col_stride: 1 };
        let dst = gates[t * wd..].as_mut_ptr();
        // SAFETY: the views cover bs rows of this chunk's buffers and the whole weight matrices.
        unsafe {
            if kind == Cell::Gru {
                // The candidate gate needs x·W_xn and h·W_hn apart: two products.
                let rhs_x = View { ptr: w.w_x.as_ptr(), row_stride: wd, col_stride: 1 };
                matmul(bs, wd, f, dst, seq_w, false, lhs, rhs_x, false);
                let lhs_h = View { ptr: xh[t * k + f..].as_ptr(), ..lhs };
                let rhs_h = View { ptr: w.w_h.as_ptr(), row_stride: wd, col_stride: 1 };
                matmul(bs, wd, hd, gh.as_mut_ptr(), wd, false, lhs_h, rhs_h, false);
            } else {
                let rhs = View { ptr: w_xh.as_ptr(), row_stride: wd, col_stride: 1 };
                matmul(bs, wd, k, dst, seq_w, false, lhs, rhs, false);
            }
        }
        for b in 0..bs {
            let g = &mut gates[b * seq_w + t * wd..b * seq_w + (t + 1) * wd];
            for (g, bias) in g.iter_mut().zip(w.b) {
                *g += bias;
            }
            let h = &mut hs[b * seq_h + t * hd..b * seq_h + (t + 1) * hd];
            let cell = &mut cells[b * seq_h + t * hd..b * seq_h + (t + 1) * hd];
            match kind {
                Cell::Rnn => {
                    h.copy_from_slice(g);
                    tanh_slice(h);
                    cell.copy_from_slice(h);
                }
                Cell::Lstm => {
                    // One vectorised pass per activation: i f | g | o. (Fused multi-slice loops
                    // stayed scalar.)
                    sigmoid_slice(&mut g[..2 * hd]);
                    tanh_slice(&mut g[2 * hd..3 * hd]);
                    sigmoid_slice(&mut g[3 * hd..]);
                    let c = &mut c_state[b * hd..(b + 1) * hd];
                    let (gi, rest) = g.split_at(hd);
                    let (gf, rest) = rest.split_at(hd);
                    let (gg, go) = rest.split_at(hd);
                    for ((((c, i), f), gv), cell) in c.iter_mut().zip(gi).zip(gf).zip(gg).zip(cell.iter_mut()) {
                        *c = f * *c + i * gv;
                        *cell = *c;
                    }
                    h.copy_from_slice(cell);
                    tanh_slice(h);
                    for (h, o) in h.iter_mut().zip(go) {
                        *h *= o;
                    }
                }
                Cell::Gru => {
                    let ghb = &gh[b * wd..(b + 1) * wd];
                    for (g, gh) in g[..2 * hd].iter_mut().zip(&ghb[..2 * hd]) {
                        *g += gh;
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
                    tanh_slice(gn);
                    let h_prev = &xh[b * seq_k + t * k + f..b * seq_k + (t + 1) * k];
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
    // ∂L/∂(pre-activation) of every step, input side; the hidden side differs only for the
    // GRU's candidate block (`r ⊙ (h·W_hn + b_hn)`).
    // Written in full, step by step, before the products below read them.
    let mut da = pool::take_for_overwrite(batch * steps * width);
    let mut dah = pool::take_for_overwrite(if gru { batch * steps * width } else { 0 });
    let mut dh0 = vec![0f32; batch * hidden];
    // ∂L/∂c flows back from the final cell state; it ends as ∂L/∂c_0.
    let mut dc0 = vec![0f32; if lstm { batch * hidden } else { 0 }];
    if lstm && !dc_last.is_empty() {
        assert_eq!(dc_last.len(), batch * hidden);
        dc0.copy_from_slice(dc_last);
    }

    let rows = rows_per_chunk(batch);
    let chunks = batch.div_ceil(rows);
    let (seq_h, seq_k, seq_w) = (steps * hidden, steps * k, steps * width);
    // Per-chunk partial bias gradients, summed below in a fixed order (deterministic).
    let mut db_parts = vec![0f32; chunks * width];
    let mut dbhn_parts = vec![0f32; if gru { chunks * hidden } else { 0 }];
    let (dah_s, dc0_s, db_s, dbhn_s) =
        (Shared::new(&mut dah), Shared::new(&mut dc0), Shared::new(&mut db_parts), Shared::new(&mut dbhn_parts));
    da.par_chunks_mut(rows * seq_w).zip(dh0.par_chunks_mut(rows * hidden)).enumerate().for_each(
        |(chunk, (da, dh0))| {
            let bs = dh0.len() / hidden;
            let first = chunk * rows;
            // SAFETY: chunk `chunk` owns rows [first, first + bs) and its own partial sums.
            let (dah, dc0, db, dbhn) = unsafe {
                (
                    dah_s.slice(if gru { first * seq_w } else { 0 }, if gru { bs * seq_w } else { 0 }),
                    dc0_s.slice(if lstm { first * hidden } else { 0 }, if lstm { bs * hidden } else { 0 }),
                    db_s.slice(chunk * width, width),
                    dbhn_s.slice(if gru { chunk * hidden } else { 0 }, if gru { hidden } else { 0 }),
                )
            };
            let part = Part {
                bs,
                xh: &cache.xh[first * seq_k..(first + bs) * seq_k],
                gates: &cache.gates[first * seq_w..(first + bs) * seq_w],
                cells: &cache.cells[first * seq_h..(first + bs) * seq_h],
                c0: if lstm { &cache.c0[first * hidden..(first + bs) * hidden] } else { &[] },
                dhs: &dhs[first * seq_h..(first + bs) * seq_h],
            };
            backward_rows_simd(dims, &part, &cache.w_h_t, da, dah, dh0, dc0, db, dbhn);
        },
    );
    let sum_parts = |parts: &[f32], n: usize| {
        let mut out = vec![0f32; n];
        for p in parts.chunks_exact(n) {
            for (o, v) in out.iter_mut().zip(p) {
                *o += v;
            }
        }
        out
    };
    let db = sum_parts(&db_parts, width);
    let db_hn = if gru { sum_parts(&dbhn_parts, hidden) } else { vec![] };

    // Weight gradients: [x | h_prev]ᵀ · dA over every (b, t) row, in large products.
    let n_rows = batch * steps;
    let (mut dw_x, mut dw_h) = (vec![0f32; input * width], vec![0f32; hidden * width]);
    let lhs = |col: usize| View { ptr: cache.xh[col..].as_ptr(), row_stride: 1, col_stride: k };
    let rhs = |m: &[f32]| View { ptr: m.as_ptr(), row_stride: width, col_stride: 1 };
    // SAFETY: xhᵀ column blocks are (F or H) × B·T over `xh`; dA is B·T × G·H.
    unsafe {
        if gru {
            matmul(input, width, n_rows, dw_x.as_mut_ptr(), width, false, lhs(0), rhs(&da), true);
            matmul(hidden, width, n_rows, dw_h.as_mut_ptr(), width, false, lhs(input), rhs(&dah), true);
        } else {
            let mut dw = vec![0f32; k * width];
            matmul(k, width, n_rows, dw.as_mut_ptr(), width, false, lhs(0), rhs(&da), true);
            dw_h.copy_from_slice(&dw[input * width..]);
            dw.truncate(input * width);
            dw_x = dw;
        }
    }
    let mut dx = vec![0f32; if want_x { n_rows * input } else { 0 }];
    if want_x {
        // dX = dA · W_xᵀ: W_xᵀ (k = gate, n = feature) is W_x read with transposed strides.
        let w_x_t = View { ptr: cache.w_x.as_ptr(), row_stride: 1, col_stride: width };
        // SAFETY: dA is B·T × G·H, W_xᵀ is G·H × F over `w_x`, dX is B·T × F.
        unsafe { matmul(n_rows, input, width, dx.as_mut_ptr(), input, false, rhs(&da), w_x_t, true) };
    }
    pool::give(da);
    pool::give(dah);
    Gradients { x: dx, w_x: dw_x, b: db, w_h: dw_h, b_hn: db_hn, h0: dh0, c0: dc0 }
}

/// An LSTM step's activated gates (each `hidden` long).
struct LstmGates<'a> {
    i: &'a [f32],
    f: &'a [f32],
    g: &'a [f32],
    o: &'a [f32],
}

/// One LSTM step's gradients: from `dh` (∂L/∂h_t) and `dc` (∂L/∂c_t from the step after, updated
/// in place to ∂L/∂c_{t−1}), the pre-activation gradients `[di, df, dg, do]`. `tc` is tanh(c_t).
/// Indexed loops over slices cut to one length vectorise; a zip of eleven iterators stayed scalar.
#[inline(always)]
fn lstm_backward(g: LstmGates, tc: &[f32], c_prev: &[f32], dh: &[f32], dc: &mut [f32], da: [&mut [f32]; 4]) {
    let n = tc.len();
    let (i, f, gv, o) = (&g.i[..n], &g.f[..n], &g.g[..n], &g.o[..n]);
    let (c_prev, dh, dc) = (&c_prev[..n], &dh[..n], &mut dc[..n]);
    let [dai, daf, dag, dao] = da;
    let (dai, daf, dag, dao) = (&mut dai[..n], &mut daf[..n], &mut dag[..n], &mut dao[..n]);
    for j in 0..n {
        let dcj = dc[j] + dh[j] * o[j] * (1.0 - tc[j] * tc[j]);
        dai[j] = dcj * gv[j] * i[j] * (1.0 - i[j]);
        daf[j] = dcj * c_prev[j] * f[j] * (1.0 - f[j]);
        dag[j] = dcj * i[j] * (1.0 - gv[j] * gv[j]);
        dao[j] = dh[j] * tc[j] * o[j] * (1.0 - o[j]);
        dc[j] = dcj * f[j];
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
}

multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn backward_rows_simd(
        dims: Dims,
        p: &Part,
        w_h_t: &[f32],
        da: &mut [f32],
        dah: &mut [f32],
        dh_next: &mut [f32],
        dc_next: &mut [f32],
        db: &mut [f32],
        dbhn: &mut [f32],
    ) => backward_rows
);

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_rows(
    dims: Dims,
    p: &Part,
    w_h_t: &[f32],
    da: &mut [f32],
    dah: &mut [f32],
    dh_next: &mut [f32],
    dc_next: &mut [f32],
    db: &mut [f32],
    dbhn: &mut [f32],
) {
    let Dims { kind, steps, input: f, hidden: hd, .. } = dims;
    let (wd, k) = (dims.width(), dims.k());
    let (seq_h, seq_k, seq_w) = (steps * hd, steps * k, steps * wd);
    // dh_next holds ∂L/∂h_t flowing back from step t + 1; it ends as ∂L/∂h_0 (same for dc, which
    // starts as the caller's ∂L/∂c_T).
    dh_next.fill(0.0);
    let (mut dh, mut tc) = (vec![0f32; hd], vec![0f32; hd]);
    for t in (0..steps).rev() {
        for b in 0..p.bs {
            let r = b * seq_h + t * hd..b * seq_h + (t + 1) * hd;
            let rw = b * seq_w + t * wd..b * seq_w + (t + 1) * wd;
            let h_prev = &p.xh[b * seq_k + t * k + f..b * seq_k + (t + 1) * k];
            let dn = &mut dh_next[b * hd..(b + 1) * hd];
            for ((d, a), n) in dh.iter_mut().zip(&p.dhs[r.clone()]).zip(dn.iter()) {
                *d = a + n;
            }
            let g = &p.gates[rw.clone()];
            let da = &mut da[rw.clone()];
            match kind {
                Cell::Rnn => {
                    for ((da, h), d) in da.iter_mut().zip(&p.cells[r.clone()]).zip(&dh) {
                        *da = d * (1.0 - h * h);
                    }
                }
                Cell::Lstm => {
                    let c = &p.cells[r.clone()];
                    let c_prev = if t == 0 { &p.c0[b * hd..(b + 1) * hd] } else { &p.cells[r.start - hd..r.start] };
                    let dc = &mut dc_next[b * hd..(b + 1) * hd];
                    let (gi, rest) = g.split_at(hd);
                    let (gf, rest) = rest.split_at(hd);
                    let (gg, go) = rest.split_at(hd);
                    let (dai, rest) = da.split_at_mut(hd);
                    let (daf, rest) = rest.split_at_mut(hd);
                    let (dag, dao) = rest.split_at_mut(hd);
                    tc.copy_from_slice(c);
                    tanh_slice(&mut tc);
                    lstm_backward(LstmGates { i: gi, f: gf, g: gg, o: go }, &tc, c_prev, &dh, dc, [dai, daf, dag, dao]);
                }
                Cell::Gru => {
                    let hn = &p.cells[r.clone()];
                    let dah = &mut dah[rw.clone()];
                    let (gr, rest) = g.split_at(hd);
                    let (gz, gn) = rest.split_at(hd);
                    let (dxr, rest) = da.split_at_mut(hd);
                    let (dxz, dxn) = rest.split_at_mut(hd);
                    let (dhr, rest) = dah.split_at_mut(hd);
                    let (dhz, dhn) = rest.split_at_mut(hd);
                    // Indexed over slices cut to one length, so it vectorises (see `lstm_backward`).
                    let (gr, gz, gn, hn, hp, dhv) =
                        (&gr[..hd], &gz[..hd], &gn[..hd], &hn[..hd], &h_prev[..hd], &dh[..hd]);
                    let (dxr, dxz, dxn) = (&mut dxr[..hd], &mut dxz[..hd], &mut dxn[..hd]);
                    let (dhr, dhz, dhn, dn) = (&mut dhr[..hd], &mut dhz[..hd], &mut dhn[..hd], &mut dn[..hd]);
                    for j in 0..hd {
                        let (rg, z, n) = (gr[j], gz[j], gn[j]);
                        let da_n = dhv[j] * (1.0 - z) * (1.0 - n * n);
                        let da_r = da_n * hn[j] * rg * (1.0 - rg);
                        let da_z = dhv[j] * (hp[j] - n) * z * (1.0 - z);
                        (dxr[j], dxz[j], dxn[j]) = (da_r, da_z, da_n);
                        (dhr[j], dhz[j], dhn[j]) = (da_r, da_z, da_n * rg);
                        dn[j] = dhv[j] * z; // the direct path h_{t−1} → h_t; the product below adds to it
                    }
                    for (s, v) in dbhn.iter_mut().zip(&dhn[..]) {
                        *s += v;
                    }
                }
            }
            for (s, v) in db.iter_mut().zip(da.iter()) {
                *s += v;
            }
        }
        // dh_next = [dh·z +] dA_h · W_hᵀ for all rows of this step.
        let gru = kind == Cell::Gru;
        let lhs_buf = if gru { &*dah } else { &*da };
        let lhs = View { ptr: lhs_buf[t * wd..].as_ptr(), row_stride: seq_w, col_stride: 1 };
        let rhs = View { ptr: w_h_t.as_ptr(), row_stride: hd, col_stride: 1 };
        // SAFETY: bs rows of this step's dA, W_hᵀ (G·H × H) over `w_h_t`, dh_next is bs × H.
        unsafe { matmul(p.bs, hd, wd, dh_next.as_mut_ptr(), hd, gru, lhs, rhs, false) };
    }
}
