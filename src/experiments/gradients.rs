//! Experiment 4: vanishing against exploding. An Elman RNN whose W_hh is scaled to a spectral
//! radius below, near and above 1: ‖∂L/∂h_t‖ over t at initialisation (loss on the last step of
//! the bin task), then training with and without global-norm clipping on that long-range task,
//! next to LSTM and GRU.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use super::Options;
use super::bins::BinTask;
use super::fit::{FitConfig, FitLog, Optimizer};
use super::long_range::{accuracy, bin_model, train_bins};
use super::plot::{self, Axis, Panel, Series, Style};
use super::table::{Table, num};
use crate::diagnostics::grad_flow::hidden_grad_norms;
use crate::diagnostics::jacobian::trace;
use crate::diagnostics::spectral::{candidate_block, recurrent_radii, with_radius};
use crate::error::Result;
use crate::model::{CellKind, TrajectoryModel};

/// One training run of the comparison.
struct RunSpec {
    cell: CellKind,
    /// Spectral radius W_hh is scaled to (Elman only).
    radius: Option<f64>,
    optimizer: Optimizer,
    clip: Option<f64>,
}

fn model(spec: &RunSpec, hidden: usize, device: &Device, seed: u64) -> TrajectoryModel {
    let mut m = bin_model(spec.cell, hidden, device, seed);
    if let Some(r) = spec.radius {
        m.layers[0] = with_radius(m.layers[0].clone(), r);
    }
    m
}

