//! Training by backpropagation through time (full, or truncated with the state carried across
//! consecutive windows), with Adam, a warm-up + cosine learning-rate schedule, global-norm
//! clipping, dropout between layers, early stopping, divergence rollback, and best/last
//! checkpoints that a run can be resumed from bit for bit.

pub mod batches;
pub mod clip;
pub mod log;
pub mod rollout_loss;
pub mod schedule;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointMeta, TrainingState};
use crate::data::window::gather_batch;
use crate::data::{Batch, Dataset, Encoding, Segment, Window};
use crate::error::{Error, Location, Result, quote};
use crate::model::{ModelConfig, RecurrentState, TrajectoryModel};
pub use batches::PlannedBatch;
pub use clip::{ClipStats, clip_global_norm, global_grad_norm};
pub use log::{StepLog, StepRecord};
pub use schedule::Schedule;

/// Everything about how a model is trained (one section of the run configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Most epochs to run (early stopping may end sooner).
    pub epochs: usize,
    pub batch_size: usize,
    /// Base learning rate of Adam.
    pub learning_rate: f64,
    pub schedule: Schedule,
    /// Optimiser steps of linear warm-up.
    pub warmup_steps: usize,
    /// The cosine schedule ends at this fraction of the base rate.
    pub min_lr_factor: f64,
    /// Global gradient-norm bound; `None` trains without clipping.
    pub clip_norm: Option<f64>,
    /// Truncated BPTT: cut the graph every `k` steps and carry the state across consecutive
    /// windows; `None` is full BPTT over each window.
    pub tbptt: Option<usize>,
    /// Stop after this many epochs without a better validation loss.
    pub patience: Option<usize>,
    /// A validation loss counts as better when it is below the best by this fraction.
    pub min_improvement: f64,
    /// A gradient norm this many times the median of the recent ones counts as a divergence.
    pub divergence_factor: f64,
    /// Divergence rollbacks allowed before the run stops with an error.
    pub max_rollbacks: usize,
    /// Free-running steps scored after each window (0: one-step loss only). The windows then
    /// hold `rollout_steps − 1` frames more than the context.
    pub rollout_steps: usize,
    /// Weight of the free-running loss against the one-step loss.
    pub rollout_weight: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            learning_rate: 2e-3,
            schedule: Schedule::Cosine,
            warmup_steps: 20,
            min_lr_factor: 0.05,
            clip_norm: Some(1.0),
            tbptt: None,
            patience: Some(5),
            min_improvement: 1e-4,
            divergence_factor: 1e4,
            max_rollbacks: 4,
            // One-step loss only for the library's default; the run recipe (`RunConfig`) adds
            // free-running steps.
            rollout_steps: 0,
            rollout_weight: 1.0,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Checks every value before any work starts; errors name the option.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::option(name, format!("must be a positive number, got {v}")))
            }
        };
        use crate::config::check_count;
        check_count("train.epochs (--epochs)", self.epochs, 1)?;
        check_count("train.batch_size (--batch-size)", self.batch_size, 1)?;
        check_count("train.warmup_steps (--warmup-steps)", self.warmup_steps, 0)?;
        check_count("train.max_rollbacks", self.max_rollbacks, 0)?;
        positive("train.learning_rate (--lr)", self.learning_rate)?;
        if let Some(c) = self.clip_norm {
            positive("train.clip_norm (--clip)", c)?;
        }
        if !(0.0..=1.0).contains(&self.min_lr_factor) {
            return Err(Error::option("train.min_lr_factor", format!("must be in [0, 1], got {}", self.min_lr_factor)));
        }
        if let Some(k) = self.tbptt {
            check_count("train.tbptt (--tbptt)", k, 1)?;
        }
        if !(0.0..1.0).contains(&self.min_improvement) {
            return Err(Error::option(
                "train.min_improvement",
                format!("must be in [0, 1), got {}", self.min_improvement),
            ));
        }
        if let Some(p) = self.patience {
            check_count("train.patience (--patience)", p, 1)?;
        }
        if self.rollout_steps > 0 && self.tbptt.is_some() {
            return Err(Error::option("train.rollout_steps", "cannot be combined with truncated BPTT (train.tbptt)"));
        }
        if !(self.rollout_weight.is_finite() && self.rollout_weight >= 0.0) {
            return Err(Error::option("train.rollout_weight", format!("must be ≥ 0, got {}", self.rollout_weight)));
        }
        if !(self.divergence_factor.is_finite() && self.divergence_factor > 1.0) {
            return Err(Error::option(
                "train.divergence_factor",
                format!("must be above 1, got {}", self.divergence_factor),
            ));
        }
        Ok(())
    }
}

