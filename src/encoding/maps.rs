//! The encoding as two affine maps, written once and applied on the host (plain Rust, for the
//! streaming predictor and batch gathering) and on a burn device (for the free-running training
//! loss, which must be differentiable through fed-back predictions). A test checks that both
//! applications agree.
//!
//! Both maps read the *lag vector* of the current frame: `z = [q_t, v_t, v_{t−1}, …,
//! v_{t−h+1}, u_t, u_{t−1}, …, u_{t−r+1}]` (`D` values per state, `M` per command, `v_k = q_k −
//! q_{k−1}`, newest first), built from the last `h + 1` frames. A *frame* here is the state and,
//! where the encoding reads commands, the commands sent at it: `W = D + M` values. Differences
//! are taken before anything is scaled, as the linear rules do, so large absolute positions
//! (encoder counts) do not cost precision.
//!
//! - the input map gives the model's input (`input_dim` values), clamped to `±clip`;
//! - the base map gives the rule the model corrects (`D` values); the prediction is
//!   `base(z) + out_scale ⊙ y` for a model output `y`.

use burn::prelude::*;

/// `y = A·z + b`, with `A` sparse (rows of a few entries).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseAffine {
    /// Output values.
    pub rows: usize,
    /// Input values (the lag vector's length).
    pub cols: usize,
    /// `(column, weight)` entries of each row, row after row; row `r` is
    /// `entries[starts[r]..starts[r + 1]]`.
    entries: Vec<(u32, f32)>,
    starts: Vec<usize>,
    /// `b`: the constant of each row (`rows` values).
    pub bias: Vec<f32>,
}

/// Builds a [`SparseAffine`] row by row.
pub(crate) struct AffineBuilder {
    cols: usize,
    entries: Vec<(u32, f32)>,
    starts: Vec<usize>,
    bias: Vec<f32>,
    current: Vec<(u32, f64)>,
}

impl AffineBuilder {
    /// A builder of a map that reads `cols` values (the lag vector's length).
    pub(crate) fn new(cols: usize) -> Self {
        Self { cols, entries: vec![], starts: vec![0], bias: vec![], current: vec![] }
    }

    /// Adds `weight · z[col]` to the row being built (weights of one column add up).
    pub(crate) fn add(&mut self, col: usize, weight: f64) -> &mut Self {
        debug_assert!(col < self.cols, "column {col} of {}", self.cols);
        match self.current.iter_mut().find(|(c, _)| *c as usize == col) {
            Some(entry) => entry.1 += weight,
            None => self.current.push((col as u32, weight)),
        }
        self
    }

    /// Ends the row with constant `bias`.
    pub(crate) fn finish_row(&mut self, bias: f64) {
        self.current.sort_by_key(|(c, _)| *c);
        self.entries.extend(self.current.drain(..).filter(|(_, w)| *w != 0.0).map(|(c, w)| (c, w as f32)));
        self.starts.push(self.entries.len());
        self.bias.push(bias as f32);
    }

    /// The map of the rows finished so far (a row still being built is dropped).
    pub(crate) fn build(self) -> SparseAffine {
        SparseAffine {
            rows: self.bias.len(),
            cols: self.cols,
            entries: self.entries,
            starts: self.starts,
            bias: self.bias,
        }
    }
}

impl SparseAffine {
    /// `out = A·z + b` (`z`: `cols` values, `out`: `rows` values).
    pub fn apply(&self, z: &[f32], out: &mut [f32]) {
        for (r, o) in out.iter_mut().enumerate().take(self.rows) {
            let mut v = self.bias[r];
            for &(c, w) in &self.entries[self.starts[r]..self.starts[r + 1]] {
                v += w * z[c as usize];
            }
            *o = v;
        }
    }

    /// The entries of row `r` as `(column, weight)`.
    pub fn row(&self, r: usize) -> &[(u32, f32)] {
        &self.entries[self.starts[r]..self.starts[r + 1]]
    }

    /// `Aᵀ` dense (`cols × rows`, row-major).
    fn dense_transpose(&self) -> Vec<f32> {
        let mut dense = vec![0f32; self.cols * self.rows];
        for r in 0..self.rows {
            for &(c, w) in self.row(r) {
                dense[c as usize * self.rows + r] = w;
            }
        }
        dense
    }

