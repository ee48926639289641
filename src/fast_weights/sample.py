"""Generation from a checkpoint, streamed to a text stream and saved."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import torch
from omegaconf import DictConfig

from fast_weights.config_checks import check_config
from fast_weights.errors import UserInputError
from fast_weights.generation import check_prompt, generate
from fast_weights.io import atomic_write_text
from fast_weights.models.module import load_checkpoint


def sample(cfg: DictConfig, stream: TextIO) -> list[str]:
    """Writes ``cfg.num_samples`` continuations of ``cfg.prompt`` to ``stream`` as they are
    drawn, and saves them to ``samples.txt`` in the run folder. Returns the samples."""
    check_config(cfg, "generate")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UserInputError("device='cuda' but no CUDA device is available; use device=cpu")
    module = load_checkpoint(cfg.ckpt_path, map_location=cfg.device)
    check_prompt(cfg.prompt, module.vocabulary)
    generator = torch.Generator().manual_seed(cfg.seed)

    samples = []
    for index in range(cfg.num_samples):
        if cfg.num_samples > 1:
            stream.write(f"--- sample {index + 1} of {cfg.num_samples} ---\n")
        stream.write(cfg.prompt)
        chars = [cfg.prompt]
        for char in generate(
            module.net,
            module.vocabulary,
            cfg.prompt,
            cfg.length,
            temperature=cfg.temperature,
            top_k=cfg.top_k,
            generator=generator,
        ):
            stream.write(char)
            stream.flush()
            chars.append(char)
        stream.write("\n")
        samples.append("".join(chars))

    atomic_write_text(Path(cfg.paths.output_dir) / "samples.txt", "\n\n".join(samples) + "\n")
    return samples
