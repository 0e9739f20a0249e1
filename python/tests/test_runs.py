"""Datasets, training, checkpoints and evaluation from Python, and the files they share with
the Rust side."""

from __future__ import annotations

import csv
import json
import os
import signal

import numpy as np
import pytest

import trajrnn
from conftest import REPO, cli

SMALL = {
    "model": {"hidden": 16, "members": 1},
    "train": {"epochs": 3, "seed": 5, "patience": None},  # None: off, as `--patience none`
    "data": {"split": {"mode": "episodes"}},
}


def test_dataset_arrays_are_read_only_views(synthetic):
    dataset = trajrnn.Dataset.load(synthetic)
    assert len(dataset) == 8 and dataset.robot == "panda" and dataset.rate_hz == 20
    episode = dataset.episodes[0]
    states = episode.states
    assert states.shape == (len(episode), len(dataset.channels)) and states.dtype == np.float32
    assert episode.time.shape == (len(episode),) and np.all(np.diff(episode.time) > 0)
    assert episode.commands is None
    with pytest.raises(ValueError, match="read-only"):
        states[0, 0] = 1.0
    # The first frame is the CSV's first row (radians).
    with open(synthetic / "episodes" / f"{episode.name}.csv", newline="") as f:
        first = next(csv.DictReader(f))
    np.testing.assert_allclose(states[0], [float(first[c]) for c in dataset.channels], rtol=1e-6)
    # The arrays outlive the Dataset object that made them.
    del dataset, episode
    assert np.isfinite(states).all()


