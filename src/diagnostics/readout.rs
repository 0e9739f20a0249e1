//! Linear read-outs of hidden states: ridge regression scored by R² on held-out rows, and a
//! softmax (multinomial logistic) probe for labels. Features are standardised with the
//! training rows' statistics; the bias is not penalised.

use nalgebra::{DMatrix, DVector};

/// Per-column mean and std of `x` (a std of 0 becomes 1, so constant features stay finite).
fn moments(x: &DMatrix<f64>) -> (DVector<f64>, DVector<f64>) {
    let n = x.nrows().max(1) as f64;
    let mean = DVector::from_iterator(x.ncols(), x.column_iter().map(|c| c.sum() / n));
    let std = DVector::from_iterator(
        x.ncols(),
        x.column_iter().zip(mean.iter()).map(|(c, m)| {
            let v = c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
            if v > 1e-24 { v.sqrt() } else { 1.0 }
        }),
    );
    (mean, std)
}

/// Standardised features with a trailing column of ones.
fn design(x: &DMatrix<f64>, mean: &DVector<f64>, std: &DVector<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(x.nrows(), x.ncols() + 1, |r, c| if c < x.ncols() { (x[(r, c)] - mean[c]) / std[c] } else { 1.0 })
}

/// A fitted linear map from features to targets.
#[derive(Debug, Clone)]
pub struct Ridge {
    mean: DVector<f64>,
    std: DVector<f64>,
    /// `[features + 1, targets]`.
    w: DMatrix<f64>,
}

impl Ridge {
    /// Least squares with penalty `lambda · rows` on the standardised weights.
    pub fn fit(x: &DMatrix<f64>, y: &DMatrix<f64>, lambda: f64) -> Ridge {
        let (mean, std) = moments(x);
        let a = design(x, &mean, &std);
        let f = x.ncols();
        let mut gram = a.transpose() * &a;
        for i in 0..f {
            gram[(i, i)] += lambda * x.nrows() as f64;
        }
        let rhs = a.transpose() * y;
        let w = gram
            .clone()
            .cholesky()
            .map(|c| c.solve(&rhs))
            .unwrap_or_else(|| gram.pseudo_inverse(1e-12).expect("pseudo-inverse") * rhs);
        Ridge { mean, std, w }
    }

    /// Predictions `[n, targets]` for the rows of `x` (`[n, features]`).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        design(x, &self.mean, &self.std) * &self.w
    }
}

/// Coefficient of determination of `pred` for `y` (all columns pooled): 1 − SSE/SST, SST about
/// `y`'s own column means. 1 is perfect; 0 is no better than the mean; it can be negative.
pub fn r2(y: &DMatrix<f64>, pred: &DMatrix<f64>) -> f64 {
    let n = y.nrows() as f64;
    let mut sse = 0.0;
    let mut sst = 0.0;
    for (c, col) in y.column_iter().enumerate() {
        let m = col.sum() / n;
        for (r, v) in col.iter().enumerate() {
            sse += (v - pred[(r, c)]).powi(2);
            sst += (v - m).powi(2);
        }
    }
    if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN }
}

/// Fits on the training rows and returns R² on the held-out ones.
pub fn heldout_r2(
    train_x: &DMatrix<f64>,
    train_y: &DMatrix<f64>,
    test_x: &DMatrix<f64>,
    test_y: &DMatrix<f64>,
    lambda: f64,
) -> f64 {
    r2(test_y, &Ridge::fit(train_x, train_y, lambda).predict(test_x))
}

/// A multinomial logistic-regression probe.
#[derive(Debug, Clone)]
pub struct SoftmaxProbe {
    mean: DVector<f64>,
    std: DVector<f64>,
    /// `[features + 1, classes]`.
    w: DMatrix<f64>,
}

