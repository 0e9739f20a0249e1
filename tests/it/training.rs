use std::ops::ControlFlow;

use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use trajrnn::baselines::BaselineConfig;
use trajrnn::checkpoint;
use trajrnn::data::{Dataset, SplitConfig, SplitMode, WindowSpec};
use trajrnn::encoding::EncodingConfig;
use trajrnn::eval::EvalConfig;
use trajrnn::model::{CellKind, ModelConfig, TrajectoryModel};
use trajrnn::run::{self, RunConfig, RunEvent, TrainOptions};
use trajrnn::train::{
    Event, Hooks, Prepared, Selection, Start, TrainConfig, TrainOutcome, TrainingSet, batches, clip_global_norm,
    gather_batch, global_grad_norm, prepare, time_steps, train,
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
    pub root: std::path::PathBuf,
    pub dataset: Dataset,
    pub prepared: Prepared,
    pub model: ModelConfig,
}

/// The split of the small test datasets: time blocks with short gaps (three episodes of 300
/// frames are too few for whole episodes).
pub fn small_split() -> SplitConfig {
    SplitConfig { mode: SplitMode::TimeBlocks, gap: 16, ..SplitConfig::default() }
}

/// Rollouts short enough for the small test datasets' validation and test blocks.
pub fn small_eval() -> EvalConfig {
    EvalConfig { warmup: 12, horizons: vec![1, 5, 10], stride: 4 }
}

pub fn setup() -> Setup {
    let dir = tempdir();
    let root = write_dataset(dir.path(), &[300, 300, 300]);
    let dataset = Dataset::load(&root).unwrap();
    let prepared = prepare_small(&dataset);
    let model = ModelConfig {
        zero_head: true,
        ..model_config(CellKind::Lstm, prepared.encoding.input_dim(), 16, 1, prepared.encoding.dim())
    };
    Setup { _dir: dir, root, dataset, prepared, model }
}

pub fn set(s: &Setup) -> TrainingSet<'_> {
    s.prepared.training_set(&s.dataset)
}

pub fn config(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        learning_rate: 5e-3,
        warmup_steps: 5,
        patience: None,
        seed,
        rollout_steps: 0,
        selection: Selection::Loss,
        ..TrainConfig::default()
    }
}

/// Trains with the trainer alone (no files), every event passed to `on`.
fn train_with(
    s: &Setup,
    c: &TrainConfig,
    device: &Device,
    mut on: impl FnMut(&Event) -> ControlFlow<()>,
) -> trajrnn::Result<TrainOutcome> {
    let mut observer = |e: Event| Ok(on(&e));
    train(&s.model, set(s), c, device, Start::Fresh, Hooks { observer: &mut observer, score: None, stop: None })
}

fn run(s: &Setup, c: &TrainConfig) -> trajrnn::Result<TrainOutcome> {
    train_with(s, c, &device(), |_| ControlFlow::Continue(()))
}

/// A whole run (files, selection, test report) of the small dataset in `dir`.
pub fn run_config(s: &Setup, dir: &std::path::Path, train: TrainConfig) -> RunConfig {
    let mut c = RunConfig { dataset: s.root.clone(), run_dir: dir.to_path_buf(), ..RunConfig::default() };
    c.model.hidden = 16;
    c.data.context = 16;
    c.data.split = small_split();
    c.eval = small_eval();
    c.data.encoding.target = trajrnn::encoding::TargetBase::ConstantVelocity;
    c.train = TrainConfig { rollout_steps: 4, selection: Selection::Rollout, ..train };
    c
}

