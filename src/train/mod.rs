//! Training by backpropagation through time (full, or truncated with the state carried across
//! consecutive windows), with a configurable optimiser, a warm-up + cosine learning-rate
//! schedule, global-norm clipping, dropout between layers, input noise, early stopping on a
//! validation score, and divergence rollback.
//!
//! The trainer writes nothing itself: it reports every step and epoch to an observer (with the
//! weights, optimiser state and [`TrainingState`] a checkpoint needs), so the caller decides what
//! goes to disk (`run` writes `best.ckpt`, `last.ckpt` and `log.csv`) and what is printed. A
//! resumed run given the state of an epoch boundary ends with the same weights, bit for bit, as
//! an uninterrupted one.

pub mod batches;
pub(crate) mod clip;
pub(crate) mod objective;
pub(crate) mod optim;
mod prepare;
pub(crate) mod records;
pub(crate) mod schedule;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

pub use clip::ClipStats;
pub use clip::{clip_global_norm, global_grad_norm};
pub use objective::{Batch, gather_batch};
pub(crate) use objective::{Objective, ObjectiveConfig};
pub use optim::OptimizerConfig;
pub use prepare::{Prepared, prepare};
pub use records::StepRecord;
pub use records::{EpochStats, TrainingState};
pub use schedule::Schedule;

use crate::data::{Dataset, Segment, Window};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::limits::check_count;
use crate::model::{ModelConfig, RecurrentState, TrajectoryModel};

/// Everything about how a model is trained (the `train` section of the run configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Most epochs to run (early stopping may end sooner).
    pub epochs: usize,
    /// Windows per optimiser step.
    pub batch_size: usize,
    /// Base learning rate.
    pub learning_rate: f64,
    /// The optimiser and its settings.
    pub optimizer: OptimizerConfig,
    /// How the learning rate evolves after the warm-up.
    pub schedule: Schedule,
    /// Optimiser steps of linear warm-up.
    pub warmup_steps: usize,
    /// The cosine schedule ends at this fraction of the base rate.
    pub min_lr_factor: f64,
    /// Global gradient-norm bound; `None` (`"none"` in a file) trains without clipping.
    #[serde(with = "none_as_text")]
    pub clip_norm: Option<f64>,
    /// Truncated BPTT: cut the graph every `k` steps and carry the state across consecutive
    /// windows; `None` (`"none"` in a file) is full BPTT over each window.
    #[serde(with = "none_as_text")]
    pub tbptt: Option<usize>,
    /// What the best epoch and early stopping are decided by, on the validation part.
    pub selection: Selection,
    /// Stop after this many epochs without a better validation score; `None` (`"none"` in a
    /// file) never stops early.
    #[serde(with = "none_as_text")]
    pub patience: Option<usize>,
    /// A validation score counts as better when it is below the best by this fraction.
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
    /// Standard deviation of Gaussian noise added to the teacher-forced inputs (in standardised
    /// input units), so the model learns to recover from inputs that are off, as its own fed-back
    /// predictions are (0: none).
    pub input_noise: f64,
    /// Seed of the initial weights, the batch order, the dropout masks and the input noise.
    pub seed: u64,
}

/// Whether `text` turns an optional setting off (`none` or `off`, any case), in a configuration
/// file and on the command line alike.
pub fn is_off(text: &str) -> bool {
    matches!(text.to_ascii_lowercase().as_str(), "none" | "off")
}

/// An optional setting in a configuration file: `None` is written as `"none"`, since TOML has
/// no null and a left-out key reads back as the default (which may be on). Reads a value, a word
/// that [`is_off`], or null (as JSON checkpoint headers of earlier versions hold it).
mod none_as_text {
    use serde::de::{DeserializeOwned, Error as _, IgnoredAny};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => v.serialize(s),
            None => s.serialize_str("none"),
        }
    }

    /// What the file may hold; a value that fits no variant is named in the error below.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting<T> {
        Value(T),
        Word(String),
        Other(IgnoredAny),
    }

    pub(super) fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        match Option::<Setting<T>>::deserialize(d)? {
            None => Ok(None),
            Some(Setting::Value(v)) => Ok(Some(v)),
            Some(Setting::Word(w)) if super::is_off(&w) => Ok(None),
            Some(Setting::Word(w)) => Err(D::Error::custom(format!("expected a number or \"none\", got {w:?}"))),
            Some(Setting::Other(_)) => Err(D::Error::custom("expected a number of the right kind, or \"none\"")),
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 32,
            learning_rate: 2e-3,
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::Cosine,
            warmup_steps: 20,
            min_lr_factor: 0.05,
            clip_norm: Some(1.0),
            tbptt: None,
            // The default recipe chooses its best epoch by the evaluation's own score on
            // validation (docs/prediction-quality.md); trainer-only callers without a scorer pass
            // `Selection::Loss`.
            selection: Selection::Rollout,
            patience: Some(5),
            min_improvement: 1e-4,
            divergence_factor: 1e4,
            max_rollbacks: 4,
            // Free-running training steps: measured to matter most for long horizons
            // (docs/prediction-quality.md).
            rollout_steps: 32,
            rollout_weight: 1.0,
            input_noise: 0.0,
            seed: 0,
        }
    }
}