    /// `Aᵀ` as a dense `[cols, rows]` tensor and `b` as a `[1, rows]` row, for `z·Aᵀ + b` on a
    /// device.
    pub(crate) fn to_tensors(&self, device: &Device) -> (Tensor<2>, Tensor<2>) {
        (
            Tensor::from_data(TensorData::new(self.dense_transpose(), [self.cols, self.rows]), device),
            Tensor::from_data(TensorData::new(self.bias.clone(), [1, self.rows]), device),
        )
    }
}

/// A [`SparseAffine`] applied to many lag vectors at once, as one dense matrix product: for
/// passes over a whole dataset, where the sparse map's one row at a time is bound by its adds'
/// latency (`SparseAffine::apply` was 19 % of a 10 M-frame `prepare`, `perf`).
pub(crate) struct DenseAffine {
    /// `Aᵀ` (`cols × rows`, row-major), which is `A` column-major.
    transposed: Vec<f32>,
    bias: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl DenseAffine {
    pub(crate) fn new(map: &SparseAffine) -> Self {
        Self { transposed: map.dense_transpose(), bias: map.bias.clone(), rows: map.rows, cols: map.cols }
    }

    /// `out = Z·Aᵀ + b` for the lag vectors in the rows of `zs` (`n × cols`, row-major; `out`:
    /// `n × rows`).
    pub(crate) fn apply_rows(&self, zs: &[f32], out: &mut [f32]) {
        use nalgebra::{DMatrixView, DMatrixViewMut};
        let n = zs.len() / self.cols;
        debug_assert_eq!(out.len(), n * self.rows);
        if n == 0 {
            return;
        }
        for row in out.chunks_exact_mut(self.rows) {
            row.copy_from_slice(&self.bias);
        }
        // Read column-major, the row-major buffers are `Zᵀ` (cols × n), `A` (rows × cols) and
        // `outᵀ` (rows × n): `outᵀ = A·Zᵀ + bᵀ`, no copies.
        let zt = DMatrixView::from_slice(zs, self.cols, n);
        let a = DMatrixView::from_slice(&self.transposed, self.rows, self.cols);
        let mut yt = DMatrixViewMut::from_slice(out, self.rows, n);
        yt.gemm(1.0, &a, &zt, 1.0);
    }
}

/// Where everything sits in a frame and in the lag vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// State channels `D`.
    pub dim: usize,
    /// Frames before the current one the lag vector reads (`h`).
    pub history: usize,
    /// Command channels `M` (0: the encoding reads no commands).
    pub command_dim: usize,
    /// Commands read, newest first (`r ≤ h + 1`).
    pub command_lags: usize,
}

impl Layout {
    /// Values per frame: the state, then the commands.
    pub fn width(&self) -> usize {
        self.dim + self.command_dim
    }

    /// Length of the lag vector.
    pub fn lag_len(&self) -> usize {
        (1 + self.history) * self.dim + self.command_lags * self.command_dim
    }

    /// Column of `q_t[c]`.
    pub fn state_col(&self, c: usize) -> usize {
        c
    }

    /// Column of `v_{t−k}[c]` (`k = 0`: the newest velocity).
    pub(crate) fn velocity_col(&self, k: usize, c: usize) -> usize {
        (1 + k) * self.dim + c
    }

    /// Column of `u_{t−k}[i]`.
    pub(crate) fn command_col(&self, k: usize, i: usize) -> usize {
        (1 + self.history) * self.dim + k * self.command_dim + i
    }

    /// Writes the lag vector of the last of `frames` (`history + 1` frames of `width()` values,
    /// oldest first).
    pub fn lags(&self, frames: &[f32], z: &mut [f32]) {
        let (w, d) = (self.width(), self.dim);
        let n = frames.len() / w;
        debug_assert!(n > self.history, "{n} frames for a history of {}", self.history);
        let frame = |j: usize| crate::data::channels::row(frames, w, j);
        z[..d].copy_from_slice(&frame(n - 1)[..d]);
        for k in 0..self.history {
            let (newer, older) = (frame(n - 1 - k), frame(n - 2 - k));
            for c in 0..d {
                z[self.velocity_col(k, c)] = newer[c] - older[c];
            }
        }
        for k in 0..self.command_lags {
            let u = &frame(n - 1 - k)[d..];
            let at = self.command_col(k, 0);
            z[at..at + self.command_dim].copy_from_slice(u);
        }
    }
}

/// The encoding's maps, ready to apply on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    /// Where the state, the differences and the commands sit in a frame and in the lag vector.
    pub layout: Layout,
    /// Lag vector to model input (`input_dim` rows, before the clamp to `±clip`).
    pub input: SparseAffine,
    /// Lag vector to the base rule's prediction of the next state (`D` rows).
    pub base: SparseAffine,
    /// Scale of the model's output per channel (0 where the channel is held).
    pub out_scale: Vec<f32>,
    /// Model inputs are clamped to `±clip`.
    pub clip: f32,
}

