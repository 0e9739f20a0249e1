"""trajrnn: recurrent networks (Elman RNN, LSTM, GRU) for robot joint-angle trajectories.

The Rust library trajrnn, from Python: load or import datasets, train,
evaluate, load checkpoints, and step the streaming predictor inside a control loop::

    import trajrnn
    dataset = trajrnn.Dataset.load("datasets/robosuite_pick_place/sawyer")
    run = trajrnn.train(dataset, {"train": {"epochs": 5}}, "runs/py")
    predictor = trajrnn.Predictor(run["best_checkpoint"])
    next_state = predictor.observe(dataset.episodes[0].states[0])

Every check and message is the library's: bad input raises `TrajrnnError` (or
`FileNotFoundError`/`OSError`, `ValueError` for an array of the wrong shape, `TypeError` for
the wrong dtype) naming the file, line and field.

`FEATURES` lists the optional parts of this build: ``"import"`` (`import_dataset`,
`import_lerobot`) and ``"rerun"`` (`record_rollouts`); ``MATURIN_PEP517_ARGS="--features full"
pip install ./python`` builds both.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from ._trajrnn import (
    FEATURES,
    Checkpoint,
    Dataset,
    Episode,
    Predictor,
    TrajrnnError,
    __version__,
    evaluate,
    import_dataset,
    record_rollouts,
    train,
)

__all__ = [
    "FEATURES",
    "Checkpoint",
    "Dataset",
    "Episode",
    "Predictor",
    "TrajrnnError",
    "__version__",
    "evaluate",
    "import_dataset",
    "import_lerobot",
    "record_rollouts",
    "train",
]


def import_lerobot(
    source: Union[str, os.PathLike], out: Union[str, os.PathLike], **mapping: Any
) -> Dataset:
    """Imports a LeRobot dataset folder (v2.0, v2.1 or v3.0) into a new trajrnn dataset folder
    `out` and loads it. Keyword arguments are import mapping keys, e.g.
    ``joints=["shoulder_pan", ...]``, ``gripper=["gripper"]``, ``angle_unit="deg"``,
    ``no_commands=True`` (by default LeRobot's ``action`` is kept as the commands)."""
    return import_dataset("lerobot", source, out, mapping or None)
