#!/usr/bin/env python3
"""exp.py NAME 'toml overrides' [datasets...]: train on DS_dev, eval on DS_held; print oracle ratios.
Overrides are TOML text merged into the default config (written to a file)."""
import subprocess, sys, os, re, json, time
B = os.environ.get("BIN", "/work/trajrnn_v1")
name = sys.argv[1]; overrides = sys.argv[2]
sets = sys.argv[3:] or ["g1", "cr5", "so101"]
os.makedirs("/work/exp/"+name, exist_ok=True)
cfg = "/work/exp/%s/config.toml" % name
open(cfg, "w").write(overrides + "\n")
rows = []
for ds in sets:
    run = "/work/exp/%s/%s" % (name, ds)
    t0 = time.time()
    r = subprocess.run([B, "train", "--config", cfg, "--dataset", "/work/ds/%s_dev" % ds, "--run-dir", run, "--overwrite"], capture_output=True, text=True)
    open(run + ".train.log", "w").write(r.stdout + r.stderr)
    if r.returncode != 0:
        print(ds, "TRAIN FAILED", r.stderr[-500:]); continue
    secs = time.time() - t0
    best = re.search(r"best epoch (\d+)", r.stdout).group(1)
    e = subprocess.run([B, "eval", "--checkpoint", run + "/best.ckpt", "--dataset", "/work/ds/%s_held" % ds, "--report", run + ".held.json"], capture_output=True, text=True)
    rep = json.load(open(run + ".held.json"))
    ratios = []
    for h in rep["horizons"]:
        s = {x["name"]: x["arm"] for x in h["scores"]}
        m = s.pop("model"); best_b = min(v for v in s.values() if v is not None)
        ratios.append(m / best_b)
    rows.append((ds, ratios, best, secs))
    print("%-8s %-6s %s  best %s  %.0fs" % (name, ds, " ".join("%.3f" % x for x in ratios), best, secs), flush=True)
with open("/work/exp/results.txt", "a") as f:
    for ds, ratios, best, secs in rows:
        f.write("%-14s %-6s %s  best %s  %.0fs  | %s\n" % (name, ds, " ".join("%.3f" % x for x in ratios), best, secs, overrides.replace("\n", "; ")))
