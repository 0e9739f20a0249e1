//! CPU backends side by side: training-step time and batch-1 streaming latency of the model the
//! example trains, on flex and on ndarray, interleaved round by round so both see the same
//! machine load. Prints one JSON line per backend and measurement, then the ratios.
//!
//!     cargo bench --bench backends                 # release profile
//!     cargo test --bench backends -- --quick       # the dev profile the example runs under

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use trajrnn::Backend;
use trajrnn::model::{CellKind, ModelConfig, TrajectoryModel};
use trajrnn::train::clip_global_norm;

const BATCH: usize = 32;
const STEPS: usize = 64;
const FEATURES: usize = 18;
const OUTPUTS: usize = 9;

struct Case {
    backend: Backend,
    device: Device,
    model: Option<TrajectoryModel>,
    optim: burn::optim::ModuleOptimizer,
    x: Tensor<3>,
    y: Tensor<3>,
    train_ms: Vec<f64>,
    stream_us: Vec<f64>,
}

impl Case {
    fn new(backend: Backend, config: &ModelConfig) -> Self {
        let plain = backend.device().expect("backend compiled in");
        let device = plain.autodiff();
        device.seed(0);
        Self {
            backend,
            model: Some(config.init(&device, 0)),
            optim: AdamConfig::new().with_epsilon(1e-8).init(),
            x: Tensor::random([BATCH, STEPS, FEATURES], Distribution::Default, &device),
            y: Tensor::random([BATCH, STEPS, OUTPUTS], Distribution::Default, &device),
            device,
            train_ms: vec![],
            stream_us: vec![],
        }
    }

    fn train_step(&mut self) -> f64 {
        let started = Instant::now();
        let model = self.model.take().unwrap();
        let loss = (model.forward(self.x.clone(), None).output - self.y.clone()).square().mean();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        clip_global_norm(&model, &mut grads, 1.0);
        self.model = Some(self.optim.step(1e-3, model, grads));
        started.elapsed().as_secs_f64() * 1e3
    }

    /// Per-step latency of batch-1 streaming (state carried, prediction read back to the host).
    fn stream(&mut self, steps: usize) -> Vec<f64> {
        let plain = self.device.clone().without_autodiff();
        let model = self.model.as_ref().unwrap().valid();
        let mut state = model.zero_state(1, &plain);
        let input = Tensor::<3>::random([1, 1, FEATURES], Distribution::Default, &plain);
        (0..steps)
            .map(|_| {
                let started = Instant::now();
                let out = model.forward(input.clone(), Some(state.clone()));
                let _ = out.output.into_data().try_into_vec::<f32>().unwrap();
                state = out.state;
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect()
    }
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[((s.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, stream_steps) = if quick { (8, 200) } else { (30, 1000) };
    let mut cases: Vec<Case> = Vec::new();
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::Rnn] {
        let config = ModelConfig {
            cell,
            input_dim: FEATURES,
            hidden: 64,
            layers: 1,
            output_dim: OUTPUTS,
            dropout: 0.0,
            zero_head: false,
        };
        cases.clear();
        for backend in [Backend::Flex, Backend::NdArray].into_iter().filter(|b| b.compiled()) {
            cases.push(Case::new(backend, &config));
        }
        for case in &mut cases {
            case.train_step(); // warm-up
            case.stream(20);
        }
        for _ in 0..rounds {
            for case in &mut cases {
                let ms = case.train_step();
                case.train_ms.push(ms);
            }
        }
        for case in &mut cases {
            case.stream_us = case.stream(stream_steps);
        }
        for case in &cases {
            println!(
                "{{\"cell\":\"{cell}\",\"hidden\":64,\"batch\":{BATCH},\"steps\":{STEPS},\"backend\":\"{}\",\"train_step_ms_median\":{:.3},\"train_timesteps_per_s\":{:.0},\"stream_us_median\":{:.1},\"stream_us_p99\":{:.1}}}",
                case.backend,
                percentile(&case.train_ms, 0.5),
                (BATCH * STEPS) as f64 / percentile(&case.train_ms, 0.5) * 1e3,
                percentile(&case.stream_us, 0.5),
                percentile(&case.stream_us, 0.99)
            );
        }
        if let [flex, nd] = &cases[..] {
            println!(
                "{cell}: ndarray/flex time ratio: training {:.2}x, streaming {:.2}x",
                percentile(&nd.train_ms, 0.5) / percentile(&flex.train_ms, 0.5),
                percentile(&nd.stream_us, 0.5) / percentile(&flex.stream_us, 0.5)
            );
        }
    }
}
