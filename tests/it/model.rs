//! The cells compute exactly their textbook formulas, and state carries across calls.

use burn::prelude::*;
use burn::tensor::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use trajrnn::model::{CellKind, Engine, ModelConfig, RecurrentLayer};

use crate::common::device;

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}
fn host1(t: Tensor<1>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Reference step on the host, written from the published equations (PyTorch's docs for
/// LSTM and GRU) with weights in the layer's row-vector layout.
fn reference_step(layer: &RecurrentLayer, x: &[f32], h: &[f32], c: &mut [f32]) -> Vec<f32> {
    let wx = host(layer.w_x.val());
    let wh = host(layer.w_h.val());
    let b = host1(layer.b.val());
    let (i_dim, hid) = (x.len(), h.len());
    let width = b.len();
    let affine = |w: &[f32], v: &[f32], rows: usize| -> Vec<f32> {
        (0..width).map(|j| (0..rows).map(|r| v[r] * w[r * width + j]).sum::<f32>()).collect()
    };
    let xp: Vec<f32> = affine(&wx, x, i_dim).iter().zip(&b).map(|(a, b)| a + b).collect();
    let hp = affine(&wh, h, hid);
    match layer.kind() {
        // h_t = tanh(W_hh·h_{t-1} + W_xh·x_t + b)
        CellKind::Rnn => (0..hid).map(|j| (xp[j] + hp[j]).tanh()).collect(),
        CellKind::Lstm => (0..hid)
            .map(|j| {
                let g = |k: usize| xp[k * hid + j] + hp[k * hid + j];
                let (i, f, cand, o) = (sigmoid(g(0)), sigmoid(g(1)), g(2).tanh(), sigmoid(g(3)));
                c[j] = f * c[j] + i * cand;
                o * c[j].tanh()
            })
            .collect(),
        CellKind::Gru => {
            let b_hn = host1(layer.b_hn.as_ref().unwrap().val());
            (0..hid)
                .map(|j| {
                    let r = sigmoid(xp[j] + hp[j]);
                    let z = sigmoid(xp[hid + j] + hp[hid + j]);
                    let n = (xp[2 * hid + j] + r * (hp[2 * hid + j] + b_hn[j])).tanh();
                    (1.0 - z) * n + z * h[j]
                })
                .collect()
        }
    }
}

#[test]
fn cells_match_their_equations() {
    let dev = device();
    dev.seed(7);
    let (batch, steps, input, hidden) = (2, 5, 3, 4);
    for (kind, engine) in CellKind::ALL.into_iter().flat_map(|k| [(k, Engine::StepLoop), (k, Engine::Fused)]) {
        let layer = RecurrentLayer::new(kind, input, hidden, &dev, &mut StdRng::seed_from_u64(7));
        let x = Tensor::<3>::random([batch, steps, input], Distribution::Uniform(-1.0, 1.0), &dev);
        let (hs, _) = layer.forward(x.clone(), layer.zero_state(batch, &dev), engine);
        let got = hs.into_data().try_into_vec::<f32>().unwrap();
        let xs = x.into_data().try_into_vec::<f32>().unwrap();
        for b in 0..batch {
            let mut h = vec![0f32; hidden];
            let mut c = vec![0f32; hidden];
            for t in 0..steps {
                let x_t = &xs[(b * steps + t) * input..][..input];
                h = reference_step(&layer, x_t, &h, &mut c);
                let g = &got[(b * steps + t) * hidden..][..hidden];
                for j in 0..hidden {
                    assert!((g[j] - h[j]).abs() < 1e-5, "{kind} {engine:?}: b{b} t{t} unit {j}: {} vs {}", g[j], h[j]);
                }
            }
        }
    }
}

#[test]
fn state_carries_across_calls() {
    let dev = device();
    dev.seed(3);
    for cell in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
        let model = config(cell, 4, 6, 2, 3).init(&dev, 0);
        let x = Tensor::<3>::random([3, 10, 4], Distribution::Default, &dev);
        let whole = model.forward(x.clone(), None);
        assert_eq!(whole.output.dims(), [3, 10, 3]);
        assert_eq!(whole.hidden.len(), 2);
        assert_eq!(whole.hidden[1].dims(), [3, 10, 6]);
        let first = model.forward(x.clone().narrow(1, 0, 4), None);
        let second = model.forward(x.narrow(1, 4, 6), Some(first.state));
        let a = whole.output.narrow(1, 4, 6).into_data().try_into_vec::<f32>().unwrap();
        let b = second.output.into_data().try_into_vec::<f32>().unwrap();
        let max = a.iter().zip(&b).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(max < 1e-5, "{cell}: split run differs by {max}");
        // The final hidden state is the last step of the per-step hidden states.
        let last = whole.hidden[1].clone().narrow(1, 9, 1).reshape([3, 6]);
        let diff = (last - whole.state.layers[1].h.clone()).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-6);
    }
}

