#!/usr/bin/env python3
r"""PyTorch twin of the default recipe's training step, beside `benches/rnn.rs --workload recipe`.

    /tmp/pyt/bin/python tools/recipe_torch.py --steps 20 --threads 2
    cargo test --bench rnn -- --workload recipe --steps 20          # the trajrnn side

One training step of `trajrnn train` with `RunConfig::default()` on the synthetic pick-and-place
data (the defaults below are what the bench prints for it: LSTM-64, one layer, 3 members,
batch 32, context 64, 32 free-running steps, input width 27, 9 state channels, history 8, no
commands), written the way a PyTorch user would:

  for each member (an independent nn.LSTM(27, 64) + nn.Linear(64, 9), zero-initialised head):
    teacher-forced part: the LSTM over the 64 context steps, the head at every step, the
      channel-weighted MSE against the targets;
    free-running part, from the final (h, c) with the graph cut (`.detach()`, as trajrnn does)
      and the last teacher-forced output (which stays in the graph); for k in 0..31:
        lags     = lag vector of the last history+1 frames (the newest frame, then the newest-first
                   differences of consecutive frames: narrow, subtract, flip, reshape, cat)
        predict  = lags @ base_w + base_b + y * out_scale        (decode: the encoding's base map)
        loss    += channel-weighted MSE(predict, recorded frame k)
        if k < 31: push `predict` into the frame buffer, x = clamp(lags(buffer) @ input_w + input_b),
                   (y, h, c) = one LSTM step + head on x          (re-encode, run the member)
      the free-running loss is the mean over the 32 steps, times rollout_weight (1.0);
  the members' losses averaged; loss.item(); backward; clip_grad_norm_(1.0) (global L2 norm);
  Adam (betas 0.9/0.999, eps 1e-8) at the recipe's scheduled learning rate (linear warm-up over
  20 steps from 2e-3 / 20, then cosine).

`base_w` [81, 9] and `input_w` [81, 27] are dense, as trajrnn's `DeviceMaps` hold the encoding's
maps on the device. The data are random tensors of the right shapes, made before timing (the cost
does not depend on the values); a pool of them is cycled.

What `train_timesteps_per_s` counts (the same as the bench): LSTM cell steps of one window in one
member, per second. A step is batch x (context + rollout_steps - 1) x members of them: 64
teacher-forced steps, then 31 cell steps for the 32 free-running predictions (the first is decoded
from the last teacher-forced output).

Output: one JSON line on stdout, with the keys of the bench's recipe line.

Note: on CPU, torch runs nn.LSTM (float32) through oneDNN's fused LSTM primitive, for the whole
context and for each single free-running step alike (`--free-step cell` runs the free-running steps
through torch.lstm_cell on the same weights instead). `--no-mkldnn` turns oneDNN off.
"""

import argparse
import gc
import json
import math
import statistics
import time

import torch
import torch.nn as nn


class Member(nn.Module):
    """One network of the ensemble: an LSTM stack and a linear head (zero at the start, as the
    recipe's `zero_head`)."""

    def __init__(self, features, hidden, layers, outputs, dropout):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, outputs)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out), state

    def step_cell(self, x, state):
        """One step through torch.lstm_cell on the LSTM's own weights (single layer)."""
        lstm = self.lstm
        h, c = torch.lstm_cell(x, (state[0][0], state[1][0]), lstm.weight_ih_l0, lstm.weight_hh_l0,
                               lstm.bias_ih_l0, lstm.bias_hh_l0)
        return self.head(h), (h.unsqueeze(0), c.unsqueeze(0))


def lags(frames, dim, history):
    """Lag vectors [B, (1 + history) * dim] of the last of `frames` [B, history + 1, W] (no commands):
    the newest state, then the newest-first differences, as DeviceMaps::lags."""
    b, n, _ = frames.shape
    states = frames[:, :, :dim]
    parts = [states[:, n - 1, :]]
    if history > 0:
        parts.append((states[:, 1:] - states[:, :-1]).flip(1).reshape(b, (n - 1) * dim))
    return torch.cat(parts, 1)


