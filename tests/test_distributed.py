"""Data-parallel training on two CPU processes (DDP over gloo): held-out metrics count every
character once, and a run killed part-way or stopped by a signal resumes exactly."""

from __future__ import annotations

import json
import math
import os
import signal
from pathlib import Path

import pytest

from fast_weights.evaluate import evaluate
from tests.conftest import TINY
from tests.test_resume import (
    assert_same_run,
    completed_run,
    finish,
    start_training,
    wait_for_checkpoint,
)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]

PROCESSES = 2
STEPS_PER_EPOCH = 100  # per process: 1,600 windows of 16 characters, 800 each, 8 a batch

DISTRIBUTED = [
    *[o for o in TINY if not o.startswith(("data.chars_per_epoch", "trainer.max_epochs"))],
    f"data.chars_per_epoch={STEPS_PER_EPOCH * 8 * 16 * PROCESSES}",
    "trainer.max_epochs=2",
    "trainer.strategy=ddp",
    f"trainer.devices={PROCESSES}",
    "callbacks.model_checkpoint.every_n_train_steps=4",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    return completed_run(tmp_path_factory.mktemp("ddp-uninterrupted"), *DISTRIBUTED)


def test_two_processes_write_one_run_folder(uninterrupted: Path) -> None:
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    assert metrics["steps"] == 2 * STEPS_PER_EPOCH
    assert math.isfinite(metrics["val/loss"]) and metrics["val/loss"] < 3.0
    assert (uninterrupted / "vocab.json").is_file()
    assert (uninterrupted / "loss_curves.png").is_file()
    assert json.loads((uninterrupted / "environment.json").read_text())["seed"] == 1234


def test_held_out_metrics_count_every_character_once(
    uninterrupted: Path, make_config, tmp_path: Path
) -> None:
    """Two processes share the held-out windows; scoring the same checkpoint in one process
    must give the same figures. The splits have an odd number of windows, so a sampler that
    evened out the shares by repeating a window would be caught."""
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    corpus = uninterrupted.parents[3] / "corpus.txt"
    cfg = make_config(
        "evaluate",
        [f"ckpt_path={metrics['checkpoint']}", f"data.path={corpus}", "trainer.accelerator=cpu"],
        run="one-process",
    )
    alone = evaluate(cfg)
    for split in ("val", "test"):
        windows = math.ceil((alone[f"{split}_chars"] - 1) / 16)
        assert windows % PROCESSES == 1, f"{split} has {windows} windows"
        for name in ("loss", "acc", "ppl"):
            key = f"{split}/{name}"
            assert metrics[key] == pytest.approx(alone[key], rel=1e-6, abs=0), key


def test_killed_processes_resume_to_the_uninterrupted_run(tmp_path: Path, uninterrupted) -> None:
    process = start_training(tmp_path, *DISTRIBUTED)
    # Step-interval saves start after the first validation (step 100): 104 is mid-epoch.
    wait_for_checkpoint(tmp_path / "outputs" / "train" / "runs", process, step=104)
    os.killpg(process.pid, signal.SIGKILL)  # both processes, as a crash of the node would
    process.wait(timeout=60)

    assert_same_run(completed_run(tmp_path, *DISTRIBUTED, "ckpt_path=last"), uninterrupted)


def test_a_signal_to_the_first_process_stops_both(tmp_path: Path, uninterrupted) -> None:
    """SIGTERM reaches only the first process; the other hears of it and stops with it."""
    process = start_training(tmp_path, *DISTRIBUTED)
    wait_for_checkpoint(tmp_path / "outputs" / "train" / "runs", process, step=104)
    process.send_signal(signal.SIGTERM)
    code, stderr = finish(process)
    assert code == 128 + signal.SIGTERM, stderr[-3000:]
    assert "error: stopped by SIGTERM" in stderr

    assert_same_run(completed_run(tmp_path, *DISTRIBUTED, "ckpt_path=last"), uninterrupted)
