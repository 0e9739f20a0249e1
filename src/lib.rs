#![warn(missing_docs)]
//! # trajrnn
//!
//! Recurrent networks for robot joint-angle trajectories, on [burn](https://burn.dev): the
//! vanilla (Elman) RNN, LSTM and GRU predict the next joint state; training is backpropagation
//! through time (full or truncated) with global-norm gradient clipping; rollouts, ground truth,
//! the 3D arm and the hidden state go to [Rerun](https://rerun.io).
//!
//! The modules are floors, each importing only the floors below it (`tools/module_graph.py`
//! checks that there are no cycles; `docs/architecture.md` draws them):
//!
//! 1. [`error`], [`limits`], [`io`], [`backend`], [`heap`] — vocabulary every floor uses;
//! 2. [`data`] (datasets, importers, splits, windows), [`model`] (the cells and the network),
//!    [`kinematics`], [`synthetic`];
//! 3. [`baselines`] (the rules to beat) → [`encoding`] (frames ↔ model inputs and targets);
//! 4. [`rollout`], [`train`], [`eval`];
//! 5. [`checkpoint`] (the file format of what the floors below produce) → [`predictor`]
//!    (streaming, for control loops);
//! 6. [`run`] (whole runs: train, apply a checkpoint, benchmark), `viz` (Rerun),
//!    [`diagnostics`] and `experiments` (the fundamentals);
//! 7. the `trajrnn` command (`src/bin`), which parses arguments and prints.

pub mod backend;
pub mod baselines;
pub mod checkpoint;
pub mod data;
pub mod diagnostics;
pub mod encoding;
pub mod error;
pub mod eval;
#[cfg(feature = "experiments")]
pub mod experiments;
pub mod heap;
pub mod io;
pub mod kinematics;
pub mod limits;
pub mod model;
pub mod predictor;
pub mod rollout;
pub mod run;
pub mod synthetic;
pub mod train;
#[cfg(feature = "rerun")]
pub mod viz;

pub use backend::Backend;
pub use error::{Error, Result};
pub use predictor::Predictor;
pub use run::RunConfig;
