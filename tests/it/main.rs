//! Integration tests, in one binary so the heavy dependencies are linked once.

mod cli;
mod common;
mod data_validation;
mod eval_baselines;
#[cfg(feature = "experiments")]
mod experiments;
mod import_csv;
#[cfg(feature = "import")]
mod import_hdf5;
#[cfg(feature = "import")]
mod import_lerobot;
mod kinematics;
mod malformed;
mod model;
mod rollout;
mod synthetic;
mod training;
#[cfg(feature = "rerun")]
mod viz;
mod windows_split;
