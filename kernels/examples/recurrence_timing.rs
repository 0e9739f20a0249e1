//! Time of the whole-window recurrence kernel alone (forward with cache, backward).
//!     cargo run -p trajrnn-kernels --example recurrence_timing --release -- lstm 128 64 64
use std::time::Instant;

use trajrnn_kernels::Cell;
use trajrnn_kernels::recurrence::{Dims, Weights, backward, forward};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let cell = match a.first().map(String::as_str).unwrap_or("lstm") {
        "rnn" => Cell::Rnn,
        "gru" => Cell::Gru,
        _ => Cell::Lstm,
    };
    let num = |i: usize, d: usize| a.get(i).map_or(d, |v| v.parse().unwrap());
    let (hidden, batch, steps) = (num(1, 128), num(2, 64), num(3, 64));
    let input = num(4, 8);
    let dims = Dims { kind: cell, batch, steps, input, hidden };
    let w = cell.gates() * hidden;
    let x: Vec<f32> = (0..batch * steps * input).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let w_x: Vec<f32> = (0..input * w).map(|i| ((i * 7907) % 1000) as f32 / 5000.0 - 0.1).collect();
    let b = vec![0.01f32; w];
    let w_h: Vec<f32> = (0..hidden * w).map(|i| ((i * 104729) % 1000) as f32 / 10000.0 - 0.05).collect();
    let b_hn = vec![0.1f32; if cell == Cell::Gru { hidden } else { 0 }];
    let h0 = vec![0f32; batch * hidden];
    let c0 = vec![0f32; if cell == Cell::Lstm { batch * hidden } else { 0 }];
    let dhs = vec![0.01f32; batch * steps * hidden];
    let (mut fwd, mut bwd) = (Vec::new(), Vec::new());
    for i in 0..25 {
        let t = Instant::now();
        let weights = Weights { w_x: &w_x, b: &b, w_h: &w_h, b_hn: &b_hn };
        let out = forward(dims, &x, weights, &h0, &c0, true);
        let f = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let g = backward(out.cache.as_ref().unwrap(), &dhs, &[], false);
        let b = t.elapsed().as_secs_f64() * 1e3;
        std::hint::black_box(g);
        if i >= 5 {
            fwd.push(f);
            bwd.push(b);
        }
    }
    fwd.sort_by(f64::total_cmp);
    bwd.sort_by(f64::total_cmp);
    println!(
        "{cell:?} H{hidden} B{batch} T{steps}: forward {:.2} ms, backward {:.2} ms (medians of 20)",
        fwd[10], bwd[10]
    );
}
