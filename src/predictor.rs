//! Streaming next-state prediction for control loops: load a checkpoint, feed one observed frame
//! at a time, read the prediction of the next frame; roll out from the current state.
//!
//! ```
//! use trajrnn::Predictor;
//!
//! # fn main() -> trajrnn::Result<()> {
//! // A checkpoint written by `trajrnn train` (e.g. runs/pick_and_place/best.ckpt); here the
//! // small one the tests keep, for channels j0, j1 (radians) and a gripper g.
//! let mut predictor = Predictor::load_host("tests/fixtures/checkpoint_v3.ckpt".as_ref())?;
//! let dim = predictor.dim();
//! assert_eq!(predictor.channels(), ["j0", "j1", "g"]);
//!
//! let mut predicted = 0;
//! for t in 0..20 {
//!     // The frame observed at this control tick, in `predictor.channels()` order.
//!     let s = t as f32 * 0.02;
//!     let frame = [(1.3 * s).sin(), 0.5 * (0.7 * s).cos(), 0.0];
//!     if let Some(next) = predictor.observe(&frame)? {
//!         // The predicted state of the next frame: `dim` values, in the same order.
//!         assert_eq!(next.len(), dim);
//!         assert!(next.iter().all(|v| v.is_finite()));
//!         predicted += 1;
//!     }
//! }
//! // The first prediction comes once the encoding has the frames it reads.
//! assert_eq!(predicted, 20 - predictor.frames_before_first_prediction() + 1);
//!
//! let next_second = predictor.rollout(50)?; // 50 frames (1 s at 50 Hz), row-major [50, dim]
//! assert_eq!(next_second.len(), 50 * dim);
//!
//! // A frame of the wrong length is an error, not a panic.
//! assert!(predictor.observe(&[0.0; 2]).is_err());
//! // A checkpoint trained with commands reads the command sent at each frame too:
//! // `predictor.observe_with(&state, &command)` and `predictor.rollout_with(&planned_commands, n)`.
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use burn::prelude::*;

use crate::checkpoint::{self, DataInfo};
use crate::encoding::Encoding;
use crate::error::{Error, Result};
use crate::model::kernel::host::{HostModel, HostState};
use crate::model::{RecurrentState, TrajectoryModel};

/// The model a predictor steps.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per predictor, never moved in a loop
enum Stepper {
    /// burn's graph on any device (CPU or GPU).
    Burn { model: TrajectoryModel, device: Device },
    /// Plain Rust on the host: no allocation per step, microseconds per frame (one host model
    /// per ensemble member, their outputs averaged).
    Host { models: Vec<HostModel> },
}

/// The recurrent state of one of the steppers.
#[derive(Clone)]
enum StepState {
    Burn(Option<RecurrentState>),
    Host(Vec<HostState>),
}

/// Everything that changes as frames are observed: a rollout copies this, never the weights.
#[derive(Clone)]
struct Cursor {
    state: StepState,
    /// The last `history + 1` observed (or predicted) frames, oldest first, each the state and
    /// then the commands (when the model reads them).
    recent: Vec<f32>,
    /// Frames observed since the last reset.
    seen: usize,
    /// Model output of the last step, the model input and the prediction decoded from it.
    output: Vec<f32>,
    input: Vec<f32>,
    prediction: Vec<f32>,
    /// Scratch for the encoding's lag vector, and for one ensemble member's output.
    lags: Vec<f32>,
    member_output: Vec<f32>,
}

/// A checkpoint's model stepped one observed frame at a time (see the [module](self) example).
///
/// Frames are slices of [`dim`](Self::dim) values in [`channels`](Self::channels) order (radians
/// for joints, the dataset's units otherwise); predictions have the same length and order.
#[derive(Clone)]
pub struct Predictor {
    stepper: Stepper,
    encoding: Encoding,
    data: DataInfo,
    cursor: Cursor,
}

