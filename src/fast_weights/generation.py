"""Sampling text from a trained model, one character at a time."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from fast_weights.data.vocabulary import Vocabulary
from fast_weights.errors import UserInputError


def check_prompt(prompt: str, vocabulary: Vocabulary) -> None:
    """Refuses an empty prompt or one with characters the vocabulary lacks."""
    if not prompt:
        raise UserInputError("prompt='' is empty; give at least one character")
    missing = vocabulary.missing(prompt)
    if missing:
        raise UserInputError(
            f"prompt has characters that are not in the model's vocabulary: {''.join(missing)!r}"
        )


def sample_next(
    logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> Tensor:
    """Draws one id per row of ``logits`` ``(batch, vocab)``; returns ``(batch,)``."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits.float(), dim=-1).cpu()  # the generator lives on the CPU
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logits.device)


@torch.no_grad()
def generate(
    model: nn.Module,
    vocabulary: Vocabulary,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[str]:
    """Yields ``length`` sampled characters that continue ``prompt``.

    The model reads the prompt once, then carries its recurrent state, so each new character
    costs the same whatever its position. ``model(tokens, state)`` must return
    ``(logits (batch, time, vocab), state)``.
    """
    check_prompt(prompt, vocabulary)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        tokens = vocabulary.encode(prompt).to(device).unsqueeze(0)  # (1, P)
        logits, state = model(tokens)
        for _ in range(length):
            next_id = sample_next(logits[:, -1], temperature, top_k, generator)  # (1,)
            yield vocabulary.chars[int(next_id)]
            logits, state = model(next_id.view(1, 1), state)
    finally:
        model.train(was_training)
