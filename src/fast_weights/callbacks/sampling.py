"""Writes generated text to TensorBoard and to a file while the model trains."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from fast_weights.generation import check_prompt, generate
from fast_weights.io import atomic_write_text

log = logging.getLogger(__name__)

HEADER = re.compile(r"^=== epoch \d+, step (\d+) ===$", re.MULTILINE)
"""The line that starts each sample in the file; it gives the training step."""


class TextSampler(L.Callback):
    """Every ``every_n_epochs`` validation epochs, samples text from the model.

    The sample is logged to TensorBoard as text (tag ``samples``) and appended to ``path``.
    Sampling uses its own random generator, so it never changes the training run.

    Args:
        prompt: the text the sample continues.
        length: characters to generate after the prompt.
        temperature: softmax temperature, above 0.
        top_k: sample among the ``top_k`` most likely characters; ``None`` for all.
        every_n_epochs: how many validation epochs between samples.
        path: the text file the samples are appended to.
        seed: seed of the sampler's random generator.
    """

    def __init__(
        self,
        prompt: str,
        length: int,
        temperature: float,
        path: str,
        top_k: int | None = None,
        every_n_epochs: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.prompt = prompt
        self.length = length
        self.temperature = temperature
        self.top_k = top_k
        self.every_n_epochs = every_n_epochs
        self.path = Path(path)
        self.seed = seed
        self._epochs_seen = 0

    def state_dict(self) -> dict[str, int]:
        """Saved in checkpoints, so that a resumed run keeps counting where it stopped."""
        return {"epochs_seen": self._epochs_seen}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._epochs_seen = state_dict["epochs_seen"]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        check_prompt(self.prompt, pl_module.vocabulary)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step and trainer.is_global_zero:  # a resumed run
            self._drop_samples_after(trainer.global_step)

    def _drop_samples_after(self, step: int) -> None:
        """Removes from the file what an interrupted run sampled after the checkpoint this run
        resumes, as its TensorBoard history is, so that no step appears twice."""
        if not self.path.is_file():
            return
        text = self.path.read_text(encoding="utf-8")
        later = [m for m in HEADER.finditer(text) if int(m.group(1)) > step]
        if later:
            atomic_write_text(self.path, text[: later[0].start()])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self._epochs_seen += 1
        if self._epochs_seen % self.every_n_epochs == 0:
            self._sample(trainer, pl_module)

    @rank_zero_only
    def _sample(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        generator = torch.Generator().manual_seed(self.seed + trainer.global_step)
        chars = generate(
            pl_module.net,
            pl_module.vocabulary,
            self.prompt,
            self.length,
            temperature=self.temperature,
            top_k=self.top_k,
            generator=generator,
        )
        text = self.prompt + "".join(chars)
        step = trainer.global_step
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                # Four leading spaces make a Markdown code block, which keeps the line breaks.
                block = "\n".join("    " + line for line in text.splitlines())
                logger.experiment.add_text("samples", block, global_step=step)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"=== epoch {trainer.current_epoch}, step {step} ===\n{text}\n\n")
        log.info("Sample at step %d written to %s", step, self.path)
