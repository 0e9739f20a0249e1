//! Experiment 3: why share weights over time? An Elman RNN and an otherwise identical network
//! with its own W_xh, W_hh and b at every step ([`UnsharedRnn`]), trained by the same loop on the
//! same batches of T-step windows; then both are run on 2T-step windows.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;

use super::Options;
use super::fit::{FitConfig, Optimizer, fit};
use super::plot::{self, Axis, Panel, Series, Style};
use super::robot::{RobotTraining, model_config, prepare};
use super::table::{Table, num};
use super::unshared::UnsharedRnn;
use crate::data::{Dataset, Window};
use crate::encoding::Encoding;
use crate::error::Result;
use crate::model::CellKind;
use crate::synthetic::rng::SplitMix64;
use crate::train::objective::{batch_tensors, gather_batch};

pub(crate) fn run(o: &Options, device: &Device, png: &Path) -> Result<(String, Vec<PathBuf>)> {
    let ds = o.load_synthetic()?;
    let steps_t = o.size(32, 6);
    let hidden = o.size(32, 4);
    let fit_config =
        FitConfig { optimizer: Optimizer::Adam, steps: o.size(1500, 3), learning_rate: 2e-3, clip: Some(1.0) };
    let batch = 32;
    let t = RobotTraining { context: steps_t, seed: o.seed, ..RobotTraining::new(CellKind::Rnn, hidden, 1) };
    let p = prepare(&ds, &t)?;
    let long = prepare(&ds, &RobotTraining { context: 2 * steps_t, ..t.clone() })?;
    debug_assert_eq!(p.encoding, long.encoding, "same split, same encoding");
    let ad = device.clone().autodiff();
    let config = model_config(&p, CellKind::Rnn, hidden);
    let shared = config.init(&ad, o.seed);
    let unshared = UnsharedRnn::new(config.input_dim, hidden, steps_t, config.output_dim, &ad, o.seed);

    let sample = |step: usize| {
        let mut rng = SplitMix64::for_item(o.seed, step as u64);
        let windows: Vec<Window> =
            (0..batch).map(|_| p.train[(rng.uniform() * p.train.len() as f64) as usize]).collect();
        batch_tensors(gather_batch(&ds, &p.encoding, &windows, false), &ad)
    };
    let (shared, shared_log) = fit(shared, &fit_config, |m, s| {
        let (x, y) = sample(s);
        (m.forward(x, None).output - y).square().mean()
    });
    let (unshared, unshared_log) = fit(unshared, &fit_config, |m, s| {
        let (x, y) = sample(s);
        (m.forward(x) - y).square().mean()
    });
    let (shared, unshared) = (shared.valid(), unshared.valid());
    let run_shared = |x: Tensor<3>| shared.forward(x, None).output;
    let run_unshared = |x: Tensor<3>| unshared.forward(x);
    let valid = |f: &dyn Fn(Tensor<3>) -> Tensor<3>, w: &[Window]| per_position(&ds, &p.encoding, w, f, device);
    let (s_t, u_t) = (valid(&run_shared, &p.valid), valid(&run_unshared, &p.valid));
    let (s_2t, u_2t) = (valid(&run_shared, &long.valid), valid(&run_unshared, &long.valid));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    let mut text = String::new();
    writeln!(
        text,
        "Experiment 3: weight sharing. Elman RNN, {hidden} units, next-state prediction on {}, trained {} steps \
         (Adam 2e-3, clipping 1.0, batches of {batch} windows of T = {steps_t} steps, the same batches for both).\n",
        ds.meta.name, fit_config.steps
    )
    .ok();
    let mut params = Table::new(&["T", "shared params", "unshared params", "ratio"]);
    let shared_params = shared.num_params();
    let mut param_points = (vec![], vec![]);
    for big_t in o.size(vec![8, 16, 32, 64, 128, 256], vec![2, 4]) {
        let u = UnsharedRnn::new(config.input_dim, hidden, big_t, config.output_dim, device, 0).num_params();
        params.row(vec![
            big_t.to_string(),
            shared_params.to_string(),
            u.to_string(),
            num(u as f64 / shared_params as f64),
        ]);
        param_points.0.push((big_t as f64, shared_params as f64));
        param_points.1.push((big_t as f64, u as f64));
    }
    writeln!(text, "Parameters against the window length T:\n{params}").ok();
    let mut results = Table::new(&[
        "model",
        "train loss (last 50)",
        "valid T steps",
        "valid 2T: steps 1..T",
        "valid 2T: steps T+1..2T",
    ]);
    for (name, log, vt, v2) in [("shared", &shared_log, &s_t, &s_2t), ("unshared", &unshared_log, &u_t, &u_2t)] {
        results.row(vec![
            name.into(),
            num(log.final_loss(50)),
            num(mean(vt)),
            num(mean(&v2[..steps_t])),
            num(mean(&v2[steps_t..])),
        ]);
    }
    writeln!(
        text,
        "Validation MSE (encoded next-state residual; 1.0 = the size of the residual itself). The unshared network has \
         no weights for steps beyond T: on 2T-step windows it reuses step T's weights there.\n{results}"
    )
    .ok();
    let pos = |v: &[f64]| v.iter().enumerate().map(|(i, e)| ((i + 1) as f64, *e)).collect::<Vec<_>>();
    let marker = vec![(steps_t as f64 + 0.5, 1e-3), (steps_t as f64 + 0.5, 10.0)];
    plot::save(
        png,
        "Sharing weights over time (Elman RNN)",
        &[
            Panel {
                title: "parameters against T".into(),
                x: Axis::log("window length T"),
                y: Axis::log("parameters"),
                series: vec![
                    Series::new("shared", param_points.0, Style::LinePoints, 0),
                    Series::new("unshared", param_points.1, Style::LinePoints, 1),
                ],
            },
            Panel {
                title: format!("validation error by position in a 2T window (T = {steps_t})"),
                x: Axis::linear("step in window"),
                y: Axis::log("MSE"),
                series: vec![
                    Series::new("shared", pos(&s_2t), Style::Line, 0),
                    Series::new("unshared (step T's weights after T)", pos(&u_2t), Style::Line, 1),
                    Series::new("end of training length", marker, Style::Reference, 7),
                ],
            },
        ],
        2,
    )?;
    Ok((text, vec![png.to_path_buf()]))
}

/// Mean squared error at each step of the windows (averaged over windows and channels).
fn per_position(
    ds: &Dataset,
    enc: &Encoding,
    windows: &[Window],
    f: &dyn Fn(Tensor<3>) -> Tensor<3>,
    device: &Device,
) -> Vec<f64> {
    let mut sums: Vec<f64> = Vec::new();
    let mut n = 0usize;
    for chunk in windows.chunks(64) {
        let (x, y) = batch_tensors(gather_batch(ds, enc, chunk, false), device);
        let e = (f(x) - y).square().mean_dim(2).sum_dim(0);
        let v = crate::diagnostics::host(e);
        if sums.is_empty() {
            sums = vec![0.0; v.len()];
        }
        sums.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
        n += chunk.len();
    }
    sums.iter().map(|s| s / n.max(1) as f64).collect()
}
