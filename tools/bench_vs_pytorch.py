#!/usr/bin/env python3
"""trajrnn against PyTorch on the reference RNN workload, side by side and interleaved.

For every configuration, each round runs trajrnn's `rnn` bench and PyTorch's bench_rnn.py one
after the other (the order alternates between rounds), both under `chrt -f 1` when allowed, so
both see the same machine. Prints the medians over rounds and the ratios, as a Markdown table,
and writes every raw JSON line to --raw.

    python3 tools/bench_vs_pytorch.py --torch-python .venv-torch/bin/python \
        --pytorch-bench ../shared/tools/bench/bench_rnn.py --rounds 3

trajrnn's bench binary is built with `cargo test --bench rnn --no-run` (the dev profile the
example runs under) unless --bench-bin names one (e.g. a `cargo bench` release build).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

CONFIGS = [("rnn", 128, 1), ("lstm", 128, 1), ("gru", 128, 1), ("lstm", 256, 2)]


def bench_binary(profile):
    args = ["cargo", "test", "--bench", "rnn", "--no-run", "--message-format=json"]
    if profile == "release":
        args = ["cargo", "bench", "--bench", "rnn", "--no-run", "--message-format=json"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "rnn" and msg.get("executable"):
            return msg["executable"]
    sys.exit("could not find the rnn bench binary")


def realtime(cmd):
    """Prefix with `chrt -f 1` where we may (root or CAP_SYS_NICE); else run as is."""
    if shutil.which("chrt") and subprocess.run(["chrt", "-f", "1", "true"], capture_output=True).returncode == 0:
        return ["chrt", "-f", "1"] + cmd
    return cmd


def run_json(cmd, env=None):
    out = subprocess.run(realtime(cmd), check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--torch-python", default=sys.executable)
    p.add_argument("--pytorch-bench", default="../shared/tools/bench/bench_rnn.py")
    p.add_argument("--bench-bin", help="trajrnn's rnn bench binary (default: build it)")
    p.add_argument("--profile", choices=["dev", "release"], default="dev")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=30, help="timed training steps per run")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--features", type=int, default=8)
    p.add_argument("--only", help="cell:hidden:layers, e.g. lstm:128:1")
    p.add_argument("--raw", default="bench_vs_pytorch.jsonl")
    args = p.parse_args()

    ours_bin = args.bench_bin or bench_binary(args.profile)
    configs = CONFIGS
    if args.only:
        c, h, l = args.only.split(":")
        configs = [(c, int(h), int(l))]
    shape = ["--batch", str(args.batch), "--seq", str(args.seq), "--features", str(args.features)]
    torch_env = dict(os.environ, PYTHONUNBUFFERED="1")
    rows = []
    with open(args.raw, "w") as raw:
        for cell, hidden, layers in configs:
            cfg = ["--cell", cell, "--hidden", str(hidden), "--layers", str(layers)] + shape
            ours, theirs = [], []
            for r in range(args.rounds):
                def run_ours():
                    lines = run_json([ours_bin] + cfg + ["--backend", "flex,host", "--steps", str(args.steps)])
                    ours.append({l["backend"]: l for l in lines})
                    for l in lines:
                        raw.write(json.dumps({"side": "trajrnn", "round": r, **l}) + "\n")

                def run_theirs():
                    line = run_json([args.torch_python, args.pytorch_bench] + cfg + ["--steps", str(args.steps), "--threads", "2"], env=torch_env)[0]
                    theirs.append(line)
                    raw.write(json.dumps({"side": "pytorch", "round": r, **line}) + "\n")

                for f in ((run_ours, run_theirs) if r % 2 == 0 else (run_theirs, run_ours)):
                    f()
                raw.flush()
            ts = median([o["flex"]["train_timesteps_per_s"] for o in ours])
            torch_ts = median([t["train"]["timesteps_per_s"] for t in theirs])
            row = {
                "config": f"{cell} H{hidden}" + (f" ×{layers}" if layers > 1 else ""),
                "ours_ts": ts,
                "torch_ts": torch_ts,
                "ratio": ts / torch_ts,
                "ours_stream_us": median([o["host"]["stream_us_median"] for o in ours]),
                "ours_stream_p99": median([o["host"]["stream_us_p99"] for o in ours]),
                "burn_stream_us": median([o["flex"]["stream_us_median"] for o in ours]),
                "torch_stream_us": median([t["infer"]["step_us"]["median"] for t in theirs]),
                "ours_rollout_ms": median([o["host"]["rollout_1000_ms"] for o in ours]),
                "torch_rollout_ms": median([t["rollout"]["total_ms"]["median"] for t in theirs]),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    torch_version = theirs[-1].get("torch_version", "?") if rows else "?"
    cpu = theirs[-1].get("cpu", "?") if rows else "?"
    print(f"\n{args.rounds} interleaved rounds, {args.profile} profile, B={args.batch} T={args.seq} F={args.features}; "
          f"PyTorch {torch_version} (2 threads) on {cpu}\n")
    print("| config | trajrnn train ts/s | PyTorch ts/s | ratio | trajrnn stream µs (median / p99) | burn flex stream µs | PyTorch stream µs | trajrnn 1000-step rollout ms | PyTorch rollout ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['ours_ts'] / 1e3:.0f} k | {r['torch_ts'] / 1e3:.0f} k | {r['ratio']:.2f} | "
              f"{r['ours_stream_us']:.1f} / {r['ours_stream_p99']:.1f} | {r['burn_stream_us']:.1f} | {r['torch_stream_us']:.1f} | "
              f"{r['ours_rollout_ms']:.1f} | {r['torch_rollout_ms']:.1f} |")


if __name__ == "__main__":
    main()
