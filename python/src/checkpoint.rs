//! Checkpoints: a trained model and its header (data, encoding, split, training settings), as
//! `trajrnn train` and `trajrnn.train` write them.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use trajrnn::checkpoint::Checkpoint;

use crate::errors::{IntoPy, json_to_py};

/// A checkpoint file, loaded and checked (every byte is under a checksum).
#[pyclass(name = "Checkpoint", module = "trajrnn", frozen)]
pub struct PyCheckpoint {
    pub(crate) path: PathBuf,
    pub(crate) inner: Arc<Checkpoint>,
}

#[pymethods]
impl PyCheckpoint {
    /// Loads a checkpoint (`best.ckpt` or `last.ckpt` of a run).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py
            .detach(|| -> trajrnn::Result<Checkpoint> {
                let device = trajrnn::Backend::default_cpu_device()?;
                trajrnn::checkpoint::load(&path, &device)
            })
            .py_err()?;
        Ok(Self { path, inner: Arc::new(inner) })
    }

    /// The file it was loaded from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// State channels the model reads and predicts, in order.
    #[getter]
    fn channels(&self) -> Vec<String> {
        self.inner.meta.data.channels.clone()
    }

    /// Command channels the model reads with every frame (empty: none).
    #[getter]
    fn command_names(&self) -> Vec<String> {
        self.inner.meta.data.commands.clone()
    }

    /// The recurrent cell: `rnn`, `lstm` or `gru`.
    #[getter]
    fn cell(&self) -> String {
        self.inner.meta.model.cell.to_string()
    }

    /// Units per layer.
    #[getter]
    fn hidden(&self) -> usize {
        self.inner.meta.model.hidden
    }

    /// Stacked recurrent layers.
    #[getter]
    fn layers(&self) -> usize {
        self.inner.meta.model.layers
    }

    /// Frame rate of the data it was trained on, Hz.
    #[getter]
    fn rate_hz(&self) -> f64 {
        self.inner.meta.data.rate_hz
    }

    /// The epoch it was saved at (0: the untrained model scored best).
    #[getter]
    fn epoch(&self) -> usize {
        self.inner.meta.epoch
    }

    /// The whole header as a dict (model, encoding, data, split, training and eval settings).
    #[getter]
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.meta)
    }

    fn __repr__(&self) -> String {
        let m = &self.inner.meta.model;
        format!(
            "Checkpoint(path={:?}, cell={}, hidden={}, layers={}, members={}, channels={}, epoch={})",
            self.path.display().to_string(),
            m.cell,
            m.hidden,
            m.layers,
            m.members,
            self.inner.meta.data.channels.len(),
            self.inner.meta.epoch
        )
    }
}
