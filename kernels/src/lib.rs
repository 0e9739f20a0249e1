//! Host kernels of trajrnn, in their own crate so they are compiled with full optimisation even
//! in the dev profile that the example and the tests use (the rest of trajrnn is glue).
//!
//! - [`recurrence`]: one layer's recurrence over a whole window, forward and backward, for
//!   training (trajrnn wraps it as one burn autodiff operation on the flex backend).
//! - [`host`]: one step of a stack of layers and a linear head, for streaming inference with no
//!   allocation per step.
//! - [`linear`]: a linear map over every row of a window (the model's head), forward and backward.

pub mod awake;
pub mod host;
pub mod linear;
pub mod math;
mod pool;
mod product;
pub mod recurrence;

/// The recurrent cell. Gate blocks follow PyTorch's order (LSTM `i f g o`, GRU `r z n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Elman: one gate block, `h' = tanh(x·W_x + h·W_h + b)`.
    Rnn,
    /// Four gate blocks `i f g o`; the state carries `c` beside `h`.
    Lstm,
    /// Three gate blocks `r z n`, with the candidate's hidden bias `b_hn` inside the reset product.
    Gru,
}

impl Cell {
    /// Gate blocks per layer.
    pub fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}
