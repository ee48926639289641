"""Training: fit, then score the best checkpoint on validation and test."""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from fast_weights import __version__
from fast_weights.checkpointing import (
    AtomicCheckpointIO,
    InterruptCheckpoint,
    check_compatible,
    read_checkpoint,
)
from fast_weights.config_checks import check_config
from fast_weights.data import CharDataModule
from fast_weights.errors import CheckpointError, TrainingDiverged
from fast_weights.io import atomic_write_json
from fast_weights.models.module import CharLanguageModel
from fast_weights.plotting import plot_loss_curves
from fast_weights.runs import find_last_checkpoint

log = logging.getLogger(__name__)

REPORTED = ("loss", "bpc", "acc", "ppl")
"""The metrics written to ``metrics.json`` and the HParams view for each held-out split."""


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiates every entry of a config group such as ``callbacks`` or ``logger``."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and "_target_" in entry]


def resolve_resume(ckpt_path: str | None, runs_dir: Path) -> Path | None:
    """The checkpoint to resume from: ``None``, a file, or ``"last"`` for the newest run's
    ``last.ckpt`` under ``runs_dir``."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        found = find_last_checkpoint(runs_dir)
        if found is None:
            raise CheckpointError(
                f"ckpt_path=last, but no run under {runs_dir} has checkpoints/last.ckpt"
            )
        return found
    return Path(ckpt_path)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Trains the model that ``cfg`` describes and returns the final held-out metrics.

    Writes into ``cfg.paths.output_dir``: ``vocab.json``, ``environment.json``, the
    checkpoints, the TensorBoard events, ``metrics.json`` and ``loss_curves.png``. With
    ``ckpt_path`` set it resumes that checkpoint's run, exactly where it stopped.
    """
    check_config(cfg, "train")
    started = time.perf_counter()
    output_dir = Path(cfg.paths.output_dir)
    resume = resolve_resume(cfg.get("ckpt_path"), Path(cfg.paths.log_dir) / cfg.task_name / "runs")
    checkpoint = read_checkpoint(resume) if resume else None
    L.seed_everything(cfg.seed, workers=True)
    # Under data parallelism every process runs this function; the first writes the files.
    first_process = rank_zero_only.rank == 0
    if first_process:
        write_environment(output_dir / "environment.json", cfg.seed)

    datamodule: CharDataModule = instantiate(
        cfg.data, seq_length=cfg.model.seq_length, seed=cfg.seed
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    if first_process:
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

    net = OmegaConf.to_container(cfg.model, resolve=True)
    if checkpoint is not None:
        check_compatible(checkpoint, resume, net, datamodule.vocabulary.chars)
        log.info("Resuming %s at step %d", resume, checkpoint.get("global_step", 0))
    module = CharLanguageModel(
        net=net,
        vocabulary=datamodule.vocabulary.chars,
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
    )
    params = sum(p.numel() for p in module.parameters())
    log.info("Model with mixer %s: %d parameters", cfg.model.mixer.name, params)

    trainer, loggers = build_trainer(
        cfg, resume_step=checkpoint.get("global_step", 0) if checkpoint else None
    )
    fit_started = time.perf_counter()
    try:
        trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=str(resume) if resume else None,
            weights_only=True,
        )
    except TrainingDiverged as err:
        last = trainer.checkpoint_callback.last_model_path if trainer.checkpoint_callback else ""
        kept = f"; the last checkpoint, saved before it, is {last}" if last else ""
        raise TrainingDiverged(f"{err}{kept}") from None
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
        # Training throughput over the whole fit, its validation passes included, of all the
        # data-parallel processes together (each trains an equal share).
        train_chars_per_s=round(module.chars_trained * trainer.world_size / fit_seconds),
    )
    if trainer.is_global_zero:
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


def build_trainer(cfg: DictConfig, resume_step: int | None) -> tuple[L.Trainer, list[Logger]]:
    """The trainer of ``cfg``: its callbacks and loggers, atomic checkpoint writes, and a
    checkpoint on SIGINT or SIGTERM. A resumed run's TensorBoard history drops whatever the
    interrupted run logged after ``resume_step``, so that the curves continue without overlap.
    """
    loggers: list[Logger] = []
    for entry in (cfg.get("logger") or {}).values():
        if not entry or "_target_" not in entry:
            continue
        is_tensorboard = entry._target_.endswith("TensorBoardLogger")
        extra = {"purge_step": resume_step} if is_tensorboard and resume_step else {}
        loggers.append(instantiate(entry, **extra))
    callbacks = [*instantiate_group(cfg.get("callbacks")), InterruptCheckpoint()]
    if not loggers:  # the learning-rate monitor has nowhere to write without a logger
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if not cfg.trainer.get("enable_progress_bar", True):  # one key switches the bar off
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    trainer = instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, loggers


def write_environment(path: Path, seed: int) -> None:
    """Records what a rerun needs to match this run: seed, versions and git revision."""
    root = Path(__file__).resolve().parents[2]
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        revision, dirty = "", False
    versions = {
        name: importlib.metadata.version(name)
        for name in ("torch", "lightning", "hydra-core", "omegaconf", "torchmetrics")
    }
    atomic_write_json(
        path,
        {
            "seed": seed,
            "fast_weights": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": versions,
            "git_revision": revision or None,
            "git_dirty": dirty if revision else None,
            "command": sys.argv,
        },
    )


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
