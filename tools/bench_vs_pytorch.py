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
LSTM; F = H above the first layer), against the CPU's FMA peak at its nominal clock: cores ×
clock × FLOP per cycle, which depends on the core (see `flop_per_cycle`: 32 on AMD Zen 2–4, whose
two FMA pipes are 256 bits wide, AVX-512 included; 64 on Intel cores with AVX-512, assuming two
512-bit FMA units as on most Xeon Scalable parts; 32 on other AVX2 cores). The table says which.

`--from-raw FILE` prints (and with --table writes) the table of an earlier run from its raw
record, without running anything: for a record made before a change to how the table is read.

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
        for key, name in (
            ("vendor_id", "vendor"),
            ("cpu family", "cpu_family"),
            ("model", "cpu_model_number"),
            ("cpu MHz", "mhz"),
        ):
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


def flop_per_cycle(info):
    """f32 FLOP per cycle and core at full FMA throughput, and the assumption it rests on."""
    simd, vendor, model = info.get("simd") or [], info.get("vendor"), info.get("cpu_model") or ""
    if vendor is None:  # records made before the vendor was kept
        vendor = "GenuineIntel" if "Intel" in model else "AuthenticAMD" if "AMD" in model else None
    family = int(info.get("cpu_family") or 0)
    if vendor == "AuthenticAMD" and family == 26 and "avx512f" in simd:
        return 64, "two 512-bit FMA pipes, Zen 5"
    if vendor == "AuthenticAMD" and "fma" in simd:
        return 32, "two 256-bit FMA pipes, Zen 2-4, which run AVX-512 too"
    if vendor == "GenuineIntel" and "avx512f" in simd:
        return 64, "two 512-bit FMA units assumed, as on most Xeon Scalable parts"
    if "fma" in simd:
        return 32, "two 256-bit FMA units"
    return None, "unknown core"


def peak_gflops(info):
    """FMA peak of the CPU at its nominal clock (see the module's doc)."""
    per_cycle, _ = flop_per_cycle(info)
    try:
        return info["cores"] * float(info["mhz"]) / 1e3 * per_cycle
    except (KeyError, TypeError, ValueError):
        return None


def train_gflops(timesteps_per_s, cell, hidden, layers, features):
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    per_step = sum(3 * 2 * gates * hidden * ((features if l == 0 else hidden) + hidden) for l in range(layers))
    return timesteps_per_s * per_step / 1e9


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def config_name(cell, hidden, layers):
    return f"{cell} H{hidden}" + (f" ×{layers}" if layers > 1 else "")


def summarise(cell, hidden, layers, features, ours, theirs):
    """One table row from the rounds of one configuration: `ours` holds a dict backend → JSON line
    per round, `theirs` PyTorch's line per round."""
    ts = median([o["flex"]["train_timesteps_per_s"] for o in ours])
    torch_ts = median([t["train"]["timesteps_per_s"] for t in theirs])
    return {
        "config": config_name(cell, hidden, layers),
        "ours_gflops": train_gflops(ts, cell, hidden, layers, features),
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


def render(info, run, rows, recipe, torch_version, raw_path):
    """The Markdown the README quotes. `run`: the run's arguments (rounds, profile, shape)."""
    peak = peak_gflops(info)
    per_cycle, assumption = flop_per_cycle(info)
    fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
    peak_text = (
        f"FMA peak {fmt(peak, '.0f')} GFLOP/s ({info['cores']} × {info.get('mhz')} MHz × {per_cycle} FLOP a cycle: {assumption})"
        if peak
        else "FMA peak n/a"
    )
    lines = [
        f"{run['rounds']} interleaved rounds at `{info['commit'][:12]}`, {run['profile']} profile, B={run['batch']} "
        f"T={run['seq']} F={run['features']}; PyTorch {torch_version} with 2 threads; {info['cpu_model']} (family "
        f"{info.get('cpu_family')}, model {info.get('cpu_model_number')}), {info['cores']} cores at {info.get('mhz')} MHz, "
        f"{peak_text}; {info['rustc']}. Medians over the rounds; raw record `{raw_path}`.",
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
    for r in [r for r in rows if r["ours_observe_us"] is not None]:
        lines += ["", f"`Predictor::observe` end to end ({r['config']}, the encoding's 27 inputs): "
                  f"{r['ours_observe_us']:.2f} µs median, p99 {r['ours_observe_p99']:.2f} µs."]
    return "\n".join(lines) + "\n"


def from_raw(path):
    """What `render` needs, read back from a raw record."""
    with open(path) as f:
        records = [json.loads(l) for l in f if l.strip()]
    head, lines = records[0], records[1:]
    ours, theirs, order = {}, {}, []
    recipe = {"ours": [], "theirs": []}
    for l in lines:
        if l.get("workload") == "recipe":
            recipe["ours" if l["side"] == "trajrnn" else "theirs"].append(l)
            continue
        if l["side"] == "trajrnn":
            key = (l["cell"], l["hidden"], l["layers"])
            ours.setdefault(key, {}).setdefault(l["round"], {})[l["backend"]] = l
        else:
            c = l["config"]
            key = (c["cell"], c["hidden"], c["layers"])
            theirs.setdefault(key, {})[l["round"]] = l
        if key not in order:
            order.append(key)
    features = head["args"]["features"]
    rows = [
        summarise(*key, features, [ours[key][r] for r in sorted(ours[key])], [theirs[key][r] for r in sorted(theirs[key])])
        for key in order
    ]
    torch_version = next((l.get("torch_version") for l in lines if l.get("torch_version")), "?")
    return head["machine"], head["args"], rows, recipe, torch_version


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
    p.add_argument("--from-raw", help="render the table of this raw record instead of running")
    args = p.parse_args()

    if args.from_raw:
        info, run, rows, recipe, torch_version = from_raw(args.from_raw)
        text = render(info, run, rows, recipe, torch_version, args.from_raw)
    else:
        info, rows, recipe, torch_version = run_all(args)
        text = render(info, vars(args), rows, recipe, torch_version, args.raw)
    print("\n" + text)
    if args.table:
        with open(args.table + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.table + ".tmp", args.table)


def run_all(args):
    """Runs both sides, round by round, writing every raw line to --raw as it comes."""
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
    theirs = []
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
            row = summarise(cell, hidden, layers, args.features, ours, theirs)
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
    return info, rows, recipe, torch_version


if __name__ == "__main__":
    main()