pub fn config(cell: CellKind, input_dim: usize, hidden: usize, layers: usize, output_dim: usize) -> ModelConfig {
    ModelConfig { cell, input_dim, hidden, layers, output_dim, dropout: 0.0, zero_head: false, members: 1 }
}

/// One step at a time gives what a whole window gives, with the state carried by the caller.
#[test]
fn stepping_matches_the_whole_window() {
    let dev = device();
    dev.seed(9);
    for cell in CellKind::ALL {
        let model = config(cell, 5, 7, 2, 4).init(&dev, 1);
        let x = Tensor::<3>::random([2, 6, 5], Distribution::Default, &dev);
        let whole = model.forward(x.clone(), None).output.into_data().try_into_vec::<f32>().unwrap();
        let mut state = model.zero_state(2, &dev);
        for t in 0..6 {
            let (y, next) = model.step(x.clone().narrow(1, t, 1).reshape([2, 5]), state);
            state = next;
            let y = y.into_data().try_into_vec::<f32>().unwrap();
            for b in 0..2 {
                for j in 0..4 {
                    let w = whole[(b * 6 + t) * 4 + j];
                    assert!((y[b * 4 + j] - w).abs() < 1e-5, "{cell} t{t}: {} vs {w}", y[b * 4 + j]);
                }
            }
        }
    }
}

/// A zero head predicts exactly zero: the model starts as its encoding's physics base.
#[test]
fn zero_head_starts_at_zero() {
    let dev = device();
    let model = ModelConfig { zero_head: true, ..config(CellKind::Lstm, 3, 5, 1, 2) }.init(&dev, 0);
    let y = model.forward(Tensor::<3>::ones([1, 4, 3], &dev), None).output.into_data().try_into_vec::<f32>().unwrap();
    assert!(y.iter().all(|v| *v == 0.0));
}

#[test]
fn sizes_are_checked() {
    let e = config(CellKind::Rnn, 3, 0, 1, 2).validate().unwrap_err().to_string();
    assert!(e.contains("hidden") && e.contains("got 0"), "{e}");
    let e = config(CellKind::Rnn, 3, 100_000, 1, 2).validate().unwrap_err().to_string();
    assert!(e.contains("hidden"), "{e}");
    let e = ModelConfig { dropout: 1.0, ..config(CellKind::Rnn, 3, 4, 2, 2) }.validate().unwrap_err().to_string();
    assert!(e.contains("dropout"), "{e}");
}

#[test]
fn cell_names_parse() {
    assert_eq!("LSTM".parse::<CellKind>().unwrap(), CellKind::Lstm);
    assert_eq!("elman".parse::<CellKind>().unwrap(), CellKind::Rnn);
    assert!("transformer".parse::<CellKind>().unwrap_err().to_string().contains("rnn, lstm or gru"));
}