/// What decides the best epoch (and early stopping).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The training objective on the validation windows.
    #[default]
    Loss,
    /// The rollout score on the validation part, as the evaluation measures it (the caller
    /// supplies it: see `run`), with the untrained model as a candidate too.
    Rollout,
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
        check_count("train.epochs (--epochs)", self.epochs, 1)?;
        check_count("train.batch_size (--batch-size)", self.batch_size, 1)?;
        check_count("train.warmup_steps (--warmup-steps)", self.warmup_steps, 0)?;
        check_count("train.max_rollbacks", self.max_rollbacks, 0)?;
        check_count("train.rollout_steps (--rollout-steps)", self.rollout_steps, 0)?;
        positive("train.learning_rate (--lr)", self.learning_rate)?;
        self.optimizer.validate()?;
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
        if !(self.input_noise.is_finite() && (0.0..=10.0).contains(&self.input_noise)) {
            return Err(Error::option("train.input_noise", format!("must be in [0, 10], got {}", self.input_noise)));
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
    /// The data, channels in the model's order.
    pub dataset: &'a Dataset,
    /// The encoding fitted on the training part.
    pub encoding: &'a Encoding,
    /// Training segments (truncated BPTT cuts its own chains from them).
    pub train_segments: &'a [Segment],
    /// Training windows (full BPTT; truncated BPTT cuts its own from `train_segments`).
    pub train: &'a [Window],
    /// Validation windows, for the validation loss (may be empty with [`Selection::Rollout`]).
    pub valid: &'a [Window],
}

/// What a checkpoint of the run at one moment needs: the training weights, the optimiser's
/// state (burnpack bytes) and where the run stands.
pub struct Snapshot<'a> {
    /// The training weights (on the autodiff device).
    pub model: &'a TrajectoryModel,
    /// The optimiser's state, as burnpack bytes.
    pub optimizer: &'a [u8],
    /// Where the run stands.
    pub state: &'a TrainingState,
}

/// What the trainer reports as it goes.
pub enum Event<'a> {
    /// The untrained model's validation score (the candidate of epoch 0).
    Initial {
        /// Its validation score (lower is better).
        score: f64,
        /// The untrained weights, in inference mode.
        model: &'a TrajectoryModel,
    },
    /// An optimiser step was taken.
    Step {
        /// What the step did.
        record: &'a StepRecord,
        /// 1-based index of the step in its epoch.
        batch: usize,
        /// Steps in this epoch.
        batches: usize,
    },
    /// An epoch ended. `best` holds the weights (inference mode) when its score is the best so
    /// far. Returning `ControlFlow::Break` stops the run here.
    Epoch {
        /// The epoch's statistics.
        stats: &'a EpochStats,
        /// The epoch's weights in inference mode, when they are the best so far.
        best: Option<&'a TrajectoryModel>,
        /// The state at the epoch's end (what `last.ckpt` stores).
        snapshot: Snapshot<'a>,
    },
    /// The epoch diverged at `step` (learning rate `lr`) and restarts at `lr_scale` × the schedule.
    Rollback {
        /// The epoch that restarts.
        epoch: usize,
        /// The optimiser step (1-based) that diverged.
        step: usize,
        /// Its learning rate.
        lr: f64,
        /// Why it counts as a divergence (a non-finite loss or gradient norm, or a norm spike).
        reason: &'a str,
        /// The new factor on the scheduled learning rate (halved).
        lr_scale: f64,
    },
    /// `patience` epochs passed without a better validation score: the run ends.
    EarlyStop {
        /// The last epoch run.
        epoch: usize,
        /// The best epoch (0: the untrained model), whose weights the outcome holds.
        best_epoch: usize,
    },
    /// The stop flag was set: the run ends at a step boundary; `snapshot` is the state at the
    /// start of the interrupted epoch, which a resumed run continues from bit for bit.
    Interrupted {
        /// The interrupted epoch (a resumed run repeats it).
        epoch: usize,
        /// The state at the start of that epoch.
        snapshot: Snapshot<'a>,
    },
}

