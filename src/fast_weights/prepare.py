"""Data preparation: fetch or find the corpus, build the vocabulary, report the splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from fast_weights.config_checks import check_config
from fast_weights.data import CharDataModule
from fast_weights.io import atomic_write_json


def prepare(cfg: DictConfig) -> dict[str, Any]:
    """Makes sure the corpus is in place and describes it.

    Writes ``vocab.json`` and ``data_summary.json`` into the run folder and returns the summary.
    """
    check_config(cfg, "prepare")
    datamodule: CharDataModule = instantiate(cfg.data, seq_length=1)
    datamodule.prepare_data()
    datamodule.setup()
    sizes = datamodule.sizes
    summary = {
        "path": str(cfg.data.path),
        "characters": sizes.train + sizes.val + sizes.test,
        "vocabulary_size": len(datamodule.vocabulary),
        "train_chars": sizes.train,
        "val_chars": sizes.val,
        "test_chars": sizes.test,
    }
    output_dir = Path(cfg.paths.output_dir)
    datamodule.vocabulary.save(output_dir / "vocab.json")
    atomic_write_json(output_dir / "data_summary.json", summary)
    return summary
