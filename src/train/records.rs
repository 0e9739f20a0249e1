//! What a training run records as it goes: one [`StepRecord`] per optimiser step, one
//! [`EpochStats`] per epoch, and the [`TrainingState`] a run resumes from. Checkpoints store the
//! last two; this module imports nothing above the error type, so the checkpoint format can
//! depend on it without depending on the trainer.

use serde::{Deserialize, Serialize};

/// One optimiser step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Epoch (1-based) the step belongs to.
    pub epoch: usize,
    /// 1-based optimiser step over the whole run.
    pub step: usize,
    /// The objective on the step's batch, before the update.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Global gradient norm after clipping (equal to `grad_norm` when nothing was clipped).
    pub grad_norm_clipped: f64,
    /// Learning rate of the step (the schedule times `lr_scale`).
    pub lr: f64,
    /// Wall time of the step, seconds.
    pub seconds: f64,
}

/// One epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (the one-step MSE in encoded units, plus the
    /// weighted free-running loss); `None` when no step ran.
    pub train_loss: Option<f64>,
    /// The same objective on the validation windows, in inference mode.
    #[serde(with = "nan_as_null")]
    pub valid_loss: f64,
    /// What the best epoch is chosen by, on the validation part (lower is better): the
    /// validation loss, or the rollout score (see `train::Selection`).
    #[serde(with = "nan_as_null")]
    pub valid_score: f64,
    /// Mean global gradient norm before clipping.
    pub grad_norm: Option<f64>,
    /// Share of steps whose gradient was clipped.
    pub clipped: Option<f64>,
    /// Optimiser steps taken in the epoch.
    pub steps: usize,
    /// Times the epoch diverged and was rolled back to its start before it completed.
    #[serde(default)]
    pub rollbacks: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch, validation included, seconds.
    pub seconds: f64,
}

/// Where a run stands, for `--resume` (only in `last.ckpt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps taken.
    pub step: usize,
    /// Factor on the scheduled learning rate (halved at each divergence rollback).
    pub lr_scale: f64,
    /// Divergence rollbacks so far in the run (it fails beyond `train.max_rollbacks`).
    pub rollbacks: usize,
    /// The epoch whose weights are best on validation so far (0: the untrained model).
    pub best_epoch: Option<usize>,
    /// Its validation score.
    #[serde(alias = "best_valid_loss")]
    pub best_score: Option<f64>,
    /// The untrained model's validation score (what epoch 0 is compared by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_score: Option<f64>,
    /// Epochs since the best one (early stopping ends the run at `train.patience`).
    pub epochs_without_improvement: usize,
    /// Statistics of every completed epoch, in order.
    pub history: Vec<EpochStats>,
}

impl TrainingState {
    /// The state of a run that has not taken a step.
    pub fn fresh() -> Self {
        Self {
            epoch: 0,
            step: 0,
            lr_scale: 1.0,
            rollbacks: 0,
            best_epoch: None,
            best_score: None,
            initial_score: None,
            epochs_without_improvement: 0,
            history: vec![],
        }
    }

    /// The validation score of epoch `epoch` (0: the untrained model).
    pub(crate) fn score_of(&self, epoch: usize) -> Option<f64> {
        match epoch {
            0 => self.initial_score,
            e => self.history.get(e - 1).map(|h| h.valid_score),
        }
    }

    /// Checks that the state is one a run can have written, so that a resumed run continues
    /// from it (rather than failing later with a message about something else).
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.lr_scale > 0.0 && self.lr_scale <= 1.0) {
            // A resumed run multiplies its learning rate by this: negative would ascend.
            return Err(format!("lr_scale must be in (0, 1], got {}", self.lr_scale));
        }
        if self.history.len() != self.epoch {
            return Err(format!("history holds {} epochs where {} were completed", self.history.len(), self.epoch));
        }
        if self.history.iter().enumerate().any(|(i, h)| h.epoch != i + 1) {
            return Err("history epochs must count 1, 2, 3…".into());
        }
        match self.best_epoch {
            None if self.best_score.is_some() => Err("best_score without a best_epoch".into()),
            None => {
                // The first epoch with a finite score is always a best one.
                match self.history.iter().position(|h| h.valid_score.is_finite()) {
                    Some(f) => Err(format!("no best_epoch, but epoch {} has a finite validation score", f + 1)),
                    None if self.initial_score.is_some_and(f64::is_finite) => {
                        Err("no best_epoch, but the untrained model has a finite validation score".into())
                    }
                    None => Ok(()),
                }
            }
            Some(b) if b > self.epoch => Err(format!("best_epoch {b} of {} epochs", self.epoch)),
            Some(b) if self.best_score.is_none() || self.best_score != self.score_of(b) => Err(format!(
                "best_score {:?} is not epoch {b}'s validation score {:?}",
                self.best_score,
                self.score_of(b)
            )),
            Some(_) => Ok(()),
        }
    }
}

/// JSON has no NaN: serde_json writes it as `null` but will not read `null` back as a number,
/// so a `last.ckpt` holding an epoch whose validation loss was NaN could not be loaded.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() { s.serialize_f64(*v) } else { s.serialize_none() }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}
