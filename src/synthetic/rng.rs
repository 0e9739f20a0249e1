//! A small seeded generator whose sequence is fixed by this file alone (SplitMix64), so a
//! dataset generated today is regenerated bit for bit by any later build, whatever version of
//! `rand` the build links.

/// The SplitMix64 generator: 64 bits of state, advanced by a fixed odd constant per draw.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream starting from `seed` (any value, 0 included).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// An independent stream for item `index` of a run seeded with `seed` (e.g. one episode).
    pub(crate) fn for_item(seed: u64, index: u64) -> Self {
        let mut mixer = Self(seed ^ 0x5851_f42d_4c95_7f2d);
        let base = mixer.next_u64();
        Self(base ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 random bits.
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller; one of the pair is dropped to keep the stream simple).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]: ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `true` or `false` with equal probability.
    #[cfg_attr(not(feature = "experiments"), allow(dead_code))]
    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_fixed_and_uniform_is_in_range() {
        // SplitMix64's published first output for seed 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        let mut r = SplitMix64::for_item(7, 3);
        let xs: Vec<f64> = (0..10_000).map(|_| r.uniform()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let mut n = SplitMix64::new(1);
        let zs: Vec<f64> = (0..20_000).map(|_| n.normal()).collect();
        let m = zs.iter().sum::<f64>() / zs.len() as f64;
        let v = zs.iter().map(|z| (z - m).powi(2)).sum::<f64>() / zs.len() as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.05, "mean {m} var {v}");
        assert_ne!(SplitMix64::for_item(7, 3).next_u64(), SplitMix64::for_item(7, 4).next_u64());
    }
}
