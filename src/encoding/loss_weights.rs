//! The weights of the channels in the training loss, by role and [`Treatment`] (what training
//! does with each kind of channel: see `data::channels`).

use serde::{Deserialize, Serialize};

use crate::data::ChannelRole;
use crate::data::channels::Treatment;

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