impl Maps {
    /// Encoded input of the last of `frames` into `out` (`z`: scratch of
    /// `Layout::lag_len`).
    pub fn input(&self, frames: &[f32], z: &mut [f32], out: &mut [f32]) {
        self.layout.lags(frames, z);
        self.input.apply(z, out);
        for v in out.iter_mut() {
            *v = v.clamp(-self.clip, self.clip);
        }
    }

    /// The base rule's prediction of the frame after `frames`.
    pub fn base(&self, frames: &[f32], z: &mut [f32], out: &mut [f32]) {
        self.layout.lags(frames, z);
        self.base.apply(z, out);
    }

    /// The maps as tensors on `device`.
    pub fn to_device(&self, device: &Device) -> DeviceMaps {
        let (input_w, input_b) = self.input.to_tensors(device);
        let (base_w, base_b) = self.base.to_tensors(device);
        DeviceMaps {
            layout: self.layout,
            input_w,
            input_b,
            base_w,
            base_b,
            out_scale: Tensor::from_data(TensorData::new(self.out_scale.clone(), [1, self.layout.dim]), device),
            clip: self.clip,
        }
    }
}

/// [`Maps`] on a burn device: the same affine maps as dense matrices.
#[derive(Debug, Clone)]
pub struct DeviceMaps {
    layout: Layout,
    input_w: Tensor<2>,
    input_b: Tensor<2>,
    base_w: Tensor<2>,
    base_b: Tensor<2>,
    out_scale: Tensor<2>,
    clip: f32,
}

impl DeviceMaps {
    /// The layout the maps read.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Lag vectors `[B, lag_len]` of the last of `frames` (`[B, history + 1, W]`, oldest
    /// first).
    pub fn lags(&self, frames: &Tensor<3>) -> Tensor<2> {
        let Layout { dim: d, history, command_dim: m, command_lags: r } = self.layout;
        let [b, n, w] = frames.dims();
        debug_assert_eq!((n, w), (history + 1, d + m));
        let states = frames.clone().narrow(2, 0, d);
        let mut parts = vec![states.clone().narrow(1, n - 1, 1).reshape([b, d])];
        if history > 0 {
            let newer = states.clone().narrow(1, 1, n - 1);
            let older = states.narrow(1, 0, n - 1);
            // Newest velocity first, as `Layout::lags` writes them.
            parts.push((newer - older).flip([1]).reshape([b, (n - 1) * d]));
        }
        if r > 0 {
            let commands = frames.clone().narrow(2, d, m).narrow(1, n - r, r);
            parts.push(commands.flip([1]).reshape([b, r * m]));
        }
        Tensor::cat(parts, 1)
    }

    /// The model input `[B, input_dim]` for the last of `frames`.
    pub fn input(&self, frames: &Tensor<3>) -> Tensor<2> {
        (self.lags(frames).matmul(self.input_w.clone()) + self.input_b.clone()).clamp(-self.clip, self.clip)
    }

    /// The predicted next frame `[B, D]` from `frames` and a model output `y` (`[B, D]`).
    pub fn decode(&self, frames: &Tensor<3>, y: Tensor<2>) -> Tensor<2> {
        self.lags(frames).matmul(self.base_w.clone()) + self.base_b.clone() + y * self.out_scale.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dense block product gives what the sparse map gives one lag vector at a time.
    #[test]
    fn dense_rows_match_the_sparse_map() {
        let cols = 7;
        let mut builder = AffineBuilder::new(cols);
        builder.add(0, 0.5).add(3, -1.25).add(0, 0.25);
        builder.finish_row(0.75);
        builder.finish_row(-2.0);
        builder.add(6, 3.0).add(1, 0.125);
        builder.finish_row(0.0);
        let map = builder.build();
        let n = 5;
        let zs: Vec<f32> = (0..n * cols).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
        let mut dense = vec![f32::NAN; n * map.rows];
        DenseAffine::new(&map).apply_rows(&zs, &mut dense);
        let mut sparse = vec![0f32; map.rows];
        for (z, row) in zs.chunks_exact(cols).zip(dense.chunks_exact(map.rows)) {
            map.apply(z, &mut sparse);
            for (a, b) in row.iter().zip(&sparse) {
                assert!((a - b).abs() <= 1e-6, "{row:?} against {sparse:?}");
            }
        }
    }
}