/// The data a run trains and validates on.
#[derive(Clone, Copy)]
pub struct TrainingSet<'a> {
    pub dataset: &'a Dataset,
    pub encoding: &'a Encoding,
    /// Training segments (truncated BPTT cuts its own chains from them).
    pub train_segments: &'a [Segment],
    pub train: &'a [Window],
    pub valid: &'a [Window],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps ([`Objective`]: the one-step MSE in encoded
    /// units, plus the weighted free-running loss with `rollout_steps`); `None` when no step ran.
    pub train_loss: Option<f64>,
    /// The same objective on the validation windows, in inference mode.
    #[serde(with = "nan_as_null")]
    pub valid_loss: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: Option<f64>,
    /// Share of steps whose gradient was clipped.
    pub clipped: Option<f64>,
    pub steps: usize,
    /// Times the epoch diverged and was rolled back to its start before it completed.
    #[serde(default)]
    pub rollbacks: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    pub seconds: f64,
}

/// JSON has no NaN: serde_json writes it as `null` but will not read `null` back as a number,
/// so a `last.ckpt` holding an epoch whose validation loss was NaN could not be loaded.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_none() }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// What the trainer reports as it goes. Returning `ControlFlow::Break` from an epoch event stops
/// the run after that epoch (its checkpoints are written), as an interruption would.
pub enum Event<'a> {
    Step { record: &'a StepRecord, batch: usize, batches: usize },
    Epoch { stats: &'a EpochStats, best: bool },
    Rollback { epoch: usize, step: usize, reason: &'a str, lr_scale: f64 },
    EarlyStop { epoch: usize, best_epoch: usize },
}

pub struct TrainOutcome {
    /// The weights of the best validation epoch (in inference mode, on the plain device).
    pub model: TrajectoryModel,
    pub history: Vec<EpochStats>,
    pub best_epoch: usize,
    pub best_valid_loss: f64,
    /// The run ended before `epochs` because the observer asked it to.
    pub interrupted: bool,
}

/// Where a run writes `best.ckpt`, `last.ckpt` and `log.csv`, and the checkpoint metadata to
/// write there (epoch, loss and training state are filled in).
pub struct RunFiles {
    pub dir: PathBuf,
    pub meta: CheckpointMeta,
}

impl RunFiles {
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.ckpt")
    }
    pub fn last(&self) -> PathBuf {
        self.dir.join("last.ckpt")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.csv")
    }
}

/// How a run starts.
pub enum Start {
    Fresh,
    /// From a run's `last.ckpt` (weights, optimiser, training state).
    Resume(PathBuf),
}

/// Trains a model. Seeded runs on a CPU backend are reproducible, and a resumed run ends with the
/// same weights as an uninterrupted one.
pub fn train(
    model_config: &ModelConfig,
    data: TrainingSet,
    config: &TrainConfig,
    device: &Device,
    files: Option<&RunFiles>,
    start: Start,
    mut observer: impl FnMut(Event) -> ControlFlow<()>,
) -> Result<TrainOutcome> {
    model_config.validate()?;
    config.validate()?;
    crate::memory::keep_freed_memory();
    if data.train.is_empty() || data.valid.is_empty() {
        return Err(Error::Config("training and validation need at least one window each".into()));
    }
    let plain = device.clone().without_autodiff();
    let train_device = plain.clone().autodiff();
    let adam = || AdamConfig::new().with_epsilon(1e-8).init(); // PyTorch's epsilon (burn's default is 1e-5)
    let (mut model, mut optim, mut st) = match &start {
        Start::Fresh => (model_config.init(&train_device, config.seed), adam(), TrainingState::fresh()),
        Start::Resume(path) => resume_from(path, model_config, config, &train_device, adam())?,
    };
    let mut log = match (files, &start) {
        (Some(f), Start::Fresh) => Some(StepLog::create(&f.log())?),
        (Some(f), Start::Resume(_)) => Some(StepLog::resume(&f.log(), st.step)?),
        (None, _) => None,
    };

    let context = data.train[0].context;
    if config.rollout_steps > 0 && context < config.rollout_steps {
        return Err(Error::Config(format!(
            "windows of {context} steps leave no teacher-forced part before {} free-running steps",
            config.rollout_steps
        )));
    }
    let scales = match config.rollout_steps {
        0 => vec![],
        k => rollout_loss::base_error_scales(data.dataset, data.encoding, data.train, context - (k - 1), k),
    };
    let objective = Objective::new(config, data.encoding, &scales, &train_device);
    let valid_objective = Objective::new(config, data.encoding, &scales, &plain);
    let chains = config.tbptt.map(|k| batches::chains(data.train_segments, k, data.encoding.history()));
    if chains.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(Error::Config(format!(
            "truncated BPTT with {} steps: no training segment is long enough for one window",
            config.tbptt.unwrap_or(0)
        )));
    }
    let plan = |epoch: usize| match &chains {
        Some(c) => batches::truncated_bptt(c, config.batch_size, config.seed, epoch),
        None => batches::full_bptt(data.train, config.batch_size, config.seed, epoch),
    };
    let steps_per_epoch = plan(1).len();
    let total_steps = steps_per_epoch.saturating_mul(config.epochs);
    let mut best_model: Option<TrajectoryModel> = match (&start, files) {
        (Start::Resume(_), Some(f)) if st.best_epoch.is_some() => Some(checkpoint::load(&f.best(), &plain)?.model),
        _ => None,
    };
    let mut recent_norms: Vec<f64> = Vec::new();
    let mut interrupted = false;
    let mut epoch_rollbacks = 0;

    let mut epoch = st.epoch + 1;
    while epoch <= config.epochs {
        let started = Instant::now();
        let snapshot = (model.clone(), optim.clone(), st.step);
        let batches = plan(epoch);
        let mut sums = EpochSums::default();
        let mut carried: Option<RecurrentState> = None;
        let mut diverged: Option<String> = None;
        let mut lr = 0.0;
        for (i, planned) in batches.iter().enumerate() {
            let step_started = Instant::now();
            lr = st.lr_scale
                * schedule::learning_rate(
                    config.learning_rate,
                    config.schedule,
                    config.warmup_steps,
                    config.min_lr_factor,
                    st.step,
                    total_steps,
                );
            let batch = gather_batch(data.dataset, data.encoding, &planned.windows);
            let state = carried.take().map(|s| carry_state(s, &planned.carry, &train_device));
            let mut rng = StdRng::seed_from_u64(batches::derived_seed(config.seed, epoch, st.step + 1));
            let (loss, final_state) = objective.loss(&model, batch, state, Some(&mut rng));
            if config.tbptt.is_some() {
                carried = Some(final_state.detach());
            }
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            let stats = match config.clip_norm {
                Some(max) => clip_global_norm(&model, &mut grads, max),
                None => {
                    let n = global_grad_norm(&model, &grads);
                    ClipStats { norm_before: n, norm_after: n }
                }
            };
            if let Some(reason) = divergence(loss_value, stats.norm_before, &recent_norms, config.divergence_factor) {
                diverged = Some(reason);
                break;
            }
            recent_norms.push(stats.norm_before);
            if recent_norms.len() > 50 {
                recent_norms.remove(0);
            }
            model = optim.step(lr, model, grads);
            st.step += 1;
            sums.add(loss_value, &stats);
            let record = StepRecord {
                epoch,
                step: st.step,
                loss: loss_value,
                grad_norm: stats.norm_before,
                grad_norm_clipped: stats.norm_after,
                lr,
                seconds: step_started.elapsed().as_secs_f64(),
            };
            if let Some(log) = log.as_mut() {
                log.step(&record)?;
            }
            let _ = observer(Event::Step { record: &record, batch: i + 1, batches: batches.len() });
        }
        if let Some(reason) = diverged {
            st.rollbacks += 1;
            epoch_rollbacks += 1;
            st.lr_scale *= 0.5;
            if let Some(log) = log.as_mut() {
                log.event(epoch, st.step + 1, lr, &format!("rollback: {reason}; learning rate halved"))?;
                log.flush()?;
            }
            if st.rollbacks > config.max_rollbacks {
                return Err(Error::Training(format!(
                    "diverged {} times (last at epoch {epoch}, step {}: {reason}); lower the learning rate \
                     (train.learning_rate / --lr, now {})",
                    st.rollbacks,
                    st.step + 1,
                    config.learning_rate
                )));
            }
            let _ = observer(Event::Rollback { epoch, step: st.step + 1, reason: &reason, lr_scale: st.lr_scale });
            (model, optim, st.step) = snapshot;
            recent_norms.clear();
            continue; // the same epoch again, from its start, at half the rate
        }

        let eval_model = model.valid();
        let valid_loss = valid_objective.mean(&eval_model, data.dataset, data.encoding, data.valid, config.batch_size);
        let stats = sums.finish(epoch, valid_loss, lr, started.elapsed().as_secs_f64(), epoch_rollbacks);
        epoch_rollbacks = 0;
        let improved = valid_loss.is_finite()
            && st.best_valid_loss.is_none_or(|b| valid_loss < b * (1.0 - config.min_improvement));
        if improved {
            st.best_valid_loss = Some(valid_loss);
            st.best_epoch = Some(epoch);
            st.epochs_without_improvement = 0;
        } else {
            st.epochs_without_improvement += 1;
        }
        st.epoch = epoch;
        st.history.push(stats.clone());
        if let Some(f) = files {
            let mut meta = f.meta.clone();
            meta.train = config.clone();
            meta.epoch = epoch;
            meta.valid_loss = Some(valid_loss);
            if improved {
                checkpoint::save(&f.best(), &eval_model, &meta, None)?;
            }
            meta.training = Some(st.clone());
            let optimizer =
                optim.into_bytes().map_err(|e| Error::Training(format!("cannot save the optimiser: {e:?}")))?;
            checkpoint::save(&f.last(), &model, &meta, Some(&optimizer))?;
        }
        if let Some(log) = log.as_mut() {
            log.flush()?;
        }
        if improved {
            best_model = Some(eval_model);
        }
        if observer(Event::Epoch { stats: &stats, best: improved }).is_break() {
            interrupted = epoch < config.epochs;
            break;
        }
        if config.patience.is_some_and(|p| st.epochs_without_improvement >= p) {
            let _ = observer(Event::EarlyStop { epoch, best_epoch: st.best_epoch.unwrap_or(0) });
            break;
        }
        epoch += 1;
    }
    let best_epoch = st.best_epoch.ok_or_else(|| {
        Error::Training("no epoch had a finite validation loss; lower the learning rate (--lr)".into())
    })?;
    Ok(TrainOutcome {
        model: best_model.expect("a best epoch has a model"),
        history: st.history,
        best_epoch,
        best_valid_loss: st.best_valid_loss.unwrap_or(f64::NAN),
        interrupted,
    })
}

