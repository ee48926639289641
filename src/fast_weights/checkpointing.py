"""Checkpoint files: written atomically, read without unpickling code, checked before use."""

from __future__ import annotations

import io
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from fast_weights import __version__
from fast_weights.errors import CheckpointError, TrainingInterrupted
from fast_weights.io import atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = 1
"""Version of the checkpoint layout; a checkpoint of another format is refused."""

RECORD = "fast_weights"
"""Key of the project's own record in every checkpoint: ``{"format", "version"}``."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but through a temporary file and a rename: a run killed
    while saving leaves the previous checkpoint whole."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a checkpoint of this project, loaded with ``weights_only=True``.

    Raises:
        CheckpointError: missing, a directory, truncated, corrupt, carrying pickled code, not
            written by this project, or of another checkpoint format.
    """
    if os.path.isdir(path):
        raise CheckpointError(f"ckpt_path={path} is a directory; expected a .ckpt file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"ckpt_path={path} does not exist") from None
    except Exception as err:  # whatever bytes an untrusted file holds, the answer is one line
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot load checkpoint {path}: {reason}") from None

    record = checkpoint.get(RECORD) if isinstance(checkpoint, dict) else None
    if not isinstance(record, dict) or "hyper_parameters" not in checkpoint:
        raise CheckpointError(f"{path} is not a checkpoint of this project (no {RECORD!r} record)")
    if record.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} has checkpoint format {record.get('format')!r} (written by fast_weights "
            f"{record.get('version')}); this version, {__version__}, reads format {FORMAT}"
        )
    return checkpoint


def _flatten(config: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(_flatten(value, f"{prefix}.{key}"))
    return flat


def check_compatible(
    checkpoint: dict[str, Any], path: str | os.PathLike, net: dict[str, Any], vocabulary: list
) -> None:
    """Refuses to resume ``checkpoint`` into a run of another model or vocabulary.

    Raises:
        CheckpointError: naming each model option that differs, or the vocabulary.
    """
    saved = checkpoint["hyper_parameters"]
    saved_net, wanted_net = _flatten(saved.get("net"), "model"), _flatten(net, "model")
    differences = [
        f"{key} is {saved_net.get(key)!r} in the checkpoint, {wanted_net.get(key)!r} here"
        for key in sorted(saved_net.keys() | wanted_net.keys())
        if saved_net.get(key) != wanted_net.get(key)
    ]
    saved_vocabulary = saved.get("vocabulary")
    if saved_vocabulary != vocabulary:
        only_saved = sorted(set(saved_vocabulary or []) - set(vocabulary))
        only_here = sorted(set(vocabulary) - set(saved_vocabulary or []))
        differences.append(
            f"the vocabulary differs (only in the checkpoint: {''.join(only_saved)!r}, "
            f"only in this corpus: {''.join(only_here)!r})"
        )
    if differences:
        raise CheckpointError(f"{path} does not fit this run: " + "; ".join(differences))


class InterruptCheckpoint(L.Callback):
    """On SIGINT or SIGTERM, finishes the current batch, saves ``last.ckpt`` and stops.

    The run then ends with :class:`TrainingInterrupted`; the same command with
    ``ckpt_path=last`` continues it exactly. A second SIGINT stops at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.received = None
        for number in self.SIGNALS:
            self._previous[number] = signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received == signal.SIGINT and number == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("Received %s: stopping after this batch", signal.Signals(number).name)
        self.received = number

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        # Under data parallelism the signal may reach only some processes; all of them stop
        # together, since saving a checkpoint waits for every process.
        if not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        number = self.received or signal.SIGTERM  # a process that only heard of it
        name = signal.Signals(number).name
        callback = trainer.checkpoint_callback
        if callback is None or callback.dirpath is None:
            raise TrainingInterrupted(
                f"stopped by {name} at step {trainer.global_step}; checkpointing is off, "
                "so nothing was saved",
                number,
            )
        path = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
        trainer.save_checkpoint(path)
        raise TrainingInterrupted(
            f"stopped by {name} at step {trainer.global_step}; saved {path}; "
            "run the same command with ckpt_path=last to continue",
            number,
        )

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for number, handler in self._previous.items():
            if signal.getsignal(number) == self._handle:  # nobody replaced ours since
                signal.signal(number, handler)
        self._previous = {}
