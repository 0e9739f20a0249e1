//! Throughput of the GEMM shapes the recurrence kernel issues, with its exact strides.
//!     cargo run -p trajrnn-kernels --example gemm_shapes --release
use std::time::Instant;

fn time(name: &str, flops: f64, mut f: impl FnMut()) {
    for _ in 0..3 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name:<50} {:8.1} µs {:7.1} GFLOP/s", best * 1e6, flops / best / 1e9);
}

fn main() {
    let (bs, t, h) = (32usize, 64usize, 128usize);
    let gh = 4 * h;
    let a = vec![0.5f32; 64 * t * gh];
    let w = vec![0.25f32; h * gh];
    let mut d = vec![0f32; 64 * t * gh];
    let fl = |m: usize, n: usize, k: usize| 2.0 * (m * n * k) as f64;
    // Forward: gates(bs rows, stride t*gh) += h_prev(bs rows, stride t*h) · W_h
    time("fwd  [32x128]·[128x512], dst stride T·GH", fl(bs, gh, h), || unsafe {
        gemm::gemm(
            bs,
            gh,
            h,
            d.as_mut_ptr(),
            1,
            (t * gh) as isize,
            true,
            a.as_ptr(),
            1,
            (t * h) as isize,
            w.as_ptr(),
            1,
            gh as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    });
    time("fwd  [32x128]·[128x512], contiguous", fl(bs, gh, h), || unsafe {
        gemm::gemm(
            bs,
            gh,
            h,
            d.as_mut_ptr(),
            1,
            gh as isize,
            true,
            a.as_ptr(),
            1,
            h as isize,
            w.as_ptr(),
            1,
            gh as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    });
    for (k, n) in [(128usize, 128usize), (136, 128), (136, 512), (128, 512), (144, 128)] {
        time(&format!("fwd  [32x{k}]·[{k}x{n}], dst stride T·n, lhs stride T·k"), fl(bs, n, k), || unsafe {
            gemm::gemm(
                bs,
                n,
                k,
                d.as_mut_ptr(),
                1,
                (t * n) as isize,
                false,
                a.as_ptr(),
                1,
                (t * k) as isize,
                w.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        });
    }
    // Backward: dh(bs x h) = dA(bs rows stride t*gh) · W_hᵀ
    time("bwd  [32x512]·W_hᵀ[512x128]", fl(bs, h, gh), || unsafe {
        gemm::gemm(
            bs,
            h,
            gh,
            d.as_mut_ptr(),
            1,
            h as isize,
            false,
            a.as_ptr(),
            1,
            (t * gh) as isize,
            w.as_ptr(),
            gh as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    });
    // dW_h = H_prevᵀ · dA over B·T rows
    time("dW   H_prevᵀ[128x4096]·dA[4096x512] rayon", fl(h, gh, 64 * t), || unsafe {
        gemm::gemm(
            h,
            gh,
            64 * t,
            d.as_mut_ptr(),
            1,
            gh as isize,
            false,
            a.as_ptr(),
            h as isize,
            1,
            a.as_ptr(),
            1,
            gh as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    });
    time("dW   H_prevᵀ[128x4096]·dA[4096x512] 1 thread", fl(h, gh, 64 * t), || unsafe {
        gemm::gemm(
            h,
            gh,
            64 * t,
            d.as_mut_ptr(),
            1,
            gh as isize,
            false,
            a.as_ptr(),
            h as isize,
            1,
            a.as_ptr(),
            1,
            gh as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    });
    time("proj [4096x8]·[8x512] rayon", fl(64 * t, gh, 8), || unsafe {
        gemm::gemm(
            64 * t,
            gh,
            8,
            d.as_mut_ptr(),
            1,
            gh as isize,
            false,
            a.as_ptr(),
            1,
            8,
            w.as_ptr(),
            1,
            gh as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        )
    });
}