/// How a run starts.
#[allow(clippy::large_enum_variant)] // one per run: boxing the models would buy nothing
pub enum Start {
    /// From newly initialised weights (seeded by [`TrainConfig::seed`]) and a fresh optimiser.
    Fresh,
    /// From a run's last checkpoint: its training weights (on the autodiff device), optimiser
    /// state and training state, and the best weights so far (when the state names a best
    /// epoch).
    Resume {
        /// The training weights (on the autodiff device).
        model: TrajectoryModel,
        /// The optimiser's state, as burnpack bytes.
        optimizer: Vec<u8>,
        /// Where the run stood.
        state: TrainingState,
        /// The best weights so far, in inference mode.
        best: Option<TrajectoryModel>,
    },
}

/// Scores a model on validation (lower is better).
pub(crate) type Scorer<'a> = &'a mut dyn FnMut(&TrajectoryModel) -> Result<f64>;

/// What the caller plugs into a run.
pub struct Hooks<'a> {
    /// Receives every event; an error (a checkpoint that cannot be written) ends the run.
    pub observer: &'a mut dyn FnMut(Event) -> Result<ControlFlow<()>>,
    /// The validation score of a model (inference mode), for [`Selection::Rollout`].
    pub score: Option<Scorer<'a>>,
    /// Checked at every step boundary (Ctrl-C, SIGTERM).
    pub stop: Option<&'a AtomicBool>,
}

/// What [`train`] returns.
pub struct TrainOutcome {
    /// The weights of the best validation epoch (in inference mode, on the plain device).
    pub model: TrajectoryModel,
    /// Statistics of every completed epoch, in order (a resumed run's earlier ones included).
    pub history: Vec<EpochStats>,
    /// 0 when the untrained model scored best.
    pub best_epoch: usize,
    /// Validation score of `best_epoch` (lower is better).
    pub best_score: f64,
    /// The run ended before `epochs` because the observer or the stop flag asked it to.
    pub interrupted: bool,
}

