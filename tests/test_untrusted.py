"""Checkpoints from elsewhere: no code runs on load, and anything that is not a checkpoint of
this project, of this format, is refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fast_weights.checkpointing import FORMAT, RECORD, read_checkpoint
from fast_weights.errors import CheckpointError
from fast_weights.models.module import load_checkpoint
from fast_weights.train import train
from tests.conftest import TINY


class Payload:
    """Unpickling this object would create ``marker``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def real_checkpoint(make_config) -> Path:
    cfg = make_config("train", TINY)
    train(cfg)
    return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"


def test_a_pickle_payload_is_refused_and_never_runs(tmp_path: Path, real_checkpoint) -> None:
    checkpoint = torch.load(real_checkpoint, weights_only=True)
    marker = tmp_path / "payload-ran"
    checkpoint["extra"] = Payload(marker)
    crafted = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, crafted)

    for load in (read_checkpoint, load_checkpoint):
        with pytest.raises(CheckpointError, match="cannot load checkpoint") as info:
            load(crafted)
        assert "\n" not in str(info.value)
    assert not marker.exists()


def test_resuming_from_a_payload_never_runs_it(make_config, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"hyper_parameters": {}, RECORD: {"format": FORMAT}, "x": Payload(marker)}, crafted)
    cfg = make_config("train", [*TINY, f"ckpt_path={crafted}"])
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        train(cfg)
    assert not marker.exists()


def rewrite(source: Path, target: Path, change) -> Path:
    checkpoint = torch.load(source, weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, target)
    return target


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop(RECORD), "not a checkpoint of this project"),
        (lambda c: c[RECORD].update(format=99), "format 99 .* reads format 1"),
        (lambda c: c["hyper_parameters"]["net"]["mixer"].update(name="gru"), "'gru' is not one"),
        (lambda c: c["state_dict"].pop("net.head.weight"), "does not hold a model"),
    ],
    ids=["foreign", "other-format", "unknown-mixer", "missing-weights"],
)
def test_checkpoints_that_do_not_fit_are_refused(
    tmp_path: Path, real_checkpoint, change, message: str
) -> None:
    path = rewrite(real_checkpoint, tmp_path / "changed.ckpt", change)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99], ids=["empty", "half", "all-but-the-end"])
def test_truncated_checkpoints_give_one_line(tmp_path: Path, real_checkpoint, keep: float) -> None:
    data = real_checkpoint.read_bytes()
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_a_checkpoint_of_another_vocabulary_is_refused_on_resume(
    make_config, tmp_path: Path, real_checkpoint
) -> None:
    other = tmp_path / "other.txt"
    other.write_text("lowercase only, different letters here.\n" * 200, encoding="utf-8")
    cfg = make_config("train", [*TINY, f"data.path={other}", f"ckpt_path={real_checkpoint}"])
    with pytest.raises(CheckpointError, match="the vocabulary differs"):
        train(cfg)
