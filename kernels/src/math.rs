//! Elementwise activations over slices, written so the compiler vectorises them: a branch-free
//! `exp` (Cephes' polynomial after range reduction to [−ln2/2, ln2/2], ~1 ulp), from which
//! `sigmoid` and `tanh` follow. libm's `expf`/`tanhf` are scalar calls and were the bottleneck of
//! the cell's elementwise part.
//!
//! Callers compile these inside functions with wider SIMD enabled (see the crate-private `multiversion!` macro); they
//! are `#[inline(always)]` so they take on the caller's target features.

/// `e^x` for one lane, branch-free.
#[inline(always)]
fn exp_lane(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Round to nearest by adding 1.5·2²³: the sum's low mantissa bits hold n as an integer, so
    // neither a rounding call nor a float→int conversion (both block vectorisation) is needed.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n through the exponent bits (n is in [−126, 127] after the clamp).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    y * scale
}

/// `σ(x) = 1 / (1 + e^−x)` for one value, from the branch-free `exp` (within 2e-7 of libm).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_lane(-x))
}

/// `tanh(x)` for one value, as `2σ(2x) − 1` (within 3e-7 of libm).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    // tanh(x) = 2σ(2x) − 1; the absolute error stays ~1e-7 near 0.
    2.0 / (1.0 + exp_lane(-2.0 * x)) - 1.0
}

/// `x ← σ(x)` over a slice. One simple loop per pass is what the loop vectoriser handles
/// reliably; fused multi-slice loops stayed scalar.
#[inline(always)]
pub fn sigmoid_slice(x: &mut [f32]) {
    for v in x {
        *v = sigmoid(*v);
    }
}

/// `x ← tanh(x)` over a slice.
#[inline(always)]
pub fn tanh_slice(x: &mut [f32]) {
    for v in x {
        *v = tanh(*v);
    }
}

/// `y = σ(x + b)` over slices: the gates' bias added in the activation's pass instead of a pass
/// of its own.
#[inline(always)]
pub fn sigmoid_bias_into(y: &mut [f32], x: &[f32], b: &[f32]) {
    let (x, b) = (&x[..y.len()], &b[..y.len()]);
    for ((y, x), b) in y.iter_mut().zip(x).zip(b) {
        *y = sigmoid(x + b);
    }
}

/// `y = tanh(x + b)` over slices.
#[inline(always)]
pub fn tanh_bias_into(y: &mut [f32], x: &[f32], b: &[f32]) {
    let (x, b) = (&x[..y.len()], &b[..y.len()]);
    for ((y, x), b) in y.iter_mut().zip(x).zip(b) {
        *y = tanh(x + b);
    }
}

/// `x ← tanh(x + b)` over a slice.
#[inline(always)]
pub fn tanh_bias_slice(x: &mut [f32], b: &[f32]) {
    let b = &b[..x.len()];
    for (v, b) in x.iter_mut().zip(b) {
        *v = tanh(*v + b);
    }
}

/// Which SIMD width the kernels were compiled for on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// x86-64 with AVX-512F/VL, AVX2 and FMA.
    Avx512,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// Whatever the target enables by default (e.g. SSE2, or NEON on aarch64).
    Baseline,
}

/// The widest SIMD this CPU runs (detected once).
pub fn simd_level() -> SimdLevel {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                return SimdLevel::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return SimdLevel::Avx2;
            }
        }
        SimdLevel::Baseline
    })
}

/// Defines `fn $name(args) -> ret` that calls `$inner(args)` compiled for the widest SIMD level
/// this CPU has: `$inner` and the `#[inline(always)]` helpers it calls are instantiated inside
/// functions with those target features, so the compiler vectorises them for AVX-512 or AVX2
/// while the binary still runs on any x86-64 (or other) CPU.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $inner:path) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                match $crate::math::simd_level() {
                    // SAFETY: the CPU was checked to support these features.
                    $crate::math::SimdLevel::Avx512 => unsafe { avx512($($arg),*) },
                    $crate::math::SimdLevel::Avx2 => unsafe { avx2($($arg),*) },
                    $crate::math::SimdLevel::Baseline => $inner($($arg),*),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                $inner($($arg),*)
            }
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_libm() {
        let mut worst = (0f32, 0f32, 0f32);
        for i in -40_000..=40_000 {
            let x = i as f32 * 5e-4;
            let e = (tanh(x) - x.tanh()).abs();
            let s = (sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs();
            let r = ((exp_lane(x) - x.exp()) / x.exp()).abs();
            worst = (worst.0.max(e), worst.1.max(s), worst.2.max(r));
        }
        assert!(worst.0 < 3e-7 && worst.1 < 2e-7 && worst.2 < 3e-7, "{worst:?}");
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert!(sigmoid(-200.0) < 1e-30 && sigmoid(200.0) == 1.0);
        assert!(exp_lane(-1000.0) >= 0.0 && exp_lane(1000.0).is_finite());
    }
}
