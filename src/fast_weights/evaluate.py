"""Evaluation: one full pass of a checkpoint over the validation and test splits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from fast_weights.config_checks import check_config
from fast_weights.data import CharDataModule
from fast_weights.io import atomic_write_json
from fast_weights.models.module import load_checkpoint
from fast_weights.train import REPORTED

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Scores ``cfg.ckpt_path`` on the held-out splits of ``cfg.data.path``.

    The checkpoint's own vocabulary and training window length are used; characters of the
    corpus that the vocabulary lacks are removed, counted and reported. The results are
    returned and written to ``metrics.json`` in the run folder.
    """
    check_config(cfg, "evaluate")
    module = load_checkpoint(cfg.ckpt_path)
    datamodule: CharDataModule = instantiate(
        cfg.data, seq_length=module.net.seq_length, vocabulary=module.vocabulary
    )
    datamodule.prepare_data()
    datamodule.setup("validate")

    trainer: L.Trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    held_out = {
        **trainer.validate(module, datamodule=datamodule, verbose=False)[0],
        **trainer.test(module, datamodule=datamodule, verbose=False)[0],
    }
    sizes = datamodule.sizes
    results: dict[str, Any] = {
        f"{split}/{name}": float(held_out[f"{split}/{name}"])
        for split in ("val", "test")
        for name in REPORTED
    }
    results.update(
        checkpoint=str(cfg.ckpt_path),
        data=str(cfg.data.path),
        val_chars=sizes.val,
        test_chars=sizes.test,
        unknown_chars=dict(sorted(datamodule.unknown_chars.items())),
    )
    atomic_write_json(Path(cfg.paths.output_dir) / "metrics.json", results)
    return results


def format_results(results: dict[str, Any]) -> str:
    """A small table of the held-out metrics, for the terminal."""
    lines = [f"{'split':<6} {'loss':>8} {'bpc':>7} {'acc':>7} {'ppl':>8}"]
    for split in ("val", "test"):
        row = [results[f"{split}/{name}"] for name in REPORTED]
        lines.append(f"{split:<6} {row[0]:>8.4f} {row[1]:>7.3f} {row[2]:>7.3f} {row[3]:>8.3f}")
    unknown = results.get("unknown_chars") or {}
    if unknown:
        lines.append(
            f"{sum(unknown.values())} characters not in the vocabulary were removed: "
            f"{''.join(unknown)!r}"
        )
    return "\n".join(lines)
