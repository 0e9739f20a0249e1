//! A linear map over rows, `y = x·W + b` for every row of `x`, forward and backward: the model's
//! head over every step of every sequence as one product each way (trajrnn wraps it as one burn
//! operation on flex, `model::kernel::head`).

use rayon::prelude::*;

use crate::product::{View, matmul, sum_parts, transpose, written_by};

/// Sizes of one call: `rows` rows of `input` values map to rows of `output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Rows of `x` (every step of every sequence).
    pub rows: usize,
    /// Values per input row.
    pub input: usize,
    /// Values per output row.
    pub output: usize,
}

impl Dims {
    /// Large products are split across threads.
    fn parallel(&self) -> bool {
        self.rows * self.input * self.output >= 1 << 18
    }
    /// Whether `output` is narrower than a 16-lane SIMD register. gemm puts the destination's
    /// contiguous dimension on its lanes, so `dW = xᵀ·dy` with 8 outputs (the reference
    /// workload's head) ran half-empty registers in its 1×6 kernel, on one thread (a product
    /// does not split its depth, the rows); `dWᵀ = dyᵀ·x`, summed over the threads' rows and
    /// transposed, runs full ones: head forward and backward at the reference workload's size
    /// took 935 µs before and 596 after, medians of ten interleaved runs of the `linear_timing`
    /// example (`docs/records/bench/head_ab.txt`, with what was tried and not kept).
    fn narrow(&self) -> bool {
        self.output < 16
    }
}

/// `y = x·W + b`: `x` is `[rows, input]`, `w` `[input, output]`, `b` `[output]` (or empty).
pub fn forward(d: Dims, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let Dims { rows, input, output } = d;
    assert_eq!((x.len(), w.len()), (rows * input, input * output));
    assert!(b.is_empty() || b.len() == output);
    let lhs = View { ptr: x.as_ptr(), row_stride: input, col_stride: 1 };
    let rhs = View { ptr: w.as_ptr(), row_stride: output, col_stride: 1 };
    // SAFETY: the views cover `x` and `w`; the product writes all rows × output values.
    let mut y = unsafe {
        written_by(rows * output, |dst| matmul(rows, output, input, dst, output, false, lhs, rhs, d.parallel()))
    };
    if !b.is_empty() {
        for row in y.chunks_exact_mut(output) {
            for (v, b) in row.iter_mut().zip(b) {
                *v += b;
            }
        }
    }
    if d.parallel() {
        crate::awake::keep_awake();
    }
    y
}

/// Gradients of a loss with respect to `x`, `W` and `b`.
pub struct Gradients {
    /// `[rows, input]` (empty when not asked for).
    pub x: Vec<f32>,
    /// `[input, output]`.
    pub w: Vec<f32>,
    /// `[output]`.
    pub b: Vec<f32>,
}

/// From `dy` (`[rows, output]`), the gradient of a loss with respect to `y`: `dx = dy·Wᵀ` (if
/// `want_x`), `dW = xᵀ·dy`, `db = Σ_rows dy`.
pub fn backward(d: Dims, x: &[f32], w: &[f32], dy: &[f32], want_x: bool) -> Gradients {
    let Dims { rows, input, output } = d;
    assert_eq!((x.len(), w.len(), dy.len()), (rows * input, input * output, rows * output));
    let dy_view = View { ptr: dy.as_ptr(), row_stride: output, col_stride: 1 };
    let dx = if want_x {
        // Wᵀ is W read with transposed strides.
        let w_t = View { ptr: w.as_ptr(), row_stride: 1, col_stride: output };
        // SAFETY: the views cover `dy` and `w`; the product writes all rows × input values.
        unsafe {
            written_by(rows * input, |dst| matmul(rows, input, output, dst, input, false, dy_view, w_t, d.parallel()))
        }
    } else {
        vec![]
    };
    let dw = if d.narrow() {
        // dWᵀ = dyᵀ·x (see `Dims::narrow`), the rows split across threads and the parts summed
        // in a fixed order (deterministic).
        let threads = if d.parallel() { rayon::current_num_threads().max(1) } else { 1 };
        let chunk = rows.div_ceil(threads).max(1);
        let parts: Vec<Vec<f32>> = dy
            .par_chunks(chunk * output)
            .zip(x.par_chunks(chunk * input))
            .map(|(dy, x)| {
                let n = dy.len() / output;
                let dy_t = View { ptr: dy.as_ptr(), row_stride: 1, col_stride: output };
                let x = View { ptr: x.as_ptr(), row_stride: input, col_stride: 1 };
                // SAFETY: the views cover this chunk's n rows of `dy` and `x`; the product writes
                // all output × input values.
                unsafe { written_by(output * input, |dst| matmul(output, input, n, dst, input, false, dy_t, x, false)) }
            })
            .collect();
        transpose(&sum_parts(parts.iter().map(Vec::as_slice), output * input), output, input)
    } else {
        let x_t = View { ptr: x.as_ptr(), row_stride: 1, col_stride: input };
        // SAFETY: the views cover `x` and `dy`; the product writes all input × output values.
        unsafe {
            written_by(input * output, |dst| {
                matmul(input, output, rows, dst, output, false, x_t, dy_view, d.parallel())
            })
        }
    };
    let mut db = vec![0f32; output];
    for row in dy.chunks_exact(output) {
        for (s, v) in db.iter_mut().zip(row) {
            *s += v;
        }
    }
    if d.parallel() {
        crate::awake::keep_awake();
    }
    Gradients { x: dx, w: dw, b: db }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the sums written out, at sizes large enough to run the products in parallel.
    #[test]
    fn forward_and_backward_match_the_definition() {
        // Wide and narrow outputs (see `Dims::narrow`); an odd row count splits unevenly.
        for d in [Dims { rows: 300, input: 37, output: 24 }, Dims { rows: 1001, input: 37, output: 8 }] {
            let val = |i: usize, s: usize| ((i * s % 1009) as f32 - 504.0) * 1e-3;
            let x: Vec<f32> = (0..d.rows * d.input).map(|i| val(i, 7919)).collect();
            let w: Vec<f32> = (0..d.input * d.output).map(|i| val(i, 104_729)).collect();
            let b: Vec<f32> = (0..d.output).map(|i| val(i, 31)).collect();
            let dy: Vec<f32> = (0..d.rows * d.output).map(|i| val(i, 1299)).collect();
            assert!(d.parallel());
            let y = forward(d, &x, &w, &b);
            let g = backward(d, &x, &w, &dy, true);
            let close = |a: f32, e: f32, what: &str| {
                assert!((a - e).abs() <= 1e-4 * (1.0 + e.abs()), "{what}: {a} against {e}")
            };
            for r in 0..d.rows {
                for o in 0..d.output {
                    let e = b[o] + (0..d.input).map(|i| x[r * d.input + i] * w[i * d.output + o]).sum::<f32>();
                    close(y[r * d.output + o], e, "y");
                }
                for i in 0..d.input {
                    let e = (0..d.output).map(|o| dy[r * d.output + o] * w[i * d.output + o]).sum::<f32>();
                    close(g.x[r * d.input + i], e, "dx");
                }
            }
            for i in 0..d.input {
                for o in 0..d.output {
                    let e = (0..d.rows).map(|r| x[r * d.input + i] * dy[r * d.output + o]).sum::<f32>();
                    close(g.w[i * d.output + o], e, "dW");
                }
            }
            for o in 0..d.output {
                close(g.b[o], (0..d.rows).map(|r| dy[r * d.output + o]).sum(), "db");
            }
            assert!(backward(d, &x, &w, &dy, false).x.is_empty());
        }
    }
}
