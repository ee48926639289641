"""The Lightning module: a character language model with its loss, metrics and optimiser."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchmetrics import MeanMetric, MinMetric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import Perplexity

from fast_weights import __version__
from fast_weights.checkpointing import FORMAT, RECORD, read_checkpoint
from fast_weights.data.datamodule import IGNORE_INDEX
from fast_weights.data.vocabulary import Vocabulary
from fast_weights.errors import CheckpointError, TrainingDiverged
from fast_weights.models.language_model import CharLM, ModelState

MODELS: dict[str, type[nn.Module]] = {
    "fast_weights.models.CharLM": CharLM,
}
"""The model classes a config or a checkpoint may name in ``_target_``; no other is built."""

LN2 = math.log(2.0)


def build_model(config: dict[str, Any], vocab_size: int) -> nn.Module:
    """Builds the network that ``config`` describes (``_target_`` plus keyword arguments)."""
    options = dict(config)
    target = options.pop("_target_", None)
    if target not in MODELS:
        raise CheckpointError(f"model _target_={target!r} is not one of {sorted(MODELS)}")
    return MODELS[target](vocab_size=vocab_size, **options)


class CharLanguageModel(L.LightningModule):
    """Next-character prediction with cross-entropy.

    Logs ``train/loss`` and ``train/bpc`` every step, and for ``val`` and ``test`` the loss,
    bits per character, accuracy and perplexity over one full pass, plus ``val/loss_best``.

    Args:
        net: the network's config, ``_target_`` plus its keyword arguments.
        vocabulary: the characters, in id order; stored in every checkpoint.
        optimizer: a partial that takes the parameters and returns the optimiser.
        scheduler: a partial that takes the optimiser and ``total_steps`` and returns a
            learning-rate scheduler stepped every batch; ``None`` for a constant rate.
    """

    def __init__(
        self,
        net: dict[str, Any],
        vocabulary: list[str],
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters("net", "vocabulary", logger=False)
        self.vocabulary = Vocabulary(vocabulary)
        self.net = build_model(net, vocab_size=len(self.vocabulary))
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

        vocab_size = len(self.vocabulary)
        self.eval_loss = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})
        self.eval_acc = nn.ModuleDict(
            {
                stage: MulticlassAccuracy(vocab_size, average="micro", ignore_index=IGNORE_INDEX)
                for stage in ("val", "test")
            }
        )
        self.eval_ppl = nn.ModuleDict(
            {stage: Perplexity(ignore_index=IGNORE_INDEX) for stage in ("val", "test")}
        )
        self.val_loss_best = MinMetric()
        self.val_loss_best.persistent(True)  # survives a resume, in the checkpoint
        self.chars_trained = 0  # target characters of the training steps of this process

    def forward(self, tokens: Tensor, state: ModelState | None = None) -> tuple[Tensor, Any]:
        """Logits ``(batch, time, vocab)`` for ids ``(batch, time)``, and the final state."""
        return self.net(tokens, state)

    def _loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Mean cross-entropy over the positions whose target is not padding."""
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch  # (B, T) each
        logits, _ = self(inputs)
        loss = self._loss(logits, targets)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"the training loss became {loss.item()} at step {self.global_step}; "
                "try a lower optimizer.lr or trainer.gradient_clip_val"
            )
        self.chars_trained += targets.numel()
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/bpc", loss / LN2, on_step=True, on_epoch=False)
        return loss

    def _eval_step(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        inputs, targets = batch
        logits, _ = self(inputs)
        scored = (targets != IGNORE_INDEX).sum()
        self.eval_loss[stage].update(self._loss(logits, targets), weight=scored)
        self.eval_acc[stage].update(logits.flatten(0, 1), targets.flatten())
        self.eval_ppl[stage].update(logits, targets)

    def _eval_epoch_end(self, stage: str) -> dict[str, Tensor]:
        loss = self.eval_loss[stage].compute()
        values = {
            f"{stage}/loss": loss,
            f"{stage}/bpc": loss / LN2,
            f"{stage}/acc": self.eval_acc[stage].compute(),
            f"{stage}/ppl": self.eval_ppl[stage].compute(),
        }
        for metric in (self.eval_loss, self.eval_acc, self.eval_ppl):
            metric[stage].reset()
        # compute() already gathered every process's counts, so the values agree everywhere;
        # sync_dist says so to Lightning (it averages equal numbers) instead of warning.
        self.log_dict(values, prog_bar=stage == "val", sync_dist=True)
        return values

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        values = self._eval_epoch_end("val")
        if not self.trainer.sanity_checking:  # a sanity check is no epoch
            self.val_loss_best.update(values["val/loss"])
            self.log("val/loss_best", self.val_loss_best.compute(), sync_dist=True)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        bad = [name for name, p in self.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(f"not saving a checkpoint: non-finite weights in {bad[:3]}")
        checkpoint[RECORD] = {"format": FORMAT, "version": __version__}
        # The global random state (dropout) at this point, so that a resumed run continues it.
        checkpoint["rng"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("rng", {})
        if "torch" in states:
            torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise RuntimeError("this module was built without an optimizer; it cannot train")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(
            optimizer=optimizer, total_steps=self.trainer.estimated_stepping_batches
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> CharLanguageModel:
    """The model of a checkpoint, loaded without unpickling any code (see
    :func:`~fast_weights.checkpointing.read_checkpoint`).

    Raises:
        CheckpointError: the file is missing, unreadable, or not a checkpoint of this project.
    """
    checkpoint = read_checkpoint(path)
    try:
        hparams = checkpoint["hyper_parameters"]
        module = CharLanguageModel(net=hparams["net"], vocabulary=hparams["vocabulary"])
        module.load_state_dict(checkpoint["state_dict"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path} does not hold a model of this project: {reason}") from None
    return module.to(map_location).eval()