pub(crate) fn run(o: &Options, device: &Device, png: &Path) -> Result<(String, Vec<PathBuf>)> {
    let delay = o.size(40, 3);
    let hidden = o.size(32, 4);
    let (n_train, n_test) = o.size((512, 256), (16, 8));
    let steps = o.size(400, 2);
    let radii = [0.5, 1.0, 2.0];
    let task = BinTask::generate(n_train + n_test, delay, o.seed)?;
    let train: Vec<usize> = (0..n_train).collect();
    let test: Vec<usize> = (n_train..n_train + n_test).collect();
    let ad = device.clone().autodiff();

    // Gradient flow at initialisation, on the same 64 training sequences for every model.
    let rows: Vec<usize> = (0..64.min(n_train)).collect();
    let (x, y) = task.batch(&rows, delay, device);
    let y_ad = Tensor::<2>::from_data(y.into_data(), &ad);
    let mut flow = Table::new(&[
        "model",
        "ρ(cand.)",
        "‖∂L/∂h_T‖",
        "‖∂L/∂h_T-10‖",
        "‖∂L/∂h_1‖",
        "h_1 / h_T",
        "median ‖∂h_t/∂h_t-1‖",
        "max ‖∂h_t/∂h_t-1‖",
    ]);
    // One training sequence for the per-step Jacobians.
    let (x0, _) = task.batch(&[0], delay, device);
    let x0 = crate::diagnostics::host(x0).into_iter().map(|v| v as f32).collect::<Vec<_>>();
    let mut flow_series = Vec::new();
    let mut init_models: Vec<(String, TrajectoryModel)> = radii
        .iter()
        .map(|&r| {
            let spec = RunSpec { cell: CellKind::Rnn, radius: Some(r), optimizer: Optimizer::Adam, clip: None };
            (format!("rnn ρ={r}"), model(&spec, hidden, device, o.seed))
        })
        .collect();
    for cell in [CellKind::Lstm, CellKind::Gru] {
        init_models.push((cell.to_string(), bin_model(cell, hidden, device, o.seed)));
    }
    for (i, (name, m)) in init_models.iter().enumerate() {
        let head = Tensor::<2>::from_data(m.head.weight.val().into_data(), &ad);
        let bias = Tensor::<1>::from_data(m.head.bias.as_ref().expect("bias").val().into_data(), &ad);
        let target = y_ad.clone();
        let norms = hidden_grad_norms(&m.layers, x.clone(), device, move |hs| {
            let out = hs.last().expect("one step at least").clone().matmul(head) + bias.unsqueeze();
            (out - target).square().mean()
        });
        let n = norms.len();
        let rho = recurrent_radii(&m.layers[0])[candidate_block(m.layers[0].kind())].1;
        let mut steps = trace(&m.layers[0], &x0, device).step_norms;
        steps.sort_by(f64::total_cmp);
        flow.row(vec![
            name.clone(),
            num(rho),
            num(norms[n - 1]),
            num(norms[n.saturating_sub(11)]),
            num(norms[0]),
            num(norms[0] / norms[n - 1]),
            steps.get(steps.len() / 2).map_or("-".into(), |v| num(*v)),
            steps.last().map_or("-".into(), |v| num(*v)),
        ]);
        flow_series.push(Series::new(
            name,
            norms.iter().enumerate().map(|(t, v)| ((t + 1) as f64, *v)).collect(),
            Style::Line,
            i,
        ));
    }

    let mut specs = Vec::new();
    for r in [0.5, 2.0] {
        for clip in [None, Some(1.0)] {
            specs.push(RunSpec { cell: CellKind::Rnn, radius: Some(r), optimizer: Optimizer::Sgd, clip });
        }
    }
    for r in [0.5, 2.0] {
        specs.push(RunSpec { cell: CellKind::Rnn, radius: Some(r), optimizer: Optimizer::Adam, clip: Some(1.0) });
    }
    for cell in [CellKind::Lstm, CellKind::Gru] {
        specs.push(RunSpec { cell, radius: None, optimizer: Optimizer::Adam, clip: Some(1.0) });
    }
    let mut runs = Table::new(&[
        "model",
        "optimizer",
        "clip",
        "ρ after",
        "max ‖g‖",
        "median ‖g‖",
        "steps clipped",
        "steps skipped",
        "final loss",
        "test accuracy",
    ]);
    let mut loss_series = Vec::new();
    let mut norm_series = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let lr = match spec.optimizer {
            Optimizer::Sgd => 0.1,
            Optimizer::Adam => 3e-3,
        };
        let config = FitConfig { optimizer: spec.optimizer, steps, learning_rate: lr, clip: spec.clip };
        let (trained, log) = train_bins(model(spec, hidden, &ad, o.seed), &task, &train, delay, &config, o.seed);
        let acc = accuracy(&trained.valid(), &task, &test, delay, device);
        let name = match spec.radius {
            Some(r) => format!("rnn ρ={r}"),
            None => spec.cell.to_string(),
        };
        let opt = match spec.optimizer {
            Optimizer::Sgd => "sgd 0.1",
            Optimizer::Adam => "adam 3e-3",
        };
        let clip = spec.clip.map_or("none".into(), |c| c.to_string());
        runs.row(vec![
            name.clone(),
            opt.into(),
            clip.clone(),
            num(recurrent_radii(&trained.layers[0])[candidate_block(spec.cell)].1),
            num(log.max_grad_norm()),
            num(median(&log)),
            log.clipped.to_string(),
            log.skipped.to_string(),
            num(log.final_loss(20)),
            num(acc),
        ]);
        let label = format!("{name}, {opt}, clip {clip}");
        loss_series.push(Series::new(&label, smooth(&log.losses, 10), Style::Line, i));
        norm_series.push(Series::new(&label, smooth(&log.grad_norms, 1), Style::Line, i));
    }

    let mut text = String::new();
    writeln!(
        text,
        "Experiment 4: vanishing against exploding, on the bin task of experiment 5 at D = {delay} frames ({} s). \
         {hidden} units; Elman W_hh rescaled to spectral radius ρ (other weights as initialised); LSTM and GRU as \
         initialised. Loss: MSE of the place position at the last step.\n\n\
         ‖∂L/∂h_t‖ at initialisation (64 training sequences, T = {} steps), and the per-step Jacobian norm \
         ‖∂h_t/∂h_(t-1)‖ (largest singular value) along the first of them:\n{flow}\n\
         Training, {steps} steps of 64 sequences each; accuracy on {n_test} held-out sequences (0.5 = chance):\n{runs}",
        delay as f64 / 20.0,
        delay + super::bins::CUE_FRAMES
    )
    .ok();
    plot::save(
        png,
        "Vanishing and exploding gradients",
        &[
            Panel {
                title: "‖∂L/∂h_t‖ at initialisation (loss at the last step)".into(),
                x: Axis::linear("t"),
                y: Axis::log("norm"),
                series: flow_series,
            },
            Panel {
                title: "training loss (10-step mean)".into(),
                x: Axis::linear("step"),
                y: Axis::log("MSE"),
                series: loss_series,
            },
            Panel {
                title: "global gradient norm before clipping".into(),
                x: Axis::linear("step"),
                y: Axis::log("‖g‖"),
                series: norm_series,
            },
        ],
        3,
    )?;
    Ok((text, vec![png.to_path_buf()]))
}

fn median(log: &FitLog) -> f64 {
    let mut v: Vec<f64> = log.grad_norms.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Running mean over `k` steps, as (step, value) points (non-finite values are dropped).
fn smooth(v: &[f64], k: usize) -> Vec<(f64, f64)> {
    v.chunks(k.max(1))
        .enumerate()
        .filter_map(|(i, c)| {
            let f: Vec<f64> = c.iter().copied().filter(|x| x.is_finite()).collect();
            (!f.is_empty()).then(|| (((i + 1) * k) as f64, f.iter().sum::<f64>() / f.len() as f64))
        })
        .collect()
}