impl SoftmaxProbe {
    /// Full-batch gradient descent with momentum on the mean cross-entropy plus `l2`·‖W‖²/2,
    /// for `iterations` steps. Convex, so the result does not depend on a seed.
    pub fn fit(x: &DMatrix<f64>, labels: &[usize], classes: usize, l2: f64, iterations: usize) -> SoftmaxProbe {
        let (mean, std) = moments(x);
        let a = design(x, &mean, &std);
        let (n, f) = (a.nrows(), a.ncols());
        let mut w = DMatrix::zeros(f, classes);
        let mut velocity = DMatrix::zeros(f, classes);
        let lr = 0.5;
        for _ in 0..iterations {
            let mut p = softmax_rows(&a * &w);
            for (r, &l) in labels.iter().enumerate() {
                p[(r, l)] -= 1.0;
            }
            let mut grad = a.transpose() * p / n as f64;
            for i in 0..f - 1 {
                for k in 0..classes {
                    grad[(i, k)] += l2 * w[(i, k)];
                }
            }
            velocity = velocity * 0.9 - grad * lr;
            w += &velocity;
        }
        SoftmaxProbe { mean, std, w }
    }

    /// The most probable class of each row of `x` (`[n, features]`).
    pub fn predict(&self, x: &DMatrix<f64>) -> Vec<usize> {
        let scores = design(x, &self.mean, &self.std) * &self.w;
        scores.row_iter().map(|r| r.transpose().argmax().0).collect()
    }
}

fn softmax_rows(mut s: DMatrix<f64>) -> DMatrix<f64> {
    for mut row in s.row_iter_mut() {
        let m = row.max();
        row.apply(|v| *v = (*v - m).exp());
        let z = row.sum();
        row /= z;
    }
    s
}

/// Accuracy per class (`None` where the class has no row) and overall.
pub fn accuracy(pred: &[usize], truth: &[usize], classes: usize) -> (Vec<Option<f64>>, f64) {
    let mut hit = vec![0usize; classes];
    let mut total = vec![0usize; classes];
    for (&p, &t) in pred.iter().zip(truth) {
        total[t] += 1;
        hit[t] += (p == t) as usize;
    }
    let per = hit.iter().zip(&total).map(|(&h, &n)| (n > 0).then(|| h as f64 / n as f64)).collect();
    (per, hit.iter().sum::<usize>() as f64 / truth.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::rng::SplitMix64;

    fn random(rows: usize, cols: usize, rng: &mut SplitMix64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |_, _| rng.normal())
    }

    #[test]
    fn ridge_recovers_a_linear_map_and_scores_noise_near_zero() {
        let mut rng = SplitMix64::new(1);
        let a = random(4, 2, &mut rng);
        let (xtr, xte) = (random(300, 4, &mut rng), random(200, 4, &mut rng));
        let (ytr, yte) = (&xtr * &a, &xte * &a);
        assert!(heldout_r2(&xtr, &ytr, &xte, &yte, 1e-9) > 0.999999);
        // Targets independent of the features: nothing to read out on held-out rows.
        let (ntr, nte) = (random(300, 2, &mut rng), random(200, 2, &mut rng));
        let r = heldout_r2(&xtr, &ntr, &xte, &nte, 1e-3);
        assert!(r < 0.03 && r > -0.1, "{r}");
        // R² by hand: predicting the mean scores 0, a perfect prediction 1.
        let y = DMatrix::from_row_slice(3, 1, &[1.0, 2.0, 3.0]);
        assert_eq!(r2(&y, &DMatrix::from_element(3, 1, 2.0)), 0.0);
        assert_eq!(r2(&y, &y), 1.0);
    }

    #[test]
    fn softmax_probe_separates_linearly_separable_classes() {
        let mut rng = SplitMix64::new(2);
        let x = random(600, 3, &mut rng);
        // Three classes by which of two linear functions is larger or both negative.
        let label = |r: usize| {
            let (u, v) = (x[(r, 0)] + 0.5 * x[(r, 1)], x[(r, 2)] - x[(r, 0)]);
            if u < 0.0 && v < 0.0 {
                2
            } else if u > v {
                0
            } else {
                1
            }
        };
        let labels: Vec<usize> = (0..600).map(label).collect();
        let probe = SoftmaxProbe::fit(&x, &labels, 3, 1e-6, 800);
        let (per, all) = accuracy(&probe.predict(&x), &labels, 3);
        assert!(all > 0.95, "{all} {per:?}");
        assert_eq!(accuracy(&[0, 1, 1], &[0, 1, 0], 3), (vec![Some(0.5), Some(1.0), None], 2.0 / 3.0));
    }
}
