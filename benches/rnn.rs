//! The reference RNN workload, through the library's public API: for each configuration and
//! backend, training throughput (forward, MSE, backward, global clipping at 1.0, Adam; as
//! `../shared/tools/bench/bench_rnn.py` does in PyTorch), batch-1 streaming latency (one step,
//! state carried, prediction read back to the host) and a 1000-step autoregressive rollout.
//! One JSON line per configuration and backend on stdout.
//!
//!     cargo bench --bench rnn                                   # release profile, every configuration
//!     cargo test --bench rnn -- --cell lstm --hidden 128        # the dev profile the example runs under
//!     cargo bench --bench rnn -- --cell gru --hidden 128 --layers 1 --batch 64 --backend flex
//!
//! Backends: `flex` and `ndarray` (burn, training and streaming), `host` (the plain-Rust streaming
//! step alone, no training), `predictor` (`Predictor::observe` end to end: normalise, encode, step,
//! decode, base rule, on a synthetic pick-and-place episode; `--members 3` for the default
//! recipe's ensemble). `--engine step` trains through burn's step loop instead of the fused
//! kernel. `--seq-sweep 16,32,64,128,256` and `--hidden-sweep …` print the cost against T or H.
//! `--spin-ab 0,1000` times the training step under each spin window of the kernels' workers
//! (µs; see `trajrnn::model::kernel::spin_window`), taking turns in one process.
//!
//! `--workload recipe` measures the default recipe's training step instead (`trajrnn train` with
//! `RunConfig::default()`: LSTM-64, one layer, three members, context 64, 32 free-running steps,
//! Adam, clipping at 1.0, dropout as configured) through the library's own step
//! (`trajrnn::train::time_steps`), on a synthetic pick-and-place dataset (12 episodes), per
//! backend (`flex` by default; the fused engine, `--engine` is the reference workload's); three
//! untimed steps, then `--steps` (default 20) timed ones. `tools/recipe_torch.py` is its PyTorch
//! twin. Every line says which workload it measured (`"workload"`).
//!
//!     cargo test --bench rnn -- --workload recipe --steps 20
//!
//! What `train_timesteps_per_s` counts, in both workloads: cell steps (one step of one layer
//! stack, forward and backward) of one window of the batch in one member, per second. A
//! reference step is `batch × seq` of them; a recipe step `batch × (context + rollout_steps − 1)
//! × members`: each window runs `context` teacher-forced steps, then the free-running steps,
//! of which the first is decoded from the last teacher-forced output and each later one from
//! one more cell step on the re-encoded prediction.

use std::time::{Duration, Instant};

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trajrnn::model::kernel::{set_spin_window, spin_window};
use trajrnn::model::{CellKind, Engine, ModelConfig, TrajectoryModel};
use trajrnn::train::clip_global_norm;

#[derive(Debug, Clone, Copy)]
struct Config {
    cell: CellKind,
    hidden: usize,
    layers: usize,
    batch: usize,
    seq: usize,
    features: usize,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// The reference workload: one network on random windows, MSE, clipping, Adam; streaming.
    Reference,
    /// The default recipe's training step, as `trajrnn train` takes it.
    Recipe,
}

struct Options {
    workload: Workload,
    configs: Vec<Config>,
    backends: Vec<String>,
    engine: Engine,
    train_steps: usize,
    stream_steps: usize,
    seq_sweep: Vec<usize>,
    hidden_sweep: Vec<usize>,
    /// Ensemble members of the `predictor` backend's model.
    members: usize,
    /// Spin windows (µs) to compare within one run (`--spin-ab 0,1000`).
    spin_ab: Vec<usize>,
}

