//! Experiment 5: a long-range dependency in pick-and-place ([`super::bins`]): accuracy of the
//! predicted place position against the delay D between the light and the place, per cell.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use super::Options;
use super::bins::{BinTask, INPUTS, nearest_bin};
use super::fit::{FitConfig, FitLog, Optimizer, fit};
use super::plot::{self, Axis, Panel, Series, Style};
use super::table::{Table, num};
use crate::error::Result;
use crate::model::{CellKind, ModelConfig, TrajectoryModel};
use crate::synthetic::rng::SplitMix64;

/// A model that reads the bin sequences and names the place position at the last step.
pub(crate) fn bin_model(cell: CellKind, hidden: usize, device: &Device, seed: u64) -> TrajectoryModel {
    let config = ModelConfig {
        cell,
        input_dim: INPUTS,
        hidden,
        layers: 1,
        output_dim: 2,
        dropout: 0.0,
        zero_head: false,
        members: 1,
    };
    config.init(device, seed)
}

/// MSE of the last step's output against the bin targets.
pub(crate) fn last_step_loss(model: &TrajectoryModel, x: Tensor<3>, y: Tensor<2>) -> Tensor<1> {
    let steps = x.dims()[1];
    let out = model.forward(x, None).output.narrow(1, steps - 1, 1).squeeze_dim::<2>(1);
    (out - y).square().mean()
}

/// Trains `model` on rows `train` of `task` at delay `delay` (batches of 64 drawn per step).
pub(crate) fn train_bins(
    model: TrajectoryModel,
    task: &BinTask,
    train: &[usize],
    delay: usize,
    config: &FitConfig,
    seed: u64,
) -> (TrajectoryModel, FitLog) {
    let device = model.layers[0].w_h.val().device();
    fit(model, config, |m, step| {
        let mut rng = SplitMix64::for_item(seed, step as u64);
        let rows: Vec<usize> = (0..64).map(|_| train[(rng.uniform() * train.len() as f64) as usize]).collect();
        let (x, y) = task.batch(&rows, delay, &device);
        last_step_loss(m, x, y)
    })
}

/// Share of rows `test` whose predicted place is nearer the right bin.
pub(crate) fn accuracy(model: &TrajectoryModel, task: &BinTask, test: &[usize], delay: usize, device: &Device) -> f64 {
    let (x, _) = task.batch(test, delay, device);
    let steps = x.dims()[1];
    let out = crate::diagnostics::host(model.forward(x, None).output.narrow(1, steps - 1, 1));
    let hits = test
        .iter()
        .enumerate()
        .filter(|(i, r)| nearest_bin([out[2 * i] as f32, out[2 * i + 1] as f32]) == task.bins[**r])
        .count();
    hits as f64 / test.len().max(1) as f64
}

pub(crate) fn run(o: &Options, device: &Device, png: &Path) -> Result<(String, Vec<PathBuf>)> {
    let delays = o.size(vec![5, 10, 20, 40, 80, 160], vec![2, 4]);
    let hidden = o.size(32, 4);
    let (n_train, n_test) = o.size((512, 256), (16, 8));
    let config = FitConfig { optimizer: Optimizer::Adam, steps: o.size(300, 2), learning_rate: 3e-3, clip: Some(1.0) };
    let task = BinTask::generate(n_train + n_test, *delays.iter().max().unwrap_or(&1), o.seed)?;
    let train: Vec<usize> = (0..n_train).collect();
    let test: Vec<usize> = (n_train..n_train + n_test).collect();
    let ad = device.clone().autodiff();
    let mut table =
        Table::new(&["D (frames)", "seconds", "rnn acc", "lstm acc", "gru acc", "rnn loss", "lstm loss", "gru loss"]);
    let mut series: Vec<Series> = CellKind::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| Series::new(c.to_string(), vec![], Style::LinePoints, i))
        .collect();
    for &d in &delays {
        let mut acc = Vec::new();
        let mut loss = Vec::new();
        for (i, cell) in CellKind::ALL.into_iter().enumerate() {
            let model = bin_model(cell, hidden, &ad, o.seed);
            let (model, log) = train_bins(model, &task, &train, d, &config, o.seed);
            let a = accuracy(&model.valid(), &task, &test, d, device);
            series[i].points.push((d as f64, a));
            acc.push(num(a));
            loss.push(num(log.final_loss(20)));
        }
        let mut row = vec![d.to_string(), num(d as f64 / 20.0)];
        row.extend(acc);
        row.extend(loss);
        table.row(row);
    }
    let mut text = String::new();
    writeln!(
        text,
        "Experiment 5: the goal bin is shown by a light during the first 2 frames only; the arm (holding the cube) then \
         makes random moves for D frames that are the same for both bins; the model must name the place position at the \
         end. {hidden} units per cell, {} training steps (Adam 3e-3, clipping 1.0, batches of 64), {n_train} training and \
         {n_test} held-out sequences; accuracy = share of held-out sequences whose predicted place is nearer the right bin \
         (0.5 = chance). Loss: training MSE over the last 20 steps (targets (0, ±1.3); predicting the middle scores 0.845).\n\n{table}",
        config.steps
    )
    .ok();
    plot::save(
        png,
        "Goal bin seen only at the start: accuracy against the delay",
        &[Panel {
            title: "held-out accuracy of the place position".into(),
            x: Axis::log("D (frames between the light and the place, 20 Hz)"),
            y: Axis::linear("accuracy").with_range(0.4, 1.02),
            series,
        }],
        1,
    )?;
    Ok((text, vec![png.to_path_buf()]))
}
