//! Principal components of hidden states, to draw a high-dimensional trajectory in 2D or 3D.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// The top principal directions of a set of rows.
#[derive(Debug, Clone)]
pub struct Pca {
    /// Mean of the fitted rows, `[features]`, subtracted before projecting.
    pub mean: DVector<f64>,
    /// `[k, features]`, one unit direction per row, by decreasing variance.
    pub components: DMatrix<f64>,
    /// Share of the total variance along each component.
    pub explained: Vec<f64>,
}

impl Pca {
    /// Fits `k` components to the rows of `x` (`[n, features]`).
    pub fn fit(x: &DMatrix<f64>, k: usize) -> Pca {
        let n = x.nrows().max(2) as f64;
        let mean = DVector::from_iterator(x.ncols(), x.column_iter().map(|c| c.sum() / x.nrows().max(1) as f64));
        let centred = DMatrix::from_fn(x.nrows(), x.ncols(), |r, c| x[(r, c)] - mean[c]);
        let cov = centred.transpose() * &centred / (n - 1.0);
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let total: f64 = eig.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let k = k.min(order.len());
        let components = DMatrix::from_fn(k, x.ncols(), |r, c| eig.eigenvectors[(c, order[r])]);
        let explained =
            order[..k].iter().map(|&i| eig.eigenvalues[i].max(0.0) / total.max(f64::MIN_POSITIVE)).collect();
        Pca { mean, components, explained }
    }

    /// Coordinates of the rows of `x` along the components (`[n, k]`).
    pub fn project(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let centred = DMatrix::from_fn(x.nrows(), x.ncols(), |r, c| x[(r, c)] - self.mean[c]);
        centred * self.components.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_on_a_line_have_one_component() {
        // Rows t·(1, 2, 2)/3 + (5, 0, 0): all variance along (1, 2, 2)/3.
        let x = DMatrix::from_fn(20, 3, |r, c| r as f64 * [1.0, 2.0, 2.0][c] / 3.0 + if c == 0 { 5.0 } else { 0.0 });
        let p = Pca::fit(&x, 2);
        assert!((p.explained[0] - 1.0).abs() < 1e-9 && p.explained[1].abs() < 1e-9, "{:?}", p.explained);
        let d = p.components.row(0);
        assert!((d[0].abs() - 1.0 / 3.0).abs() < 1e-9 && (d[1].abs() - 2.0 / 3.0).abs() < 1e-9);
        // Projections keep distances along the line: consecutive rows are 1 apart.
        let y = p.project(&x);
        assert!(((y[(1, 0)] - y[(0, 0)]).abs() - 1.0).abs() < 1e-9);
    }
}