#[test]
fn training_learns_and_is_reproducible() {
    let s = setup();
    let c = config(6, 1);
    let a = run(&s, &c).unwrap();
    // The untrained model (zero head) predicts its base rule: loss = weighted mean squared target.
    let zero_loss = {
        let b = gather_batch(&s.dataset, &s.prepared.encoding, &s.prepared.valid, false);
        b.targets.iter().map(|t| (*t as f64).powi(2)).sum::<f64>() / b.targets.len() as f64
    };
    let best = a.best_score;
    assert!(best < 0.5 * zero_loss, "validation loss {best} vs {zero_loss} for the base rule");
    assert!(a.history.last().unwrap().train_loss.unwrap() < a.history[0].train_loss.unwrap());

    let b = run(&s, &c).unwrap();
    assert_eq!(
        a.history.iter().map(|h| h.valid_loss).collect::<Vec<_>>(),
        b.history.iter().map(|h| h.valid_loss).collect::<Vec<_>>()
    );
    let other = run(&s, &config(6, 2)).unwrap();
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

/// log.csv without its timing column.
fn untimed_log(dir: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("log.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != 6).map(|(_, v)| v.to_string()).collect())
        .collect()
}

/// A run stopped after 2 of 4 epochs and resumed from its last.ckpt ends with the same weights,
/// bit for bit, and the same log as an uninterrupted run.
#[test]
fn resumed_run_matches_an_uninterrupted_one() {
    let s = setup();
    let c = config(4, 7);
    let whole_dir = tempdir();
    let whole = run::train_dataset(
        &run_config(&s, whole_dir.path(), c.clone()),
        s.dataset.clone(),
        TrainOptions::default(),
        &mut run::quiet,
        None,
    )
    .unwrap();

    let part_dir = tempdir();
    let part_config = run_config(&s, part_dir.path(), c.clone());
    let mut stop_after_two = |e: RunEvent| match e {
        RunEvent::Train(Event::Epoch { stats, .. }) if stats.epoch == 2 => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let stopped =
        run::train_dataset(&part_config, s.dataset.clone(), TrainOptions::default(), &mut stop_after_two, None)
            .unwrap();
    assert!(stopped.outcome.interrupted);
    assert_eq!(stopped.outcome.history.len(), 2);
    let resume = TrainOptions { resume: true, ..TrainOptions::default() };
    let resumed = run::train_dataset(&part_config, s.dataset.clone(), resume, &mut run::quiet, None).unwrap();
    let untimed = |h: &[trajrnn::train::EpochStats]| {
        h.iter().map(|e| trajrnn::train::EpochStats { seconds: 0.0, ..e.clone() }).collect::<Vec<_>>()
    };
    assert_eq!(untimed(&resumed.outcome.history), untimed(&whole.outcome.history));
    let last_whole = checkpoint::load(&whole_dir.path().join("last.ckpt"), &device()).unwrap();
    let last_resumed = checkpoint::load(&part_dir.path().join("last.ckpt"), &device()).unwrap();
    assert_eq!(weights(&last_whole.model), weights(&last_resumed.model));
    assert_eq!(weights(&whole.model), weights(&resumed.model));
    assert_eq!(untimed_log(whole_dir.path()), untimed_log(part_dir.path()), "log.csv (without timings) matches");
}

/// A run interrupted mid-epoch by the stop flag (as Ctrl-C or SIGTERM set it) writes last.ckpt
/// as it stood at the start of that epoch, and resuming it ends bit for bit as an uninterrupted
/// run.
#[test]
fn a_stop_request_ends_the_run_at_a_step_and_resume_continues_it() {
    let s = setup();
    let c = config(3, 4);
    let whole_dir = tempdir();
    let whole = run::train_dataset(
        &run_config(&s, whole_dir.path(), c.clone()),
        s.dataset.clone(),
        TrainOptions::default(),
        &mut run::quiet,
        None,
    )
    .unwrap();
    let part_dir = tempdir();
    let part_config = run_config(&s, part_dir.path(), c);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut steps = 0;
    let mut stop_mid_epoch = |e: RunEvent| {
        if let RunEvent::Train(Event::Step { record, .. }) = e {
            steps += 1;
            // Midway through the second epoch.
            if record.epoch == 2 && steps > 3 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        ControlFlow::Continue(())
    };
    let stopped =
        run::train_dataset(&part_config, s.dataset.clone(), TrainOptions::default(), &mut stop_mid_epoch, Some(&stop))
            .unwrap();
    assert!(stopped.outcome.interrupted);
    assert_eq!(stopped.outcome.history.len(), 1, "the interrupted epoch does not count");
    let last = checkpoint::load(&part_dir.path().join("last.ckpt"), &device()).unwrap();
    assert_eq!(last.meta.training.as_ref().unwrap().epoch, 1);
    let resume = TrainOptions { resume: true, ..TrainOptions::default() };
    let resumed = run::train_dataset(&part_config, s.dataset.clone(), resume, &mut run::quiet, None).unwrap();
    assert_eq!(weights(&whole.model), weights(&resumed.model));
    assert_eq!(untimed_log(whole_dir.path()), untimed_log(part_dir.path()));
}

#[test]
fn divergence_rolls_back_then_stops() {
    let s = setup();
    let dir = tempdir();
    // No clipping and a learning rate no model survives.
    let c = TrainConfig { learning_rate: 1e30, clip_norm: None, warmup_steps: 0, max_rollbacks: 3, ..config(3, 0) };
    let mut rollbacks = 0;
    let mut count = |e: RunEvent| {
        if let RunEvent::Train(Event::Rollback { lr_scale, .. }) = e {
            rollbacks += 1;
            assert_eq!(*lr_scale, 0.5f64.powi(rollbacks));
        }
        ControlFlow::Continue(())
    };
    let e = run::train_dataset(
        &run_config(&s, dir.path(), c),
        s.dataset.clone(),
        TrainOptions::default(),
        &mut count,
        None,
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert_eq!(rollbacks, 3);
    assert!(e.contains("diverged 4 times") && e.contains("--lr"), "{e}");
    let log = std::fs::read_to_string(dir.path().join("log.csv")).unwrap();
    assert_eq!(log.matches("rollback").count(), 3, "{log}");
}

#[test]
fn a_rollback_recovers_a_run_that_can_train() {
    let s = setup();
    // A divergence test so sensitive that ordinary steps trip it: the run must roll back at
    // least once, keep going at a halved rate, and finish.
    let c = TrainConfig { divergence_factor: 1.01, max_rollbacks: 20, ..config(2, 0) };
    let mut rollbacks = 0;
    let out = train_with(&s, &c, &device(), |e| {
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
    let out = train_with(&s, &c, &device(), |e| {
        if let Event::EarlyStop { epoch, .. } = e {
            stopped = Some(*epoch);
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(out.history.len() < 20, "{} epochs", out.history.len());
    assert_eq!(stopped, Some(out.history.len()));
}

/// Selection by the validation rollout score makes the untrained model (its base rule) a
/// candidate: a run whose training cannot improve on it keeps epoch 0.
#[test]
fn the_untrained_model_is_a_candidate_for_the_best_epoch() {
    let s = setup();
    let dir = tempdir();
    // A learning rate too small to move the weights: no epoch beats the base rule.
    let c = TrainConfig { learning_rate: 1e-12, warmup_steps: 0, patience: Some(2), ..config(5, 0) };
    let trained = run::train_dataset(
        &run_config(&s, dir.path(), c),
        s.dataset.clone(),
        TrainOptions::default(),
        &mut run::quiet,
        None,
    )
    .unwrap();
    assert_eq!(trained.outcome.best_epoch, 0, "{:?}", trained.outcome.history);
    let best = checkpoint::load(&dir.path().join("best.ckpt"), &device()).unwrap();
    assert_eq!(best.meta.epoch, 0);
}

/// Truncated BPTT: lanes of consecutive windows; each window continues the previous one's row.
/// The benchmarks' timed training steps (free-running steps included): as many as asked after
/// the untimed ones, each the whole step, of which gathering the batch is a part; truncated BPTT
/// is refused.
#[test]
fn time_steps_times_the_steps_asked_for() {
    let s = setup();
    let c = TrainConfig { rollout_steps: 4, ..config(1, 0) };
    let times = time_steps(&s.model, set(&s), &c, &device(), 2, 5).unwrap();
    assert_eq!(times.len(), 5);
    assert!(times.iter().all(|t| t.seconds > 0.0 && t.gather_seconds <= t.seconds), "{times:?}");
    let tbptt = TrainConfig { tbptt: Some(8), ..config(1, 0) };
    assert!(time_steps(&s.model, set(&s), &tbptt, &device(), 0, 1).is_err());
}

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
    let out = run(&s, &TrainConfig { tbptt: Some(8), ..config(3, 0) }).unwrap();
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
        (TrainConfig { input_noise: -1.0, ..config(1, 0) }, "input_noise"),
    ] {
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(option), "{e}");
    }
}

/// Every optimiser of the configuration trains (the loss falls), and its settings are checked.
#[test]
fn every_optimizer_trains() {
    use trajrnn::train::OptimizerConfig;
    let s = setup();
    for optimizer in [
        OptimizerConfig::default(),
        OptimizerConfig::AdamW { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weight_decay: 1e-2 },
        OptimizerConfig::Sgd { momentum: 0.9, nesterov: true, weight_decay: 0.0 },
    ] {
        let lr = if matches!(optimizer, OptimizerConfig::Sgd { .. }) { 0.05 } else { 5e-3 };
        let out = run(&s, &TrainConfig { optimizer: optimizer.clone(), learning_rate: lr, ..config(3, 0) }).unwrap();
        assert!(out.history[2].train_loss.unwrap() < out.history[0].train_loss.unwrap(), "{optimizer:?}");
    }
    let bad = OptimizerConfig::Sgd { momentum: 1.5, nesterov: false, weight_decay: 0.0 };
    let e = TrainConfig { optimizer: bad, ..config(1, 0) }.validate().unwrap_err().to_string();
    assert!(e.contains("train.optimizer.momentum"), "{e}");
}

#[test]
fn checkpoints_round_trip_and_leave_nothing_behind() {
    let s = setup();
    let dir = tempdir();
    let trained = run::train_dataset(
        &run_config(&s, dir.path(), config(3, 5)),
        s.dataset.clone(),
        TrainOptions::default(),
        &mut run::quiet,
        None,
    )
    .unwrap();
    let best = checkpoint::load(&dir.path().join("best.ckpt"), &device()).unwrap();
    assert_eq!(best.meta.epoch, trained.outcome.best_epoch);
    assert_eq!(best.meta.valid_score, Some(trained.outcome.best_score));
    assert_eq!(best.meta.encoding, trained.prepared.encoding);
    assert!(best.optimizer.is_none() && best.meta.training.is_none());
    let last = checkpoint::load(&dir.path().join("last.ckpt"), &device()).unwrap();
    assert!(last.optimizer.is_some());
    assert_eq!(last.meta.training.unwrap().epoch, 3);
    let x = Tensor::<3>::random([2, 7, trained.meta.model.input_dim], Distribution::Default, &device());
    let y1 = trained.outcome.model.forward(x.clone(), None).output.into_data().try_into_vec::<f32>().unwrap();
    let y2 = best.model.forward(x, None).output.into_data().try_into_vec::<f32>().unwrap();
    assert_eq!(y1, y2);
    let mut names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["best.ckpt", "config.toml", "eval.json", "last.ckpt", "log.csv"], "no temporary files");
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

/// With the `ndarray` feature (CI: `cargo test --features ndarray --test it flex_and_ndarray`).
#[cfg(feature = "ndarray")]
#[test]
fn flex_and_ndarray_agree() {
    let s = setup();
    let c = config(2, 3);
    let go = |b: trajrnn::Backend| train_with(&s, &c, &b.device().unwrap(), |_| ControlFlow::Continue(())).unwrap();
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

/// Checkpoint metadata for `model` on `dataset` prepared as `prepared` (what a run records).
pub fn meta_for(
    model: &TrajectoryModel,
    prepared: &Prepared,
    dataset: &Dataset,
) -> trajrnn::checkpoint::CheckpointMeta {
    use trajrnn::checkpoint::{CHECKPOINT_VERSION, CheckpointMeta, DataInfo, SplitRecord};
    let layer = &model.layers[0];
    let fingerprints = trajrnn::data::fingerprint::episodes(dataset);
    CheckpointMeta {
        checkpoint_version: CHECKPOINT_VERSION,
        trajrnn_version: "test".into(),
        model: ModelConfig {
            cell: model.cell(),
            input_dim: layer.input_size(),
            hidden: model.hidden_size(),
            layers: model.layers.len(),
            output_dim: prepared.encoding.dim(),
            dropout: 0.0,
            zero_head: false,
            members: model.members(),
        },
        encoding: prepared.encoding.clone(),
        data: DataInfo::of(dataset, false),
        window: WindowSpec { context: 16, stride: 4 },
        split: SplitRecord::of(&SplitConfig::default(), &prepared.split, dataset, &fingerprints),
        train: TrainConfig::default(),
        baseline_config: BaselineConfig::default(),
        baselines: prepared.baselines.clone(),
        choice: None,
        eval: EvalConfig::default(),
        epoch: 0,
        valid_score: None,
        training: None,
        sections: vec![],
    }
}

/// `dataset` prepared as the small test runs prepare it. The base is constant velocity: on the
/// test data's noise-free sines the linear base is exact to the last digit, and what is left
/// for a model to learn is rounding.
pub fn prepare_small(dataset: &Dataset) -> Prepared {
    prepare(
        dataset,
        &small_split(),
        WindowSpec { context: 16, stride: 4 },
        &BaselineConfig::default(),
        EncodingConfig { target: trajrnn::encoding::TargetBase::ConstantVelocity, ..EncodingConfig::default() },
    )
    .unwrap()
}

/// `dataset` (three or more episodes) prepared with a split by whole episodes.
pub fn prepare_by_episode(dataset: &Dataset) -> Prepared {
    let split = SplitConfig { mode: SplitMode::Episodes, ..SplitConfig::default() };
    prepare(
        dataset,
        &split,
        WindowSpec { context: 16, stride: 4 },
        &BaselineConfig::default(),
        EncodingConfig::default(),
    )
    .unwrap()
}

/// A configuration file that sets one key of a section keeps the recipe's other keys (a
/// `[train]` table once reset the free-running steps and the selection to the trainer's own).
#[test]
fn a_partial_section_keeps_the_recipe_defaults() {
    let c = RunConfig::parse("[train]\nepochs = 3\n", std::path::Path::new("c.toml")).unwrap();
    assert_eq!(c.train, TrainConfig { epochs: 3, ..RunConfig::default().train });
    assert_eq!(c.train.rollout_steps, 32);
    assert_eq!(c.train.selection, Selection::Rollout);
}