/// Trains a model. Seeded runs on a CPU backend are reproducible, and a resumed run ends with the
/// same weights as an uninterrupted one.
pub fn train(
    model_config: &ModelConfig,
    data: TrainingSet,
    config: &TrainConfig,
    device: &Device,
    start: Start,
    hooks: Hooks,
) -> Result<TrainOutcome> {
    model_config.validate()?;
    config.validate()?;
    crate::heap::keep_freed_memory();
    if data.train.is_empty() {
        return Err(Error::Config("the training part holds no window".into()));
    }
    let Hooks { observer, mut score, stop } = hooks;
    match config.selection {
        Selection::Rollout if score.is_none() => {
            return Err(Error::Config(
                "train.selection = \"rollout\" needs a scorer (`Hooks::score`, as `run::train` passes); \
                 use Selection::Loss without one"
                    .into(),
            ));
        }
        Selection::Loss if data.valid.is_empty() => {
            return Err(Error::Config(
                "the validation part holds no window to compute the validation loss on (use a shorter --context, \
                 fewer --rollout-steps or --selection rollout)"
                    .into(),
            ));
        }
        _ => {}
    }
    let plain = device.clone().without_autodiff();
    let train_device = plain.clone().autodiff();
    let scales = free_running_scales(&data, config)?;
    let loss = run_objective(&data, config, &scales, &train_device);
    let valid_loss_of = run_objective(&data, config, &scales, &plain);
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
    let total_steps = plan(1).len().saturating_mul(config.epochs);

    let (mut model, mut optim, mut st, mut best_model) = match start {
        Start::Fresh => {
            (model_config.init(&train_device, config.seed), config.optimizer.init(), TrainingState::fresh(), None)
        }
        Start::Resume { model, optimizer, state, best } => {
            let optim = config
                .optimizer
                .init()
                .from_bytes(Bytes::from_bytes_vec(optimizer))
                .map_err(|e| Error::Training(format!("cannot restore the optimiser: {e:?}")))?;
            (model, optim, state, best)
        }
    };
    // The untrained model is a candidate too: with a zero head it is its base rule, and a
    // model that cannot beat that on validation should not replace it.
    let mut select = |model: &TrajectoryModel, valid_loss: f64| -> Result<f64> {
        match score.as_deref_mut() {
            Some(f) if config.selection == Selection::Rollout => f(model),
            _ => Ok(valid_loss),
        }
    };
    if st.epoch == 0 && st.step == 0 && config.selection == Selection::Rollout {
        let initial = model.valid();
        let s = select(&initial, f64::NAN)?;
        st.initial_score = Some(s);
        if s.is_finite() {
            st.best_epoch = Some(0);
            st.best_score = Some(s);
            let _ = observer(Event::Initial { score: s, model: &initial })?;
            best_model = Some(initial);
        }
    }
    let mut recent_norms: Vec<f64> = Vec::new();
    let mut interrupted = false;
    let mut epoch_rollbacks = 0;

    let mut epoch = st.epoch + 1;
    while epoch <= config.epochs {
        let started = Instant::now();
        let snapshot = (model.clone(), optim.clone(), st.clone());
        let batches = plan(epoch);
        let mut sums = EpochSums::default();
        let mut carried: Option<RecurrentState> = None;
        let mut diverged: Option<String> = None;
        let mut lr = 0.0;
        for (i, planned) in batches.iter().enumerate() {
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                interrupted = true;
                break;
            }
            let step_started = Instant::now();
            lr = st.lr_scale * scheduled_lr(config, st.step, total_steps);
            let batch = gather_batch(data.dataset, data.encoding, &planned.windows, loss.needs_frames());
            let state = carried.take().map(|s| carry_state(s, &planned.carry, &train_device));
            let mut rng = StdRng::seed_from_u64(batches::derived_seed(config.seed, epoch, st.step + 1));
            let StepGradients { value, grads, stats, carried: next } =
                step_gradients(&model, &loss, batch, state, &mut rng, config.clip_norm, config.tbptt.is_some());
            carried = next;
            if let Some(reason) = divergence(value, stats.norm_before, &recent_norms, config.divergence_factor) {
                diverged = Some(reason);
                break;
            }
            recent_norms.push(stats.norm_before);
            if recent_norms.len() > 50 {
                recent_norms.remove(0);
            }
            model = optim.step(lr, model, grads);
            st.step += 1;
            sums.add(value, &stats);
            let record = StepRecord {
                epoch,
                step: st.step,
                loss: value,
                grad_norm: stats.norm_before,
                grad_norm_clipped: stats.norm_after,
                lr,
                seconds: step_started.elapsed().as_secs_f64(),
            };
            let _ = observer(Event::Step { record: &record, batch: i + 1, batches: batches.len() })?;
        }
        if interrupted {
            let (model, optim, state) = &snapshot;
            let optimizer = optimizer_bytes(optim)?;
            let _ = observer(Event::Interrupted { epoch, snapshot: Snapshot { model, optimizer: &optimizer, state } })?;
            break;
        }
        if let Some(reason) = diverged {
            st.rollbacks += 1;
            epoch_rollbacks += 1;
            st.lr_scale *= 0.5;
            if st.rollbacks > config.max_rollbacks {
                return Err(Error::Training(format!(
                    "diverged {} times (last at epoch {epoch}, step {}: {reason}); lower the learning rate \
                     (train.learning_rate / --lr, now {})",
                    st.rollbacks,
                    st.step + 1,
                    config.learning_rate
                )));
            }
            let _ = observer(Event::Rollback { epoch, step: st.step + 1, lr, reason: &reason, lr_scale: st.lr_scale })?;
            let (lr_scale, rollbacks) = (st.lr_scale, st.rollbacks);
            (model, optim, st) = snapshot;
            (st.lr_scale, st.rollbacks) = (lr_scale, rollbacks);
            recent_norms.clear();
            continue; // the same epoch again, from its start, at half the rate
        }

        let eval_model = model.valid();
        let valid_loss = valid_loss_of.mean(&eval_model, data.dataset, data.encoding, data.valid, config.batch_size);
        let valid_score = select(&eval_model, valid_loss)?;
        let stats = sums.finish(epoch, valid_loss, valid_score, lr, started.elapsed().as_secs_f64(), epoch_rollbacks);
        epoch_rollbacks = 0;
        let improved = valid_score.is_finite()
            && st.best_score.is_none_or(|b| valid_score < b - (b.abs() * config.min_improvement));
        if improved {
            st.best_score = Some(valid_score);
            st.best_epoch = Some(epoch);
            st.epochs_without_improvement = 0;
        } else {
            st.epochs_without_improvement += 1;
        }
        st.epoch = epoch;
        st.history.push(stats.clone());
        let optimizer = optimizer_bytes(&optim)?;
        let flow = observer(Event::Epoch {
            stats: &stats,
            best: improved.then_some(&eval_model),
            snapshot: Snapshot { model: &model, optimizer: &optimizer, state: &st },
        })?;
        if improved {
            best_model = Some(eval_model);
        }
        if flow.is_break() {
            interrupted = epoch < config.epochs;
            break;
        }
        if config.patience.is_some_and(|p| st.epochs_without_improvement >= p) {
            let _ = observer(Event::EarlyStop { epoch, best_epoch: st.best_epoch.unwrap_or(0) })?;
            break;
        }
        epoch += 1;
    }
    let (Some(best_epoch), Some(model)) = (st.best_epoch, best_model) else {
        if interrupted {
            return Err(Error::Training("interrupted before the first epoch ended; resume with --resume".into()));
        }
        return Err(Error::Training("no epoch had a finite validation score; lower the learning rate (--lr)".into()));
    };
    Ok(TrainOutcome {
        model,
        history: st.history,
        best_epoch,
        best_score: st.best_score.unwrap_or(f64::NAN),
        interrupted,
    })
}

