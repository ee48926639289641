"""Shared fixtures: a small corpus the tests write, and the real Hydra config composed on it."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

LINES = [
    "First Citizen:",
    "Before we proceed any further, hear me speak.",
    "All:",
    "Speak, speak.",
    "First Citizen:",
    "You are all resolved rather to die than to famish?",
    "Second Citizen:",
    "Would you proceed especially against Caius Marcius?",
    "",
]


def small_corpus_text(repeats: int = 40) -> str:
    """About 8,000 characters of dialogue, with a vocabulary of 36 characters.

    Each repeat puts the lines in another (seeded) order, so that the text has no short period
    and the validation and test splits hold different text.
    """
    shuffler = random.Random(0)
    lines = []
    for _ in range(repeats):
        lines += shuffler.sample(LINES, len(LINES))
    return "\n".join(lines)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(small_corpus_text(), encoding="utf-8")
    return path


# Settings that make a training run take a second or two on a CPU.
TINY = [
    "model.seq_length=16",
    "model.d_model=16",
    "data.batch_size=8",
    "data.chars_per_epoch=640",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",  # also drops the progress-bar callback
    "trainer.enable_model_summary=false",
    "scheduler.warmup_steps=2",
    "sampling.length=20",
    "sampling.prompt=First",
]


@pytest.fixture
def make_config(tmp_path: Path, corpus: Path) -> Callable[..., DictConfig]:
    """Composes an entry point's config with its outputs under ``tmp_path``.

    ``make_config("train", ["model.seq_length=8"])`` gives the training config with those
    overrides, reading the small corpus and writing into ``tmp_path / run``.
    """

    def make(name: str, overrides: list[str] | None = None, run: str = "run") -> DictConfig:
        defaults = [f"paths.data_dir={tmp_path}", f"paths.log_dir={tmp_path / 'logs'}"]
        if name in ("train", "evaluate", "prepare"):
            defaults.append(f"data.path={corpus}")
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=name, overrides=defaults + list(overrides or []))
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / run)
        return cfg

    return make
