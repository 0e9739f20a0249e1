//! What training does with each kind of channel (see [`ChannelKind`]), decided from the
//! channel's profile on the training part and recorded in the encoding (so the checkpoint
//! carries it and `eval`, `rollout` and the predictor treat the channel the same way).
//!
//! - **constant** in training: *held*. Its input is zero, its prediction is its current value,
//!   its loss weight is zero. A channel that never moved in training says nothing the model
//!   could learn, and standardising it would divide by zero: a value it takes later (a hand
//!   that moves only in the test episodes) would be a blow-up rather than a number.
//! - **switch-like**: *hold base*. The rule it is predicted from is hold rather than the linear
//!   extrapolation (a step extrapolated is an overshoot); the model may still correct it, with
//!   the loss weight of a non-arm channel.
//! - **quantised** and **smooth**: *modelled*, with every scale floored at the channel's
//!   resolution (the grid it moves on), so a channel that moves one step in a thousand frames
//!   does not get a vanishing scale whose inputs explode.

use serde::{Deserialize, Serialize};

use crate::data::ChannelRole;
use crate::data::channels::{ChannelKind, ChannelProfile};

/// How one channel is encoded and predicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    /// Read, predicted and trained like every channel.
    #[default]
    Modelled,
    /// Predicted by hold rather than the linear rule (switch-like channels).
    HoldBase,
    /// Not read (input zero), predicted by hold, not trained on (constant in training).
    Held,
}

impl Treatment {
    /// What training does with a channel of this profile (`automatic = false`: every channel
    /// is modelled, as before channel treatments existed).
    pub fn for_profile(profile: &ChannelProfile, automatic: bool) -> Self {
        if !automatic {
            return Treatment::Modelled;
        }
        match profile.kind {
            ChannelKind::Constant => Treatment::Held,
            ChannelKind::Switch => Treatment::HoldBase,
            ChannelKind::Quantised | ChannelKind::Smooth => Treatment::Modelled,
        }
    }

    /// One line for `inspect` and the training log: what happens to the channel.
    pub fn describe(self) -> &'static str {
        match self {
            Treatment::Modelled => "modelled",
            Treatment::HoldBase => {
                "predicted from hold (not extrapolated), corrected by the model at a low loss weight"
            }
            Treatment::Held => "held at its current value: not read, not trained on",
        }
    }
}

/// Relative weights of the channels in the training loss, by role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossWeights {
    /// Arm joints (what the reports rank models by).
    pub joint: f64,
    /// Gripper channels.
    pub gripper: f64,
    /// Auxiliary channels (objects, doors).
    pub auxiliary: f64,
    /// Switch-like channels, whatever their role.
    pub switch: f64,
    /// Weigh the joints by their share of the arm error, as the reports pool it (the squared
    /// error in the joints' own unit), rather than each joint equally in its standardised unit.
    pub metric: bool,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self { joint: 1.0, gripper: 1.0, auxiliary: 1.0, switch: 1.0, metric: false }
    }
}

impl LossWeights {
    /// Checks that every weight is finite and ≥ 0 and the joints' is positive.
    pub fn validate(&self) -> crate::Result<()> {
        for (name, w) in
            [("joint", self.joint), ("gripper", self.gripper), ("auxiliary", self.auxiliary), ("switch", self.switch)]
        {
            crate::limits::check_range(&format!("data.encoding.loss_weights.{name}"), w, 0.0, 1e6, false)?;
        }
        if self.joint <= 0.0 {
            return Err(crate::Error::option("data.encoding.loss_weights.joint", "must be positive"));
        }
        Ok(())
    }

    /// The weight of each channel by its role and treatment (held channels 0, switch-like
    /// ones `switch`). With `metric`, the objective further scales the joints by their share of
    /// the arm error.
    pub fn per_channel(&self, roles: &[ChannelRole], treatments: &[Treatment]) -> Vec<f32> {
        roles
            .iter()
            .zip(treatments)
            .map(|(role, treatment)| {
                let w = match (treatment, role) {
                    (Treatment::Held, _) => 0.0,
                    (Treatment::HoldBase, _) => self.switch,
                    (_, ChannelRole::Joint) => self.joint,
                    (_, ChannelRole::Gripper) => self.gripper,
                    (_, ChannelRole::Auxiliary) => self.auxiliary,
                };
                w as f32
            })
            .collect()
    }
}
