"""Type stubs of the compiled module (see the package docstring)."""

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np
import numpy.typing as npt

__version__: str
FEATURES: List[str]
"""Optional parts of this build: "import" (import_dataset) and "rerun" (record_rollouts)."""

PathLike = Union[str, os.PathLike]
FloatArray = Union[npt.NDArray[np.float32], npt.NDArray[np.float64], List[float], List[List[float]]]

class TrajrnnError(Exception):
    """Invalid data, configuration or checkpoint, with the file, line and field concerned."""

class Dataset:
    """A dataset folder of joint-angle trajectories, loaded and validated."""

    @staticmethod
    def load(path: PathLike) -> "Dataset": ...
    @property
    def name(self) -> str: ...
    @property
    def robot(self) -> str: ...
    @property
    def rate_hz(self) -> float: ...
    @property
    def channels(self) -> List[str]: ...
    @property
    def command_names(self) -> List[str]: ...
    @property
    def warnings(self) -> List[str]: ...
    @property
    def episodes(self) -> List["Episode"]: ...
    @property
    def import_report(self) -> Optional[str]: ...
    def __len__(self) -> int: ...

class Episode:
    """One episode; its arrays are read-only views of the dataset's memory."""

    @property
    def name(self) -> str: ...
    @property
    def time(self) -> npt.NDArray[np.float64]:
        """Seconds, shape (frames,)."""
    @property
    def states(self) -> npt.NDArray[np.float32]:
        """Shape (frames, channels); radians for joints."""
    @property
    def commands(self) -> Optional[npt.NDArray[np.float32]]:
        """Shape (frames, command channels), or None."""
    def __len__(self) -> int: ...

class Checkpoint:
    """A checkpoint file (best.ckpt or last.ckpt of a run), loaded and checked."""

    @staticmethod
    def load(path: PathLike) -> "Checkpoint": ...
    @property
    def path(self) -> str: ...
    @property
    def channels(self) -> List[str]: ...
    @property
    def command_names(self) -> List[str]: ...
    @property
    def cell(self) -> str: ...
    @property
    def hidden(self) -> int: ...
    @property
    def layers(self) -> int: ...
    @property
    def rate_hz(self) -> float: ...
    @property
    def epoch(self) -> int: ...
    @property
    def meta(self) -> Dict[str, Any]: ...

class Predictor:
    """A checkpoint's model stepped one observed frame at a time (no allocation in the library
    per frame; float32 input is read in place)."""

    def __init__(self, checkpoint: Union[Checkpoint, PathLike]) -> None: ...
    @property
    def channels(self) -> List[str]: ...
    @property
    def command_names(self) -> List[str]: ...
    @property
    def dim(self) -> int: ...
    @property
    def frames_before_first_prediction(self) -> int: ...
    def reset(self) -> None:
        """Forget everything observed: the next frame starts a new sequence."""
    def observe(self, state: FloatArray, command: Optional[FloatArray] = None) -> Optional[npt.NDArray[np.float32]]:
        """Feed the observed state, shape (dim,); return the predicted next state, shape
        (dim,), or None until frames_before_first_prediction frames have been observed."""
    def rollout(
        self,
        history: Optional[FloatArray],
        steps: int,
        *,
        commands: Optional[FloatArray] = None,
        history_commands: Optional[FloatArray] = None,
    ) -> npt.NDArray[np.float32]:
        """Predict `steps` frames after `history` (shape (n, dim); None: the frames observed so
        far) by feeding predictions back; shape (steps, dim). The predictor's state is unchanged."""

def import_dataset(
    format: str, source: PathLike, out: PathLike, mapping: Optional[Mapping[str, Any]] = None
) -> Dataset:
    """Import lerobot, robomimic, robosuite or csv data into a new dataset folder and load it."""

def train(
    dataset: Union[Dataset, PathLike],
    config: Union[Mapping[str, Any], PathLike, None],
    run_dir: PathLike,
    *,
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
    overwrite: bool = False,
    resume: bool = False,
) -> Dict[str, Any]:
    """Train as `config` says (config.toml's keys as a dict, a TOML path, or None for the
    default recipe) into run_dir, then evaluate on the test part. `progress` is called with each
    epoch's statistics. Ctrl-C stops at the next step with last.ckpt written (resume=True
    continues it) and raises KeyboardInterrupt."""

def evaluate(
    checkpoint: Union[Checkpoint, PathLike], dataset: Union[Dataset, PathLike], *, part: str = "test"
) -> Dict[str, Any]:
    """Score a checkpoint against the baselines it chose on validation (part: test, valid,
    train or all); the report of `trajrnn eval --report` as a dict."""

def record_rollouts(
    checkpoint: Union[Checkpoint, PathLike],
    dataset: Union[Dataset, PathLike],
    out: PathLike,
    *,
    episode: Optional[str] = None,
    horizon: int = 100,
    warmup: Optional[int] = None,
) -> str:
    """Write free-running rollouts of an episode to a Rerun recording (.rrd) as `trajrnn
    rollout` does; returns its path."""
