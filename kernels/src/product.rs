//! The matrix products of the kernels: strided views over host slices and a thin wrapper over
//! the `gemm` crate (the crate burn-flex uses, with its AVX-512 kernels chosen at run time).

/// A strided matrix view for [`matmul`].
#[derive(Clone, Copy)]
pub(crate) struct View {
    pub(crate) ptr: *const f32,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`. Strides are in elements.
///
/// # Safety
/// Every view must cover its matrix inside live allocations, and `dst` must not alias the inputs.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul(
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

/// A vector of `len` values, every one written by `fill` through the pointer it is given (a
/// product with `accumulate = false` writes its whole destination without reading it), so the
/// buffer is neither zeroed first nor faulted in twice.
///
/// # Safety
/// `fill` must write all `len` values.
pub(crate) unsafe fn written_by(len: usize, fill: impl FnOnce(*mut f32)) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(v.as_mut_ptr());
    // SAFETY: `fill` initialised all `len` values (the caller's promise).
    unsafe { v.set_len(len) };
    v
}

/// `[rows, cols]` → `[cols, rows]`, row-major.
/// In tiles of 32 × 32, so that both sides stay in cache (row by row, every write of a 128 × 512
/// matrix's transpose landed on another cache line).
pub(crate) fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const TILE: usize = 32;
    let mut t = vec![0f32; m.len()];
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    t[c * rows + r] = m[r * cols + c];
                }
            }
        }
    }
    t
}

/// The element-wise sum of `n`-long parts (the threads' partial sums), added in their order, so
/// the result does not depend on which thread finished first.
pub(crate) fn sum_parts<'a>(parts: impl IntoIterator<Item = &'a [f32]>, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    for part in parts {
        for (o, v) in out.iter_mut().zip(part) {
            *o += v;
        }
    }
    out
}
