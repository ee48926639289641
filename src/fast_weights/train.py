"""Training: fit, then score the best checkpoint on validation and test."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from fast_weights.config_checks import check_config
from fast_weights.data import CharDataModule
from fast_weights.io import atomic_write_json
from fast_weights.models.module import CharLanguageModel
from fast_weights.plotting import plot_loss_curves

log = logging.getLogger(__name__)

REPORTED = ("loss", "bpc", "acc", "ppl")
"""The metrics written to ``metrics.json`` and the HParams view for each held-out split."""


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiates every entry of a config group such as ``callbacks`` or ``logger``."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


def train(cfg: DictConfig) -> dict[str, Any]:
    """Trains the model that ``cfg`` describes and returns the final held-out metrics.

    Writes into ``cfg.paths.output_dir``: ``vocab.json``, the checkpoints, the TensorBoard
    events, ``metrics.json`` and ``loss_curves.png``.
    """
    check_config(cfg, "train")
    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    L.seed_everything(cfg.seed, workers=True)

    datamodule: CharDataModule = instantiate(cfg.data, seq_length=cfg.model.seq_length)
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.vocabulary.save(output_dir / "vocab.json")
    sizes = datamodule.sizes
    log.info(
        "Corpus %s: %d characters, vocabulary %d; splits train %d, val %d, test %d",
        cfg.data.path,
        sizes.train + sizes.val + sizes.test,
        len(datamodule.vocabulary),
        sizes.train,
        sizes.val,
        sizes.test,
    )

    module = CharLanguageModel(
        net=OmegaConf.to_container(cfg.model, resolve=True),
        vocabulary=datamodule.vocabulary.chars,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
    )
    params = sum(p.numel() for p in module.parameters())
    log.info("Model with mixer %s: %d parameters", cfg.model.mixer.name, params)

    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    callbacks = instantiate_group(cfg.get("callbacks"))
    if not loggers:  # the learning-rate monitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    fit_started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    fit_seconds = time.perf_counter() - fit_started

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    scored = {"ckpt_path": best or None, "weights_only": True, "datamodule": datamodule}
    held_out = {
        **trainer.validate(module, verbose=False, **scored)[0],
        **trainer.test(module, verbose=False, **scored)[0],
    }
    metrics: dict[str, Any] = {
        f"{split}/{name}": float(held_out[f"{split}/{name}"])
        for split in ("val", "test")
        for name in REPORTED
    }
    metrics["val/loss_best"] = float(held_out["val/loss_best"])
    metrics.update(
        checkpoint=best or None,
        params=params,
        epochs=trainer.current_epoch,
        steps=trainer.global_step,
        wall_time_s=round(time.perf_counter() - started, 1),
        # Training throughput over the whole fit, its validation passes included.
        train_chars_per_s=round(module.chars_trained / fit_seconds),
    )
    atomic_write_json(output_dir / "metrics.json", metrics)
    _log_hparams(loggers, cfg, metrics)
    _plot(loggers, output_dir)
    log.info(
        "val/loss %.4f (bpc %.3f), test/loss %.4f (bpc %.3f), in %.0f s",
        metrics["val/loss"],
        metrics["val/bpc"],
        metrics["test/loss"],
        metrics["test/bpc"],
        metrics["wall_time_s"],
    )
    return metrics


def _log_hparams(loggers: list[Logger], cfg: DictConfig, metrics: dict[str, Any]) -> None:
    """Puts the run's settings and final metrics in TensorBoard's HParams view."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    settings = {
        key: resolved.get(key) for key in ("model", "data", "optimizer", "scheduler", "seed")
    }
    final = {
        f"hparams/{split}_{name}": metrics[f"{split}/{name}"]
        for split in ("val", "test")
        for name in REPORTED
    }
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(settings, metrics=final)
            logger.finalize("success")


def _plot(loggers: list[Logger], output_dir: Path) -> None:
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            plot_loss_curves(logger.log_dir, output_dir / "loss_curves.png")
            return
