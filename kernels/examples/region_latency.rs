//! What a two-way rayon region costs beyond its work when it follows a stretch of serial work on
//! the calling thread, with and without `awake::keep_awake` after each region (see `awake`).
//!     cargo run -p trajrnn-kernels --example region_latency
use std::time::{Duration, Instant};

use rayon::prelude::*;
use trajrnn_kernels::awake::{keep_awake, spin_window};

/// Busy for `us` microseconds (serial work).
fn busy(us: f64) {
    let t = Instant::now();
    while t.elapsed().as_secs_f64() * 1e6 < us {}
}

fn main() {
    const WORK_US: f64 = 50.0;
    println!("spin window {:?} (TRAJRNN_SPIN_US), {} workers", spin_window(), rayon::current_num_threads());
    for awake in [false, true] {
        for serial in [0.0, 20.0, 100.0, 500.0, 2000.0] {
            let mut extra = Vec::new();
            for _ in 0..300 {
                busy(serial);
                let t = Instant::now();
                (0..2).into_par_iter().for_each(|_| busy(WORK_US));
                extra.push(t.elapsed().as_secs_f64() * 1e6 - WORK_US);
                if awake {
                    keep_awake();
                }
            }
            extra.sort_by(f64::total_cmp);
            println!(
                "keep_awake {awake:5}, {serial:5} µs serial before: region {:6.1} µs beyond its work (median), p90 {:6.1}",
                extra[150], extra[270]
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
