"""The streaming predictor: the same predictions as the command line's rollouts, and clear
errors for arrays of the wrong shape or dtype."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import trajrnn
from conftest import cli


def cli_rollouts(checkpoint, dataset, out, episode, horizon, warmup):
    """`trajrnn rollout --csv`: {rollout start frame: predicted rows}, and the channel names."""
    cli("rollout", "--checkpoint", checkpoint, "--dataset", dataset, "--episode", episode,
        "--horizon", horizon, "--warmup", warmup, "--csv", out)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["episode", "frame", "time", "rollout_start"]
    by_start: dict[int, list[list[float]]] = {}
    for row in body:
        assert row[0] == episode
        start, frame = int(row[3]), int(row[1])
        by_start.setdefault(start, []).append(list(map(float, row[4:])))
        assert frame - start == len(by_start[start]) - 1, "rows of a rollout are consecutive frames"
    return by_start, header[4:]


@pytest.mark.parametrize("commands", [False, True], ids=["states", "with_commands"])
def test_predictor_matches_the_command_lines_rollouts(
    commands, synthetic, synthetic_commands, rust_checkpoint, rust_checkpoint_commands, tmp_path
):
    checkpoint = rust_checkpoint_commands if commands else rust_checkpoint
    folder = synthetic_commands if commands else synthetic
    horizon, warmup = 10, 12
    episode = trajrnn.Dataset.load(folder).episodes[-1]
    expected, channels = cli_rollouts(checkpoint, folder, tmp_path / "r.csv", episode.name, horizon, warmup)
    predictor = trajrnn.Predictor(trajrnn.Checkpoint.load(checkpoint))
    assert predictor.channels == channels
    assert len(expected) >= 5
    for start, rows in expected.items():
        kwargs = {}
        if commands:
            sent = episode.commands
            kwargs = dict(history_commands=sent[start - warmup:start], commands=sent[start:start + len(rows)])
        got = predictor.rollout(episode.states[start - warmup:start], len(rows), **kwargs)
        # The command line steps burn's graph, the predictor the host kernels: float32 apart.
        np.testing.assert_allclose(got, np.array(rows, dtype=np.float32), rtol=1e-4, atol=1e-4)

    # Streaming the warm-up frame by frame predicts each rollout's first frame.
    for start, rows in expected.items():
        predictor.reset()
        for t in range(start - warmup, start):
            predicted = predictor.observe(episode.states[t], episode.commands[t] if commands else None)
        np.testing.assert_allclose(predicted, rows[0], rtol=1e-4, atol=1e-4)


def test_observe_returns_none_until_the_encoding_has_its_frames(rust_checkpoint, synthetic):
    predictor = trajrnn.Predictor(rust_checkpoint)  # a path works as well as a Checkpoint
    states = trajrnn.Dataset.load(synthetic).episodes[0].states
    outputs = [predictor.observe(s) for s in states[:20]]
    first = predictor.frames_before_first_prediction
    assert all(o is None for o in outputs[:first - 1])
    assert all(o is not None and o.shape == (predictor.dim,) and o.dtype == np.float32 for o in outputs[first - 1:])
    # float64 and lists give the same prediction as float32.
    predictor.reset()
    as64 = [predictor.observe(s.astype(np.float64)) for s in states[:20]]
    predictor.reset()
    as_list = [predictor.observe(list(map(float, s))) for s in states[:20]]
    np.testing.assert_array_equal(as64[-1], outputs[-1])
    np.testing.assert_array_equal(as_list[-1], outputs[-1])
    # A rollout from the observed frames leaves the stream where it was.
    before = predictor.rollout(None, 7)
    assert before.shape == (7, predictor.dim)
    np.testing.assert_array_equal(predictor.rollout(None, 7), before)


def test_bad_shapes_and_dtypes_raise(rust_checkpoint, rust_checkpoint_commands):
    predictor = trajrnn.Predictor(rust_checkpoint)
    dim = predictor.dim
    with pytest.raises(ValueError, match=rf"state must have shape \({dim},\) \(robot0_joint1, .*got shape \(3,\)"):
        predictor.observe(np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match=rf"got shape \(1, {dim}\)"):
        predictor.observe(np.zeros((1, dim)))
    with pytest.raises(TypeError, match="float32 or float64 array, got dtype int64"):
        predictor.observe(np.zeros(dim, dtype=np.int64))
    with pytest.raises(TypeError, match="sequence of numbers"):
        predictor.observe(["a"] * dim)
    with pytest.raises(trajrnn.TrajrnnError, match="channel `robot0_joint3` is NaN"):
        predictor.observe(np.array([0, 0, np.nan] + [0] * (dim - 3), dtype=np.float32))
    with pytest.raises(ValueError, match=rf"history must have shape \(n, {dim}\)"):
        predictor.rollout(np.zeros((20, dim - 1)), 5)
    with pytest.raises(trajrnn.TrajrnnError, match="observe at least"):
        predictor.reset()
        predictor.rollout(None, 5)
    # A model that reads commands says so, with the shapes it needs.
    reads = trajrnn.Predictor(rust_checkpoint_commands)
    m = len(reads.command_names)
    assert m > 0
    with pytest.raises(trajrnn.TrajrnnError, match="command channel"):
        reads.observe(np.zeros(dim, dtype=np.float32))
    with pytest.raises(ValueError, match=rf"command must have shape \({m},\)"):
        reads.observe(np.zeros(dim, dtype=np.float32), np.zeros(m + 1))
    with pytest.raises(ValueError, match="history_commands"):
        reads.rollout(np.zeros((20, dim)), 5, commands=np.zeros((5, m)))


def test_non_contiguous_arrays_are_read_correctly(rust_checkpoint, synthetic):
    states = trajrnn.Dataset.load(synthetic).episodes[0].states
    a, b = trajrnn.Predictor(rust_checkpoint), trajrnn.Predictor(rust_checkpoint)
    wide = np.zeros((len(states), 2 * states.shape[1]), dtype=np.float32)
    wide[:, ::2] = states
    for t in range(15):
        pa, pb = a.observe(states[t]), b.observe(wide[t, ::2])
    np.testing.assert_array_equal(pa, pb)
