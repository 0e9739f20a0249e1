#!/usr/bin/env python3
"""Memory over a long training run: does the resident set grow with the epochs?

Runs `trajrnn train` with the example's recipe (its dataset, the default settings) for
`--epochs` epochs without early stopping, samples the process's resident set (VmRSS from
/proc/PID/status, Linux) every `--every` seconds together with the epoch it is in, and fits a
line to RSS against epoch after the first `--skip` epochs (allocator and caches warming up).
Prints the slope in MiB per 100 epochs with the first, last and largest RSS, and writes every
sample to `--record` (JSON).

    python3 tools/rss_long_run.py --epochs 200 --record docs/records/faults/rss_long_run.json
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fit(points):
    """Least-squares slope and intercept of (x, y) points; None with fewer than two x values."""
    n = len(points)
    if n < 2 or len({x for x, _ in points}) < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    slope = sxy / sxx
    return slope, my - slope * mx


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/debug/trajrnn"))
    ap.add_argument("--dataset", default=os.path.join(ROOT, "datasets/robosuite_pick_place/sawyer"))
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--skip", type=int, default=20, help="epochs left out of the fit (warm-up)")
    ap.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    ap.add_argument("--record", help="write the samples and the fit here (JSON)")
    a = ap.parse_args()

    run_dir = tempfile.mkdtemp(prefix="rss-run-")
    cmd = [a.bin, "train", "--dataset", a.dataset, "--run-dir", os.path.join(run_dir, "run"),
           "--epochs", str(a.epochs), "--patience", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    epoch = [0]
    tail = []

    def read():
        for line in proc.stdout:
            tail.append(line.rstrip())
            del tail[:-20]
            m = re.match(r"epoch\s+(\d+)", line)
            if m:
                epoch[0] = int(m.group(1))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    samples = []
    start = time.time()
    while proc.poll() is None:
        r = rss_mib(proc.pid)
        if r is not None:
            samples.append({"seconds": round(time.time() - start, 2), "epoch": epoch[0], "rss_mib": round(r, 2)})
        time.sleep(a.every)
    reader.join(timeout=5)
    if proc.returncode != 0:
        print("\n".join(tail), file=sys.stderr)
        sys.exit(f"trajrnn train failed with {proc.returncode}")

    points = [(s["epoch"], s["rss_mib"]) for s in samples if s["epoch"] > a.skip]
    line = fit(points)
    slope = None if line is None else line[0] * 100
    summary = {
        "command": " ".join(cmd),
        "epochs": a.epochs,
        "samples": len(samples),
        "fit_epochs": f"{a.skip + 1}..{a.epochs}",
        "slope_mib_per_100_epochs": None if slope is None else round(slope, 3),
        "rss_first_mib": samples[0]["rss_mib"] if samples else None,
        "rss_after_skip_mib": points[0][1] if points else None,
        "rss_last_mib": samples[-1]["rss_mib"] if samples else None,
        "rss_max_mib": max((s["rss_mib"] for s in samples), default=None),
        "seconds": round(time.time() - start, 1),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    na = lambda v, unit="": "n/a" if v is None else f"{v}{unit}"
    print(f"epochs {a.epochs} in {summary['seconds']} s; RSS first {na(summary['rss_first_mib'])} MiB, "
          f"after epoch {a.skip} {na(summary['rss_after_skip_mib'])} MiB, last {na(summary['rss_last_mib'])} MiB, "
          f"max {na(summary['rss_max_mib'])} MiB; slope over epochs {summary['fit_epochs']}: "
          f"{na(summary['slope_mib_per_100_epochs'])} MiB per 100 epochs")
    if a.record:
        os.makedirs(os.path.dirname(os.path.abspath(a.record)), exist_ok=True)
        tmp = a.record + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"summary": summary, "samples": samples}, f, indent=1)
        os.replace(tmp, a.record)


if __name__ == "__main__":
    main()
