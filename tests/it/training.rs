use std::ops::ControlFlow;

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use trajrnn::checkpoint::{self, CHECKPOINT_VERSION, CheckpointMeta, DataInfo};
use trajrnn::data::{Dataset, Encoding, EncodingConfig, Prepared, SplitConfig, WindowSpec, prepare};
use trajrnn::model::{CellKind, ModelConfig, TrajectoryModel};
use trajrnn::train::{
    Event, RunFiles, Start, TrainConfig, TrainOutcome, TrainingSet, batches, clip_global_norm, global_grad_norm, train,
};

use crate::common::*;
use crate::model::config as model_config;

/// Every gradient of the model, on the host, in a fixed order.
fn host_grads(model: &TrajectoryModel, grads: &GradientsParams) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    let v2 = |id| grads.get::<2>(id).map(|g| g.into_data().try_into_vec::<f32>().unwrap());
    let v1 = |id| grads.get::<1>(id).map(|g| g.into_data().try_into_vec::<f32>().unwrap());
    for l in &model.layers {
        out.extend([v2(l.w_x.id), v2(l.w_h.id), v1(l.b.id)].into_iter().flatten());
        out.extend(l.b_hn.as_ref().and_then(|b| v1(b.id)));
    }
    out.extend(v2(model.head.weight.id));
    out.extend(model.head.bias.as_ref().and_then(|b| v1(b.id)));
    out
}

#[test]
fn global_norm_clipping_matches_hand_computation() {
    let dev = device().autodiff();
    dev.seed(11);
    let model = model_config(CellKind::Gru, 3, 5, 2, 2).init(&dev, 0);
    let x = Tensor::<3>::random([4, 6, 3], Distribution::Default, &dev);
    let loss = model.forward(x, None).output.square().mean() * 100.0;
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let before = host_grads(&model, &grads);
    assert_eq!(before.len(), 2 * 4 + 2, "every parameter has a gradient");
    let hand_norm = before.iter().flatten().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!((global_grad_norm(&model, &grads) - hand_norm).abs() < 1e-6 * hand_norm.max(1.0));

    let max_norm = hand_norm / 4.0;
    let stats = clip_global_norm(&model, &mut grads, max_norm);
    assert!((stats.norm_before - hand_norm).abs() < 1e-6 * hand_norm);
    let after = host_grads(&model, &grads);
    let after_norm = after.iter().flatten().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
    assert!((after_norm - max_norm).abs() < 1e-4 * max_norm, "{after_norm} vs {max_norm}");
    // One factor for all tensors: the direction is unchanged.
    let factor = max_norm / (hand_norm + 1e-6);
    for (b, a) in before.iter().flatten().zip(after.iter().flatten()) {
        assert!((*a as f64 - *b as f64 * factor).abs() < 1e-6 + 1e-4 * (*b as f64 * factor).abs());
    }
    // Under the bound nothing changes.
    let again = clip_global_norm(&model, &mut grads, max_norm * 10.0);
    assert!(!again.clipped());
    assert_eq!(host_grads(&model, &grads), after);
}

pub struct Setup {
    _dir: tempfile::TempDir,
    pub dataset: Dataset,
    pub prepared: Prepared,
    pub model: ModelConfig,
}

pub fn setup() -> Setup {
    let dir = tempdir();
    let dataset = Dataset::load(write_dataset(dir.path(), &[300, 300, 300])).unwrap();
    let prepared =
        prepare(&dataset, &SplitConfig::default(), WindowSpec { context: 16, stride: 4 }, EncodingConfig::default())
            .unwrap();
    let model = ModelConfig {
        zero_head: true,
        ..model_config(CellKind::Lstm, prepared.encoding.input_dim(), 16, 1, prepared.encoding.dim())
    };
    Setup { _dir: dir, dataset, prepared, model }
}

pub fn set(s: &Setup) -> TrainingSet<'_> {
    TrainingSet {
        dataset: &s.dataset,
        encoding: &s.prepared.encoding,
        train_segments: &s.prepared.split.train,
        train: &s.prepared.train,
        valid: &s.prepared.valid,
    }
}

