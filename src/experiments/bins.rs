//! The robot's long-range dependency: the Panda holds a cube and a light shows, for the first
//! [`CUE_FRAMES`] frames only, which of two bins it goes into; the arm then keeps moving (random
//! minimum-jerk moves in a region shared by both cases, so the motion says nothing about the
//! bin) for D frames, after which the place motion starts. A model reads the joints and the
//! light and must name the place position at that moment: the robot's version of a sentence
//! whose end depends on its beginning.
//!
//! Sequences start with the cube already in the hand, so that D can be set freely (a full pick
//! before the cue would make D at least the pick's length). The wander of sequence i is drawn
//! once for the longest D; a shorter D takes its prefix.

use burn::prelude::*;

use super::robot::MeanStd;
use crate::error::Result;
use crate::synthetic::motion::{Segment, Waypoint};
use crate::synthetic::plan::{self, TablePose};
use crate::synthetic::rng::SplitMix64;
use crate::synthetic::{Generator, GeneratorConfig, hand_pose};

/// Frames the light is on.
pub(crate) const CUE_FRAMES: usize = 2;
/// The two bins' centres (world x, y; m), left and right of the wander region.
pub(crate) const BINS: [(f64, f64); 2] = [(0.08, -0.36), (0.08, 0.16)];
/// Inputs per frame: 7 joints, 2 fingers, the light (+1 first bin, −1 second, 0 off).
pub(crate) const INPUTS: usize = 10;

/// Sequences for every D up to `max_delay`.
pub(crate) struct BinTask {
    /// `[n, CUE_FRAMES + max_delay, INPUTS]`, standardised (the light is left as is).
    pub(crate) inputs: Vec<f32>,
    /// 0 or 1 per sequence.
    pub(crate) bins: Vec<usize>,
    /// Longest D the sequences hold, in frames (a shorter D takes a prefix).
    pub(crate) max_delay: usize,
}

impl BinTask {
    /// Draws `n` sequences (bins balanced at random) with the synthetic generator's Panda.
    pub(crate) fn generate(n: usize, max_delay: usize, seed: u64) -> Result<Self> {
        let g = Generator::panda(GeneratorConfig { seed, ..GeneratorConfig::default() })?;
        let frames = CUE_FRAMES + max_delay;
        let mut raw = Vec::with_capacity(n * frames * 9);
        let mut bins = Vec::with_capacity(n);
        for i in 0..n {
            let mut rng = SplitMix64::for_item(seed ^ 0xb1, i as u64);
            let bin = rng.coin() as usize;
            let (_, states, _) = wander(&g, frames, &mut rng)?;
            raw.extend_from_slice(&states[..frames * 9]);
            bins.push(bin);
        }
        let stats = MeanStd::of(&raw, 9);
        let mut inputs = Vec::with_capacity(n * frames * INPUTS);
        for (s, &bin) in bins.iter().enumerate() {
            for t in 0..frames {
                let row = &raw[(s * frames + t) * 9..(s * frames + t + 1) * 9];
                inputs.extend(row.iter().enumerate().map(|(c, v)| stats.apply(c, *v)));
                let light = if t < CUE_FRAMES { if bin == 0 { 1.0 } else { -1.0 } } else { 0.0 };
                inputs.push(light);
            }
        }
        Ok(Self { inputs, bins, max_delay })
    }

    /// Sequences `rows` with delay `delay` as `[rows, CUE_FRAMES + delay, INPUTS]`, and their
    /// targets (the bin's position, scaled) as `[rows, 2]`.
    pub(crate) fn batch(&self, rows: &[usize], delay: usize, device: &Device) -> (Tensor<3>, Tensor<2>) {
        let frames = CUE_FRAMES + self.max_delay;
        let steps = CUE_FRAMES + delay.min(self.max_delay);
        let mut x = Vec::with_capacity(rows.len() * steps * INPUTS);
        let mut y = Vec::with_capacity(rows.len() * 2);
        for &r in rows {
            x.extend_from_slice(&self.inputs[r * frames * INPUTS..(r * frames + steps) * INPUTS]);
            y.extend(target(self.bins[r]));
        }
        (
            Tensor::from_data(TensorData::new(x, [rows.len(), steps, INPUTS]), device),
            Tensor::from_data(TensorData::new(y, [rows.len(), 2]), device),
        )
    }
}

/// A bin's place position as a training target: metres from the midpoint between the bins,
/// divided by 0.2 m (so the two targets are about ±1.3 in y).
pub(crate) fn target(bin: usize) -> [f32; 2] {
    let (cx, cy) = ((BINS[0].0 + BINS[1].0) / 2.0, (BINS[0].1 + BINS[1].1) / 2.0);
    [((BINS[bin].0 - cx) / 0.2) as f32, ((BINS[bin].1 - cy) / 0.2) as f32]
}

/// The bin whose target is nearer to a predicted place position.
pub(crate) fn nearest_bin(p: [f32; 2]) -> usize {
    let d = |b: usize| {
        let t = target(b);
        (p[0] - t[0]).powi(2) + (p[1] - t[1]).powi(2)
    };
    (d(1) < d(0)) as usize
}

/// The hand carrying the cube around the wander region for at least `frames` frames.
fn wander(g: &Generator, frames: usize, rng: &mut SplitMix64) -> Result<(Vec<f64>, Vec<f32>, Vec<u16>)> {
    let ws = &g.config.workspace;
    let grip = plan::closed(0.04);
    let point = |rng: &mut SplitMix64| TablePose {
        x: rng.range(-0.04, 0.14),
        y: rng.range(-0.2, 0.0),
        z: ws.table_z + 0.02,
        yaw: rng.range(-0.4, 0.4),
    };
    let start_pose = hand_pose(g, &point(rng), ws.hover + rng.range(0.0, 0.08));
    let mut start = g.start_posture(rng);
    start[7] = grip;
    start[8] = -grip;
    let start = g.solver.solve(&start_pose, &start)?.q;
    let mut segments = Vec::new();
    let mut total = 0.0;
    while total * g.config.rate_hz < frames as f64 + 1.0 {
        let duration = rng.range(0.8, 1.6);
        let to = Waypoint { pose: hand_pose(g, &point(rng), ws.hover + rng.range(0.0, 0.08)), grip };
        segments.push(Segment { phase: plan::TRANSPORT, duration, to });
        total += duration;
    }
    g.render(&start, &segments, rng).map(|r| (r.time, r.states, r.phase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_light_is_the_only_difference_between_the_bins() {
        let task = BinTask::generate(6, 5, 1).unwrap();
        let device = crate::Backend::Flex.device().unwrap();
        let (x, y) = task.batch(&[0, 1, 2], 3, &device);
        assert_eq!(x.dims(), [3, CUE_FRAMES + 3, INPUTS]);
        let x = x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        let y = y.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        for r in 0..3 {
            let light: Vec<f32> = (0..CUE_FRAMES + 3).map(|t| x[(r * (CUE_FRAMES + 3) + t) * INPUTS + 9]).collect();
            let sign = if task.bins[r] == 0 { 1.0 } else { -1.0 };
            assert_eq!(light, [sign, sign, 0.0, 0.0, 0.0]);
            assert_eq!(nearest_bin([y[2 * r], y[2 * r + 1]]), task.bins[r]);
        }
        assert_eq!(nearest_bin(target(0)), 0);
        assert_eq!(nearest_bin(target(1)), 1);
    }
}