impl TrainingState {
    fn fresh() -> Self {
        Self {
            epoch: 0,
            step: 0,
            lr_scale: 1.0,
            rollbacks: 0,
            best_epoch: None,
            best_valid_loss: None,
            epochs_without_improvement: 0,
            history: vec![],
        }
    }
}

/// Weights, optimiser and state from a run's `last.ckpt`, checked against this run's settings.
fn resume_from(
    path: &Path,
    model_config: &ModelConfig,
    config: &TrainConfig,
    device: &Device,
    optim: burn::optim::ModuleOptimizer,
) -> Result<(TrajectoryModel, burn::optim::ModuleOptimizer, TrainingState)> {
    let ck = checkpoint::load(path, device)?;
    let (Some(state), Some(optimizer)) = (ck.meta.training.clone(), ck.optimizer) else {
        return Err(Error::Config(format!(
            "{}: holds no training state to resume from (use last.ckpt)",
            path.display()
        )));
    };
    if &ck.meta.model != model_config {
        return Err(Error::Config(format!("{}: the model configuration differs from this run's", path.display())));
    }
    if ck.meta.train != *config {
        return Err(Error::Config(format!(
            "{}: the training settings differ from this run's; resume with the run's config.toml",
            path.display()
        )));
    }
    check_optimizer_state(&optimizer, &ck.model)
        .map_err(|m| Error::invalid(Location::file(path).column("optimizer"), format!("optimiser state: {m}")))?;
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(optimizer))
        .map_err(|e| Error::Training(format!("{}: cannot restore the optimiser: {e:?}", path.display())))?;
    Ok((ck.model, optim, state))
}

