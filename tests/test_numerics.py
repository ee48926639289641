"""Numerical faults: a diverging run stops and keeps its last good checkpoint; every model's
state stays finite over a stream of 100,000 characters; the same seed gives the same run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch

from fast_weights.errors import TrainingDiverged
from fast_weights.models.module import load_checkpoint
from fast_weights.train import train
from tests.conftest import TINY
from tests.test_models import MODEL_NAMES, VOCAB, small_model


class PoisonWeights(L.Callback):
    """Makes every weight NaN once ``step`` training steps are done."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.fill_(float("nan"))


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    make_config,
) -> None:
    cfg = make_config(
        "train",
        [
            *TINY,
            "callbacks.model_checkpoint.every_n_train_steps=2",
            "+callbacks.poison._target_=tests.test_numerics.PoisonWeights",
            "+callbacks.poison.step=7",
        ],
    )
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 7.*last checkpoint"):
        train(cfg)
    run = Path(cfg.paths.output_dir)
    assert not (run / "metrics.json").exists()
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 6
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())
    load_checkpoint(run / "checkpoints" / "last.ckpt")


STREAM = 100_000
SEGMENT = 1_000


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "transformer"])
def test_state_stays_finite_over_a_long_stream(name: str) -> None:
    """100,000 characters in one stream, carried segment by segment exactly as generation
    carries it (the models' tests check that the two agree). The Transformer is left out: its
    state is a cache of projections of the input, with no recurrence that could grow."""
    model = small_model(name).float()
    generator = torch.Generator().manual_seed(0)
    state = None
    with torch.no_grad():
        for _ in range(STREAM // SEGMENT):
            tokens = torch.randint(0, VOCAB, (1, SEGMENT), generator=generator)
            logits, state = model(tokens, state)
            assert torch.isfinite(logits).all()
    leaves = list(_tensors(state))
    assert leaves and all(torch.isfinite(t).all() for t in leaves)


def _tensors(state):
    if isinstance(state, torch.Tensor):
        yield state
    elif isinstance(state, list | tuple):
        for part in state:
            yield from _tensors(part)


def test_the_same_seed_gives_the_same_metrics_twice(make_config) -> None:
    first = train(make_config("train", TINY, run="first"))
    second = train(make_config("train", TINY, run="second"))
    for key in ("val/loss", "val/acc", "test/loss", "test/ppl", "steps"):
        assert first[key] == second[key], key
    assert math.isfinite(first["val/loss"])


def test_the_run_records_seed_versions_and_revision(make_config) -> None:
    cfg = make_config("train", [*TINY, "seed=77"])
    train(cfg)
    environment = json.loads((Path(cfg.paths.output_dir) / "environment.json").read_text())
    assert environment["seed"] == 77
    assert environment["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert {"lightning", "hydra-core", "omegaconf", "torchmetrics"} <= set(environment["packages"])
    assert "git_revision" in environment