fn parse() -> Options {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let list = |name: &str| -> Vec<usize> {
        get(name).map(|v| v.split(',').map(|x| x.parse().expect("a number")).collect()).unwrap_or_default()
    };
    let mut configs = vec![
        Config { cell: CellKind::Rnn, hidden: 128, layers: 1, batch: 64, seq: 64, features: 8 },
        Config { cell: CellKind::Lstm, hidden: 128, layers: 1, batch: 64, seq: 64, features: 8 },
        Config { cell: CellKind::Gru, hidden: 128, layers: 1, batch: 64, seq: 64, features: 8 },
        Config { cell: CellKind::Lstm, hidden: 256, layers: 2, batch: 64, seq: 64, features: 8 },
    ];
    if let Some(c) = get("--cell") {
        let cell: CellKind = c.parse().expect("rnn, lstm or gru");
        configs.retain(|k| k.cell == cell);
        if configs.is_empty() {
            configs.push(Config { cell, hidden: 128, layers: 1, batch: 64, seq: 64, features: 8 });
        }
    }
    for c in &mut configs {
        if let Some(v) = get("--hidden") {
            c.hidden = v.parse().expect("a number");
        }
        if let Some(v) = get("--layers") {
            c.layers = v.parse().expect("a number");
        }
        if let Some(v) = get("--batch") {
            c.batch = v.parse().expect("a number");
        }
        if let Some(v) = get("--seq") {
            c.seq = v.parse().expect("a number");
        }
        if let Some(v) = get("--features") {
            c.features = v.parse().expect("a number");
        }
    }
    if get("--hidden").is_some() || get("--layers").is_some() {
        configs.dedup_by_key(|c| (c.cell, c.hidden, c.layers));
    }
    let workload = match get("--workload").as_deref() {
        None | Some("reference") => Workload::Reference,
        Some("recipe") => Workload::Recipe,
        Some(w) => panic!("unknown workload {w}: reference or recipe"),
    };
    let backends = match get("--backend").as_deref() {
        None | Some("all") if workload == Workload::Recipe => vec!["flex".into()],
        None | Some("all") if cfg!(feature = "ndarray") => vec!["flex".into(), "ndarray".into(), "host".into()],
        None | Some("all") => vec!["flex".into(), "host".into()],
        Some(b) => b.split(',').map(String::from).collect(),
    };
    Options {
        workload,
        configs,
        backends,
        engine: if get("--engine").as_deref() == Some("step") { Engine::StepLoop } else { Engine::Auto },
        // A recipe step costs several reference steps: fewer of them.
        train_steps: get("--steps")
            .map_or(if workload == Workload::Recipe { 20 } else { 30 }, |v| v.parse().expect("a number")),
        stream_steps: get("--stream-steps").map_or(5000, |v| v.parse().expect("a number")),
        seq_sweep: list("--seq-sweep"),
        hidden_sweep: list("--hidden-sweep"),
        members: get("--members").map_or(1, |v| v.parse().expect("a number")),
        spin_ab: list("--spin-ab"),
    }
}