/// Checks the optimiser's burnpack before burn decodes it: burn-optim panics on a state tensor
/// without a parameter id or a parameter rank it has no state type for, and takes a tensor of
/// another shape or rank than its parameter, to panic at the first step. Every state tensor
/// must be an f32 tensor of the shape of a parameter of `model`, and every rank it records
/// (burn-optim's `<id>.__rank` scalars) that parameter's rank.
fn check_optimizer_state(bytes: &[u8], model: &TrajectoryModel) -> std::result::Result<(), String> {
    struct Shapes(HashMap<u64, Vec<usize>>);
    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.insert(param.id.val(), param.shape().as_slice().to_vec());
        }
    }
    let mut shapes = Shapes(HashMap::new());
    model.visit(&mut shapes);
    let reader = burn_pack::Reader::from_bytes(burn_pack::Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| crate::error::parser_message(format!("{e:?}")))?;
    for (key, value) in reader.scalars() {
        // burn-optim reads these keys, and ignores them, exactly when both parts parse.
        let Some(id) = key.strip_suffix(".__rank").and_then(|id| id.parse::<u64>().ok()) else { continue };
        let Ok(rank) = usize::try_from(*value) else { continue };
        if shapes.0.get(&id).is_none_or(|shape| shape.len() != rank) {
            return Err(format!("{} records rank {rank}, not that of a parameter of the model", quote(key)));
        }
    }
    let tensors = reader.into_tensors().map_err(|e| crate::error::parser_message(format!("{e:?}")))?;
    for t in tensors {
        let name = quote(&t.name);
        let Some(shape) = t.param_id.and_then(|id| shapes.0.get(&id)) else {
            return Err(format!("tensor {name} belongs to no parameter of the model"));
        };
        let expected = shape.iter().product::<usize>() * 4;
        if t.dtype != burn_pack::DType::F32 || t.shape.as_slice() != shape || t.byte_len() != expected {
            return Err(format!("tensor {name} has shape {:?}, its parameter {shape:?}", t.shape.as_slice()));
        }
    }
    Ok(())
}