pub fn config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        learning_rate: 5e-3,
        warmup_steps: 5,
        patience: None,
        seed,
        ..TrainConfig::default()
    }
}

/// Checkpoint metadata for a model trained on `dataset` with `encoding`.
pub fn meta_for(model: &TrajectoryModel, encoding: &Encoding, dataset: &Dataset) -> CheckpointMeta {
    let layer = &model.layers[0];
    CheckpointMeta {
        checkpoint_version: CHECKPOINT_VERSION,
        trajrnn_version: "test".into(),
        model: ModelConfig {
            cell: model.cell(),
            input_dim: layer.input_size(),
            hidden: model.hidden_size(),
            layers: model.layers.len(),
            output_dim: encoding.dim(),
            dropout: 0.0,
            zero_head: false,
        },
        encoding: encoding.clone(),
        data: DataInfo::of(dataset),
        window: WindowSpec { context: 16, stride: 4 },
        split: SplitConfig::default(),
        train: TrainConfig::default(),
        baselines: vec![],
        eval: trajrnn::eval::EvalConfig::default(),
        epoch: 0,
        valid_loss: None,
        training: None,
        sections: vec![],
    }
}

fn files(s: &Setup, dir: &std::path::Path) -> RunFiles {
    let mut meta = meta_for(&s.model.init(&device(), 0), &s.prepared.encoding, &s.dataset);
    meta.model = s.model.clone();
    RunFiles { dir: dir.to_path_buf(), meta }
}

fn run(s: &Setup, c: &TrainConfig, files: Option<&RunFiles>, start: Start) -> trajrnn::Result<TrainOutcome> {
    train(&s.model, set(s), c, &device(), files, start, |_| ControlFlow::Continue(()))
}

#[test]
fn training_learns_and_is_reproducible() {
    let s = setup();
    let c = config(6, 1);
    let a = run(&s, &c, None, Start::Fresh).unwrap();
    // The untrained model (zero head) predicts constant velocity: loss = mean squared target.
    let zero_loss = {
        let b = trajrnn::data::window::gather_batch(&s.dataset, &s.prepared.encoding, &s.prepared.valid);
        b.targets.iter().map(|t| (*t as f64).powi(2)).sum::<f64>() / b.targets.len() as f64
    };
    let best = a.best_valid_loss;
    assert!(best < 0.5 * zero_loss, "validation loss {best} vs {zero_loss} for constant velocity");
    assert!(a.history.last().unwrap().train_loss.unwrap() < a.history[0].train_loss.unwrap());

    let b = run(&s, &c, None, Start::Fresh).unwrap();
    assert_eq!(
        a.history.iter().map(|h| h.valid_loss).collect::<Vec<_>>(),
        b.history.iter().map(|h| h.valid_loss).collect::<Vec<_>>()
    );
    let other = run(&s, &config(6, 2), None, Start::Fresh).unwrap();
    assert_ne!(a.history[0].train_loss, other.history[0].train_loss);
}

fn weights(model: &TrajectoryModel) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for l in &model.layers {
        out.push(l.w_x.val().into_data().try_into_vec::<f32>().unwrap());
        out.push(l.w_h.val().into_data().try_into_vec::<f32>().unwrap());
        out.push(l.b.val().into_data().try_into_vec::<f32>().unwrap());
    }
    out.push(model.head.weight.val().into_data().try_into_vec::<f32>().unwrap());
    out
}