def scheduled_lr(args, step, total):
    """trajrnn's learning rate at optimiser step `step` (0-based) of `total`: warm-up, then cosine."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    span = max(total - args.warmup_steps, 1)
    progress = min((step - args.warmup_steps) / span, 1.0)
    return args.lr * (args.min_lr_factor + (1 - args.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--context", type=int, default=64, help="teacher-forced steps per window")
    p.add_argument("--rollout-steps", type=int, default=32, help="free-running steps scored per window")
    p.add_argument("--rollout-weight", type=float, default=1.0)
    p.add_argument("--features", type=int, default=27, help="the model's input width (the encoding's input_dim)")
    p.add_argument("--dim", type=int, default=9, help="state channels (the head's output, a frame)")
    p.add_argument("--history", type=int, default=8, help="frames before the current one the lag vector reads")
    p.add_argument("--dropout", type=float, default=0.0, help="between stacked layers (the recipe's model.dropout)")
    p.add_argument("--clip", type=float, default=1.0, help="the global gradient-norm bound (train.clip_norm)")
    p.add_argument("--input-clip", type=float, default=10.0, help="the model inputs' clamp (data.encoding.input_clip)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, default=20, help="of the learning-rate schedule")
    p.add_argument("--min-lr-factor", type=float, default=0.05)
    p.add_argument("--total-steps", type=int, default=120, help="planned steps of the cosine (6 per epoch x 20)")
    p.add_argument("--free-step", choices=["lstm", "cell"], default="lstm",
                   help="free-running steps through nn.LSTM on one step, or torch.lstm_cell")
    p.add_argument("--steps", type=int, default=20, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--pool", type=int, default=4, help="batches of random data, cycled")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-mkldnn", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.free_step == "cell" and args.layers != 1:
        p.error("--free-step cell runs one layer")
    if args.rollout_steps < 1 or args.context < 1:
        p.error("the recipe has a context and free-running steps")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.no_mkldnn:
        torch.backends.mkldnn.enabled = False

    B, T, K, F, D, H = args.batch, args.context, args.rollout_steps, args.features, args.dim, args.history
    lag_len = (1 + H) * D
    members = nn.ModuleList(Member(F, args.hidden, args.layers, D, args.dropout) for _ in range(args.members))
    # The encoding's maps, dense (values random: the cost does not depend on them), and the loss weights.
    input_w, input_b = torch.randn(lag_len, F) * 0.1, torch.randn(1, F) * 0.1
    base_w, base_b = torch.randn(lag_len, D) * 0.1, torch.randn(1, D) * 0.1
    out_scale = torch.rand(1, D)
    weights = torch.rand(1, D) + 0.5
    step_weights = [torch.rand(1, D) + 0.5 for _ in range(K)]
    # Per batch: the teacher-forced inputs and targets, and the windows' frames (the history, the
    # context and the free-running frames: H + T + K frames, as trajrnn's H + (T + K - 1) + 1).
    pool = [(torch.randn(B, T, F), torch.randn(B, T, D), torch.randn(B, H + T + K, D)) for _ in range(args.pool)]
    current = H + T - 1  # the last teacher-forced input frame

    params = list(members.parameters())
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    members.train()

    def member_loss(member, x, target, frames):
        y, (h, c) = member(x)
        loss = ((y - target).square() * weights).mean()
        state = (h.detach(), c.detach())
        buffer = frames[:, current - H:current + 1]
        y = y[:, -1]
        free = None
        for k in range(K):
            predicted = lags(buffer, D, H) @ base_w + base_b + y * out_scale
            err = ((predicted - frames[:, current + 1 + k]).square() * step_weights[k]).mean()
            free = err if free is None else free + err
            if k + 1 < K:
                buffer = torch.cat([buffer[:, 1:], predicted.unsqueeze(1)], 1) if H > 0 else predicted.unsqueeze(1)
                x_next = (lags(buffer, D, H) @ input_w + input_b).clamp(-args.input_clip, args.input_clip)
                if args.free_step == "cell":
                    y, state = member.step_cell(x_next, state)
                else:
                    out, state = member(x_next.unsqueeze(1), state)
                    y = out[:, 0]
        return loss + free / K * args.rollout_weight

    def step(i):
        x, target, frames = pool[i % len(pool)]
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(args, i, args.total_steps)
        opt.zero_grad(set_to_none=True)
        loss = sum(member_loss(m, x, target, frames) for m in members) / len(members)
        value = loss.item()  # trajrnn reads the loss back every step (for its log and divergence check)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_norm=args.clip)
        opt.step()
        return value

    for i in range(args.warmup):
        step(i)
    times_ms = []
    gc.collect()
    gc.disable()
    try:
        for i in range(args.warmup, args.warmup + args.steps):
            t0 = time.perf_counter_ns()
            step(i)
            times_ms.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        gc.enable()
    median = statistics.median(times_ms)
    timesteps = B * (T + K - 1) * args.members
    print(json.dumps({
        "workload": "recipe",
        "cell": "lstm", "hidden": args.hidden, "layers": args.layers, "members": args.members, "batch": B,
        "seq": T, "context": T, "rollout_steps": K, "features": F, "output_dim": D, "history": H, "lag_len": lag_len,
        "backend": "torch-cpu", "free_step": args.free_step, "mkldnn": torch.backends.mkldnn.enabled,
        "train_step_ms_median": median, "train_timesteps_per_s": timesteps / (median / 1e3),
        "timesteps_per_step": timesteps, "steps": args.steps, "warmup": args.warmup,
        "dropout": args.dropout, "clip_norm": args.clip, "optimizer": "Adam", "learning_rate": args.lr,
        "threads": torch.get_num_threads(), "torch_version": torch.__version__,
    }))


if __name__ == "__main__":
    main()
