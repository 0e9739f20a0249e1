//! The streaming predictor for control loops and simulators: one observed frame in, the
//! predicted next frame out, on the host with no allocation in the library per frame.

use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use trajrnn::Predictor;

use crate::arrays::{Axis, names_note, with_f32};
use crate::checkpoint::PyCheckpoint;
use crate::errors::IntoPy;

/// A checkpoint's model stepped one observed frame at a time.
#[pyclass(name = "Predictor", module = "trajrnn")]
pub struct PyPredictor {
    /// Boxed: the host model's buffers are 64-byte aligned, more than Python allocates objects with.
    inner: Box<Predictor>,
    /// Conversion buffers for float64 (or list) inputs, kept between calls.
    state_scratch: Vec<f32>,
    command_scratch: Vec<f32>,
    /// `(channels...)` for messages, made once.
    channel_note: String,
    command_note: String,
}

#[pymethods]
impl PyPredictor {
    /// A predictor for a `Checkpoint` or the path of a checkpoint file.
    #[new]
    fn new(py: Python<'_>, checkpoint: &Bound<'_, PyAny>) -> PyResult<Self> {
        let inner = Box::new(if let Ok(c) = checkpoint.cast::<PyCheckpoint>() {
            let ck = &c.get().inner;
            Predictor::from_model(&ck.model, ck.meta.encoding.clone(), ck.meta.data.clone())
        } else {
            let path = crate::runs::checkpoint_path(checkpoint)?;
            py.detach(|| Predictor::load_host(&path)).py_err()?
        });
        Ok(Self {
            channel_note: names_note(inner.channels()),
            command_note: names_note(inner.command_names()),
            inner,
            state_scratch: Vec::new(),
            command_scratch: Vec::new(),
        })
    }

    /// State channel names, in the order frames are given and predicted.
    #[getter]
    fn channels(&self) -> Vec<String> {
        self.inner.channels().to_vec()
    }

    /// Command channel names, in the order `observe`'s `command` takes them (empty: none).
    #[getter]
    fn command_names(&self) -> Vec<String> {
        self.inner.command_names().to_vec()
    }

    /// Values per frame.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Frames to observe before the first prediction.
    #[getter]
    fn frames_before_first_prediction(&self) -> usize {
        self.inner.frames_before_first_prediction()
    }

    /// Forgets everything observed: the next frame starts a new sequence.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Feeds the observed `state` (shape `(dim,)`, float32 or float64) and, for a model trained
    /// with commands, the `command` sent at this frame; returns the predicted next state
    /// (float32, shape `(dim,)`), or `None` until `frames_before_first_prediction` frames have
    /// been observed.
    #[pyo3(signature = (state, command = None))]
    fn observe<'py>(
        &mut self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
        command: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyArray1<f32>>>> {
        let Self { inner, state_scratch, command_scratch, channel_note, command_note } = self;
        let dim = inner.dim();
        let m = inner.command_dim();
        with_f32(state, "state", &[Axis::Fixed(dim)], channel_note, state_scratch, |s, _| match command {
            None => Ok(inner.observe(s).py_err()?.map(|p| PyArray1::from_slice(py, p))),
            Some(c) => with_f32(c, "command", &[Axis::Fixed(m)], command_note, command_scratch, |c, _| {
                Ok(inner.observe_with(s, c).py_err()?.map(|p| PyArray1::from_slice(py, p)))
            }),
        })
    }

    /// Predicts `steps` frames after `history` (shape `(n, dim)`: observed frames, oldest first,
    /// at least `frames_before_first_prediction`) by feeding predictions back. With `history`
    /// `None`, rolls out from the frames observed so far. The predictor's own state is not
    /// changed either way. A model trained with commands needs `commands`, shape `(steps,
    /// command_dim)` (the commands sent at the predicted frames), and with a history the
    /// `history_commands` sent at its frames.
    #[pyo3(signature = (history, steps, *, commands = None, history_commands = None))]
    fn rollout<'py>(
        &self,
        py: Python<'py>,
        history: Option<&Bound<'py, PyAny>>,
        steps: usize,
        commands: Option<&Bound<'py, PyAny>>,
        history_commands: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (dim, m) = (self.inner.dim(), self.inner.command_dim());
        let mut scratch = Vec::new();
        let planned: Vec<f32> = match commands {
            Some(c) => with_f32(
                c,
                "commands",
                &[Axis::Fixed(steps), Axis::Fixed(m)],
                &self.command_note,
                &mut scratch,
                |v, _| Ok(v.to_vec()),
            )?,
            None => Vec::new(),
        };
        let predicted = match history {
            None => self.inner.rollout_with(&planned, steps),
            Some(h) => {
                let sent: Vec<f32> = match history_commands {
                    Some(c) => with_f32(
                        c,
                        "history_commands",
                        &[Axis::Any, Axis::Fixed(m)],
                        &self.command_note,
                        &mut scratch,
                        |v, _| Ok(v.to_vec()),
                    )?,
                    None => Vec::new(),
                };
                let mut fresh = Predictor::clone(&self.inner);
                fresh.reset();
                with_f32(
                    h,
                    "history",
                    &[Axis::Any, Axis::Fixed(dim)],
                    &self.channel_note,
                    &mut scratch,
                    |frames, shape| {
                        if !sent.is_empty() && sent.len() != shape[0] * m {
                            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                                "history_commands must have shape ({}, {m}), one row per history frame",
                                shape[0]
                            )));
                        }
                        if m > 0 && sent.is_empty() {
                            return Err(pyo3::exceptions::PyValueError::new_err(
                                "this model reads commands: give history_commands, shape (n, command_dim)",
                            ));
                        }
                        if m == 0 {
                            for frame in frames.chunks_exact(dim) {
                                fresh.observe(frame).py_err()?;
                            }
                        } else {
                            for (frame, command) in frames.chunks_exact(dim).zip(sent.chunks_exact(m)) {
                                fresh.observe_with(frame, command).py_err()?;
                            }
                        }
                        Ok(())
                    },
                )?;
                fresh.rollout_with(&planned, steps)
            }
        }
        .py_err()?;
        let rows = predicted.len() / dim.max(1);
        PyArray1::from_vec(py, predicted).reshape([rows, dim])
    }

    fn __repr__(&self) -> String {
        format!("Predictor(channels={}, commands={})", self.inner.dim(), self.inner.command_dim())
    }
}
