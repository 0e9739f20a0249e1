//! The whole-window recurrence as one burn operation on the flex backend: the forward and the
//! hand-written backward run the host kernel of [`trajrnn_kernels::recurrence`] on flex's
//! buffers, so the autodiff graph holds one node per layer and window instead of dozens per step.
//!
//! Routing: a tensor is taken out of burn's dispatch as a concrete `Autodiff<Flex, _>` (or plain
//! `Flex`) primitive; other backends (ndarray, wgpu) return `None` and the caller runs the step
//! loop. The operation's tracked output is every step's `h` (`[B, T, H]`). The final LSTM cell
//! state is a second node on the same cache, whose backward runs the kernel again from `∂L/∂c_T`
//! alone: training detaches `c_T` (truncated BPTT, the free-running steps), so that node is
//! never in its graph and costs nothing there, while a loss through `c_T` still gets its
//! gradient, as through the step loop.

use std::borrow::Cow;
use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, DispatchKindConversion, DispatchTensor, Flex, GradientCheckpointingStrategy};
use burn::prelude::*;

use trajrnn_kernels::recurrence::{self, Cache, Dims, Weights};

use super::cell;
use crate::model::CellKind;

/// Whether `device` runs on flex (autodiff or not).
pub(crate) fn is_flex(device: &Device) -> bool {
    // Device equality ignores the autodiff decorator.
    *device == Device::flex()
}

/// Runs the recurrence of one layer with the fused kernel: the layer's input `x`
/// (`[B, T, F]`), its weights `w_x` (`[F, G·H]`), `b` (`[G·H]`), `w_h` (`[H, G·H]`), `b_hn` (GRU,
/// `[H]`), and the initial `h0`, `c0` (LSTM) (`[B, H]`). Returns every step's `h` and the final
/// cell state, or `None` when the tensors are not on flex.
pub(crate) fn recurrence(
    kind: CellKind,
    x: Tensor<3>,
    w: LayerWeights,
    h0: Tensor<2>,
    c0: Option<Tensor<2>>,
) -> Option<(Tensor<3>, Option<Tensor<2>>)> {
    let device = x.device();
    if !is_flex(&device) {
        return None;
    }
    let [batch, steps, input] = x.dims();
    let dims = Dims { kind: cell(kind), batch, steps, input, hidden: w.w_h.dims()[0] };
    let inputs = Inputs { x, w, h0, c0 };
    match device.gradient_checkpointing_strategy() {
        None => Some(untracked(dims, inputs)),
        Some(GradientCheckpointingStrategy::Disabled) => Some(tracked::<NoCheckpointing>(dims, inputs)),
        Some(GradientCheckpointingStrategy::Balanced) => Some(tracked::<BalancedCheckpointing>(dims, inputs)),
    }
}

/// A layer's parameters as tensors.
pub(crate) struct LayerWeights {
    pub(crate) w_x: Tensor<2>,
    pub(crate) b: Tensor<1>,
    pub(crate) w_h: Tensor<2>,
    pub(crate) b_hn: Option<Tensor<1>>,
}

struct Inputs {
    x: Tensor<3>,
    w: LayerWeights,
    h0: Tensor<2>,
    c0: Option<Tensor<2>>,
}

/// A contiguous host view of a flex tensor (copying only if it is strided).
pub(super) fn host(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32 tensor").to_vec()),
    }
}

pub(super) fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// A tensor on flex without autodiff as flex's own tensor.
pub(super) fn flex_primitive<const D: usize>(t: Tensor<D>) -> FlexTensor {
    t.try_into_primitive::<Flex>().expect("flex tensor")
}

/// A tensor on flex with autodiff as the autodiff backend's tensor (value and graph node).
pub(super) fn tracked_primitive<const D: usize, C: CheckpointStrategy>(t: Tensor<D>) -> FloatTensor<Autodiff<Flex, C>>
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    t.try_into_primitive::<Autodiff<Flex, C>>().expect("autodiff flex tensor")
}

/// Inference (no autodiff): plain flex primitives.
fn untracked(dims: Dims, i: Inputs) -> (Tensor<3>, Option<Tensor<2>>) {
    let (x, w_x, b, w_h) =
        (flex_primitive(i.x), flex_primitive(i.w.w_x), flex_primitive(i.w.b), flex_primitive(i.w.w_h));
    let b_hn = i.w.b_hn.map(flex_primitive);
    let (h0, c0) = (flex_primitive(i.h0), i.c0.map(flex_primitive));
    let empty: &[f32] = &[];
    let (b_hn, c0_host) = (b_hn.as_ref().map(host), c0.as_ref().map(host));
    let weights = Weights { w_x: &host(&w_x), b: &host(&b), w_h: &host(&w_h), b_hn: b_hn.as_deref().unwrap_or(empty) };
    let out = recurrence::forward(dims, &host(&x), weights, &host(&h0), c0_host.as_deref().unwrap_or(empty), false);
    let Dims { batch, steps, hidden, .. } = dims;
    let hs = Tensor::<3>::from_primitive::<Flex>(flex(out.hs, vec![batch, steps, hidden]));
    let c = c0.is_some().then(|| Tensor::<2>::from_primitive::<Flex>(flex(out.c_last, vec![batch, hidden])));
    (hs, c)
}

