//! Scale benchmark: a 10-million-frame dataset (1 000 episodes × 10 000 frames × 9 channels) in
//! our folder format is generated once, then loaded, inspected and cut into training windows;
//! prints the time of each step, frames per second and the peak memory against the f32 size of
//! the data.
//!
//!     cargo run --release --example scale                 # the README figures
//!     cargo run --example scale -- --episodes 100         # smaller
//!
//! The dataset is written to `target/scale-data/<episodes>x<frames>` (about 1 GB at full size)
//! and reused by later runs. Peak memory is the process's VmHWM from /proc/self/status (Linux).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use trajrnn::baselines::BaselineConfig;
use trajrnn::data::csv_episode::write_episode;
use trajrnn::data::inspect::{InspectConfig, inspect};
use trajrnn::data::{Dataset, DatasetMeta, Episode, SplitConfig, WindowSpec};
use trajrnn::encoding::EncodingConfig;
use trajrnn::train::{gather_batch, prepare};

const CHANNELS: usize = 9;

fn main() -> anyhow::Result<()> {
    let mut episodes = 1000usize;
    let mut frames = 10_000usize;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow::anyhow!("{a} needs a value"));
        match a.as_str() {
            "--episodes" => episodes = value()?.parse()?,
            "--frames" => frames = value()?.parse()?,
            "--dir" => dir = Some(PathBuf::from(value()?)),
            other => anyhow::bail!("unknown argument {other} (--episodes N, --frames N, --dir DIR)"),
        }
    }
    let dir = dir.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/scale-data/{episodes}x{frames}"))
    });
    if !dir.join("dataset.json").is_file() {
        let t = Instant::now();
        generate(&dir, episodes, frames)?;
        println!("generated {} in {:.1} s", dir.display(), t.elapsed().as_secs_f64());
    }
    let bytes: u64 = std::fs::read_dir(dir.join("episodes"))?
        .map(|e| e.map(|e| e.metadata().map_or(0, |m| m.len())))
        .sum::<Result<_, _>>()?;

    let t = Instant::now();
    let ds = Dataset::load(&dir)?;
    let load = t.elapsed().as_secs_f64();
    let total = ds.total_frames();
    let f32_bytes = (total * ds.dim() * 4) as f64;
    println!(
        "load:    {total} frames, {} episodes, {:.0} MB of CSV in {load:.2} s: {:.2} M frames/s, {:.0} MB/s ({} threads)",
        ds.episodes.len(),
        bytes as f64 / 1e6,
        total as f64 / load / 1e6,
        bytes as f64 / load / 1e6,
        rayon::current_num_threads()
    );

    let t = Instant::now();
    let report = inspect(&ds, InspectConfig::default());
    println!(
        "inspect: {:.2} s ({} channels, {} anomalies, measured rate {:.1} Hz)",
        t.elapsed().as_secs_f64(),
        report.channels.len(),
        report.anomalies.len(),
        report.timing.measured_rate_hz.unwrap_or(f64::NAN)
    );

    let t = Instant::now();
    let spec = WindowSpec { context: 64, stride: 4 };
    let prepared = prepare(&ds, &SplitConfig::default(), spec, &BaselineConfig::default(), EncodingConfig::default())?;
    println!(
        "windows: {} training + {} validation windows (context 64, stride 4), encoding fitted, in {:.2} s",
        prepared.train.len(),
        prepared.valid.len(),
        t.elapsed().as_secs_f64()
    );
    // Training gathers each batch from the windows (indices into the episodes) on demand.
    let t = Instant::now();
    let batch = gather_batch(&ds, &prepared.encoding, &prepared.train[..32.min(prepared.train.len())], false);
    println!("batch:   32 × 64 steps gathered in {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    assert_eq!(batch.batch, 32);

    let peak = peak_memory_bytes();
    println!(
        "memory:  peak {:.0} MB (VmHWM) for {:.0} MB of f32 states: {:.2}× (target < 2×)",
        peak as f64 / 1e6,
        f32_bytes / 1e6,
        peak as f64 / f32_bytes
    );
    Ok(())
}

/// Writes the dataset one episode at a time (in parallel), so generating needs little memory.
fn generate(dir: &Path, episodes: usize, frames: usize) -> anyhow::Result<()> {
    let joints: Vec<String> = (0..7).map(|j| format!("j{j}")).collect();
    let meta = DatasetMeta::new("scale", "synthetic", 100.0, joints, vec!["finger_l".into(), "finger_r".into()]);
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("episodes"))?;
    std::fs::write(tmp.join("dataset.json"), serde_json::to_vec_pretty(&meta)?)?;
    (0..episodes).into_par_iter().try_for_each(|e| -> anyhow::Result<()> {
        let time: Vec<f64> = (0..frames).map(|t| t as f64 * 0.01).collect();
        let mut states = Vec::with_capacity(frames * CHANNELS);
        for t in 0..frames {
            let x = t as f32 * 0.01;
            let phase = e as f32 * 0.37;
            for j in 0..7 {
                states.push((x * (0.3 + 0.1 * j as f32) + phase).sin() * 1.2);
            }
            let grip = 0.02 + 0.02 * (x * 0.5 + phase).sin();
            states.extend([grip, -grip]);
        }
        let episode = Episode::new(format!("episode_{e:04}"), "", time, states, CHANNELS);
        let path = tmp.join("episodes").join(format!("episode_{e:04}.csv"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        write_episode(&mut out, &episode, &meta)?;
        out.flush()?;
        Ok(())
    })?;
    std::fs::rename(&tmp, dir)?;
    Ok(())
}

/// The process's peak resident memory (VmHWM), in bytes.
fn peak_memory_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