/// A run stopped after 2 of 4 epochs and resumed from its last.ckpt ends with the same weights,
/// bit for bit, and the same log as an uninterrupted run.
#[test]
fn resumed_run_matches_an_uninterrupted_one() {
    let s = setup();
    let c = config(4, 7);
    let whole_dir = tempdir();
    let whole_files = files(&s, whole_dir.path());
    let whole = run(&s, &c, Some(&whole_files), Start::Fresh).unwrap();

    let part_dir = tempdir();
    let part_files = files(&s, part_dir.path());
    let stopped = train(&s.model, set(&s), &c, &device(), Some(&part_files), Start::Fresh, |e| match e {
        Event::Epoch { stats, .. } if stats.epoch == 2 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .unwrap();
    assert!(stopped.interrupted);
    assert_eq!(stopped.history.len(), 2);
    let resumed = run(&s, &c, Some(&part_files), Start::Resume(part_files.last())).unwrap();
    let untimed = |h: &[trajrnn::train::EpochStats]| {
        h.iter().map(|e| trajrnn::train::EpochStats { seconds: 0.0, ..e.clone() }).collect::<Vec<_>>()
    };
    assert_eq!(untimed(&resumed.history), untimed(&whole.history));
    let last_whole = checkpoint::load(&whole_files.last(), &device()).unwrap();
    let last_resumed = checkpoint::load(&part_files.last(), &device()).unwrap();
    assert_eq!(weights(&last_whole.model), weights(&last_resumed.model));
    assert_eq!(weights(&whole.model), weights(&resumed.model));
    let log = |f: &RunFiles| {
        std::fs::read_to_string(f.log())
            .unwrap()
            .lines()
            .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != 6).map(|(_, v)| v.to_string()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    assert_eq!(log(&whole_files), log(&part_files), "log.csv (without timings) matches");
}

#[test]
fn divergence_rolls_back_then_stops() {
    let s = setup();
    let dir = tempdir();
    let f = files(&s, dir.path());
    // No clipping and a learning rate no model survives.
    let c = TrainConfig { learning_rate: 1e30, clip_norm: None, warmup_steps: 0, max_rollbacks: 3, ..config(3, 0) };
    let mut rollbacks = 0;
    let e = train(&s.model, set(&s), &c, &device(), Some(&f), Start::Fresh, |e| {
        if let Event::Rollback { lr_scale, .. } = e {
            rollbacks += 1;
            assert_eq!(lr_scale, 0.5f64.powi(rollbacks));
        }
        ControlFlow::Continue(())
    })
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert_eq!(rollbacks, 3);
    assert!(e.contains("diverged 4 times") && e.contains("--lr"), "{e}");
    let log = std::fs::read_to_string(f.log()).unwrap();
    assert_eq!(log.matches("rollback").count(), 4, "{log}");
}

#[test]
fn a_rollback_recovers_a_run_that_can_train() {
    let s = setup();
    // A divergence test so sensitive that ordinary steps trip it: the run must roll back at
    // least once, keep going at a halved rate, and finish.
    let c = TrainConfig { divergence_factor: 1.01, max_rollbacks: 20, ..config(2, 0) };
    let mut rollbacks = 0;
    let out = train(&s.model, set(&s), &c, &device(), None, Start::Fresh, |e| {
        if let Event::Rollback { .. } = e {
            rollbacks += 1;
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(rollbacks >= 1);
    assert_eq!(out.history.len(), 2);
}

#[test]
fn early_stopping_ends_a_run_that_stops_improving() {
    let s = setup();
    let c = TrainConfig { patience: Some(1), learning_rate: 1e-6, warmup_steps: 0, ..config(20, 0) };
    let mut stopped = None;
    let out = train(&s.model, set(&s), &c, &device(), None, Start::Fresh, |e| {
        if let Event::EarlyStop { epoch, .. } = e {
            stopped = Some(epoch);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(out.history.len() < 20, "{} epochs", out.history.len());
    assert_eq!(stopped, Some(out.history.len()));
}

/// Truncated BPTT: lanes of consecutive windows; each window continues the previous one's row.
#[test]
fn truncated_bptt_carries_state_across_consecutive_windows() {
    let s = setup();
    let chains = batches::chains(&s.prepared.split.train, 8, s.prepared.encoding.history());
    assert!(chains.iter().all(|c| c.windows(2).all(|w| w[1].inputs().start == w[0].inputs().end)));
    let plan = batches::truncated_bptt(&chains, 2, 0, 1);
    for pair in plan.windows(2) {
        for (w, carry) in pair[1].windows.iter().zip(&pair[1].carry) {
            if let Some(row) = carry {
                assert_eq!(pair[0].windows[*row].next(), *w, "a carried row continues its window");
            }
        }
    }
    let total: usize = plan.iter().map(|b| b.windows.len()).sum();
    assert_eq!(total, chains.iter().map(Vec::len).sum::<usize>(), "every window is used once");
    let out = run(&s, &TrainConfig { tbptt: Some(8), ..config(3, 0) }, None, Start::Fresh).unwrap();
    assert!(out.history[2].train_loss.unwrap() < out.history[0].train_loss.unwrap());
}

#[test]
fn options_are_checked_before_any_work() {
    for (c, option) in [
        (TrainConfig { learning_rate: -1.0, ..config(1, 0) }, "--lr"),
        (TrainConfig { learning_rate: f64::NAN, ..config(1, 0) }, "--lr"),
        (TrainConfig { clip_norm: Some(f64::NAN), ..config(1, 0) }, "--clip"),
        (TrainConfig { epochs: 0, ..config(1, 0) }, "--epochs"),
        (TrainConfig { batch_size: 0, ..config(1, 0) }, "--batch-size"),
        (TrainConfig { tbptt: Some(0), ..config(1, 0) }, "--tbptt"),
    ] {
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(option), "{e}");
    }
}

#[test]
fn checkpoints_round_trip_and_leave_nothing_behind() {
    let s = setup();
    let dir = tempdir();
    let f = files(&s, dir.path());
    let c = config(3, 5);
    let outcome = run(&s, &c, Some(&f), Start::Fresh).unwrap();
    let best = checkpoint::load(&f.best(), &device()).unwrap();
    assert_eq!(best.meta.epoch, outcome.best_epoch);
    assert_eq!(best.meta.valid_loss, Some(outcome.best_valid_loss));
    assert_eq!(best.meta.encoding, s.prepared.encoding);
    assert!(best.optimizer.is_none() && best.meta.training.is_none());
    let last = checkpoint::load(&f.last(), &device()).unwrap();
    assert!(last.optimizer.is_some());
    assert_eq!(last.meta.training.unwrap().epoch, 3);
    let x = Tensor::<3>::random([2, 7, s.model.input_dim], Distribution::Default, &device());
    let y1 = outcome.model.forward(x.clone(), None).output.into_data().try_into_vec::<f32>().unwrap();
    let y2 = best.model.forward(x, None).output.into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(y1, y2);
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["best.ckpt", "last.ckpt", "log.csv"], "no temporary files");
}

#[test]
fn unavailable_backend_is_a_clear_error() {
    for backend in trajrnn::Backend::ALL {
        if !backend.compiled() {
            let e = backend.device().unwrap_err().to_string();
            assert!(e.contains("not compiled") && e.contains(&format!("`{backend}`")), "{e}");
        }
    }
    assert!("cuda".parse::<trajrnn::Backend>().unwrap_err().to_string().contains("flex, ndarray or wgpu"));
}

#[test]
fn flex_and_ndarray_agree() {
    if !trajrnn::Backend::NdArray.compiled() {
        return;
    }
    let s = setup();
    let c = config(2, 3);
    let go = |b: trajrnn::Backend| {
        train(&s.model, set(&s), &c, &b.device().unwrap(), None, Start::Fresh, |_| ControlFlow::Continue(())).unwrap()
    };
    let (flex, nd) = (go(trajrnn::Backend::Flex), go(trajrnn::Backend::NdArray));
    for (a, b) in flex.history.iter().zip(&nd.history) {
        assert!(
            (a.valid_loss - b.valid_loss).abs() < 1e-4 * a.valid_loss.max(1e-3),
            "{} vs {}",
            a.valid_loss,
            b.valid_loss
        );
    }
}
