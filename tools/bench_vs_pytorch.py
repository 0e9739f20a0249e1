#!/usr/bin/env python3
"""trajrnn against PyTorch on the reference RNN workload, side by side and interleaved.

For every configuration, each round runs trajrnn's `rnn` bench and PyTorch's bench_rnn.py one
after the other (the order alternates between rounds), both under `chrt -f 1` when allowed, so
both see the same machine. Prints the medians over rounds and the ratios as a Markdown table
(also written to --table: the README's table is that file), and writes the machine (CPU model
string, family and model, cores, clock, compiler, Python and PyTorch versions, commit) and every
raw JSON line to --raw.

The training columns give the achieved GFLOP/s: a training step costs about 3 × 2·G·H·(F + H)
FLOP per time step and layer (forward, and twice that backward; G = 1, 3, 4 gates for RNN, GRU,
LSTM; F = H above the first layer), against the CPU's FMA peak: cores × clock × 32 FLOP per
cycle (two 256-bit FMA pipes of eight f32 lanes, AVX-512 included, on Zen 4).

    python3 tools/bench_vs_pytorch.py --torch-python .venv-torch/bin/python \
        --pytorch-bench ../shared/tools/bench/bench_rnn.py --rounds 3

trajrnn's bench binary is built with `cargo test --bench rnn --no-run` (the dev profile the
example runs under) unless --bench-bin names one (e.g. a `cargo bench` release build).
"""

import argparse
import datetime
import json
import os
import platform
import re
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