/// Why a step counts as a divergence, if it does.
fn divergence(loss: f64, norm: f64, recent: &[f64], factor: f64) -> Option<String> {
    if !loss.is_finite() {
        return Some(format!("loss is {loss}"));
    }
    if !norm.is_finite() {
        return Some(format!("gradient norm is {norm}"));
    }
    if recent.len() >= 10 {
        let mut sorted = recent.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        if norm > factor * median {
            return Some(format!("gradient norm {norm:.3e} is {:.0}× the recent median {median:.3e}", norm / median));
        }
    }
    None
}

#[derive(Default)]
struct EpochSums {
    loss: f64,
    norm: f64,
    clipped: usize,
    steps: usize,
}

impl EpochSums {
    fn add(&mut self, loss: f64, stats: &ClipStats) {
        self.loss += loss;
        self.norm += stats.norm_before;
        self.clipped += stats.clipped() as usize;
        self.steps += 1;
    }
    fn finish(self, epoch: usize, valid_loss: f64, lr: f64, seconds: f64, rollbacks: usize) -> EpochStats {
        let n = self.steps as f64;
        let mean = |v: f64| (self.steps > 0).then(|| v / n);
        EpochStats {
            epoch,
            train_loss: mean(self.loss),
            valid_loss,
            grad_norm: mean(self.norm),
            clipped: mean(self.clipped as f64),
            steps: self.steps,
            rollbacks,
            lr,
            seconds,
        }
    }
}

/// The previous step's final state rearranged for this step's rows (truncated BPTT): row `r`
/// continues row `carry[r]`, or starts from zero.
fn carry_state(state: RecurrentState, carry: &[Option<usize>], device: &Device) -> RecurrentState {
    let rows: Vec<i64> = carry.iter().map(|c| c.unwrap_or(0) as i64).collect();
    let keep: Vec<f32> = carry.iter().map(|c| c.is_some() as u8 as f32).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(rows, [carry.len()]), device);
    let keep = Tensor::<2>::from_data(TensorData::new(keep, [carry.len(), 1]), device);
    let layers = state
        .layers
        .into_iter()
        .map(|l| crate::model::LayerState {
            h: l.h.select(0, index.clone()),
            c: l.c.map(|c| c.select(0, index.clone())),
        })
        .collect();
    RecurrentState { layers }.mask_rows(&keep)
}

