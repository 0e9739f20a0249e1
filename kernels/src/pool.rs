//! A small pool of the window-sized buffers the recurrence needs between its forward and its
//! backward (gates, cell states, `[x | h]` rows, pre-activation gradients). Freed buffers above
//! glibc's 32 MiB mapping threshold go back to the kernel and fault in again on the next window
//! (a training step at T = 256 took 3.2× the time of T = 128 instead of 2×); pooled, they are
//! reused.

use std::sync::Mutex;

/// Buffers kept at most, and their total size bound (f32 elements, 1 GiB).
const MAX_BUFFERS: usize = 16;
const MAX_ELEMENTS: usize = 1 << 28;

static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

/// A buffer of `len` elements whose values are unspecified (a previous user's, or zeros): for
/// buffers the caller writes in full before reading. Zeroing the recurrence's window-sized
/// buffers only to overwrite them was 6 % of an LSTM-128 training step (`perf`).
pub(crate) fn take_for_overwrite(len: usize) -> Vec<f32> {
    match reuse(len) {
        Some(mut v) => {
            v.resize(len, 0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// The smallest pooled buffer that holds `len` elements, if any (large ones stay for large
/// requests).
fn reuse(len: usize) -> Option<Vec<f32>> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let best = (0..pool.len()).filter(|&i| pool[i].capacity() >= len).min_by_key(|&i| pool[i].capacity());
    best.map(|i| pool.swap_remove(i))
}

/// Returns a buffer to the pool (dropped if the pool is full).
pub(crate) fn give(v: Vec<f32>) {
    if v.capacity() == 0 {
        return;
    }
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let held: usize = pool.iter().map(Vec::capacity).sum();
    if pool.len() < MAX_BUFFERS && held + v.capacity() <= MAX_ELEMENTS {
        pool.push(v);
    }
}
