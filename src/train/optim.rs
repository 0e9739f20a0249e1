//! The optimiser, chosen in the run configuration (`[train.optimizer]`): Adam (the default),
//! AdamW (Adam with decoupled weight decay) or SGD with momentum. Adam and AdamW use PyTorch's
//! epsilon (1e-8; burn's default is 1e-5).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::limits::check_range;

/// Which optimiser, with its settings (the learning rate is `train.learning_rate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam: `beta1`, `beta2`, `epsilon`.
    Adam {
        /// Decay of the first-moment average, in [0, 1] (default 0.9).
        #[serde(default = "beta1")]
        beta1: f64,
        /// Decay of the second-moment average, in [0, 1] (default 0.999).
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator for stability, in (0, 1) (default 1e-8).
        #[serde(default = "epsilon")]
        epsilon: f64,
    },
    /// AdamW: Adam with decoupled weight decay.
    AdamW {
        /// Decay of the first-moment average, in [0, 1] (default 0.9).
        #[serde(default = "beta1")]
        beta1: f64,
        /// Decay of the second-moment average, in [0, 1] (default 0.999).
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator for stability, in (0, 1) (default 1e-8).
        #[serde(default = "epsilon")]
        epsilon: f64,
        /// Decoupled weight decay, in [0, 1000] (default 0.01).
        #[serde(default = "weight_decay")]
        weight_decay: f64,
    },
    /// Stochastic gradient descent with (optionally Nesterov) momentum and L2 weight decay.
    Sgd {
        /// Momentum factor, in [0, 1] (default 0.9).
        #[serde(default = "momentum")]
        momentum: f64,
        /// Nesterov momentum instead of the classical kind (default `false`).
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient, in [0, 1000] (default 0).
        #[serde(default)]
        weight_decay: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn epsilon() -> f64 {
    1e-8
}
fn weight_decay() -> f64 {
    1e-2
}
fn momentum() -> f64 {
    0.9
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam { beta1: beta1(), beta2: beta2(), epsilon: epsilon() }
    }
}

impl OptimizerConfig {
    /// Checks every setting; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let key = |k: &str| format!("train.optimizer.{k}");
        match *self {
            OptimizerConfig::Adam { beta1, beta2, epsilon } => {
                check_range(&key("beta1"), beta1, 0.0, 1.0, false)?;
                check_range(&key("beta2"), beta2, 0.0, 1.0, false)?;
                check_range(&key("epsilon"), epsilon, 0.0, 1.0, true)
            }
            OptimizerConfig::AdamW { beta1, beta2, epsilon, weight_decay } => {
                check_range(&key("beta1"), beta1, 0.0, 1.0, false)?;
                check_range(&key("beta2"), beta2, 0.0, 1.0, false)?;
                check_range(&key("epsilon"), epsilon, 0.0, 1.0, true)?;
                check_range(&key("weight_decay"), weight_decay, 0.0, 1e3, false)
            }
            OptimizerConfig::Sgd { momentum, weight_decay, .. } => {
                check_range(&key("momentum"), momentum, 0.0, 1.0, false)?;
                check_range(&key("weight_decay"), weight_decay, 0.0, 1e3, false)
            }
        }
    }

    /// A fresh optimiser (no state yet).
    pub fn init(&self) -> ModuleOptimizer {
        match *self {
            OptimizerConfig::Adam { beta1, beta2, epsilon } => AdamConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .init(),
            OptimizerConfig::AdamW { beta1, beta2, epsilon, weight_decay } => AdamWConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .with_weight_decay(weight_decay as f32)
                .init(),
            OptimizerConfig::Sgd { momentum, nesterov, weight_decay } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then_some(MomentumConfig { momentum, dampening: 0.0, nesterov }))
                .with_weight_decay((weight_decay > 0.0).then_some(WeightDecayConfig { penalty: weight_decay as f32 }))
                .init(),
        }
    }
}