/// The fused kernel (one operation per layer and window, hand-written backward) and the step
/// loop (burn's autodiff through every operation) give the same outputs and gradients: weights,
/// biases, the head and the initial state, for every cell, one and two layers.
#[test]
fn fused_gradients_match_the_step_loop() {
    let dev = device().autodiff();
    dev.seed(21);
    for cell in CellKind::ALL {
        for layers in [1, 2] {
            let x = Tensor::<3>::random([3, 9, 4], Distribution::Uniform(-1.5, 1.5), &dev);
            let weights = Tensor::<3>::random([3, 9, 2], Distribution::Default, &dev);
            let mut results = Vec::new();
            for engine in [Engine::StepLoop, Engine::Fused] {
                let model = config(cell, 4, 6, layers, 2).init(&dev, 5).with_engine(engine);
                let h0: Vec<Tensor<2>> = (0..layers)
                    .map(|l| Tensor::<2>::full([3, 6], 0.1 * (l as f32 + 1.0), &dev).require_grad())
                    .collect();
                let mut state = model.zero_state(3, &dev);
                for (s, h) in state.layers.iter_mut().zip(&h0) {
                    s.h = h.clone();
                }
                let out = model.forward(x.clone(), Some(state));
                let last = out.state.layers.last().unwrap().h.clone();
                let loss = (out.output * weights.clone()).sum() + last.sum() * 0.5;
                let grads = loss.backward();
                let mut all: Vec<Vec<f32>> = Vec::new();
                for l in &model.layers {
                    all.push(l.w_x.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap());
                    all.push(l.w_h.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap());
                    all.push(l.b.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap());
                    if let Some(b) = &l.b_hn {
                        all.push(b.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap());
                    }
                }
                all.push(model.head.weight.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap());
                for h in &h0 {
                    all.push(h.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap());
                }
                results.push(all);
            }
            for (k, (a, b)) in results[0].iter().zip(&results[1]).enumerate() {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + x.abs()),
                        "{cell} {layers} layer(s), tensor {k}[{i}]: {x} vs {y}"
                    );
                }
            }
        }
    }
}

/// Sizes of one comparison of the fused kernel with the step loop.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    batch: usize,
    hidden: usize,
    steps: usize,
    layers: usize,
}

/// The loss `Σ y·w + ½ Σ h_T + ⅓ Σ c_T` of a window started from non-zero `h₀` (and `c₀` for the
/// LSTM), and its gradients: every weight, both head parameters, `h₀` and `c₀`.
struct Run {
    loss: f32,
    grads: Vec<(String, Vec<f32>)>,
}

fn run_engine(cell: CellKind, s: Sizes, engine: Engine, h0_shift: Option<(usize, f32)>) -> Run {
    let dev = device().autodiff();
    let (inputs, outputs) = (9, 9);
    // Drawn on the host: every call must get the same `x` and `w`, and the backend's generator
    // (`Device::seed`, then `Tensor::random`) is shared with the tests running beside this one,
    // which drew from it in between (the step loop's loss then differed, one run in eight).
    let mut rng = StdRng::seed_from_u64(31);
    let mut draw = |n: usize, lo: f32, hi: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(lo..hi)).collect() };
    let x = Tensor::<3>::from_data(
        TensorData::new(draw(s.batch * s.steps * inputs, -1.5, 1.5), [s.batch, s.steps, inputs]),
        &dev,
    );
    let w = Tensor::<3>::from_data(
        TensorData::new(draw(s.batch * s.steps * outputs, 0.0, 1.0), [s.batch, s.steps, outputs]),
        &dev,
    );
    let model = config(cell, inputs, s.hidden, s.layers, outputs).init(&dev, 5).with_engine(engine);
    let mut state = model.zero_state(s.batch, &dev);
    let mut starts = Vec::new();
    for (l, layer) in state.layers.iter_mut().enumerate() {
        let mut h: Vec<f32> = (0..s.batch * s.hidden).map(|i| 0.3 * ((i * 7 + l * 3) as f32 * 0.37).sin()).collect();
        if let Some((i, d)) = h0_shift.filter(|_| l == 0) {
            h[i] += d;
        }
        let h = Tensor::<2>::from_data(TensorData::new(h, [s.batch, s.hidden]), &dev).require_grad();
        let c = layer.c.as_ref().map(|_| {
            let c: Vec<f32> = (0..s.batch * s.hidden).map(|i| 0.5 * ((i * 5 + l) as f32 * 0.23).cos()).collect();
            Tensor::<2>::from_data(TensorData::new(c, [s.batch, s.hidden]), &dev).require_grad()
        });
        layer.h = h.clone();
        layer.c = c.clone();
        starts.push((h, c));
    }
    let out = model.forward(x, Some(state));
    let last = out.state.layers.last().unwrap();
    let mut loss = (out.output * w.clone()).sum() + last.h.clone().sum() * 0.5;
    if let Some(c) = &last.c {
        loss = loss + c.clone().sum() / 3.0;
    }
    let value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    let vec = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    let mut all = Vec::new();
    for (l, layer) in model.layers.iter().enumerate() {
        all.push((
            format!("layer {l} w_x"),
            layer.w_x.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap(),
        ));
        all.push((
            format!("layer {l} w_h"),
            layer.w_h.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap(),
        ));
        all.push((format!("layer {l} b"), layer.b.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap()));
        if let Some(b) = &layer.b_hn {
            all.push((format!("layer {l} b_hn"), b.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap()));
        }
    }
    all.push((
        "head weight".into(),
        model.head.weight.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap(),
    ));
    let bias = model.head.bias.as_ref().expect("the head has a bias");
    let bias_grad = bias.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    // ∂/∂bias_j of Σ y·w is Σ over batch and steps of w_j, whatever the network.
    let closed = w.clone().sum_dim(0).sum_dim(1).reshape([outputs]).into_data().try_into_vec::<f32>().unwrap();
    for (j, (g, c)) in bias_grad.iter().zip(&closed).enumerate() {
        assert!((g - c).abs() <= 1e-3 * (1.0 + c.abs()), "{cell} {s:?} {engine:?}: head bias {j}: {g} vs Σw {c}");
    }
    all.push(("head bias".into(), bias_grad));
    for (l, (h, c)) in starts.into_iter().enumerate() {
        all.push((format!("h0 of layer {l}"), vec(h.grad(&grads).unwrap())));
        if let Some(c) = c {
            all.push((format!("c0 of layer {l}"), vec(c.grad(&grads).unwrap())));
        }
    }
    Run { loss: value, grads: all }
}