def machine():
    """The facts a figure needs to be read on another machine."""
    info = {"cores": os.cpu_count(), "python": platform.python_version()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info["cpu_model"] = re.search(r"Model name:\s*(.+)", lscpu).group(1).strip()
    except (OSError, AttributeError):
        info["cpu_model"] = platform.processor() or "?"
    try:
        cpuinfo = open("/proc/cpuinfo").read()
        for key, name in (("cpu family", "cpu_family"), ("model", "cpu_model_number"), ("cpu MHz", "mhz")):
            m = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.M)
            info[name] = m.group(1).strip() if m else None
        flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.M).group(1).split()
        info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512vl", "avx512_bf16") if f in flags]
    except (OSError, AttributeError):
        pass
    info["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    info["commit"] = commit + ("+changes" if dirty.strip() else "")
    info["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return info


def peak_gflops(info):
    """FMA peak of the CPU: cores × clock × 32 FLOP a cycle (see the module's doc)."""
    try:
        return info["cores"] * float(info["mhz"]) / 1e3 * 32
    except (KeyError, TypeError, ValueError):
        return None


def train_gflops(timesteps_per_s, cell, hidden, layers, features):
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    per_step = sum(3 * 2 * gates * hidden * ((features if l == 0 else hidden) + hidden) for l in range(layers))
    return timesteps_per_s * per_step / 1e9


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
    p.add_argument("--recipe-steps", type=int, default=20, help="timed steps of the default-recipe workload (0: skip it)")
    p.add_argument("--raw", default="docs/records/bench/vs_pytorch.jsonl")
    p.add_argument("--table", default="docs/records/bench/vs_pytorch.md")
    args = p.parse_args()

    ours_bin = args.bench_bin or bench_binary(args.profile)
    configs = CONFIGS
    recipe_twin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipe_torch.py")
    if args.only:
        c, h, l = args.only.split(":")
        configs = [(c, int(h), int(l))]
    shape = ["--batch", str(args.batch), "--seq", str(args.seq), "--features", str(args.features)]
    torch_env = dict(os.environ, PYTHONUNBUFFERED="1")
    rows = []
    info = machine()
    peak = peak_gflops(info)
    with open(args.raw, "w") as raw:
        raw.write(json.dumps({"machine": info, "args": vars(args)}) + "\n")
        for cell, hidden, layers in configs:
            cfg = ["--cell", cell, "--hidden", str(hidden), "--layers", str(layers)] + shape
            ours, theirs = [], []
            for r in range(args.rounds):
                def run_ours():
                    backends = "flex,host,predictor" if (cell, hidden, layers) == ("lstm", 128, 1) else "flex,host"
                    lines = run_json([ours_bin] + cfg + ["--backend", backends, "--steps", str(args.steps)])
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
                "ours_gflops": train_gflops(ts, cell, hidden, layers, args.features),
                "ours_ts": ts,
                "torch_ts": torch_ts,
                "ratio": ts / torch_ts,
                "ours_stream_us": median([o["host"]["stream_us_median"] for o in ours]),
                "ours_stream_p99": median([o["host"]["stream_us_p99"] for o in ours]),
                "burn_stream_us": median([o["flex"]["stream_us_median"] for o in ours]),
                "torch_stream_us": median([t["infer"]["step_us"]["median"] for t in theirs]),
                "ours_rollout_ms": median([o["host"]["rollout_1000_ms"] for o in ours]),
                "torch_rollout_ms": median([t["rollout"]["total_ms"]["median"] for t in theirs]),
                "ours_observe_us": median([o["predictor"]["stream_us_median"] for o in ours if "predictor" in o]),
                "ours_observe_p99": median([o["predictor"]["stream_us_p99"] for o in ours if "predictor" in o]),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        # The default recipe (`trajrnn train`'s own step on the synthetic Panda set) against its
        # twin (tools/recipe_torch.py), interleaved the same way.
        recipe = {"ours": [], "theirs": []}
        for r in range(args.rounds if args.recipe_steps else 0):
            def recipe_ours():
                line = run_json([ours_bin, "--workload", "recipe", "--steps", str(args.recipe_steps)])[0]
                recipe["ours"].append(line)
                raw.write(json.dumps({"side": "trajrnn", "round": r, **line}) + "\n")

            def recipe_theirs():
                cmd = [args.torch_python, recipe_twin, "--steps", str(args.recipe_steps), "--threads", "2"]
                line = run_json(cmd, env=torch_env)[0]
                recipe["theirs"].append(line)
                raw.write(json.dumps({"side": "pytorch", "round": r, **line}) + "\n")

            for f in ((recipe_ours, recipe_theirs) if r % 2 == 0 else (recipe_theirs, recipe_ours)):
                f()
            raw.flush()
    torch_version = theirs[-1].get("torch_version", "?") if rows else "?"
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
    lines = [
        f"{args.rounds} interleaved rounds at `{info['commit'][:12]}`, {args.profile} profile, B={args.batch} T={args.seq} "
        f"F={args.features}; PyTorch {torch_version} with 2 threads; {info['cpu_model']} (family {info.get('cpu_family')}, "
        f"model {info.get('cpu_model_number')}), {info['cores']} cores at {info.get('mhz')} MHz, FMA peak "
        f"{fmt(peak, '.0f')} GFLOP/s; {info['rustc']}. Medians over the rounds; raw record `{args.raw}`.",
        "",
        "| config | trajrnn train ts/s | PyTorch ts/s | ratio | trajrnn GFLOP/s (% of peak) | trajrnn stream µs (median / p99) | burn flex stream µs | PyTorch stream µs | trajrnn 1000-step rollout ms | PyTorch rollout ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        share = f" ({100 * r['ours_gflops'] / peak:.0f} %)" if peak else ""
        lines.append(
            f"| {r['config']} | {r['ours_ts'] / 1e3:.0f} k | {r['torch_ts'] / 1e3:.0f} k | {r['ratio']:.2f} | "
            f"{r['ours_gflops']:.0f}{share} | {r['ours_stream_us']:.1f} / {r['ours_stream_p99']:.1f} | "
            f"{r['burn_stream_us']:.1f} | {r['torch_stream_us']:.1f} | {r['ours_rollout_ms']:.1f} | {r['torch_rollout_ms']:.1f} |"
        )
    if recipe["ours"]:
        o, t = recipe["ours"], recipe["theirs"]
        ours_ts = median([l["train_timesteps_per_s"] for l in o])
        torch_ts = median([l["train_timesteps_per_s"] for l in t])
        first = o[0]
        lines += [
            "",
            f"Default recipe (`--workload recipe`: {first['members']} × {first['cell'].upper()}-{first['hidden']}, batch "
            f"{first['batch']}, {first['context']} teacher-forced + {first['rollout_steps']} free-running steps, "
            f"{first['features']} inputs; a timestep is one cell step of one window in one member, forward and backward):",
            "",
            "| workload | trajrnn step ms (of which gathering) | PyTorch step ms | trajrnn timesteps/s | PyTorch timesteps/s | ratio |",
            "|---|---|---|---|---|---|",
            f"| default recipe | {median([l['train_step_ms_median'] for l in o]):.1f} "
            f"({median([l['gather_ms_median'] for l in o]):.1f}) | {median([l['train_step_ms_median'] for l in t]):.1f} | "
            f"{ours_ts / 1e3:.0f} k | {torch_ts / 1e3:.0f} k | {ours_ts / torch_ts:.2f} |",
        ]
    observed = [r for r in rows if r["ours_observe_us"] is not None]
    for r in observed:
        lines += ["", f"`Predictor::observe` end to end ({r['config']}, the encoding's 27 inputs): "
                  f"{r['ours_observe_us']:.2f} µs median, p99 {r['ours_observe_p99']:.2f} µs."]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.table:
        with open(args.table + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.table + ".tmp", args.table)


if __name__ == "__main__":
    main()
