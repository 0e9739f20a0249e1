//! Time of the head's products alone (`linear::forward` and `linear::backward` with the input's
//! gradient), at the reference workload's size by default (rows B·T = 4096, 128 → 8).
//!     cargo run -p trajrnn-kernels --example linear_timing -- 4096 128 8
use std::time::Instant;

use trajrnn_kernels::linear::{Dims, backward, forward};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| a.get(i).map_or(d, |v| v.parse().expect("a number"));
    let d = Dims { rows: num(0, 4096), input: num(1, 128), output: num(2, 8) };
    let x: Vec<f32> = (0..d.rows * d.input).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let w: Vec<f32> = (0..d.input * d.output).map(|i| ((i * 7907) % 1000) as f32 / 5000.0 - 0.1).collect();
    let b = vec![0.01f32; d.output];
    let dy: Vec<f32> = (0..d.rows * d.output).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for i in 0..45 {
        let t = Instant::now();
        std::hint::black_box(forward(d, &x, &w, &b));
        let f = t.elapsed().as_secs_f64() * 1e6;
        let t = Instant::now();
        std::hint::black_box(backward(d, &x, &w, &dy, true));
        let g = t.elapsed().as_secs_f64() * 1e6;
        if i >= 5 {
            fwd.push(f);
            bwd.push(g);
        }
    }
    fwd.sort_by(f64::total_cmp);
    bwd.sort_by(f64::total_cmp);
    println!(
        "rows {} {} → {}: forward {:.0} µs, backward {:.0} µs (medians of 40)",
        d.rows, d.input, d.output, fwd[20], bwd[20]
    );
}
