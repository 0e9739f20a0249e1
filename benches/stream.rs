//! End-to-end streaming through [`Predictor`]: one control tick is `observe` (state only) or
//! `observe_with` (state and command), on the host model with the encoding around it, for
//! checkpoints trained on the same synthetic pick-and-place data with and without its commands
//! and with one or three ensemble members. The runs alternate in blocks, so drift of a shared
//! machine hits all of them alike; the ratios are the result. One JSON line per predictor.
//!
//!     cargo bench --bench stream                     # release profile
//!     cargo test --bench stream                      # the dev profile the example runs under
//!     cargo bench --bench stream -- --ticks 200000   # more ticks per predictor

use std::time::Instant;

use trajrnn::Predictor;
use trajrnn::run::{self, RunConfig, TrainOptions};
use trajrnn::synthetic::{Generator, GeneratorConfig, Servo};

/// Ticks timed together (one block), and the warm-up before timing.
const BLOCK: usize = 1000;
const WARMUP: usize = 200;

fn main() -> trajrnn::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let ticks: usize =
        args.iter().position(|a| a == "--ticks").and_then(|i| args.get(i + 1)).map_or(20_000, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().map_err(|e| trajrnn::Error::io(std::path::Path::new("tmp"), e))?;
    let config = GeneratorConfig { episodes: 12, servo: Some(Servo::default()), ..GeneratorConfig::default() };
    let mut dataset = Generator::panda(config)?.dataset()?;
    // In memory, the generated data has no folder to find its robot description in; the
    // streaming cost does not depend on it.
    dataset.meta.robot_description = None;
    let episode = dataset.episodes[0].clone();
    // Checkpoints: (name, reads commands, members). One epoch: weights do not change the cost.
    let mut predictors = Vec::new();
    for (name, commands, members) in
        [("state", false, 1), ("commands", true, 1), ("state_x3", false, 3), ("commands_x3", true, 3)]
    {
        let mut c = RunConfig { run_dir: dir.path().join(name), ..RunConfig::default() };
        c.data.encoding.commands = commands;
        c.model.members = members;
        c.train.epochs = 1;
        let trained = run::train_dataset(&c, dataset.clone(), TrainOptions::default(), &mut run::quiet, None)?;
        predictors.push((name, commands, members, Predictor::load_host(&trained.best_checkpoint)?));
    }
    let frames = episode.len();
    let mut nanos = vec![Vec::new(); predictors.len()];
    let mut sink = 0f32;
    for (_, commands, _, p) in &mut predictors {
        for t in 0..WARMUP {
            tick(p, *commands, &episode, t % frames, &mut sink)?;
        }
    }
    for block in 0..ticks.div_ceil(BLOCK) {
        for (i, (_, commands, _, p)) in predictors.iter_mut().enumerate() {
            let started = Instant::now();
            for k in 0..BLOCK {
                tick(p, *commands, &episode, (block * BLOCK + k) % frames, &mut sink)?;
            }
            nanos[i].push(started.elapsed().as_nanos() as f64 / BLOCK as f64);
        }
    }
    let median = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let base = median(&nanos[0]);
    for (i, (name, commands, members, _)) in predictors.iter().enumerate() {
        let m = median(&nanos[i]);
        println!(
            "{}",
            serde_json::json!({"predictor": name, "commands": commands, "members": members, "hidden": 64,
                "tick_us_median_of_blocks": m / 1e3, "ratio_to_state": m / base, "ticks": ticks})
        );
    }
    std::hint::black_box(sink);
    Ok(())
}

/// One control tick at frame `t`: observe the state (with its command) and read the prediction.
fn tick(
    p: &mut Predictor,
    commands: bool,
    e: &trajrnn::data::Episode,
    t: usize,
    sink: &mut f32,
) -> trajrnn::Result<()> {
    let out = if commands { p.observe_with(e.frame(t), e.command(t))? } else { p.observe(e.frame(t))? };
    if let Some(next) = out {
        *sink += next[0];
    }
    Ok(())
}
