"""Shared fixtures: datasets and checkpoints made by the Rust command line (`trajrnn`), so that
the tests compare Python against the Rust side on the same files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A small model trains in seconds; two members exercise the ensemble's averaging.
SMALL = ["--hidden", "16", "--members", "2", "--epochs", "2", "--split", "episodes", "--seed", "3"]


def trajrnn_bin() -> Path:
    """The command-line binary: $TRAJRNN_BIN, else the one cargo built for the tests."""
    if "TRAJRNN_BIN" in os.environ:
        return Path(os.environ["TRAJRNN_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "debug" / "trajrnn"
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `cargo build` first, or set TRAJRNN_BIN")
    return path


def cli(*args: object) -> subprocess.CompletedProcess:
    """Runs the command line; a failure shows its output."""
    done = subprocess.run([str(trajrnn_bin()), *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"trajrnn {' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trajrnn")


@pytest.fixture(scope="session")
def synthetic(work) -> Path:
    """Eight synthetic pick-and-place episodes (Panda, 20 Hz)."""
    out = work / "synthetic"
    cli("generate", "--out", out, "--episodes", "8", "--seed", "1")
    return out


@pytest.fixture(scope="session")
def synthetic_commands(work) -> Path:
    """The same, with the commands sent to the arm at each frame."""
    out = work / "synthetic_commands"
    cli("generate", "--out", out, "--episodes", "8", "--seed", "2", "--commands")
    return out


@pytest.fixture(scope="session")
def rust_checkpoint(work, synthetic) -> Path:
    """A checkpoint written by the Rust side (`trajrnn train`)."""
    run = work / "rust_run"
    cli("train", "--dataset", synthetic, "--run-dir", run, *SMALL)
    return run / "best.ckpt"


@pytest.fixture(scope="session")
def rust_checkpoint_commands(work, synthetic_commands) -> Path:
    """A checkpoint of a model that reads commands, written by `trajrnn train`."""
    run = work / "rust_run_commands"
    cli("train", "--dataset", synthetic_commands, "--run-dir", run, *SMALL)
    return run / "best.ckpt"


@pytest.fixture
def fresh_dir(tmp_path) -> Path:
    """An empty folder for one test."""
    path = tmp_path / "out"
    shutil.rmtree(path, ignore_errors=True)
    return path
