//! Global-norm gradient clipping, as PyTorch's `clip_grad_norm_`: all gradients are scaled by one
//! factor so that their joint L2 norm is at most `max_norm`. burn's own `GradientClipping::Norm`
//! clips each parameter tensor separately, which changes the update's direction.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Joint L2 norm of the gradients of all of `module`'s parameters.
pub fn global_grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    struct SumSquares<'a> {
        grads: &'a GradientsParams,
        total: f64,
    }
    impl ModuleVisitor for SumSquares<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                self.total += g.square().sum().into_scalar::<f32>() as f64;
            }
        }
    }
    let mut visitor = SumSquares { grads, total: 0.0 };
    module.visit(&mut visitor);
    visitor.total.sqrt()
}

/// Multiplies every gradient of `module`'s parameters by `factor`.
pub(crate) fn scale_grads<M: Module>(module: &M, grads: &mut GradientsParams, factor: f32) {
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f32,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g * self.factor);
            }
        }
    }
    module.visit(&mut Scale { grads, factor });
}

/// Norms around one clipping step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipStats {
    /// Global gradient norm as computed (may be non-finite).
    pub norm_before: f64,
    /// Global norm after clipping (equal to `norm_before` when nothing was scaled).
    pub norm_after: f64,
}

impl ClipStats {
    /// Whether the gradients were scaled down.
    pub fn clipped(&self) -> bool {
        self.norm_after < self.norm_before
    }
}

/// Rescales `grads` so their global norm is at most `max_norm`. A non-finite norm is returned
/// as is and the gradients are left untouched (the caller skips that step).
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> ClipStats {
    let norm = global_grad_norm(module, grads);
    if !norm.is_finite() || norm <= max_norm {
        return ClipStats { norm_before: norm, norm_after: norm };
    }
    // The small constant matches PyTorch's clip_grad_norm_ (max_norm / (norm + 1e-6)).
    let factor = max_norm / (norm + 1e-6);
    scale_grads(module, grads, factor as f32);
    ClipStats { norm_before: norm, norm_after: norm * factor }
}
