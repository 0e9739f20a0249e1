//! The recurrence of one layer over a whole window, forward and backward, on host slices.
//!
//! Input: the input projection of every step, `xp = x·W_x + b` (`[B, T, G·H]`, computed outside as
//! one large product), the recurrent weights `W_h` (`[H, G·H]`), the GRU's `b_hn` and the initial
//! state. The batch is split across threads for the whole window (sequences are independent), so
//! the time loop needs no synchronisation; each step is one small GEMM per thread plus one
//! vectorised pass over the gates. The weight gradient `dW_h = H_prevᵀ·dA` is one large GEMM
//! after the loop. Everything is O(T).
//!
//! Layouts are row-major and batch-major (`[B, T, ·]`), so each thread owns contiguous rows.

use rayon::prelude::*;

use crate::Cell as CellKind;
use crate::math::{multiversion, sigmoid_slice, tanh, tanh_slice};

/// Sizes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub kind: CellKind,
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
}

impl Dims {
    fn width(&self) -> usize {
        self.kind.gates() * self.hidden
    }
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct Cache {
    pub dims: Dims,
    /// LSTM: activated gates `i f g o`; GRU: `r z n`; RNN: unused. `[B, T, G·H]`.
    gates: Vec<f32>,
    /// LSTM: cell state `c_t`; GRU: `h·W_hn + b_hn`. `[B, T, H]`.
    cells: Vec<f32>,
    /// `h_{t−1}` of every step (`h0` at `t = 0`), `[B, T, H]`: the left factor of `dW_h`.
    h_prev: Vec<f32>,
    /// `h_t`, `[B, T, H]` (RNN backward reads it).
    hs: Vec<f32>,
    /// LSTM: the initial cell state `[B, H]`.
    c0: Vec<f32>,
    /// `W_hᵀ` (`[G·H, H]` row-major): the backward's per-step product reads it row by row, which
    /// measured 3× faster than reading `W_h` with transposed strides.
    w_h_t: Vec<f32>,
}

pub struct ForwardOut {
    /// `h_t` of every step, `[B, T, H]`.
    pub hs: Vec<f32>,
    /// LSTM: the final cell state `[B, H]` (empty otherwise).
    pub c_last: Vec<f32>,
    pub cache: Option<Cache>,
}

pub struct Gradients {
    /// `[B, T, G·H]`.
    pub xp: Vec<f32>,
    /// `[H, G·H]`.
    pub w_h: Vec<f32>,
    /// GRU: `[H]`.
    pub b_hn: Vec<f32>,
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

/// Runs the recurrence. `keep_cache`: whether a backward pass will follow.
pub fn forward(
    dims: Dims,
    xp: &[f32],
    w_h: &[f32],
    b_hn: &[f32],
    h0: &[f32],
    c0: &[f32],
    keep_cache: bool,
) -> ForwardOut {
    let Dims { kind, batch, steps, hidden } = dims;
    let width = dims.width();
    assert_eq!(xp.len(), batch * steps * width);
    assert_eq!(w_h.len(), hidden * width);
    assert_eq!(h0.len(), batch * hidden);
    let lstm = kind == CellKind::Lstm;
    let gru = kind == CellKind::Gru;
    assert!(!lstm || c0.len() == batch * hidden);
    assert!(!gru || b_hn.len() == hidden);

    let mut hs = vec![0f32; batch * steps * hidden];
    let mut h_prev = vec![0f32; batch * steps * hidden];
    let mut gates = vec![0f32; batch * steps * width];
    let mut cells = vec![0f32; if lstm || gru { batch * steps * hidden } else { 0 }];
    let mut c_state = if lstm { c0.to_vec() } else { vec![] };

    let rows = rows_per_chunk(batch);
    let seq = steps * hidden;
    let seq_w = steps * width;
    let chunks = hs
        .par_chunks_mut(rows * seq)
        .zip(h_prev.par_chunks_mut(rows * seq))
        .zip(gates.par_chunks_mut(rows * seq_w))
        .zip(xp.par_chunks(rows * seq_w))
        .zip(h0.par_chunks(rows * hidden))
        .enumerate();
    // Cells and cell state may be empty: hand each chunk its part, or an empty slice.
    let cells_len = cells.len();
    let cells_ptr = SendPtr(cells.as_mut_ptr());
    let c_ptr = SendPtr(c_state.as_mut_ptr());
    chunks.for_each(|(chunk, ((((hs, h_prev), gates), xp), h0))| {
        let bs = h0.len() / hidden;
        // SAFETY: chunk `chunk` owns rows [chunk·rows, chunk·rows + bs) of `cells` and `c_state`.
        let cells = if cells_len > 0 {
            unsafe { std::slice::from_raw_parts_mut(cells_ptr.get().add(chunk * rows * seq), bs * seq) }
        } else {
            &mut []
        };
        let c_state = if lstm {
            unsafe { std::slice::from_raw_parts_mut(c_ptr.get().add(chunk * rows * hidden), bs * hidden) }
        } else {
            &mut []
        };
        let mut gh = vec![0f32; if gru { bs * width } else { 0 }];
        forward_rows_simd(dims, bs, xp, w_h, b_hn, h0, hs, h_prev, gates, cells, c_state, &mut gh);
    });
    let cache = keep_cache.then(|| Cache {
        dims,
        gates,
        cells,
        h_prev,
        hs: hs.clone(),
        c0: c0.to_vec(),
        w_h_t: transpose(w_h, hidden, width),
    });
    ForwardOut { hs, c_last: c_state, cache }
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

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: used only to hand disjoint row ranges to the threads of one `for_each`.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn forward_rows_simd(
        dims: Dims, bs: usize, xp: &[f32], w_h: &[f32], b_hn: &[f32], h0: &[f32], hs: &mut [f32],
        h_prev: &mut [f32], gates: &mut [f32], cells: &mut [f32], c_state: &mut [f32], gh: &mut [f32],
    ) => forward_rows
);

multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn backward_rows_simd(
        dims: Dims, bs: usize, p: &Part, w_h_t: &[f32], dxp: &mut [f32], dah: &mut [f32], dh_next: &mut [f32],
        dc_next: &mut [f32],
    ) => backward_rows
);

/// The time loop for `bs` sequences (contiguous rows of every buffer).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows(
    dims: Dims,
    bs: usize,
    xp: &[f32],
    w_h: &[f32],
    b_hn: &[f32],
    h0: &[f32],
    hs: &mut [f32],
    h_prev: &mut [f32],
    gates: &mut [f32],
    cells: &mut [f32],
    c_state: &mut [f32],
    gh: &mut [f32],
) {
    let Dims { kind, steps, hidden: hd, .. } = dims;
    let w = dims.width();
    let (seq, seq_w) = (steps * hd, steps * w);
    for t in 0..steps {
        for b in 0..bs {
            let src = if t == 0 { &h0[b * hd..(b + 1) * hd] } else { &hs[b * seq + (t - 1) * hd..b * seq + t * hd] };
            h_prev[b * seq + t * hd..b * seq + (t + 1) * hd].copy_from_slice(src);
            gates[b * seq_w + t * w..b * seq_w + (t + 1) * w]
                .copy_from_slice(&xp[b * seq_w + t * w..b * seq_w + (t + 1) * w]);
        }
        let lhs = View { ptr: h_prev[t * hd..].as_ptr(), row_stride: seq, col_stride: 1 };
        let rhs = View { ptr: w_h.as_ptr(), row_stride: w, col_stride: 1 };
        // SAFETY: the views cover bs rows of the chunk's buffers and the whole of W_h.
        unsafe {
            match kind {
                CellKind::Gru => matmul(bs, w, hd, gh.as_mut_ptr(), w, false, lhs, rhs, false),
                _ => matmul(bs, w, hd, gates[t * w..].as_mut_ptr(), seq_w, true, lhs, rhs, false),
            }
        }
        for b in 0..bs {
            let g = &mut gates[b * seq_w + t * w..b * seq_w + (t + 1) * w];
            let h = &mut hs[b * seq + t * hd..b * seq + (t + 1) * hd];
            match kind {
                CellKind::Rnn => {
                    for (h, g) in h.iter_mut().zip(g.iter()) {
                        *h = tanh(*g);
                    }
                }
                CellKind::Lstm => {
                    let c = &mut c_state[b * hd..(b + 1) * hd];
                    let cell = &mut cells[b * seq + t * hd..b * seq + (t + 1) * hd];
                    // Activations in place, one vectorised pass per kind: i f | g | o.
                    sigmoid_slice(&mut g[..2 * hd]);
                    tanh_slice(&mut g[2 * hd..3 * hd]);
                    sigmoid_slice(&mut g[3 * hd..]);
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
                CellKind::Gru => {
                    let ghb = &gh[b * w..(b + 1) * w];
                    let hp = &h_prev[b * seq + t * hd..b * seq + (t + 1) * hd];
                    let cell = &mut cells[b * seq + t * hd..b * seq + (t + 1) * hd];
                    // r and z: pre-activations summed, then one vectorised pass each.
                    for (g, gh) in g[..2 * hd].iter_mut().zip(&ghb[..2 * hd]) {
                        *g += gh;
                    }
                    sigmoid_slice(&mut g[..2 * hd]);
                    let (rz, gn) = g.split_at_mut(2 * hd);
                    let (gr, gz) = rz.split_at(hd);
                    for (((cell, hn), bn), (gn, r)) in
                        cell.iter_mut().zip(&ghb[2 * hd..]).zip(b_hn).zip(gn.iter_mut().zip(gr))
                    {
                        *cell = hn + bn;
                        *gn += r * *cell;
                    }
                    tanh_slice(gn);
                    for (((h, n), z), hp) in h.iter_mut().zip(gn.iter()).zip(gz).zip(hp) {
                        *h = n + z * (hp - n);
                    }
                }
            }
        }
    }
}

/// Gradients of a loss with respect to the inputs, given its gradient `dhs` (`[B, T, H]`) with
/// respect to every step's hidden state.
pub fn backward(cache: &Cache, dhs: &[f32]) -> Gradients {
    let dims = cache.dims;
    let Dims { kind, batch, steps, hidden } = dims;
    let width = dims.width();
    assert_eq!(dhs.len(), batch * steps * hidden);
    let (lstm, gru) = (kind == CellKind::Lstm, kind == CellKind::Gru);
    let mut dxp = vec![0f32; batch * steps * width];
    // The hidden side's pre-activation gradient differs from the input side's only for the
    // GRU's candidate block (`r ⊙ (h·W_hn + b_hn)`).
    let mut dah = vec![0f32; if gru { batch * steps * width } else { 0 }];
    let mut dh0 = vec![0f32; batch * hidden];
    let mut dc0 = vec![0f32; if lstm { batch * hidden } else { 0 }];

    let rows = rows_per_chunk(batch);
    let (seq, seq_w) = (steps * hidden, steps * width);
    let dah_ptr = SendPtr(dah.as_mut_ptr());
    let dc0_ptr = SendPtr(dc0.as_mut_ptr());
    dxp.par_chunks_mut(rows * seq_w).zip(dh0.par_chunks_mut(rows * hidden)).enumerate().for_each(
        |(chunk, (dxp, dh0))| {
            let bs = dh0.len() / hidden;
            let first = chunk * rows;
            // SAFETY: chunk `chunk` owns rows [first, first + bs) of `dah` and `dc0`.
            let dah = if gru {
                unsafe { std::slice::from_raw_parts_mut(dah_ptr.get().add(first * seq_w), bs * seq_w) }
            } else {
                &mut []
            };
            let dc0 = if lstm {
                unsafe { std::slice::from_raw_parts_mut(dc0_ptr.get().add(first * hidden), bs * hidden) }
            } else {
                &mut []
            };
            let part = Part {
                gates: &cache.gates[first * seq_w..(first + bs) * seq_w],
                cells: if cache.cells.is_empty() { &[] } else { &cache.cells[first * seq..(first + bs) * seq] },
                h_prev: &cache.h_prev[first * seq..(first + bs) * seq],
                hs: &cache.hs[first * seq..(first + bs) * seq],
                c0: if lstm { &cache.c0[first * hidden..(first + bs) * hidden] } else { &[] },
                dhs: &dhs[first * seq..(first + bs) * seq],
            };
            backward_rows_simd(dims, bs, &part, &cache.w_h_t, dxp, dah, dh0, dc0);
        },
    );

    // dW_h = H_prevᵀ · dA_h over every (b, t) row, in one product.
    let da_h = if gru { &dah } else { &dxp };
    let mut dw_h = vec![0f32; hidden * width];
    let lhs = View { ptr: cache.h_prev.as_ptr(), row_stride: 1, col_stride: hidden };
    let rhs = View { ptr: da_h.as_ptr(), row_stride: width, col_stride: 1 };
    // SAFETY: H_prevᵀ is H × (B·T) over `h_prev`, dA is (B·T) × G·H over `da_h`.
    unsafe { matmul(hidden, width, batch * steps, dw_h.as_mut_ptr(), width, false, lhs, rhs, true) };
    let mut db_hn = vec![0f32; if gru { hidden } else { 0 }];
    if gru {
        for row in dah.chunks_exact(width) {
            for (d, g) in db_hn.iter_mut().zip(&row[2 * hidden..]) {
                *d += g;
            }
        }
    }
    Gradients { xp: dxp, w_h: dw_h, b_hn: db_hn, h0: dh0, c0: dc0 }
}

/// A thread's rows of the cache and of the incoming gradient.
struct Part<'a> {
    gates: &'a [f32],
    cells: &'a [f32],
    h_prev: &'a [f32],
    hs: &'a [f32],
    c0: &'a [f32],
    dhs: &'a [f32],
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_rows(
    dims: Dims,
    bs: usize,
    p: &Part,
    w_h_t: &[f32],
    dxp: &mut [f32],
    dah: &mut [f32],
    dh_next: &mut [f32],
    dc_next: &mut [f32],
) {
    let Dims { kind, steps, hidden: hd, .. } = dims;
    let w = dims.width();
    let (seq, seq_w) = (steps * hd, steps * w);
    // dh_next holds ∂L/∂h_t flowing back from step t + 1; it ends as ∂L/∂h_0 (same for dc).
    dh_next.fill(0.0);
    dc_next.fill(0.0);
    let (mut dh, mut tc) = (vec![0f32; hd], vec![0f32; hd]);
    for t in (0..steps).rev() {
        for b in 0..bs {
            let r = b * seq + t * hd..b * seq + (t + 1) * hd;
            let rw = b * seq_w + t * w..b * seq_w + (t + 1) * w;
            let dn = &mut dh_next[b * hd..(b + 1) * hd];
            for ((d, a), n) in dh.iter_mut().zip(&p.dhs[r.clone()]).zip(dn.iter()) {
                *d = a + n;
            }
            let g = &p.gates[rw.clone()];
            let da = &mut dxp[rw.clone()];
            match kind {
                CellKind::Rnn => {
                    for ((da, h), d) in da.iter_mut().zip(&p.hs[r.clone()]).zip(&dh) {
                        *da = d * (1.0 - h * h);
                    }
                }
                CellKind::Lstm => {
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
                    let gates = gi.iter().zip(gf).zip(gg).zip(go);
                    let grads = dai.iter_mut().zip(daf.iter_mut()).zip(dag.iter_mut()).zip(dao.iter_mut());
                    for ((((((i, f), gv), o), (((dai, daf), dag), dao)), (tc, c_prev)), (dc, dh)) in
                        gates.zip(grads).zip(tc.iter().zip(c_prev)).zip(dc.iter_mut().zip(&dh))
                    {
                        let d_o = dh * tc;
                        let dcj = *dc + dh * o * (1.0 - tc * tc);
                        *dai = dcj * gv * i * (1.0 - i);
                        *daf = dcj * c_prev * f * (1.0 - f);
                        *dag = dcj * i * (1.0 - gv * gv);
                        *dao = d_o * o * (1.0 - o);
                        *dc = dcj * f;
                    }
                }
                CellKind::Gru => {
                    let (hn, hp) = (&p.cells[r.clone()], &p.h_prev[r.clone()]);
                    let dah = &mut dah[rw.clone()];
                    let (gr, rest) = g.split_at(hd);
                    let (gz, gn) = rest.split_at(hd);
                    let (dxr, rest) = da.split_at_mut(hd);
                    let (dxz, dxn) = rest.split_at_mut(hd);
                    let (dhr, rest) = dah.split_at_mut(hd);
                    let (dhz, dhn) = rest.split_at_mut(hd);
                    let gates = gr.iter().zip(gz).zip(gn);
                    let dx = dxr.iter_mut().zip(dxz.iter_mut()).zip(dxn.iter_mut());
                    let dhh = dhr.iter_mut().zip(dhz.iter_mut()).zip(dhn.iter_mut());
                    for (((((rg, z), n), ((dxr, dxz), dxn)), ((dhr, dhz), dhn)), (((hn, hp), dh), dn)) in
                        gates.zip(dx).zip(dhh).zip(hn.iter().zip(hp).zip(&dh).zip(dn.iter_mut()))
                    {
                        let da_n = dh * (1.0 - z) * (1.0 - n * n);
                        let da_r = da_n * hn * rg * (1.0 - rg);
                        let da_z = dh * (hp - n) * z * (1.0 - z);
                        (*dxr, *dxz, *dxn) = (da_r, da_z, da_n);
                        (*dhr, *dhz, *dhn) = (da_r, da_z, da_n * rg);
                        *dn = dh * z; // the direct path h_{t−1} → h_t; the product below adds to it
                    }
                }
            }
        }
        // dh_next = [dh·z +] dA_h · W_hᵀ for all rows of this step.
        let gru = kind == CellKind::Gru;
        let lhs_buf = if gru { &*dah } else { &*dxp };
        let lhs = View { ptr: lhs_buf[t * w..].as_ptr(), row_stride: seq_w, col_stride: 1 };
        let rhs = View { ptr: w_h_t.as_ptr(), row_stride: hd, col_stride: 1 };
        // SAFETY: bs rows of this step's dA, W_hᵀ (G·H × H) over `w_h_t`, dh_next is bs × H.
        unsafe { matmul(bs, hd, w, dh_next.as_mut_ptr(), hd, gru, lhs, rhs, false) };
    }
}