/// How far the base rule alone is off at each free-running step (empty without free-running
/// steps), after checking that the windows leave a teacher-forced part before them.
fn free_running_scales(data: &TrainingSet, config: &TrainConfig) -> Result<Vec<Vec<f32>>> {
    let context = data.train[0].context;
    if config.rollout_steps > 0 && context < config.rollout_steps {
        return Err(Error::Config(format!(
            "windows of {context} steps leave no teacher-forced part before {} free-running steps",
            config.rollout_steps
        )));
    }
    Ok(match config.rollout_steps {
        0 => vec![],
        k => objective::base_error_scales(data.dataset, data.encoding, data.train, context - (k - 1), k),
    })
}

/// The objective a run minimises, on `device` (`scales`: see [`free_running_scales`]).
fn run_objective(data: &TrainingSet, config: &TrainConfig, scales: &[Vec<f32>], device: &Device) -> Objective {
    let roles = data.dataset.meta.roles();
    let objective = ObjectiveConfig {
        rollout_steps: config.rollout_steps,
        rollout_weight: config.rollout_weight,
        input_noise: config.input_noise,
        roles: &roles,
    };
    Objective::new(&objective, data.encoding, scales, device)
}

/// The scheduled learning rate of optimiser step `step` (0-based) of `total` (before any
/// rollback's factor).
fn scheduled_lr(config: &TrainConfig, step: usize, total: usize) -> f64 {
    schedule::learning_rate(
        config.learning_rate,
        config.schedule,
        config.warmup_steps,
        config.min_lr_factor,
        step,
        total,
    )
}

/// What [`step_gradients`] gives the optimiser step.
struct StepGradients {
    /// The batch's loss.
    value: f64,
    /// The gradients, clipped.
    grads: GradientsParams,
    /// The global gradient norm before and after clipping.
    stats: ClipStats,
    /// The final state with its graph cut, when asked for (truncated BPTT carries it on).
    carried: Option<RecurrentState>,
}

/// The per-batch work of a training step before the optimiser step: the objective on `batch`
/// from `state` (zeros when `None`; every member of an ensemble, and the free-running steps),
/// with dropout masks and input noise drawn from `rng`; the loss read back; the backward pass;
/// global-norm clipping at `clip_norm` (the norm alone without it).
fn step_gradients(
    model: &TrajectoryModel,
    objective: &Objective,
    batch: Batch,
    state: Option<RecurrentState>,
    rng: &mut StdRng,
    clip_norm: Option<f64>,
    carry: bool,
) -> StepGradients {
    let (loss_value, final_state) = objective.loss(model, batch, state, Some(rng));
    let carried = carry.then(|| final_state.detach());
    let value = loss_value.clone().into_scalar::<f32>() as f64;
    let mut grads = GradientsParams::from_grads(loss_value.backward(), model);
    let stats = match clip_norm {
        Some(max) => clip_global_norm(model, &mut grads, max),
        None => {
            let n = global_grad_norm(model, &grads);
            ClipStats { norm_before: n, norm_after: n }
        }
    };
    StepGradients { value, grads, stats, carried }
}