/// The fused kernel against the step loop (outputs through the loss, every gradient), the head
/// bias's gradient against its closed form, and `∂loss/∂h₀` against central differences.
fn compare_engines(s: Sizes, finite_differences: bool) {
    for cell in CellKind::ALL {
        let step = run_engine(cell, s, Engine::StepLoop, None);
        let fused = run_engine(cell, s, Engine::Fused, None);
        let scale = 1e-4 * (1.0 + step.loss.abs());
        assert!((step.loss - fused.loss).abs() <= scale * 10.0, "{cell} {s:?}: loss {} vs {}", step.loss, fused.loss);
        for ((name, a), (_, b)) in step.grads.iter().zip(&fused.grads) {
            let largest = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!((x - y).abs() <= 2e-4 * (1.0 + largest), "{cell} {s:?}, {name}[{i}]: step {x} vs fused {y}");
            }
        }
        if finite_differences {
            // ∂/∂h₀ by central differences on a few coordinates of layer 0's initial state.
            let (_, grad_h0) = fused.grads.iter().find(|(n, _)| n == "h0 of layer 0").unwrap();
            for i in [0, s.batch * s.hidden / 2 + 1, s.batch * s.hidden - 1] {
                let eps = 1e-2;
                let up = run_engine(cell, s, Engine::Fused, Some((i, eps))).loss;
                let down = run_engine(cell, s, Engine::Fused, Some((i, -eps))).loss;
                let fd = (up - down) / (2.0 * eps);
                assert!(
                    (fd - grad_h0[i]).abs() <= 2e-2 * (1.0 + grad_h0[i].abs()),
                    "{cell} {s:?}: ∂loss/∂h0[{i}] = {} by backward, {fd} by finite differences",
                    grad_h0[i]
                );
            }
        }
    }
}

/// Moderate sizes, two layers: every cell, head bias, non-zero initial hidden and cell state,
/// the final cell state in the loss.
#[test]
fn fused_kernel_matches_the_step_loop_and_finite_differences() {
    compare_engines(Sizes { batch: 8, hidden: 32, steps: 16, layers: 2 }, true);
}

/// The benchmark's sizes (batch 64, 64 steps, two layers, hidden 128 and 256): about 3 s.
#[test]
fn fused_kernel_at_benchmark_sizes() {
    for hidden in [128, 256] {
        compare_engines(Sizes { batch: 64, hidden, steps: 64, layers: 2 }, false);
    }
}
