//! Experiment 1: what is left of the first input after T steps? For each cell, at
//! initialisation and after training on the synthetic pick-and-place data, the size of x_1's
//! influence on h_T and the held-out R² of a linear read-out of x_1 from h_T, for T = 1…200.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use super::Options;
use super::plot::{self, Axis, Panel, Series, Style};
use super::robot::{RobotTraining, episode_inputs, train_model};
use super::table::{Table, num};
use crate::data::Dataset;
use crate::diagnostics::jacobian::trace;
use crate::diagnostics::memory::{MemoryProbe, memory_curve};
use crate::diagnostics::spectral::{candidate_block, recurrent_radii};
use crate::error::Result;
use crate::model::{CellKind, RecurrentLayer};
use crate::train::Prepared;

pub(crate) fn run(o: &Options, device: &Device, png: &Path) -> Result<(String, Vec<PathBuf>)> {
    let ds = o.load_synthetic()?;
    let hidden = o.size(64, 8);
    let epochs = o.size(10, 1);
    let probe = MemoryProbe {
        steps: o.size(vec![1, 2, 3, 5, 10, 20, 50, 100, 200], vec![1, 2, 5]),
        jacobian_sequences: o.size(4, 1),
        train: o.size(2000, 40),
        test: o.size(500, 20),
        lambda: 1e-3,
        input_std: 1.0,
        seed: o.seed,
    };
    let mut text = String::new();
    writeln!(
        text,
        "Experiment 1: memory of the first input. One layer of {hidden} units per cell, trained {epochs} epochs on {} \
         (next-state prediction, 32-step windows). Inputs for the measures: white noise N(0, 1) in the model's \
         standardised input space ({} inputs); the read-out is ridge regression fitted on {} sequences, R² on {} others \
         (a read-out of pure noise scores about −units/sequences = {:.3} here). Last column: the influence along the \
         first held-out robot episodes instead of noise (mean over {} episodes).\n",
        ds.meta.name,
        3 * ds.dim(), // state, velocity and acceleration (the default encoding)
        probe.train,
        probe.test,
        -(hidden as f64) / probe.train as f64,
        o.size(4, 1)
    )
    .ok();
    let mut table = Table::new(&["cell", "weights", "ρ(cand.)", "T", "‖∂h_T/∂x_1‖", "R² of x_1", "‖∂h_T/∂x_1‖ robot"]);
    let mut influence = Vec::new();
    let mut on_robot = Vec::new();
    let mut recall = Vec::new();
    let mut headline = Table::new(&["cell", "weights", "R² T=5", "R² T=50", "‖∂h‖ T=5", "‖∂h‖ T=50", "valid loss"]);
    for (i, cell) in CellKind::ALL.into_iter().enumerate() {
        let t = RobotTraining { seed: o.seed, ..RobotTraining::new(cell, hidden, epochs) };
        let trained = train_model(&ds, &t, device)?;
        let init = trained.config.init(device, o.seed);
        for (state, model, valid) in
            [("init", &init, f64::NAN), ("trained", &trained.model, trained.outcome.best_score)]
        {
            let layer = &model.layers[0];
            let rho = recurrent_radii(layer)[candidate_block(cell)].1;
            let curve = memory_curve(layer, &probe, device);
            let robot = robot_influence(layer, &ds, &trained.prepared, o.size(4, 1), device);
            for p in &curve {
                let r = robot.get(p.steps - 1).map_or("-".into(), |v| num(*v));
                table.row(vec![
                    cell.to_string(),
                    state.into(),
                    num(rho),
                    p.steps.to_string(),
                    num(p.influence),
                    num(p.r2),
                    r,
                ]);
            }
            let at = |t: usize| curve.iter().find(|p| p.steps == t);
            headline.row(vec![
                cell.to_string(),
                state.into(),
                at(5).map_or("-".into(), |p| num(p.r2)),
                at(50).map_or("-".into(), |p| num(p.r2)),
                at(5).map_or("-".into(), |p| num(p.influence)),
                at(50).map_or("-".into(), |p| num(p.influence)),
                if valid.is_nan() { "-".into() } else { num(valid) },
            ]);
            let label = format!("{cell} {state}");
            let color = 2 * i + (state == "trained") as usize;
            let style = if state == "trained" { Style::LinePoints } else { Style::Line };
            influence.push(Series::new(
                &label,
                curve.iter().map(|p| (p.steps as f64, p.influence)).collect(),
                style,
                color,
            ));
            recall.push(Series::new(&label, curve.iter().map(|p| (p.steps as f64, p.r2)).collect(), style, color));
            on_robot.push(Series::new(
                &label,
                robot.iter().enumerate().map(|(t, v)| ((t + 1) as f64, *v)).collect(),
                style,
                color,
            ));
        }
    }
    writeln!(text, "After 5 and after 50 steps:\n{headline}\nEvery T:\n{table}").ok();
    plot::save(
        png,
        "What is left of x_1 in h_T",
        &[
            Panel {
                title: "influence ‖∂h_T/∂x_1‖".into(),
                x: Axis::log("T (steps)"),
                y: Axis::log("norm"),
                series: influence,
            },
            Panel {
                title: "linear read-out of x_1 from h_T (held out)".into(),
                x: Axis::log("T (steps)"),
                y: Axis::linear("R²").with_range(-0.1, 1.0),
                series: recall,
            },
            Panel {
                title: "influence along held-out robot episodes".into(),
                x: Axis::log("T (steps)"),
                y: Axis::log("‖∂h_T/∂x_1‖"),
                series: on_robot,
            },
        ],
        3,
    )?;
    Ok((text, vec![png.to_path_buf()]))
}

/// Mean ‖∂h_T/∂x_1‖ along the first `n` validation episodes (the model's real inputs), for
/// T = 1 up to the shortest of them.
fn robot_influence(layer: &RecurrentLayer, ds: &Dataset, p: &Prepared, n: usize, device: &Device) -> Vec<f64> {
    let episodes: Vec<usize> = p.split.valid.iter().map(|s| s.episode).take(n).collect();
    let mut sum: Vec<f64> = Vec::new();
    for &e in &episodes {
        let (x, _) = episode_inputs(ds, &p.encoding, e);
        let norms = trace(layer, &x, device).first_input_norms;
        if sum.is_empty() {
            sum = norms;
        } else {
            sum.truncate(norms.len());
            sum.iter_mut().zip(&norms).for_each(|(s, v)| *s += v);
        }
    }
    sum.iter().map(|s| s / episodes.len().max(1) as f64).collect()
}
