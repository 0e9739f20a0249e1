//! Which windows go into which optimiser step.
//!
//! Full BPTT (the default): every window starts from the zero state; the windows are shuffled
//! each epoch and cut into batches.
//!
//! Truncated BPTT with `k` steps: each training segment is cut into consecutive windows of `k`
//! inputs (a *chain*); the chains are shuffled and dealt to `batch_size` lanes. Step `i` takes
//! the `i`-th window of every lane that still has one; a lane carries its state (detached, so
//! the graph is cut every `k` steps) from one window of a chain to the next and restarts from
//! zero where a new chain begins.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::{Segment, Window, window};

/// One optimiser step's windows.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedBatch {
    /// The step's windows, one per batch row.
    pub windows: Vec<Window>,
    /// Truncated BPTT: for each window, the row of the previous step's batch whose state it
    /// continues (`None`: start from zero). Empty for full BPTT.
    pub carry: Vec<Option<usize>>,
}

/// A seed for epoch `epoch` (and step) of a run seeded with `seed`: each epoch's shuffle and
/// dropout masks depend only on these numbers, so a resumed run repeats them exactly.
pub(crate) fn derived_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    // SplitMix64 finaliser over the three numbers.
    let mut z =
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (step as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Full BPTT: the shuffled windows in batches.
pub(crate) fn full_bptt(windows: &[Window], batch_size: usize, seed: u64, epoch: usize) -> Vec<PlannedBatch> {
    let mut order: Vec<usize> = (0..windows.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(derived_seed(seed, epoch, 0)));
    order
        .chunks(batch_size)
        .map(|chunk| PlannedBatch { windows: chunk.iter().map(|&i| windows[i]).collect(), carry: vec![] })
        .collect()
}

/// The chains of consecutive `k`-step windows of every segment.
pub fn chains(segments: &[Segment], k: usize, history: usize) -> Vec<Vec<Window>> {
    segments
        .iter()
        .filter(|s| s.len() >= window::frames_needed(k, history))
        .map(|s| {
            let first = Window { episode: s.episode, start: s.frames.start, context: k, history };
            std::iter::successors(Some(first), |w| Some(w.next()))
                .take_while(|w| w.frames().end <= s.frames.end)
                .collect()
        })
        .collect()
}

/// Truncated BPTT: lanes of chains, one window per lane and step.
pub fn truncated_bptt(chains: &[Vec<Window>], batch_size: usize, seed: u64, epoch: usize) -> Vec<PlannedBatch> {
    let mut order: Vec<usize> = (0..chains.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(derived_seed(seed, epoch, 0)));
    // Deal chains to the shortest lane, so lanes end close together.
    let mut lanes: Vec<Vec<(Window, bool)>> = vec![Vec::new(); batch_size.min(chains.len()).max(1)];
    for i in order {
        let lane = (0..lanes.len()).min_by_key(|&l| lanes[l].len()).expect("at least one lane");
        lanes[lane].extend(chains[i].iter().enumerate().map(|(j, w)| (*w, j == 0)));
    }
    let steps = lanes.iter().map(Vec::len).max().unwrap_or(0);
    let mut batches = Vec::with_capacity(steps);
    let mut previous_rows: Vec<Option<usize>> = vec![None; lanes.len()];
    for step in 0..steps {
        let mut batch = PlannedBatch { windows: vec![], carry: vec![] };
        let mut rows = vec![None; lanes.len()];
        for (l, lane) in lanes.iter().enumerate() {
            if let Some(&(w, starts_chain)) = lane.get(step) {
                rows[l] = Some(batch.windows.len());
                batch.windows.push(w);
                batch.carry.push(if starts_chain { None } else { previous_rows[l] });
            }
        }
        previous_rows = rows;
        batches.push(batch);
    }
    batches
}
