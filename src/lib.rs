//! # trajrnn
//!
//! Recurrent networks for robot joint-angle trajectories, on [burn](https://burn.dev): the
//! vanilla (Elman) RNN, LSTM and GRU predict the next joint state; training is backpropagation
//! through time (full or truncated) with global-norm gradient clipping; rollouts, ground truth,
//! the 3D arm and the hidden state go to [Rerun](https://rerun.io).
//!
//! The modules follow the flow of a run:
//! [`data`] (with the [`baselines`] a model must beat) → [`model`] → [`train`] → [`checkpoint`] → [`eval`] / [`rollout`] / [`predictor`]
//! → `viz`, with [`kinematics`] for the arm, [`backend`] choosing where tensors live (flex,
//! ndarray or wgpu, at run time), and [`run`] tying them into the runs of the `trajrnn` command.

pub mod backend;
pub mod baselines;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod diagnostics;
pub mod error;
pub mod eval;
#[cfg(feature = "experiments")]
pub mod experiments;
pub mod io;
pub mod kinematics;
pub mod memory;
pub mod model;
pub mod predictor;
pub mod rollout;
pub mod run;
pub mod synthetic;
pub mod train;
#[cfg(feature = "rerun")]
pub mod viz;

pub use backend::Backend;
pub use config::RunConfig;
pub use error::{Error, Result};
pub use predictor::Predictor;