/// The time one optimiser step of [`time_steps`] took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepTiming {
    /// The whole step, in seconds: gathering the batch, the objective (every member, the
    /// free-running steps included), reading the loss back, the backward pass, clipping and the
    /// optimiser step.
    pub seconds: f64,
    /// Of which gathering the batch on the host (encoding its windows), in seconds.
    pub gather_seconds: f64,
}

/// Times training steps exactly as [`train`] takes them, for benchmarks: from freshly
/// initialised weights (seeded by [`TrainConfig::seed`]) and a fresh optimiser, the batches of
/// epoch 1 (then 2, …) in [`train`]'s order, each step gathered, scored by the same objective,
/// clipped and applied with the scheduled learning rate by the same code. `warmup` steps run
/// untimed, then `steps` are timed.
///
/// Only what a benchmark does not need is left out: nothing is reported, no divergence is
/// checked (every step is applied), there is no validation, and batches with fewer than
/// `batch_size` windows (an epoch's last, when the windows do not divide evenly) are skipped, so
/// that every timed step has `batch_size` windows. Full BPTT only (the default, and the only
/// kind that free-running steps combine with).
pub fn time_steps(
    model_config: &ModelConfig,
    data: TrainingSet,
    config: &TrainConfig,
    device: &Device,
    warmup: usize,
    steps: usize,
) -> Result<Vec<StepTiming>> {
    model_config.validate()?;
    config.validate()?;
    if config.tbptt.is_some() {
        return Err(Error::Config("time_steps times full-BPTT steps; train.tbptt must be none".into()));
    }
    if data.train.len() < config.batch_size {
        return Err(Error::Config(format!(
            "{} training windows do not fill one batch of {}",
            data.train.len(),
            config.batch_size
        )));
    }
    crate::heap::keep_freed_memory();
    let train_device = device.clone().without_autodiff().autodiff();
    let scales = free_running_scales(&data, config)?;
    let loss = run_objective(&data, config, &scales, &train_device);
    let plan = |epoch: usize| batches::full_bptt(data.train, config.batch_size, config.seed, epoch);
    let total_steps = plan(1).len().saturating_mul(config.epochs);
    let mut model = model_config.init(&train_device, config.seed);
    let mut optim = config.optimizer.init();
    let mut times = Vec::with_capacity(steps);
    let mut step = 0;
    for epoch in 1.. {
        for planned in plan(epoch).iter().filter(|b| b.windows.len() == config.batch_size) {
            if step == warmup + steps {
                return Ok(times);
            }
            let started = Instant::now();
            let lr = scheduled_lr(config, step, total_steps);
            let batch = gather_batch(data.dataset, data.encoding, &planned.windows, loss.needs_frames());
            let gather_seconds = started.elapsed().as_secs_f64();
            let mut rng = StdRng::seed_from_u64(batches::derived_seed(config.seed, epoch, step + 1));
            let g = step_gradients(&model, &loss, batch, None, &mut rng, config.clip_norm, false);
            model = optim.step(lr, model, g.grads);
            step += 1;
            if step > warmup {
                times.push(StepTiming { seconds: started.elapsed().as_secs_f64(), gather_seconds });
            }
        }
    }
    unreachable!("the epochs are unbounded")
}

/// The optimiser's state as burnpack bytes (what a checkpoint stores).
fn optimizer_bytes(optim: &ModuleOptimizer) -> Result<Vec<u8>> {
    Ok(optim.into_bytes().map_err(|e| Error::Training(format!("cannot save the optimiser: {e:?}")))?.to_vec())
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
    fn finish(
        self,
        epoch: usize,
        valid_loss: f64,
        valid_score: f64,
        lr: f64,
        seconds: f64,
        rollbacks: usize,
    ) -> EpochStats {
        let n = self.steps as f64;
        let mean = |v: f64| (self.steps > 0).then(|| v / n);
        EpochStats {
            epoch,
            train_loss: mean(self.loss),
            valid_loss,
            valid_score,
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

/// Mean one-step loss (encoded units, the encoding's channel weights) of `model` over `windows`,
/// each from the zero state.
#[cfg_attr(not(feature = "experiments"), allow(dead_code))]
pub(crate) fn mean_loss(
    model: &TrajectoryModel,
    dataset: &Dataset,
    encoding: &Encoding,
    windows: &[Window],
    batch_size: usize,
    device: &Device,
) -> f64 {
    let roles = dataset.meta.roles();
    let config = ObjectiveConfig { rollout_steps: 0, rollout_weight: 0.0, input_noise: 0.0, roles: &roles };
    Objective::new(&config, encoding, &[], device).mean(model, dataset, encoding, windows, batch_size)
}