/// What the backward step keeps: the kernel's cache (shared, not copied, when burn clones state).
#[derive(Clone)]
struct State(Arc<Cache>);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecurrenceCache({:?})", self.0.dims)
    }
}

#[derive(Debug)]
struct RecurrenceBackward;

impl Backward<Flex, 7> for RecurrenceBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dhs = grads.consume::<Flex>(&ops.node);
        let cache = &ops.state.0;
        let g = recurrence::backward(cache, &host(&dhs), &[], ops.parents[0].is_some());
        register(ops.parents.map(|p| p.map(|n| n.id)), g, cache.dims, grads);
    }
}

/// The final LSTM cell state `c_T` as a node of its own (see the module docs).
#[derive(Debug)]
struct FinalCellBackward;

impl Backward<Flex, 7> for FinalCellBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dc_last = grads.consume::<Flex>(&ops.node);
        let cache = &ops.state.0;
        let Dims { batch, steps, hidden, .. } = cache.dims;
        let no_dhs = vec![0f32; batch * steps * hidden];
        let g = recurrence::backward(cache, &no_dhs, &host(&dc_last), ops.parents[0].is_some());
        register(ops.parents.map(|p| p.map(|n| n.id)), g, cache.dims, grads);
    }
}

/// Hands the kernel's gradients to the node's parents (burn adds those of several children).
fn register(parents: [Option<NodeId>; 7], g: recurrence::Gradients, dims: Dims, grads: &mut Gradients) {
    let [p_x, p_wx, p_b, p_wh, p_bhn, p_h0, p_c0] = parents;
    let Dims { kind, batch, steps, input, hidden } = dims;
    let width = kind.gates() * hidden;
    let outputs = [
        (p_x, g.x, vec![batch, steps, input]),
        (p_wx, g.w_x, vec![input, width]),
        (p_b, g.b, vec![width]),
        (p_wh, g.w_h, vec![hidden, width]),
        (p_bhn, g.b_hn, vec![hidden]),
        (p_h0, g.h0, vec![batch, hidden]),
        (p_c0, g.c0, vec![batch, hidden]),
    ];
    for (parent, values, shape) in outputs {
        // Placeholders for absent inputs (b_hn, c0) are never tracked, so `values` is
        // non-empty wherever a parent exists.
        if let Some(id) = parent {
            grads.register::<Flex>(id, flex(values, shape));
        }
    }
}

/// Training: one autodiff node whose backward is the host kernel.
fn tracked<C: CheckpointStrategy>(dims: Dims, i: Inputs) -> (Tensor<3>, Option<Tensor<2>>)
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let device = i.x.device();
    let lstm = i.c0.is_some();
    let gru = i.w.b_hn.is_some();
    // Absent inputs are untracked placeholders, so the node always has the same parents.
    let b_hn = i.w.b_hn.unwrap_or_else(|| Tensor::<1>::zeros([1], &device));
    let c0 = i.c0.unwrap_or_else(|| Tensor::<2>::zeros([1, 1], &device));
    let (x, w_x, b, w_h) = (
        tracked_primitive::<3, C>(i.x),
        tracked_primitive::<2, C>(i.w.w_x),
        tracked_primitive::<1, C>(i.w.b),
        tracked_primitive::<2, C>(i.w.w_h),
    );
    let (b_hn, h0, c0) =
        (tracked_primitive::<1, C>(b_hn), tracked_primitive::<2, C>(i.h0), tracked_primitive::<2, C>(c0));
    let nodes = || [x.node(), w_x.node(), b.node(), w_h.node(), b_hn.node(), h0.node(), c0.node()];
    let run = |keep: bool| {
        let empty: Cow<[f32]> = Cow::Borrowed(&[]);
        let b_hn = if gru { host(b_hn.primitive()) } else { empty.clone() };
        let c0 = if lstm { host(c0.primitive()) } else { empty };
        let weights =
            Weights { w_x: &host(w_x.primitive()), b: &host(b.primitive()), w_h: &host(w_h.primitive()), b_hn: &b_hn };
        recurrence::forward(dims, &host(x.primitive()), weights, &host(h0.primitive()), &c0, keep)
    };
    let Dims { batch, steps, hidden, .. } = dims;
    let (hs, c) = match RecurrenceBackward.prepare::<C>(nodes()).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let out = run(true);
            let state = State(Arc::new(out.cache.expect("cache kept for the backward")));
            let c = lstm.then(|| match FinalCellBackward.prepare::<C>(nodes()).compute_bound().stateful() {
                OpsKind::Tracked(final_cell) => final_cell.finish(state.clone(), flex(out.c_last, vec![batch, hidden])),
                OpsKind::UnTracked(final_cell) => final_cell.finish(flex(out.c_last, vec![batch, hidden])),
            });
            (prep.finish(state, flex(out.hs, vec![batch, steps, hidden])), c)
        }
        OpsKind::UnTracked(prep) => {
            let out = run(false);
            let c = lstm.then(|| <FloatTensor<Autodiff<Flex, C>>>::new(flex(out.c_last, vec![batch, hidden])));
            (prep.finish(flex(out.hs, vec![batch, steps, hidden])), c)
        }
    };
    (Tensor::<3>::from_primitive::<Autodiff<Flex, C>>(hs), c.map(Tensor::<2>::from_primitive::<Autodiff<Flex, C>>))
}
