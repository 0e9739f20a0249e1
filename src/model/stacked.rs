//! Every member of an ensemble stepped at once: their weights stacked along a leading member
//! axis, so that one step of all members is a few batched products instead of one small graph
//! per member. This is what the free-running steps of training run on: there the members'
//! op-by-op graphs (a few dozen small operations per step and member, forward and backward) were
//! most of a training step's time (`perf` of the `rnn` bench's default-recipe workload). The
//! numbers are the members' own: a test checks them against [`TrajectoryModel::step_member`].

use burn::prelude::*;

use super::{CellKind, LayerState, TrajectoryModel};

/// One layer of every member: `w_x` `[M, in, G·H]`, `w_h` `[M, H, G·H]`, `b` `[M, 1, G·H]`,
/// a GRU's `b_hn` `[M, 1, H]`.
struct StackedLayer {
    w_x: Tensor<3>,
    w_h: Tensor<3>,
    b: Tensor<3>,
    b_hn: Option<Tensor<3>>,
}

/// The weights of every member of a model, stacked (in the model's graph: gradients reach each
/// member's own parameters).
pub(crate) struct StackedMembers {
    kind: CellKind,
    hidden: usize,
    members: usize,
    layers: Vec<StackedLayer>,
    /// `[M, H, D]` and `[M, 1, D]`.
    head_w: Tensor<3>,
    head_b: Option<Tensor<3>>,
}

impl TrajectoryModel {
    /// Every member's weights, stacked along a leading member axis.
    pub(crate) fn stacked_members(&self) -> StackedMembers {
        let members: Vec<_> = (0..self.members()).map(|k| self.member(k)).collect();
        let stack2 = |f: &dyn Fn(usize) -> Tensor<2>| Tensor::stack::<3>((0..members.len()).map(f).collect(), 0);
        let row = |t: Tensor<1>| t.unsqueeze::<2>();
        let layers = (0..self.layers.len())
            .map(|l| StackedLayer {
                w_x: stack2(&|k| members[k].0[l].w_x.val()),
                w_h: stack2(&|k| members[k].0[l].w_h.val()),
                b: stack2(&|k| row(members[k].0[l].b.val())),
                b_hn: self.layers[l]
                    .b_hn
                    .as_ref()
                    .map(|_| stack2(&|k| row(members[k].0[l].b_hn.as_ref().expect("every member is a GRU").val()))),
            })
            .collect();
        StackedMembers {
            kind: self.cell(),
            hidden: self.hidden_size(),
            members: members.len(),
            layers,
            head_w: stack2(&|k| members[k].1.weight.val()),
            head_b: self
                .head
                .bias
                .as_ref()
                .map(|_| stack2(&|k| row(members[k].1.bias.as_ref().expect("every member's head has a bias").val()))),
        }
    }
}

impl StackedMembers {
    /// Members `M`.
    pub(crate) fn members(&self) -> usize {
        self.members
    }

    /// The members' layer states (`states[k]`: member `k`'s layers, each `[B, H]`) as the
    /// states [`step`](Self::step) reads: each layer's rows member-major, `[M·B, H]`.
    pub(crate) fn stack_states(states: Vec<Vec<LayerState>>) -> Vec<LayerState> {
        let layers = states.first().map_or(0, Vec::len);
        let mut per_layer: Vec<Vec<LayerState>> = (0..layers).map(|_| Vec::with_capacity(states.len())).collect();
        for member in states {
            for (l, s) in member.into_iter().enumerate() {
                per_layer[l].push(s);
            }
        }
        per_layer
            .into_iter()
            .map(|layer| {
                let c = layer.iter().map(|s| s.c.clone()).collect::<Option<Vec<_>>>().map(|c| Tensor::cat(c, 0));
                LayerState { h: Tensor::cat(layer.into_iter().map(|s| s.h).collect(), 0), c }
            })
            .collect()
    }

    /// One step of every member: `input` `[M, B, in]` (member `k`'s rows at `k`), `state` every
    /// layer's state of all members with rows `[M·B, H]` (member-major); returns the heads'
    /// outputs `[M, B, D]` and the next state.
    pub(crate) fn step(&self, input: Tensor<3>, state: Vec<LayerState>) -> (Tensor<3>, Vec<LayerState>) {
        let [m, b, _] = input.dims();
        let (h, g) = (self.hidden, self.kind.gates() * self.hidden);
        let mut x = input;
        let mut next = Vec::with_capacity(self.layers.len());
        for (layer, s) in self.layers.iter().zip(state) {
            let gx = (x.matmul(layer.w_x.clone()) + layer.b.clone()).reshape([m * b, g]);
            let gh = s.h.clone().reshape([m, b, h]).matmul(layer.w_h.clone()).reshape([m * b, g]);
            let b_hn = layer.b_hn.clone().map(|t| t.repeat_dim(1, b).reshape([m * b, h]));
            let s = self.kind.update(gx, gh, b_hn, s);
            x = s.h.clone().reshape([m, b, h]);
            next.push(s);
        }
        let y = x.matmul(self.head_w.clone());
        (self.head_b.as_ref().map_or(y.clone(), |bias| y + bias.clone()), next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    /// All members stepped at once give each member's own step, for every cell, two layers.
    #[test]
    fn stacked_step_is_each_members_step() {
        let device = Device::flex();
        let (batch, input, hidden, outputs, members) = (3, 5, 8, 4, 3);
        for cell in CellKind::ALL {
            let config = ModelConfig {
                cell,
                input_dim: input,
                hidden,
                layers: 2,
                output_dim: outputs,
                dropout: 0.0,
                zero_head: false,
                members,
            };
            let model = config.init(&device, 7);
            let x: Vec<f32> = (0..members * batch * input).map(|i| ((i * 37 % 19) as f32 - 9.0) * 0.1).collect();
            let x = Tensor::<3>::from_data(TensorData::new(x, [members, batch, input]), &device);
            let state = model.zero_state(batch, &device);
            let stacked =
                model.stacked_members().step(x.clone(), StackedMembers::stack_states(model.split_state(state.clone())));
            let mut own = vec![];
            for (k, s) in model.split_state(state).into_iter().enumerate() {
                let xk = x.clone().narrow(0, k, 1).squeeze_dim::<2>(0);
                own.push(model.step_member(k, xk, s));
            }
            // A second step from the states the first left.
            let own_states = StackedMembers::stack_states(own.iter().map(|(_, s)| s.clone()).collect());
            let (y2, _) = model.stacked_members().step(x.clone() * 0.5, stacked.1.clone());
            let mut own2 = vec![];
            for (k, (_, s)) in own.iter().enumerate() {
                let xk = x.clone().narrow(0, k, 1).squeeze_dim::<2>(0) * 0.5;
                own2.push(model.step_member(k, xk, s.clone()).0);
            }
            for (a, b) in stacked.1.iter().zip(&own_states) {
                close(a.h.clone(), b.h.clone(), cell);
            }
            close(
                stacked.0.reshape([members * batch, outputs]),
                Tensor::cat(own.into_iter().map(|(y, _)| y).collect(), 0),
                cell,
            );
            close(y2.reshape([members * batch, outputs]), Tensor::cat(own2, 0), cell);
        }
    }

    fn close(a: Tensor<2>, b: Tensor<2>, cell: CellKind) {
        let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{cell}: {x} against {y}");
        }
    }
}
