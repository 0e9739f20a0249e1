//! The whole-window recurrence as one burn operation on the flex backend: the forward and the
//! hand-written backward run the host kernel of [`super::recurrence`] on flex's buffers, so the
//! autodiff graph holds one node per layer and window instead of dozens per step.
//!
//! Routing: a tensor is taken out of burn's dispatch as a concrete `Autodiff<Flex, _>` (or plain
//! `Flex`) primitive; other backends (ndarray, wgpu) return `None` and the caller runs the step
//! loop. The operation's tracked output is every step's `h` (`[B, T, H]`); the final LSTM cell
//! state is returned untracked: training never puts it in a loss (truncated BPTT detaches it).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, DispatchKindConversion, DispatchTensor, Flex, GradientCheckpointingStrategy};
use burn::prelude::*;

use trajrnn_kernels::recurrence::{self, Cache, Dims};

use super::cell;
use crate::model::CellKind;

/// Whether `device` runs on flex (autodiff or not).
pub fn is_flex(device: &Device) -> bool {
    // Device equality ignores the autodiff decorator.
    *device == Device::flex()
}

/// Runs the recurrence of one layer with the fused kernel: `xp = x·W_x + b` (`[B, T, G·H]`),
/// `w_h` (`[H, G·H]`), `b_hn` (GRU), `h0` and `c0` (LSTM) (`[B, H]`). Returns every step's `h`
/// and the final cell state, or `None` when the tensors are not on flex.
pub fn recurrence(
    kind: CellKind,
    xp: Tensor<3>,
    w_h: Tensor<2>,
    b_hn: Option<Tensor<1>>,
    h0: Tensor<2>,
    c0: Option<Tensor<2>>,
) -> Option<(Tensor<3>, Option<Tensor<2>>)> {
    let device = xp.device();
    if !is_flex(&device) {
        return None;
    }
    let [batch, steps, _] = xp.dims();
    let dims = Dims { kind: cell(kind), batch, steps, hidden: w_h.dims()[0] };
    let inputs = Inputs { xp, w_h, b_hn, h0, c0 };
    match device.gradient_checkpointing_strategy() {
        None => Some(untracked(dims, inputs)),
        Some(GradientCheckpointingStrategy::Disabled) => Some(tracked::<NoCheckpointing>(dims, inputs)),
        Some(GradientCheckpointingStrategy::Balanced) => Some(tracked::<BalancedCheckpointing>(dims, inputs)),
    }
}

struct Inputs {
    xp: Tensor<3>,
    w_h: Tensor<2>,
    b_hn: Option<Tensor<1>>,
    h0: Tensor<2>,
    c0: Option<Tensor<2>>,
}

/// A contiguous host view of a flex tensor (copying only if it is strided).
fn host(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("f32 tensor").to_vec()),
    }
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Inference (no autodiff): plain flex primitives.
fn untracked(dims: Dims, i: Inputs) -> (Tensor<3>, Option<Tensor<2>>) {
    let prim = |t: Tensor<3>| t.try_into_primitive::<Flex>().expect("flex tensor");
    let prim2 = |t: Tensor<2>| t.try_into_primitive::<Flex>().expect("flex tensor");
    let prim1 = |t: Tensor<1>| t.try_into_primitive::<Flex>().expect("flex tensor");
    let (xp, w_h, h0) = (prim(i.xp), prim2(i.w_h), prim2(i.h0));
    let b_hn = i.b_hn.map(prim1);
    let c0 = i.c0.map(prim2);
    let empty: &[f32] = &[];
    let out = recurrence::forward(
        dims,
        &host(&xp),
        &host(&w_h),
        b_hn.as_ref().map(host).as_deref().unwrap_or(empty),
        &host(&h0),
        c0.as_ref().map(host).as_deref().unwrap_or(empty),
        false,
    );
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

impl Backward<Flex, 5> for RecurrenceBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [p_xp, p_wh, p_bhn, p_h0, p_c0] = ops.parents;
        let dhs = grads.consume::<Flex>(&ops.node);
        let cache = &ops.state.0;
        let g = recurrence::backward(cache, &host(&dhs));
        let Dims { kind, batch, steps, hidden } = cache.dims;
        let width = kind.gates() * hidden;
        if let Some(n) = p_xp {
            grads.register::<Flex>(n.id, flex(g.xp, vec![batch, steps, width]));
        }
        if let Some(n) = p_wh {
            grads.register::<Flex>(n.id, flex(g.w_h, vec![hidden, width]));
        }
        if let Some(n) = p_bhn
            && kind == trajrnn_kernels::Cell::Gru
        {
            grads.register::<Flex>(n.id, flex(g.b_hn, vec![hidden]));
        }
        if let Some(n) = p_h0 {
            grads.register::<Flex>(n.id, flex(g.h0, vec![batch, hidden]));
        }
        if let Some(n) = p_c0
            && kind == trajrnn_kernels::Cell::Lstm
        {
            grads.register::<Flex>(n.id, flex(g.c0, vec![batch, hidden]));
        }
    }
}

/// Training: one autodiff node whose backward is the host kernel.
fn tracked<C: CheckpointStrategy>(dims: Dims, i: Inputs) -> (Tensor<3>, Option<Tensor<2>>)
where
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let device = i.xp.device();
    let prim3 = |t: Tensor<3>| t.try_into_primitive::<Autodiff<Flex, C>>().expect("autodiff flex tensor");
    let prim2 = |t: Tensor<2>| t.try_into_primitive::<Autodiff<Flex, C>>().expect("autodiff flex tensor");
    let prim1 = |t: Tensor<1>| t.try_into_primitive::<Autodiff<Flex, C>>().expect("autodiff flex tensor");
    // Absent inputs are untracked placeholders, so the node always has the same five parents.
    let placeholder1 = || Tensor::<1>::zeros([1], &device);
    let placeholder2 = || Tensor::<2>::zeros([1, 1], &device);
    let lstm = i.c0.is_some();
    let (xp, w_h, h0) = (prim3(i.xp), prim2(i.w_h), prim2(i.h0));
    let b_hn = prim1(i.b_hn.unwrap_or_else(placeholder1));
    let c0 = prim2(i.c0.unwrap_or_else(placeholder2));
    let nodes = [xp.node(), w_h.node(), b_hn.node(), h0.node(), c0.node()];
    let run = |keep: bool| {
        let empty: &[f32] = &[];
        recurrence::forward(
            dims,
            &host(xp.primitive()),
            &host(w_h.primitive()),
            if dims.kind == trajrnn_kernels::Cell::Gru { host(b_hn.primitive()) } else { empty.into() }.as_ref(),
            &host(h0.primitive()),
            if lstm { host(c0.primitive()) } else { empty.into() }.as_ref(),
            keep,
        )
    };
    let Dims { batch, steps, hidden, .. } = dims;
    let (hs, c_last) = match RecurrenceBackward.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let out = run(true);
            let state = State(Arc::new(out.cache.expect("cache kept for the backward")));
            (prep.finish(state, flex(out.hs, vec![batch, steps, hidden])), out.c_last)
        }
        OpsKind::UnTracked(prep) => {
            let out = run(false);
            (prep.finish(flex(out.hs, vec![batch, steps, hidden])), out.c_last)
        }
    };
    let c = lstm.then(|| {
        let leaf = <FloatTensor<Autodiff<Flex, C>>>::new(flex(c_last, vec![batch, hidden]));
        Tensor::<2>::from_primitive::<Autodiff<Flex, C>>(leaf)
    });
    (Tensor::<3>::from_primitive::<Autodiff<Flex, C>>(hs), c)
}
