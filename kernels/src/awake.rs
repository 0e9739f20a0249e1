//! Rayon's workers kept awake for a short while after each of the kernels' parallel regions.
//!
//! A training step alternates the kernels' parallel regions with serial stretches on the caller's
//! thread (burn's graph, the loss, clipping, Adam). Rayon's idle workers go to sleep within
//! microseconds, and the next region waits for them to wake: on the 2-core Intel Xeon VM (family 6
//! model 207) the benchmarks ran on, a two-way region cost 120–200 µs more (median) after
//! 0.1–2 ms of serial work than right after another region (`examples/region_latency.rs`), and an
//! LSTM-128 training step runs five of the kernels' regions. OpenMP's threads, which PyTorch's
//! intra-op parallelism uses, spin-wait before they sleep; here each worker spins for
//! [`spin_window`] after a region (1 ms by default), running any job that arrives, then sleeps as
//! before. A spinning worker yields its core to any other thread that wants it (also under
//! `SCHED_FIFO`), so that serial work keeps its core. Training steps with and without, in one process:
//! `docs/records/bench/spin_ab.txt`. `TRAJRNN_SPIN_US` sets the window in microseconds (0: never
//! spin), as does [`set_spin_window`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// When the current window ends, in microseconds since [`epoch`].
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Spinning jobs queued or running.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// The window in microseconds; `u64::MAX` until first read from `TRAJRNN_SPIN_US`.
static WINDOW_US: AtomicU64 = AtomicU64::new(u64::MAX);

/// How long workers spin after a region: [`set_spin_window`]'s, else `TRAJRNN_SPIN_US`
/// microseconds, else 1 ms.
pub fn spin_window() -> Duration {
    let mut us = WINDOW_US.load(Ordering::Relaxed);
    if us == u64::MAX {
        us = std::env::var("TRAJRNN_SPIN_US").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1000);
        // A window set meanwhile wins.
        us = match WINDOW_US.compare_exchange(u64::MAX, us, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => us,
            Err(set) => set,
        };
    }
    Duration::from_micros(us)
}

/// Sets the window (zero: workers never spin), e.g. for a process that shares its cores.
pub fn set_spin_window(window: Duration) {
    WINDOW_US.store((window.as_micros() as u64).min(u64::MAX - 1), Ordering::Relaxed);
}

/// Keeps every worker of the current rayon pool spinning until [`spin_window`] from now.
pub fn keep_awake() {
    let window = spin_window().as_micros() as u64;
    if window == 0 {
        return;
    }
    DEADLINE.fetch_max(now_us() + window, Ordering::Relaxed);
    let workers = rayon::current_num_threads();
    let mut queued = SPINNING.load(Ordering::Relaxed);
    while queued < workers {
        match SPINNING.compare_exchange_weak(queued, queued + 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => {
                rayon::spawn(spin);
                queued += 1;
            }
            Err(now) => queued = now,
        }
    }
}

/// One worker's spin: runs whatever job arrives until the window ends.
fn spin() {
    while now_us() < DEADLINE.load(Ordering::Relaxed) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            std::thread::yield_now();
        }
    }
    SPINNING.fetch_sub(1, Ordering::Relaxed);
}
