//! How a state channel follows the command that drives it: the lag and offset that best explain
//! it (`q[t] ≈ u[t − lag] + offset`). Fitted once here; `inspect` reports it and the
//! lagged-command baseline predicts with it.

use super::{Dataset, Segment};

/// Longest lag considered between a command and the state it drives, frames.
pub const MAX_LAG: usize = 60;

/// The best lag of one command–channel pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LagFit {
    /// Frames by which the state follows the command (`q[t] ≈ u[t − lag] + offset`), 0..=[`MAX_LAG`].
    pub(crate) lag: usize,
    /// Mean of `q[t] − u[t − lag]`.
    pub(crate) offset: f64,
    /// Mean squared `q[t] − u[t − lag] − offset`.
    pub(crate) mse: f64,
    /// Correlation of `q[t]` with `u[t − lag]` (NaN when either is constant).
    pub(crate) correlation: f64,
}

/// Fits the lag (0..=[`MAX_LAG`] frames) and offset of state channel `channel` behind command
/// `command` by least squares over `segments`; `None` when no segment is longer than a frame.
pub(crate) fn fit_lag(dataset: &Dataset, segments: &[Segment], command: usize, channel: usize) -> Option<LagFit> {
    let mut best: Option<LagFit> = None;
    for lag in 0..=MAX_LAG {
        let (mut su, mut sq, mut suu, mut sqq, mut suq, mut n) = (0f64, 0f64, 0f64, 0f64, 0f64, 0usize);
        for s in segments {
            let e = &dataset.episodes[s.episode];
            for t in s.frames.start + lag..s.frames.end {
                let (u, q) = (e.command(t - lag)[command] as f64, e.frame(t)[channel] as f64);
                su += u;
                sq += q;
                suu += u * u;
                sqq += q * q;
                suq += u * q;
                n += 1;
            }
        }
        if n == 0 {
            break;
        }
        let n = n as f64;
        let (mu, mq) = (su / n, sq / n);
        let (vu, vq, cov) = (suu / n - mu * mu, sqq / n - mq * mq, suq / n - mu * mq);
        let mse = (vq + vu - 2.0 * cov).max(0.0);
        let correlation = if vu > 0.0 && vq > 0.0 { cov / (vu * vq).sqrt() } else { f64::NAN };
        if best.is_none_or(|b| mse < b.mse) {
            best = Some(LagFit { lag, offset: mq - mu, mse, correlation });
        }
    }
    best
}