def test_errors_name_the_file_and_field(tmp_path, rust_checkpoint):
    with pytest.raises(FileNotFoundError, match="nowhere/dataset.json"):
        trajrnn.Dataset.load(tmp_path / "nowhere")
    damaged = tmp_path / "damaged.ckpt"
    data = bytearray(rust_checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x10
    damaged.write_bytes(bytes(data))
    with pytest.raises(trajrnn.TrajrnnError, match="damaged.ckpt"):
        trajrnn.Checkpoint.load(damaged)
    with pytest.raises(trajrnn.TrajrnnError, match="damaged.ckpt"):
        trajrnn.Predictor(damaged)


def test_config_dict_errors_name_the_key(synthetic, tmp_path):
    with pytest.raises(trajrnn.TrajrnnError, match="hiden"):
        trajrnn.train(synthetic, {"model": {"hiden": 8}}, tmp_path / "a")
    with pytest.raises(trajrnn.TrajrnnError, match=r"model\.hidden"):
        trajrnn.train(synthetic, {"model": {"hidden": 0}}, tmp_path / "b")
    with pytest.raises(TypeError, match="config must be"):
        trajrnn.train(synthetic, 3, tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_python_training_loads_in_rust_and_back(synthetic, tmp_path):
    dataset = trajrnn.Dataset.load(synthetic)
    seen = []
    run = trajrnn.train(dataset, SMALL, tmp_path / "run", progress=seen.append)
    assert [e["epoch"] for e in seen] == [1, 2, 3]
    assert all(np.isfinite(e["train_loss"]) and isinstance(e["best"], bool) for e in seen)
    assert len(run["history"]) == 3 and not run["interrupted"]
    # The Rust command line reads the checkpoint Python wrote, and scores what Python scores.
    report = tmp_path / "eval.json"
    cli("eval", "--checkpoint", run["best_checkpoint"], "--dataset", synthetic, "--report", report)
    rust = json.loads(report.read_text())
    python = trajrnn.evaluate(run["best_checkpoint"], dataset)
    assert python["horizons"] == rust["horizons"] and python["channels"] == rust["channels"]
    assert python["part"] == rust["part"] == "test" and "test" in python["scored"]
    assert "validation" in trajrnn.evaluate(run["best_checkpoint"], dataset, part="valid")["scored"]
    with pytest.raises(trajrnn.TrajrnnError, match="part `tset`: test, valid, train or all"):
        trajrnn.evaluate(run["best_checkpoint"], dataset, part="tset")
    # The run folder is the command line's: a config.toml the command line resumes from.
    assert 'patience = "none"' in (tmp_path / "run" / "config.toml").read_text()
    cli("train", "--resume", tmp_path / "run", "--epochs", "4")
    assert trajrnn.Checkpoint.load(tmp_path / "run" / "last.ckpt").epoch == 4
    # A TOML file works as the config too.
    toml = tmp_path / "c.toml"
    toml.write_text('[model]\nhidden = 8\nmembers = 1\n[train]\nepochs = 1\n[data.split]\nmode = "episodes"\n')
    again = trajrnn.train(synthetic, toml, tmp_path / "run2")
    assert trajrnn.Checkpoint.load(again["best_checkpoint"]).hidden == 8


def test_ctrl_c_stops_training_with_last_checkpoint_written(synthetic, tmp_path):
    def interrupt_after_first_epoch(epoch):
        if epoch["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        trajrnn.train(synthetic, SMALL, tmp_path / "run", progress=interrupt_after_first_epoch)
    last = trajrnn.Checkpoint.load(tmp_path / "run" / "last.ckpt")
    assert last.epoch == 1
    resumed = trajrnn.train(synthetic, SMALL, tmp_path / "run", resume=True)
    assert [e["epoch"] for e in resumed["history"]] == [1, 2, 3]


needs = lambda feature: pytest.mark.skipif(  # noqa: E731
    feature not in trajrnn.FEATURES, reason=f"built without `{feature}` (CI builds --features full)"
)


@needs("import")
def test_import_lerobot_keeps_the_commands(fresh_dir):
    dataset = trajrnn.import_lerobot(REPO / "tests" / "fixtures" / "lerobot_v30", fresh_dir)
    assert dataset.command_names and dataset.import_report
    episode = dataset.episodes[0]
    assert episode.commands.shape == (len(episode), len(dataset.command_names))
    with pytest.raises(trajrnn.TrajrnnError, match="unknown format"):
        trajrnn.import_dataset("parquet", fresh_dir, fresh_dir.parent / "x")
    with pytest.raises(trajrnn.TrajrnnError, match="jionts"):
        trajrnn.import_lerobot(REPO / "tests" / "fixtures" / "lerobot_v30", fresh_dir.parent / "y", jionts=["a"])


@needs("rerun")
def test_rollouts_recording_opens_in_the_rerun_package(rust_checkpoint, synthetic, tmp_path):
    out = trajrnn.record_rollouts(rust_checkpoint, synthetic, tmp_path / "rollout.rrd", horizon=20)
    assert out.stat().st_size > 0
    pytest.importorskip("rerun", reason="the rerun-sdk package is not installed")
    from rerun.experimental import RrdReader

    reader = RrdReader(out)
    assert [r.application_id for r in reader.recordings()] == ["trajrnn_rollout"]
    assert len(reader.blueprints()) == 1, "the layout travels with the recording"
    paths = set(reader.stream().collect().schema().entity_paths())
    channels = trajrnn.Checkpoint.load(rust_checkpoint).channels
    for c in channels:
        assert {f"/joints/{c}/observed", f"/joints/{c}/predicted"} <= paths
    assert {"/world/observed/links", "/world/predicted/links", "/hidden/state"} <= paths


def test_a_build_without_a_part_says_how_to_get_it(rust_checkpoint, synthetic, tmp_path):
    if {"import", "rerun"} <= set(trajrnn.FEATURES):
        pytest.skip("this build has every part")
    with pytest.raises(trajrnn.TrajrnnError, match="--features full"):
        if "rerun" not in trajrnn.FEATURES:
            trajrnn.record_rollouts(rust_checkpoint, synthetic, tmp_path / "r.rrd")
        else:
            trajrnn.import_lerobot(tmp_path, tmp_path / "x")