fn model_config(c: &Config) -> ModelConfig {
    ModelConfig {
        cell: c.cell,
        input_dim: c.features,
        hidden: c.hidden,
        layers: c.layers,
        output_dim: c.features,
        dropout: 0.0,
        zero_head: false,
        members: 1,
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let k = ((q / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[k]
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(v, 50.0)
}

/// Median training-step time (ms) on `device`.
fn train_ms(c: &Config, device: &Device, engine: Engine, steps: usize) -> f64 {
    train_ms_by_window(c, device, engine, steps, &[])[0]
}

/// Median training-step times (ms) on `device`, one for each of `spin_windows` (see
/// `trajrnn::model::kernel::spin_window`), which take turns in blocks of five steps: an A/B in
/// one process, which the machine's drift from minute to minute does not bias. With no windows,
/// one median at the window as set.
fn train_ms_by_window(
    c: &Config,
    device: &Device,
    engine: Engine,
    steps: usize,
    spin_windows: &[Duration],
) -> Vec<f64> {
    let device = device.clone().autodiff();
    let mut model = model_config(c).init(&device, 0).with_engine(engine);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut rng = StdRng::seed_from_u64(0);
    // A pool of pre-made windows (input = states[:, :-1], target = states[:, 1:]), made before timing.
    let pool: Vec<(Tensor<3>, Tensor<3>)> = (0..8)
        .map(|_| {
            let n = c.batch * (c.seq + 1) * c.features;
            let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let s = Tensor::<3>::from_data(TensorData::new(v, [c.batch, c.seq + 1, c.features]), &device);
            (s.clone().narrow(1, 0, c.seq), s.narrow(1, 1, c.seq))
        })
        .collect();
    let mut step = |i: usize, model: TrajectoryModel| {
        let (x, y) = &pool[i % pool.len()];
        let loss = (model.forward(x.clone(), None).output - y.clone()).square().mean();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_global_norm(&model, &mut grads, 1.0);
        optim.step(1e-3, model, grads)
    };
    for i in 0..3 {
        model = step(i, model);
    }
    let mut times = vec![Vec::with_capacity(steps); spin_windows.len().max(1)];
    for i in 0..steps * times.len() {
        let turn = (i / 5) % times.len();
        if let Some(&w) = spin_windows.get(turn) {
            set_spin_window(w);
        }
        let t0 = Instant::now();
        model = step(i, model);
        times[turn].push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.iter_mut().map(|t| median(t)).collect()
}

/// Batch-1 streaming through burn: per-step latencies (µs) and a 1000-step rollout (ms).
fn stream_burn(c: &Config, device: &Device, steps: usize) -> (Vec<f64>, f64) {
    let model = model_config(c).init(device, 0);
    let mut state = model.zero_state(1, device);
    let mut rng = StdRng::seed_from_u64(1);
    let inputs: Vec<Tensor<2>> = (0..steps + 500)
        .map(|_| {
            let v: Vec<f32> = (0..c.features).map(|_| rng.random_range(-1.0..1.0)).collect();
            Tensor::from_data(TensorData::new(v, [1, c.features]), device)
        })
        .collect();
    let mut times = Vec::with_capacity(steps);
    for (i, x) in inputs.into_iter().enumerate() {
        let t0 = Instant::now();
        let (y, next) = model.step(x, state);
        let y = y.into_data().try_into_vec::<f32>().expect("f32"); // read back, as a control loop must
        state = next;
        if i >= 500 {
            times.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        std::hint::black_box(y);
    }
    let t0 = Instant::now();
    let mut x = Tensor::<2>::zeros([1, c.features], device);
    let mut state = model.zero_state(1, device);
    for _ in 0..1000 {
        let (y, next) = model.step(x, state);
        let host = y.into_data().try_into_vec::<f32>().expect("f32");
        x = Tensor::from_data(TensorData::new(host, [1, c.features]), device);
        state = next;
    }
    (times, t0.elapsed().as_secs_f64() * 1e3)
}

/// Batch-1 streaming through the plain-Rust host model.
fn stream_host(c: &Config, steps: usize) -> (Vec<f64>, f64) {
    let device = Device::flex();
    let host = trajrnn::model::kernel::host::from_model(&model_config(c).init(&device, 0));
    let mut state = host.zero_state();
    let mut rng = StdRng::seed_from_u64(1);
    let inputs: Vec<Vec<f32>> =
        (0..steps + 500).map(|_| (0..c.features).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
    let mut out = vec![0f32; c.features];
    let mut times = Vec::with_capacity(steps);
    for (i, x) in inputs.iter().enumerate() {
        let t0 = Instant::now();
        host.step(x, &mut state, &mut out);
        if i >= 500 {
            times.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        std::hint::black_box(&out);
    }
    let t0 = Instant::now();
    let mut state = host.zero_state();
    let mut x = vec![0f32; c.features];
    for _ in 0..1000 {
        host.step(&x, &mut state, &mut out);
        x.copy_from_slice(&out);
    }
    std::hint::black_box(&x);
    (times, t0.elapsed().as_secs_f64() * 1e3)
}

/// The data of the `predictor` backend and the recipe workload: a synthetic pick-and-place set of
/// 12 Panda episodes.
fn synthetic_pick_and_place() -> trajrnn::data::Dataset {
    use trajrnn::synthetic::{Generator, GeneratorConfig};
    Generator::panda(GeneratorConfig { episodes: 12, ..GeneratorConfig::default() })
        .and_then(|g| g.dataset())
        .expect("the generator runs")
}

/// `Predictor::observe` end to end, one call per control tick over a synthetic pick-and-place
/// episode (cycled; the predictor reset at each pass): per-call latencies (µs) and a 1000-frame
/// `rollout` (ms). The encoding is fitted on the data as training does; the weights are the
/// untrained ones (the cost does not depend on them).
/// Also returns the model's input width (the encoded frame).
fn stream_predictor(c: &Config, members: usize, steps: usize) -> (Vec<f64>, f64, usize) {
    use trajrnn::run::RunConfig;
    let config = RunConfig::default();
    let dataset = synthetic_pick_and_place();
    let prepared = trajrnn::train::prepare(
        &dataset,
        &config.data.split,
        config.data.window(),
        &config.baselines,
        config.data.encoding,
    )
    .expect("the synthetic data prepares");
    let model = ModelConfig {
        input_dim: prepared.encoding.input_dim(),
        output_dim: prepared.encoding.dim(),
        members,
        ..model_config(c)
    }
    .init(&Device::flex(), 0);
    let features = prepared.encoding.input_dim();
    let data = trajrnn::checkpoint::DataInfo::of(&dataset, false);
    let mut predictor = trajrnn::Predictor::from_model(&model, prepared.encoding, data);
    let episode = &dataset.episodes[0];
    let mut times = Vec::with_capacity(steps);
    let mut sink = 0f32;
    for i in 0..steps + 500 {
        let t = i % episode.len();
        if t == 0 {
            predictor.reset();
        }
        let t0 = Instant::now();
        let next = predictor.observe(episode.frame(t)).expect("a finite frame");
        if let Some(next) = next {
            sink += next[0];
        }
        if i >= 500 {
            times.push(t0.elapsed().as_secs_f64() * 1e6);
        }
    }
    std::hint::black_box(sink);
    let t0 = Instant::now();
    let rolled = predictor.rollout(1000).expect("a rollout");
    std::hint::black_box(rolled);
    (times, t0.elapsed().as_secs_f64() * 1e3, features)
}

/// The default recipe's training step on `backend`: `warmup` untimed steps, then `steps` timed.
fn recipe(backend: &str, warmup: usize, steps: usize) {
    use trajrnn::run::RunConfig;
    use trajrnn::train::StepTiming;
    let config = RunConfig::default();
    let device = device_of(backend).unwrap_or_else(|| panic!("the recipe trains on flex or ndarray, not {backend}"));
    // What `trajrnn train` does with the data before training.
    let (dataset, _) = config.training_data(synthetic_pick_and_place()).expect("the data resamples");
    let prepared = config.prepare(&dataset).expect("the synthetic data prepares");
    let model = trajrnn::run::model_config(&config, &prepared);
    let set = prepared.training_set(&dataset);
    let times = trajrnn::train::time_steps(&model, set, &config.train, &device, warmup, steps).expect("the steps run");
    let ms = |f: fn(&StepTiming) -> f64| median(&mut times.iter().map(|t| f(t) * 1e3).collect::<Vec<_>>());
    let (step_ms, gather_ms) = (ms(|t| t.seconds), ms(|t| t.gather_seconds));
    let t = &config.train;
    let timesteps = t.batch_size * (config.data.context + t.rollout_steps.saturating_sub(1)) * model.members;
    let layout = prepared.encoding.layout();
    let json = serde_json::json!({
        "workload": "recipe",
        "cell": model.cell.to_string(), "hidden": model.hidden, "layers": model.layers, "batch": t.batch_size,
        "seq": config.data.context, "features": model.input_dim, "backend": backend, "engine": "auto",
        "train_step_ms_median": step_ms, "train_timesteps_per_s": timesteps as f64 / (step_ms / 1e3),
        "stream_us_median": null, "stream_us_p99": null, "rollout_1000_ms": null,
        "members": model.members,
        "threads": rayon::current_num_threads(), "spin_us": spin_window().as_micros() as u64,
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
        "context": config.data.context, "rollout_steps": t.rollout_steps, "timesteps_per_step": timesteps,
        "gather_ms_median": gather_ms, "steps": times.len(), "warmup": warmup,
        "output_dim": model.output_dim, "dropout": model.dropout, "clip_norm": t.clip_norm,
        "optimizer": format!("{:?}", t.optimizer), "learning_rate": t.learning_rate,
        "history": layout.history, "command_dim": layout.command_dim, "command_lags": layout.command_lags,
        "lag_len": layout.lag_len(), "train_windows": prepared.train.len(),
    });
    println!("{json}");
}

fn device_of(backend: &str) -> Option<Device> {
    match backend {
        "flex" => Some(Device::flex()),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        "ndarray" => Some(Device::ndarray()),
        _ => None,
    }
}

fn report(
    c: &Config,
    backend: &str,
    train: Option<f64>,
    stream: Option<(Vec<f64>, f64)>,
    engine: Engine,
    members: usize,
) {
    let ts = train.map(|ms| (c.batch * c.seq) as f64 / (ms / 1e3));
    let (med, p99, roll) = match stream {
        Some((mut t, roll)) => {
            t.sort_by(f64::total_cmp);
            (Some(percentile(&t, 50.0)), Some(percentile(&t, 99.0)), Some(roll))
        }
        None => (None, None, None),
    };
    let json = serde_json::json!({
        "workload": "reference",
        "cell": c.cell.to_string(), "hidden": c.hidden, "layers": c.layers, "batch": c.batch,
        "seq": c.seq, "features": c.features, "backend": backend,
        "engine": if engine == Engine::StepLoop { "step" } else { "auto" },
        "train_step_ms_median": train, "train_timesteps_per_s": ts,
        "stream_us_median": med, "stream_us_p99": p99, "rollout_1000_ms": roll,
        "members": members,
        "threads": rayon::current_num_threads(), "spin_us": spin_window().as_micros() as u64,
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
    });
    println!("{json}");
}

fn main() {
    let o = parse();
    // What `trajrnn::train::train` does before training.
    trajrnn::heap::keep_freed_memory();
    if o.workload == Workload::Recipe {
        for backend in &o.backends {
            recipe(backend, 3, o.train_steps);
        }
        return;
    }
    if !o.spin_ab.is_empty() {
        let windows: Vec<Duration> = o.spin_ab.iter().map(|&us| Duration::from_micros(us as u64)).collect();
        let device = device_of(&o.backends[0]).unwrap_or_else(Device::flex);
        for c in &o.configs {
            let medians = train_ms_by_window(c, &device, o.engine, o.train_steps, &windows);
            for (&w, ms) in windows.iter().zip(medians) {
                set_spin_window(w);
                report(c, &o.backends[0], Some(ms), None, o.engine, 1);
            }
        }
        return;
    }
    if !o.seq_sweep.is_empty() || !o.hidden_sweep.is_empty() {
        let base = o.configs[0];
        let device = device_of(&o.backends[0]).unwrap_or_else(Device::flex);
        let variants: Vec<Config> = o
            .seq_sweep
            .iter()
            .map(|&seq| Config { seq, ..base })
            .chain(o.hidden_sweep.iter().map(|&hidden| Config { hidden, ..base }))
            .collect();
        for c in variants {
            let ms = train_ms(&c, &device, o.engine, o.train_steps);
            report(&c, &o.backends[0], Some(ms), None, o.engine, 1);
        }
        return;
    }
    for c in &o.configs {
        for backend in &o.backends {
            match device_of(backend) {
                Some(device) => {
                    let train = train_ms(c, &device, o.engine, o.train_steps);
                    let stream = stream_burn(c, &device, o.stream_steps);
                    report(c, backend, Some(train), Some(stream), o.engine, 1);
                }
                None if backend == "host" => {
                    report(c, backend, None, Some(stream_host(c, o.stream_steps)), o.engine, 1)
                }
                None if backend == "predictor" => {
                    let (times, roll, features) = stream_predictor(c, o.members, o.stream_steps);
                    report(&Config { features, ..*c }, backend, None, Some((times, roll)), o.engine, o.members);
                }
                None => panic!("unknown backend {backend}: flex, ndarray, host or predictor"),
            }
        }
    }
}
