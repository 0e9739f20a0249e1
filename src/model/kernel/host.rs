//! A trained model's weights copied to the host for the plain-Rust streaming step
//! ([`trajrnn_kernels::host`]).

use burn::prelude::*;
pub(crate) use trajrnn_kernels::host::{HostModel, HostState, Layer};

use super::cell;
use crate::model::TrajectoryModel;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 weights")
}

/// The host copy of `model` (weights in the same row-vector layout).
pub fn from_model(model: &TrajectoryModel) -> HostModel {
    let layers = model
        .layers
        .iter()
        .map(|l| Layer {
            w_x: host(l.w_x.val()),
            w_h: host(l.w_h.val()),
            b: host(l.b.val()),
            b_hn: l.b_hn.as_ref().map(|b| host(b.val())).unwrap_or_default(),
        })
        .collect();
    let out = model.head.weight.dims()[1];
    let head_b = model.head.bias.as_ref().map(|b| host(b.val())).unwrap_or_else(|| vec![0.0; out]);
    HostModel::new(cell(model.cell()), model.hidden_size(), layers, host(model.head.weight.val()), head_b)
}