/// What a training step minimises: the one-step MSE (encoded units) over a window, plus, with
/// `rollout_steps`, the weighted error of free-running steps after it.
pub struct Objective {
    rollout_steps: usize,
    rollout_weight: f64,
    /// Per free-running step, the base rule's error scale `[1, D]`.
    scales: Vec<Tensor<2>>,
    encoding: rollout_loss::EncodingTensors,
    history: usize,
    device: Device,
}

impl Objective {
    /// `scales`: see [`rollout_loss::base_error_scales`] (empty without free-running steps).
    pub fn new(config: &TrainConfig, encoding: &Encoding, scales: &[Vec<f32>], device: &Device) -> Self {
        Self {
            rollout_steps: config.rollout_steps,
            rollout_weight: config.rollout_weight,
            scales: scales.iter().map(|v| rollout_loss::row(v, device)).collect(),
            encoding: rollout_loss::EncodingTensors::new(encoding, device),
            history: encoding.history(),
            device: device.clone(),
        }
    }

    /// The loss of one batch (dropout masks from `rng` when training) and the final state.
    pub fn loss(
        &self,
        model: &TrajectoryModel,
        mut batch: Batch,
        state: Option<RecurrentState>,
        rng: Option<&mut StdRng>,
    ) -> (Tensor<1>, RecurrentState) {
        let [b, context, d] = [batch.batch, batch.context, batch.target_dim];
        let k = self.rollout_steps;
        // The raw frames only feed the free-running steps.
        let frames = (k > 0).then(|| {
            let shape = [b, self.history + context + 1, d];
            Tensor::<3>::from_data(TensorData::new(std::mem::take(&mut batch.frames), shape), &self.device)
        });
        let (mut input, mut target) = batch_tensors(batch, &self.device);
        let teacher = if k > 0 { context - (k - 1) } else { context };
        if k > 0 {
            input = input.narrow(1, 0, teacher);
            target = target.narrow(1, 0, teacher);
        }
        let out = match rng {
            Some(rng) => model.forward_train(input, state, rng),
            None => model.forward(input, state),
        };
        let mut loss = (out.output.clone() - target).square().mean();
        if let Some(frames) = frames {
            let y_last = out.output.narrow(1, teacher - 1, 1).squeeze_dim::<2>(1);
            let current = self.history + teacher - 1;
            let free = rollout_loss::rollout_loss(
                model,
                &self.encoding,
                &frames,
                current,
                self.history,
                y_last,
                out.state.clone(),
                &self.scales,
            );
            loss = loss + free * self.rollout_weight as f32;
        }
        (loss, out.state)
    }

    /// The mean loss of `model` over `windows`, each from the zero state, in inference mode.
    pub fn mean(
        &self,
        model: &TrajectoryModel,
        dataset: &Dataset,
        encoding: &Encoding,
        windows: &[Window],
        batch_size: usize,
    ) -> f64 {
        let (mut sum, mut count) = (0.0, 0usize);
        for chunk in windows.chunks(batch_size.max(1)) {
            let (loss, _) = self.loss(model, gather_batch(dataset, encoding, chunk), None, None);
            sum += loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
            count += chunk.len();
        }
        sum / count.max(1) as f64
    }
}

/// Mean one-step MSE (encoded units) of `model` over `windows`, each from the zero state.
pub fn mean_loss(
    model: &TrajectoryModel,
    dataset: &Dataset,
    encoding: &Encoding,
    windows: &[Window],
    batch_size: usize,
    device: &Device,
) -> f64 {
    let objective = Objective::new(&TrainConfig::default(), encoding, &[], device);
    objective.mean(model, dataset, encoding, windows, batch_size)
}

/// The batch as `[batch, context, input_dim]` inputs and `[batch, context, dim]` targets.
pub fn batch_tensors(batch: Batch, device: &Device) -> (Tensor<3>, Tensor<3>) {
    let input = Tensor::from_data(TensorData::new(batch.inputs, [batch.batch, batch.context, batch.input_dim]), device);
    let target =
        Tensor::from_data(TensorData::new(batch.targets, [batch.batch, batch.context, batch.target_dim]), device);
    (input, target)
}
