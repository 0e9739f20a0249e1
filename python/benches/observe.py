#!/usr/bin/env python3
"""`Predictor.observe` from Python, per call, against PyTorch LSTMs of the same size stepped
from Python the way a control loop would (batch 1, state carried, `torch.inference_mode`).

    python python/benches/observe.py --calls 20000 --rounds 3 --record docs/records/python/observe.json

Models: the default recipe's (an ensemble of 3 LSTM-64 networks, as `trajrnn train` makes it)
and one LSTM-128, both trained for one epoch by the command line on a synthetic dataset (the
weights do not change the cost). Each round times trajrnn and then PyTorch (alternating the
order between rounds) over the same frames; it prints medians and 99th percentiles in
microseconds and their ratios, and writes every timing summary with the machine to --record.
trajrnn's predictor also normalises, encodes (lags, velocity, acceleration) and decodes the
base rule; PyTorch's step is the bare network (input layer, cell, head): a lower bound for it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import trajrnn

REPO = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def percentiles(samples_ns: list[int]) -> dict:
    us = sorted(s / 1000 for s in samples_ns)
    return {"median_us": statistics.median(us), "p99_us": us[int(0.99 * (len(us) - 1))], "calls": len(us)}


def time_calls(step, frames: np.ndarray, calls: int, warmup: int = 1000) -> dict:
    clock = time.perf_counter_ns
    n = len(frames)
    for i in range(warmup):
        step(frames[i % n])
    samples = [0] * calls
    for i in range(calls):
        frame = frames[i % n]
        t0 = clock()
        step(frame)
        samples[i] = clock() - t0
    return percentiles(samples)


def ours(checkpoint: Path, frames: np.ndarray, calls: int) -> dict:
    predictor = trajrnn.Predictor(checkpoint)
    return time_calls(predictor.observe, frames, calls)


def pytorch(checkpoint: Path, frames: np.ndarray, calls: int) -> dict:
    """The same networks in PyTorch, stepped the fastest way found here for batch 1: one
    `nn.LSTMCell` per layer and one thread (`nn.LSTM` stepped one frame at a time took 130-175 µs
    for LSTM-128 on this machine, LSTMCell 34 µs)."""
    import torch

    torch.set_num_threads(1)
    meta = trajrnn.Checkpoint.load(checkpoint).meta["model"]
    width, hidden, layers = meta["input_dim"], meta["hidden"], meta["layers"]
    members = []
    for _ in range(meta["members"]):
        cells = [torch.nn.LSTMCell(width if k == 0 else hidden, hidden).eval() for k in range(layers)]
        members.append((cells, torch.nn.Linear(hidden, meta["output_dim"]).eval(), [None] * layers))

    def step(frame):
        # The encoded input is wider than a frame: the frame is copied into the input vector.
        x = np.zeros(width, dtype=np.float32)
        x[: min(width, len(frame))] = frame[:width]
        with torch.inference_mode():
            xt = torch.from_numpy(x).view(1, width)
            out = None
            for cells, head, states in members:
                h = xt
                for k, cell in enumerate(cells):
                    states[k] = cell(h, states[k])
                    h = states[k][0]
                y = head(h)
                out = y if out is None else out + y
            return (out / len(members)).numpy()

    return time_calls(step, frames, calls)


def train(cli: Path, dataset: Path, run: Path, extra: list[str]) -> Path:
    subprocess.run([str(cli), "train", "--dataset", str(dataset), "--run-dir", str(run), "--epochs", "1",
                    "--split", "episodes", *extra], check=True, capture_output=True)
    return run / "best.ckpt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bin", type=Path, default=Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "trajrnn")
    ap.add_argument("--record", type=Path, help="write the raw record (JSON) here")
    ap.add_argument("--no-torch", action="store_true", help="time trajrnn only")
    args = ap.parse_args()
    torch_version = None
    if not args.no_torch:
        import torch

        torch_version = torch.__version__
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([str(args.bin), "generate", "--out", str(tmp / "data"), "--episodes", "12"], check=True,
                       capture_output=True)
        frames = np.ascontiguousarray(trajrnn.Dataset.load(tmp / "data").episodes[0].states)
        models = {
            "default recipe (LSTM-64 x3 members)": train(args.bin, tmp / "data", tmp / "default", []),
            "LSTM-128, 1 member": train(args.bin, tmp / "data", tmp / "lstm128",
                                        ["--hidden", "128", "--members", "1"]),
        }
        results = []
        for name, checkpoint in models.items():
            for r in range(args.rounds):
                sides = [("trajrnn", ours)] + ([] if args.no_torch else [("pytorch", pytorch)])
                if r % 2:
                    sides.reverse()
                for side, fn in sides:
                    results.append({"model": name, "side": side, "round": r, **fn(checkpoint, frames, args.calls)})
    print("| model | trajrnn median / p99 (µs) | PyTorch median / p99 (µs) | PyTorch / trajrnn (median) |")
    print("|---|---|---|---|")
    for name in models:
        def med(side, key):
            values = [x[key] for x in results if x["model"] == name and x["side"] == side]
            return statistics.median(values) if values else None

        ours_m, ours_p = med("trajrnn", "median_us"), med("trajrnn", "p99_us")
        th_m, th_p = med("pytorch", "median_us"), med("pytorch", "p99_us")
        theirs = f"{th_m:.2f} / {th_p:.2f}" if th_m else "n/a"
        ratio = f"{th_m / ours_m:.2f}×" if th_m else "n/a"
        print(f"| {name} | {ours_m:.2f} / {ours_p:.2f} | {theirs} | {ratio} |")
    if args.record:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        record = {
            "command": " ".join(sys.argv),
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch_version,
            "trajrnn": trajrnn.__version__,
            "commit": commit,
            "results": results,
        }
        args.record.parent.mkdir(parents=True, exist_ok=True)
        tmp_record = args.record.with_suffix(".tmp")
        tmp_record.write_text(json.dumps(record, indent=1) + "\n")
        tmp_record.replace(args.record)
        print(f"wrote {args.record}")


if __name__ == "__main__":
    main()
