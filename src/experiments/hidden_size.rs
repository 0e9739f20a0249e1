//! Experiment 2: hidden size. LSTMs of 4 to 512 units trained the same way on the synthetic
//! data: validation loss, free-running rollout error, parameters, training time per epoch,
//! streaming latency (one frame in, one prediction out, host predictor) and the gap between
//! training and validation loss (both measured after training, without dropout).

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;

use super::Options;
use super::plot::{self, Axis, Panel, Series, Style};
use super::robot::{RobotTraining, train_model};
use super::table::{Table, num};
use crate::checkpoint::DataInfo;
use crate::error::Result;
use crate::eval::{self, EvalConfig};
use crate::kinematics::Kinematics;
use crate::model::CellKind;
use crate::predictor::Predictor;
use crate::train::mean_loss;

pub(crate) fn run(o: &Options, device: &Device, png: &Path) -> Result<(String, Vec<PathBuf>)> {
    let ds = o.load_synthetic()?;
    let kin = Kinematics::for_dataset(&ds)?;
    let sizes = o.size(vec![4, 16, 64, 256, 512], vec![4, 8]);
    let epochs = o.size(8, 1);
    let horizons = o.size(vec![1, 10, 40], vec![1, 5]);
    let mut table = Table::new(&[
        "hidden",
        "params",
        "s/epoch",
        "train loss",
        "valid loss",
        "gap",
        "1-step °",
        "EE mm @1",
        "rollout ° @last",
        "EE mm @last",
        "stream µs",
    ]);
    let mut rows = Vec::new();
    for &h in &sizes {
        let t = RobotTraining { seed: o.seed, ..RobotTraining::new(CellKind::Lstm, h, epochs) };
        let trained = train_model(&ds, &t, device)?;
        let p = &trained.prepared;
        let train_loss = mean_loss(&trained.model, &ds, &p.encoding, &p.train, 64, device);
        let valid_loss = mean_loss(&trained.model, &ds, &p.encoding, &p.valid, 64, device);
        let seconds =
            trained.outcome.history.iter().map(|e| e.seconds).sum::<f64>() / trained.outcome.history.len() as f64;
        let config = EvalConfig { warmup: 16, horizons: horizons.clone(), stride: 20 };
        // Scored on the test part: the best epoch was chosen on the validation part.
        let inputs = eval::EvalInputs {
            model: &trained.model,
            encoding: &p.encoding,
            dataset: &ds,
            segments: &p.split.test,
            baselines: &[],
            choice: None,
            kinematics: kin.as_ref(),
            part: "test",
        };
        let report = eval::evaluate(&inputs, &config, device)?;
        let first = report.horizons.first().map(|e| e.model().clone());
        let last = report.horizons.last().map(|e| e.model().clone());
        let latency = streaming_latency(&trained.model, &p.encoding, &ds, p.split.valid[0].episode)?;
        let deg = |s: &Option<crate::eval::Score>| {
            s.as_ref().and_then(|s| s.arm).map_or("n/a".into(), |v| num(v.to_degrees()))
        };
        let mm = |s: &Option<crate::eval::Score>| s.as_ref().and_then(|s| s.end_effector_mm).map_or("n/a".into(), num);
        table.row(vec![
            h.to_string(),
            trained.config.parameter_count().to_string(),
            num(seconds),
            num(train_loss),
            num(valid_loss),
            num(valid_loss - train_loss),
            deg(&first),
            mm(&first),
            deg(&last),
            mm(&last),
            num(latency * 1e6),
        ]);
        rows.push(Row {
            hidden: h as f64,
            params: trained.config.parameter_count() as f64,
            seconds,
            train_loss,
            valid_loss,
            rollout_deg: last.and_then(|s| s.arm).unwrap_or(f64::NAN).to_degrees(),
            stream_us: latency * 1e6,
        });
    }
    let mut text = String::new();
    writeln!(
        text,
        "Experiment 2: hidden size. One-layer LSTMs trained {epochs} epochs each (Adam, cosine schedule, clipping 1.0, \
         32-step windows, seed {}) on {}; losses are the MSE of the encoded next-state residual on all training and \
         validation windows after training; rollouts start after 16 observed frames of each validation episode, \
         horizons {horizons:?} frames (the last is the \"@last\" column). Streaming: the host predictor, one frame per call, \
         median over a validation episode.\n\n{table}",
        o.seed, ds.meta.name
    )
    .ok();
    let col = |f: fn(&Row) -> f64| rows.iter().map(|r| (r.hidden, f(r))).collect::<Vec<_>>();
    plot::save(
        png,
        "Hidden size (LSTM, synthetic pick-and-place)",
        &[
            Panel {
                title: "loss after training".into(),
                x: Axis::log("hidden units"),
                y: Axis::log("MSE (encoded)"),
                series: vec![
                    Series::new("train", col(|r| r.train_loss), Style::LinePoints, 0),
                    Series::new("validation", col(|r| r.valid_loss), Style::LinePoints, 1),
                ],
            },
            Panel {
                title: format!("rollout error at {} frames", horizons.last().unwrap_or(&0)),
                x: Axis::log("hidden units"),
                y: Axis::linear("arm RMSE (°)"),
                series: vec![Series::new("", col(|r| r.rollout_deg), Style::LinePoints, 2)],
            },
            Panel {
                title: "cost".into(),
                x: Axis::log("hidden units"),
                y: Axis::log("value"),
                series: vec![
                    Series::new("parameters", col(|r| r.params), Style::LinePoints, 3),
                    Series::new("ms per epoch", col(|r| r.seconds * 1e3), Style::LinePoints, 4),
                    Series::new("µs per streamed frame", col(|r| r.stream_us), Style::LinePoints, 5),
                ],
            },
        ],
        3,
    )?;
    Ok((text, vec![png.to_path_buf()]))
}

/// One hidden size's measurements, for the plot.
struct Row {
    hidden: f64,
    params: f64,
    seconds: f64,
    train_loss: f64,
    valid_loss: f64,
    rollout_deg: f64,
    stream_us: f64,
}

/// Median seconds per `observe` of the host predictor over one episode.
fn streaming_latency(
    model: &crate::model::TrajectoryModel,
    encoding: &crate::encoding::Encoding,
    ds: &crate::data::Dataset,
    episode: usize,
) -> Result<f64> {
    let mut predictor = Predictor::from_model(model, encoding.clone(), DataInfo::of(ds, false));
    let e = &ds.episodes[episode];
    let mut times = Vec::with_capacity(e.len());
    for t in 0..e.len() {
        let started = Instant::now();
        predictor.observe(e.frame(t))?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
