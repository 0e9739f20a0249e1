//! The model's head over every step of every sequence as one burn operation on flex: the
//! forward and backward of [`trajrnn_kernels::linear`] on flex's buffers, one product each way.
//! burn applies a linear layer to `[B, T, H]` as a product batched over `B` against the weight
//! broadcast to every batch, and allocates each output zeroed before copying it to an aligned
//! buffer: in the `rnn` bench's LSTM-128 reference workload the part of the backward outside the
//! recurrence took 1.00–1.11 ms a step through burn's `Linear` and 0.76–0.86 ms through this
//! (three interleaved runs each). Other backends return `None` and the caller uses `Linear`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, DispatchKindConversion, DispatchTensor, Flex, GradientCheckpointingStrategy};
use burn::prelude::*;

use trajrnn_kernels::linear::{self, Dims};

use super::fused::{flex, flex_primitive, host, is_flex, tracked_primitive};

/// `x·W + b` for every row of `x` (`[B, T, H]`, `W` `[H, O]`, `b` `[O]`), or `None` when the
/// tensors are not on flex.
pub(crate) fn linear_rows(x: Tensor<3>, w: Tensor<2>, b: Tensor<1>) -> Option<Tensor<3>> {
    let device = x.device();
    if !is_flex(&device) {
        return None;
    }
    let [batch, steps, input] = x.dims();
    let dims = Dims { rows: batch * steps, input, output: w.dims()[1] };
    Some(match device.gradient_checkpointing_strategy() {
        None => {
            let (x, w, b) = (flex_primitive(x), flex_primitive(w), flex_primitive(b));
            let y = linear::forward(dims, &host(&x), &host(&w), &host(&b));
            Tensor::<3>::from_primitive::<Flex>(flex(y, vec![batch, steps, dims.output]))
        }
        Some(GradientCheckpointingStrategy::Disabled) => tracked::<NoCheckpointing>(dims, [batch, steps], x, w, b),
        Some(GradientCheckpointingStrategy::Balanced) => {
            tracked::<BalancedCheckpointing>(dims, [batch, steps], x, w, b)
        }
    })
}

/// What the backward keeps: `x` and `W` (flex buffers are shared, not copied).
#[derive(Clone, Debug)]
struct State {
    dims: Dims,
    shape: [usize; 2],
    x: FlexTensor,
    w: FlexTensor,
}

#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let State { dims, shape: [batch, steps], x, w } = ops.state;
        let [p_x, p_w, p_b] = ops.parents.map(|p| p.map(|n| n.id));
        let g = linear::backward(dims, &host(&x), &host(&w), &host(&dy), p_x.is_some());
        if let Some(id) = p_x {
            grads.register::<Flex>(id, flex(g.x, vec![batch, steps, dims.input]));
        }
        if let Some(id) = p_w {
            grads.register::<Flex>(id, flex(g.w, vec![dims.input, dims.output]));
        }
        if let Some(id) = p_b {
            grads.register::<Flex>(id, flex(g.b, vec![dims.output]));
        }
    }
}

fn tracked<C: CheckpointStrategy>(dims: Dims, shape: [usize; 2], x: Tensor<3>, w: Tensor<2>, b: Tensor<1>) -> Tensor<3>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let (x, w, b) = (tracked_primitive::<3, C>(x), tracked_primitive::<2, C>(w), tracked_primitive::<1, C>(b));
    let y = linear::forward(dims, &host(x.primitive()), &host(w.primitive()), &host(b.primitive()));
    let y = flex(y, vec![shape[0], shape[1], dims.output]);
    let out = match LinearBackward.prepare::<C>([x.node(), w.node(), b.node()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let state = State { dims, shape, x: x.primitive().clone(), w: w.primitive().clone() };
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::<3>::from_primitive::<Autodiff<Flex, C>>(out)
}
