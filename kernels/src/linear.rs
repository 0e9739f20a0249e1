//! A linear map over rows, `y = x·W + b` for every row of `x`, forward and backward: the model's
//! head over every step of every sequence as one product each way (trajrnn wraps it as one burn
//! operation on flex, `model::kernel::head`).

use crate::product::{View, matmul, written_by};

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
    let x_t = View { ptr: x.as_ptr(), row_stride: 1, col_stride: input };
    // SAFETY: the views cover `x` and `dy`; the product writes all input × output values.
    let dw = unsafe {
        written_by(input * output, |dst| matmul(input, output, rows, dst, output, false, x_t, dy_view, d.parallel()))
    };
    let mut db = vec![0f32; output];
    for row in dy.chunks_exact(output) {
        for (s, v) in db.iter_mut().zip(row) {
            *s += v;
        }
    }
    Gradients { x: dx, w: dw, b: db }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the sums written out, at a size large enough to run the products in parallel.
    #[test]
    fn forward_and_backward_match_the_definition() {
        let d = Dims { rows: 300, input: 37, output: 24 };
        let val = |i: usize, s: usize| ((i * s % 1009) as f32 - 504.0) * 1e-3;
        let x: Vec<f32> = (0..d.rows * d.input).map(|i| val(i, 7919)).collect();
        let w: Vec<f32> = (0..d.input * d.output).map(|i| val(i, 104_729)).collect();
        let b: Vec<f32> = (0..d.output).map(|i| val(i, 31)).collect();
        let dy: Vec<f32> = (0..d.rows * d.output).map(|i| val(i, 1299)).collect();
        assert!(d.parallel());
        let y = forward(d, &x, &w, &b);
        let g = backward(d, &x, &w, &dy, true);
        let close =
            |a: f32, e: f32, what: &str| assert!((a - e).abs() <= 1e-4 * (1.0 + e.abs()), "{what}: {a} against {e}");
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
