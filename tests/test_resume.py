"""Crash and resume: a run killed part-way and resumed ends exactly where an uninterrupted run
ends; checkpoints are written atomically; a signal leaves a checkpoint behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fast_weights.checkpointing import AtomicCheckpointIO
from fast_weights.errors import CheckpointError
from fast_weights.train import train
from tests.conftest import TINY, small_corpus_text

ROOT = Path(__file__).resolve().parents[1]

# Long enough to be killed part-way (300 steps), with a checkpoint every 4 steps.
RESUMABLE = [
    *[o for o in TINY if not o.startswith(("data.chars_per_epoch", "trainer.max_epochs"))],
    "data.chars_per_epoch=12800",
    "trainer.max_epochs=3",
    "callbacks.model_checkpoint.every_n_train_steps=4",
    "sampling.every_n_epochs=1",
]


def start_training(cwd: Path, *overrides: str) -> subprocess.Popen:
    corpus = cwd / "corpus.txt"
    if not corpus.exists():
        corpus.write_text(small_corpus_text(), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train.py"), f"data.path={corpus}", *overrides],
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own, which a test can kill as a whole
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=300)
    return process.returncode, stderr


def only_run_folder(cwd: Path) -> Path:
    (run,) = (cwd / "outputs" / "train" / "runs").iterdir()
    return run


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    return checkpoint["state_dict"]


def wait_for_checkpoint(run_parent: Path, process: subprocess.Popen, step: int) -> None:
    """Waits until a ``last.ckpt`` of at least ``step`` steps exists."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for last in run_parent.glob("*/checkpoints/last.ckpt"):
            try:
                saved = torch.load(last, weights_only=True)["global_step"]
            except Exception:  # being replaced right now
                continue
            if saved >= step:
                return
        time.sleep(0.02)
    raise AssertionError("the run never wrote the checkpoint the test waits for")


def completed_run(cwd: Path, *overrides: str) -> Path:
    """Trains to the end in a subprocess started in ``cwd``; returns the run folder."""
    code, stderr = finish(start_training(cwd, *overrides))
    assert code == 0, stderr[-3000:]
    return only_run_folder(cwd)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    return completed_run(tmp_path_factory.mktemp("uninterrupted"), *RESUMABLE)


def assert_same_run(run: Path, reference: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    for key in ("val/loss", "val/acc", "test/loss", "test/acc", "val/loss_best", "steps"):
        assert metrics[key] == expected[key], key  # bit for bit on the CPU
    # The samples too: each step once, drawn from the same weights with the same seed.
    assert (run / "samples.txt").read_text() == (reference / "samples.txt").read_text()
    weights, expected_weights = final_weights(run), final_weights(reference)
    assert weights.keys() == expected_weights.keys()
    for name, tensor in expected_weights.items():
        assert torch.equal(weights[name], tensor), name


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path, uninterrupted) -> None:
    process = start_training(tmp_path, *RESUMABLE)
    # Step-interval saves start after the first validation (step 100): 104 is mid-epoch.
    wait_for_checkpoint(tmp_path / "outputs" / "train" / "runs", process, step=104)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    last = only_run_folder(tmp_path) / "checkpoints" / "last.ckpt"
    killed_at = torch.load(last, weights_only=True)["global_step"]
    code, stderr = finish(start_training(tmp_path, *RESUMABLE, "ckpt_path=last"))
    assert code == 0, stderr[-3000:]
    assert f"at step {killed_at}" in stderr

    run = only_run_folder(tmp_path)  # the resumed run went on in the same folder
    assert_same_run(run, uninterrupted)
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_a_checkpoint_and_the_run_resumes(
    tmp_path: Path, uninterrupted, number: signal.Signals
) -> None:
    process = start_training(tmp_path, *RESUMABLE)
    wait_for_checkpoint(tmp_path / "outputs" / "train" / "runs", process, step=104)
    process.send_signal(number)
    code, stderr = finish(process)
    assert code == 128 + number, stderr[-3000:]
    (line,) = [line for line in stderr.splitlines() if f"error: stopped by {number.name}" in line]
    assert "ckpt_path=last" in line
    run = only_run_folder(tmp_path)
    assert not (run / "metrics.json").exists()

    assert_same_run(completed_run(tmp_path, *RESUMABLE, "ckpt_path=last"), uninterrupted)


def test_the_last_checkpoint_holds_the_last_validation(make_config) -> None:
    """A step-interval save on an epoch's last batch waits for that epoch's validation."""
    cfg = make_config("train", [*TINY, "callbacks.model_checkpoint.every_n_train_steps=5"])
    metrics = train(cfg)
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == metrics["steps"] == 10  # two epochs of five steps
    assert last["state_dict"]["val_loss_best.min_value"].item() == pytest.approx(
        metrics["val/loss_best"]
    )


def test_resuming_into_another_model_is_refused(make_config, tmp_path: Path) -> None:
    first = make_config("train", TINY)
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    other = make_config("train", [*TINY, "model.d_model=24", f"ckpt_path={last}"], run="other")
    with pytest.raises(CheckpointError, match=r"model.d_model is 16 in the checkpoint, 24 here"):
        train(other)


def test_resume_last_without_any_run_is_refused(make_config) -> None:
    cfg = make_config("train", [*TINY, "ckpt_path=last"])
    with pytest.raises(CheckpointError, match="ckpt_path=last, but no run under"):
        train(cfg)


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot be saved")


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot be saved"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "bad": Unpicklable()}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
