//! Input and target encoding. Inputs are the state standardised by its training mean/std plus
//! the last change of state standardised by the std of changes; targets are the next change of
//! state in the same units. Velocity-sized signals get their own scale: at 100 Hz a frame-to-frame
//! change is ~1e-3 of the state's range and would vanish under the state's std.

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Segment};
use crate::error::{Error, Result};

/// Smallest std used to divide by, so a channel that never moves in training stays finite.
const MIN_STD: f32 = 1e-6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Std of the frame-to-frame change of each channel.
    pub delta_std: Vec<f32>,
}

impl Normalizer {
    /// Fits the statistics on the given (training) segments only.
    pub fn fit(dataset: &Dataset, segments: &[Segment]) -> Result<Self> {
        let dim = dataset.dim();
        let mut sum = vec![0f64; dim];
        let mut sum_sq = vec![0f64; dim];
        let mut d_sum = vec![0f64; dim];
        let mut d_sum_sq = vec![0f64; dim];
        let (mut n, mut n_delta) = (0usize, 0usize);
        for seg in segments {
            let episode = &dataset.episodes[seg.episode];
            for t in seg.frames.clone() {
                let q = episode.frame(t);
                for c in 0..dim {
                    let v = q[c] as f64;
                    sum[c] += v;
                    sum_sq[c] += v * v;
                }
                n += 1;
                if t > seg.frames.start {
                    let p = episode.frame(t - 1);
                    for c in 0..dim {
                        let d = (q[c] - p[c]) as f64;
                        d_sum[c] += d;
                        d_sum_sq[c] += d * d;
                    }
                    n_delta += 1;
                }
            }
        }
        if n_delta == 0 {
            return Err(Error::Config("cannot fit normalisation: the training split has fewer than 2 frames".into()));
        }
        let stats = |s: &[f64], ss: &[f64], n: usize| -> (Vec<f32>, Vec<f32>) {
            s.iter()
                .zip(ss)
                .map(|(&s, &ss)| {
                    let mean = s / n as f64;
                    let var = (ss / n as f64 - mean * mean).max(0.0);
                    (mean as f32, (var.sqrt() as f32).max(MIN_STD))
                })
                .unzip()
        };
        let (mean, std) = stats(&sum, &sum_sq, n);
        let (_, delta_std) = stats(&d_sum, &d_sum_sq, n_delta);
        Ok(Self { mean, std, delta_std })
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Model input width: standardised state and standardised last change.
    pub fn input_dim(&self) -> usize {
        2 * self.dim()
    }

    /// Writes the model input for frame `cur` (with its predecessor `prev`) into `out`.
    pub fn encode_input(&self, prev: &[f32], cur: &[f32], out: &mut [f32]) {
        let d = self.dim();
        for c in 0..d {
            out[c] = (cur[c] - self.mean[c]) / self.std[c];
            out[d + c] = (cur[c] - prev[c]) / self.delta_std[c];
        }
    }

    /// Writes the training target for the step `cur` → `next` into `out`.
    pub fn encode_target(&self, cur: &[f32], next: &[f32], out: &mut [f32]) {
        for c in 0..self.dim() {
            out[c] = (next[c] - cur[c]) / self.delta_std[c];
        }
    }

    /// The next state predicted from `cur` and a model output `y` (the inverse of `encode_target`).
    pub fn decode_step(&self, cur: &[f32], y: &[f32], out: &mut [f32]) {
        for c in 0..self.dim() {
            out[c] = cur[c] + y[c] * self.delta_std[c];
        }
    }
}
