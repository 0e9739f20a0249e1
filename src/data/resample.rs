//! Resampling onto a uniform time grid. A model (and every baseline) predicts the *next frame*;
//! when recordings drop or jitter frames, the next frame's distance in time varies and the
//! frame-to-frame target carries timing noise that no predictor sees. In the bundled Sawyer
//! demonstrations a third of the steps are not 10 ms, and constant velocity's one-step error
//! is 2.7× larger on them than on regular steps.

use crate::data::{Dataset, Episode};
use crate::error::{Error, Result};

/// A step this far (fraction of the period) from the nominal one makes an episode irregular.
pub const TOLERANCE: f64 = 0.01;

/// Whether any step of `episode` differs from the nominal `period` by more than [`TOLERANCE`].
pub(crate) fn is_irregular(episode: &Episode, period: f64) -> bool {
    episode.time.windows(2).any(|w| ((w[1] - w[0]) - period).abs() > TOLERANCE * period)
}

/// The one resampling policy of training and evaluation: every irregular episode resampled onto
/// the dataset's nominal rate, the regular ones as they are. Episode by episode, so that one
/// episode's timing never changes how another is used (a test episode cannot change training).
pub fn resample_irregular(dataset: &Dataset) -> Result<Dataset> {
    let period = 1.0 / dataset.meta.rate_hz;
    if !dataset.episodes.iter().any(|e| is_irregular(e, period)) {
        return Ok(dataset.clone());
    }
    let episodes = dataset
        .episodes
        .iter()
        .map(|e| if is_irregular(e, period) { resample_episode(e, period) } else { e.clone() })
        .collect();
    rebuilt(dataset, dataset.meta.clone(), episodes)
}

/// How many episodes of `dataset` are irregular.
pub fn irregular_episodes(dataset: &Dataset) -> usize {
    let period = 1.0 / dataset.meta.rate_hz;
    dataset.episodes.iter().filter(|e| is_irregular(e, period)).count()
}

fn rebuilt(from: &Dataset, meta: crate::data::DatasetMeta, episodes: Vec<Episode>) -> Result<Dataset> {
    let mut out = Dataset::new(meta, episodes, from.root.as_deref().unwrap_or(std::path::Path::new(".")))?;
    out.root = from.root.clone();
    out.outside_files = from.outside_files;
    out.warnings = from.warnings.clone();
    Ok(out)
}

/// The dataset on a uniform grid at `rate_hz`, from each episode's first timestamp to its last:
/// channels and commands interpolated linearly between the recorded frames, phase labels taken
/// from the frame at or before each grid time.
pub fn resample(dataset: &Dataset, rate_hz: f64) -> Result<Dataset> {
    if !(rate_hz.is_finite() && rate_hz > 0.0) {
        return Err(Error::option("data.resample", format!("rate must be positive, got {rate_hz}")));
    }
    let period = 1.0 / rate_hz;
    let episodes = dataset.episodes.iter().map(|e| resample_episode(e, period)).collect();
    let mut meta = dataset.meta.clone();
    meta.rate_hz = rate_hz;
    rebuilt(dataset, meta, episodes)
}

fn resample_episode(e: &Episode, period: f64) -> Episode {
    let (t0, t1) = (e.time[0], e.time[e.len() - 1]);
    let n = ((t1 - t0) / period + 1e-9).floor() as usize + 1;
    let dim = e.dim;
    let m = e.command_dim();
    let mut states = Vec::with_capacity(n * dim);
    let mut commands = e.commands.as_ref().map(|_| Vec::with_capacity(n * m));
    let mut time = Vec::with_capacity(n);
    let mut phase = e.phase.as_ref().map(|_| Vec::with_capacity(n));
    let mut k = 0; // the recorded frame at or before the grid time
    for i in 0..n {
        let t = t0 + i as f64 * period;
        while k + 1 < e.len() - 1 && e.time[k + 1] <= t {
            k += 1;
        }
        let (a, b) = (k, (k + 1).min(e.len() - 1));
        let w = if b > a { ((t - e.time[a]) / (e.time[b] - e.time[a])).clamp(0.0, 1.0) } else { 0.0 };
        let (qa, qb) = (e.frame(a), e.frame(b));
        states.extend(qa.iter().zip(qb).map(|(x, y)| x + (y - x) * w as f32));
        if let Some(out) = commands.as_mut() {
            let (ua, ub) = (e.command(a), e.command(b));
            out.extend(ua.iter().zip(ub).map(|(x, y)| x + (y - x) * w as f32));
        }
        time.push(t);
        if let (Some(out), Some(labels)) = (phase.as_mut(), e.phase.as_ref()) {
            out.push(labels[if w >= 1.0 { b } else { a }]);
        }
    }
    Episode { name: e.name.clone(), source: e.source.clone(), time, states, dim, phase, commands }
}
