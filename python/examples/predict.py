#!/usr/bin/env python3
"""trajrnn from Python: train on the bundled Panda pick-and-place demonstrations, stream the
predictor over a held-out episode as a control loop would, roll out one second, score the
model on its test part and write a Rerun recording.

    python python/examples/predict.py [--epochs 3] [--out runs/python_example]

Run it from the repository (it reads datasets/); about a minute on 2 cores.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import trajrnn

REPO = Path(__file__).resolve().parents[2]

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--out", type=Path, default=REPO / "runs" / "python_example")
args = ap.parse_args()

# 1. Data: every value checked on loading; episodes' arrays are read-only NumPy views.
dataset = trajrnn.Dataset.load(REPO / "datasets" / "robosuite_pick_place" / "panda")
print(dataset)
print("channels:", ", ".join(dataset.channels))

# 2. Train: config.toml's keys as a dict (the rest is the default recipe). Ctrl-C stops at the
#    next step with last.ckpt written; train(..., resume=True) continues it.
def progress(epoch):
    print(f"epoch {epoch['epoch']}: train loss {epoch['train_loss']:.4f}, "
          f"validation score {epoch['valid_score']:.4f}{'  (best)' if epoch['best'] else ''}")

run = trajrnn.train(dataset, {"train": {"epochs": args.epochs}}, args.out, progress=progress, overwrite=True)
print(run["report_text"])

# 3. Stream: one observed frame in, the predicted next frame out.
checkpoint = trajrnn.Checkpoint.load(run["best_checkpoint"])
predictor = trajrnn.Predictor(checkpoint)
episode = dataset.episodes[-1]
errors, started = [], time.perf_counter()
for t in range(len(episode) - 1):
    predicted = predictor.observe(episode.states[t])   # None until the encoding has its frames
    if predicted is not None:
        errors.append(np.abs(predicted - episode.states[t + 1]))
per_frame_us = (time.perf_counter() - started) / (len(episode) - 1) * 1e6
arm = [i for i, c in enumerate(dataset.channels) if "finger" not in c]
print(f"one step ahead on {episode.name}: mean |error| of the arm joints "
      f"{np.degrees(np.mean(np.array(errors)[:, arm])):.3f} deg; {per_frame_us:.1f} us per frame")

# 4. Roll out one second from 40 observed frames (the predictor's own stream is untouched).
rate = int(dataset.rate_hz)
future = predictor.rollout(episode.states[:40], rate)
drift = np.degrees(np.abs(future[-1, arm] - episode.states[40 + rate - 1, arm]).max())
print(f"rollout of {rate} frames: largest arm-joint error after 1 s {drift:.2f} deg")

# 5. Score on the test part against the rules the checkpoint chose on validation.
report = trajrnn.evaluate(checkpoint, dataset)
print("scored", report["scored"])

# 6. Watch it: the arm, observed and predicted joints, the hidden state (rerun FILE.rrd). The
#    Rerun SDK is in the `full` build (MATURIN_PEP517_ARGS="--features full" pip install ./python).
if "rerun" in trajrnn.FEATURES:
    recording = trajrnn.record_rollouts(checkpoint, dataset, args.out / "rollouts.rrd")
    print(f"wrote {recording}; open it with: rerun {recording}")
else:
    print("no recording: this build has no Rerun support (build with --features full)")