impl Predictor {
    /// Loads a checkpoint to run on `device` through burn (any backend, e.g. a GPU).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let device = device.clone().without_autodiff();
        let ck = checkpoint::load(path, &device)?;
        Ok(Self::with_stepper(Stepper::Burn { model: ck.model, device }, ck.meta.encoding, ck.meta.data))
    }

    /// Loads a checkpoint to run on the host in plain Rust: the fastest way to step a model on a
    /// CPU, with no allocation per frame.
    pub fn load_host(path: &Path) -> Result<Self> {
        let device = crate::Backend::default_cpu_device()?;
        let ck = checkpoint::load(path, &device)?;
        Ok(Self::from_model(&ck.model, ck.meta.encoding, ck.meta.data))
    }

    /// A host predictor for a model in memory.
    pub fn from_model(model: &TrajectoryModel, encoding: Encoding, data: DataInfo) -> Self {
        let models =
            (0..model.members()).map(|k| crate::model::kernel::host::from_model(&model.member_model(k))).collect();
        Self::with_stepper(Stepper::Host { models }, encoding, data)
    }

    fn with_stepper(stepper: Stepper, encoding: Encoding, data: DataInfo) -> Self {
        let dim = encoding.dim();
        let span = encoding.history() + 1;
        let cursor = Cursor {
            state: Self::zero_state(&stepper),
            recent: vec![0.0; span * encoding.width()],
            seen: 0,
            output: vec![0.0; dim],
            input: vec![0.0; encoding.input_dim()],
            prediction: vec![0.0; dim],
            lags: vec![0.0; encoding.layout().lag_len()],
            member_output: vec![0.0; dim],
        };
        Self { stepper, encoding, data, cursor }
    }

    fn zero_state(stepper: &Stepper) -> StepState {
        match stepper {
            Stepper::Burn { .. } => StepState::Burn(None),
            Stepper::Host { models } => StepState::Host(models.iter().map(HostModel::zero_state).collect()),
        }
    }

    /// Channel names, in the order frames are given and predicted.
    pub fn channels(&self) -> &[String] {
        &self.data.channels
    }

    /// Values per frame (the number of channels), of every frame given and predicted.
    pub fn dim(&self) -> usize {
        self.encoding.dim()
    }

    /// Command channels the model reads with every frame (0: none; then use
    /// [`observe`](Self::observe), else [`observe_with`](Self::observe_with)).
    pub fn command_dim(&self) -> usize {
        self.encoding.command_dim()
    }

    /// The command channels' names, in the order [`observe_with`](Self::observe_with) takes them.
    pub fn command_names(&self) -> &[String] {
        &self.data.commands
    }

    /// Frames to observe before the first prediction.
    pub fn frames_before_first_prediction(&self) -> usize {
        self.encoding.history() + 1
    }

    /// Forgets everything observed: the next frame starts a new sequence.
    pub fn reset(&mut self) {
        self.cursor.seen = 0;
        self.cursor.state = Self::zero_state(&self.stepper);
    }

    /// Feeds the observed frame (`dim()` values in [`channels`](Self::channels) order) and
    /// returns the predicted next frame (`dim()` values, same order), once enough frames have
    /// been seen to make one ([`frames_before_first_prediction`](Self::frames_before_first_prediction)).
    /// A frame of another length, or with a non-finite value, is an error.
    pub fn observe(&mut self, frame: &[f32]) -> Result<Option<&[f32]>> {
        if self.command_dim() > 0 {
            return Err(Error::Mismatch(format!(
                "this model reads the {} command channel(s) sent with every frame: use observe_with(state, command)",
                self.command_dim()
            )));
        }
        self.observe_with(frame, &[])
    }

    /// As [`observe`](Self::observe), for a model trained with commands: `command` is what was
    /// sent to the robot at this frame ([`command_dim`](Self::command_dim) values in
    /// [`command_names`](Self::command_names) order).
    pub fn observe_with(&mut self, frame: &[f32], command: &[f32]) -> Result<Option<&[f32]>> {
        self.check_frame(frame)?;
        self.check_command(command)?;
        let made = Self::advance(&self.stepper, &self.encoding, &self.data, &mut self.cursor, frame, command)?;
        Ok(made.then_some(self.cursor.prediction.as_slice()))
    }

    fn check_command(&self, command: &[f32]) -> Result<()> {
        check_values(command, self.command_dim(), &self.data.commands, "a command", "command")
    }

    fn check_frame(&self, frame: &[f32]) -> Result<()> {
        check_values(frame, self.dim(), &self.data.channels, "a frame", "channel")
    }

    /// Pushes `frame` (and its `command`) into `cursor` and, once it has seen enough frames,
    /// predicts the next one into `cursor.prediction` (returns whether it did).
    fn advance(
        stepper: &Stepper,
        encoding: &Encoding,
        data: &DataInfo,
        cursor: &mut Cursor,
        frame: &[f32],
        command: &[f32],
    ) -> Result<bool> {
        let (dim, width) = (encoding.dim(), encoding.width());
        cursor.recent.copy_within(width.., 0);
        let span = cursor.recent.len() / width;
        let newest = &mut cursor.recent[(span - 1) * width..];
        newest[..dim].copy_from_slice(frame);
        newest[dim..].copy_from_slice(command);
        cursor.seen += 1;
        if cursor.seen < span {
            return Ok(false);
        }
        encoding.maps().input(&cursor.recent, &mut cursor.lags, &mut cursor.input);
        match (stepper, &mut cursor.state) {
            (Stepper::Burn { model, device }, StepState::Burn(state)) => {
                let x = Tensor::<2>::from_data(TensorData::new(cursor.input.clone(), [1, cursor.input.len()]), device);
                let s = state.take().unwrap_or_else(|| model.zero_state(1, device));
                let (y, next) = model.step(x, s);
                cursor.output.copy_from_slice(&y.into_data().try_into_vec::<f32>().expect("f32 output"));
                *state = Some(next);
            }
            (Stepper::Host { models }, StepState::Host(states)) => {
                cursor.output.fill(0.0);
                let share = 1.0 / models.len() as f32;
                for (model, state) in models.iter().zip(states.iter_mut()) {
                    model.step(&cursor.input, state, &mut cursor.member_output);
                    for (o, y) in cursor.output.iter_mut().zip(&cursor.member_output) {
                        *o += y * share;
                    }
                }
            }
            _ => unreachable!("a cursor's state matches its predictor's stepper"),
        }
        encoding.decode_with(&cursor.recent, &cursor.output, &mut cursor.lags, &mut cursor.prediction);
        // A control loop must never receive NaN: say it rather than return it.
        if let Some(c) = cursor.prediction.iter().position(|v| !v.is_finite()) {
            return Err(Error::Mismatch(format!(
                "the model's prediction of channel `{}` is {} (not finite): its weights do not suit this input \
                 (damaged weights, or an input far outside the training data)",
                data.channels[c], cursor.prediction[c]
            )));
        }
        Ok(true)
    }

    /// Predicts `n` frames after the last observed one by feeding predictions back, without
    /// changing the predictor's state (and without copying its weights). Returns row-major
    /// `[n, dim]`. A model that reads commands needs them: [`rollout_with`](Self::rollout_with).
    pub fn rollout(&self, n: usize) -> Result<Vec<f32>> {
        if self.command_dim() > 0 {
            return Err(Error::Mismatch(
                "this model reads commands: give the commands of the predicted frames to rollout_with".into(),
            ));
        }
        self.rollout_with(&[0f32; 0], n)
    }

    /// As [`rollout`](Self::rollout), driven by a command sequence (a recorded one, or a plan to
    /// check before sending it): `commands` holds the command sent at each of the `n` predicted
    /// frames, row-major `[n, command_dim]` (the last row does not change the last prediction;
    /// it is taken so a plan lines up with its predictions).
    pub fn rollout_with(&self, commands: &[f32], n: usize) -> Result<Vec<f32>> {
        let (dim, m) = (self.dim(), self.command_dim());
        let span = self.cursor.recent.len() / self.encoding.width();
        if self.cursor.seen < span {
            return Err(Error::Mismatch(format!("observe at least {span} frames before a rollout")));
        }
        if commands.len() != n * m {
            return Err(Error::Mismatch(format!(
                "{} command values for {n} predicted frames of {m} command channel(s)",
                commands.len()
            )));
        }
        let mut cursor = self.cursor.clone();
        let mut out = Vec::with_capacity(n * dim);
        let mut next = vec![0f32; dim];
        for k in 0..n {
            out.extend_from_slice(&cursor.prediction);
            if k + 1 < n {
                next.copy_from_slice(&cursor.prediction);
                let command = crate::data::channels::row(commands, m, k);
                self.check_command(command)?;
                Self::advance(&self.stepper, &self.encoding, &self.data, &mut cursor, &next, command)?;
            }
        }
        Ok(out)
    }
}

/// Checks that `values` has the `expected` number of finite values (one per name); errors name
/// `what` (a frame, a command) and the `item` (channel, command) that is not finite.
fn check_values(values: &[f32], expected: usize, names: &[String], what: &str, item: &str) -> Result<()> {
    if values.len() != expected {
        return Err(Error::Mismatch(format!(
            "{what} has {} values, the model reads {expected} ({})",
            values.len(),
            crate::error::list(names)
        )));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::Mismatch(format!("{item} `{}` is {} (not finite)", names[i], values[i])));
    }
    Ok(())
}
