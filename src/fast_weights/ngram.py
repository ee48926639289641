"""Count-based unigram and bigram models: the floor any trained model must beat."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def ngram_loss(
    train: Tensor, held_out: Tensor, vocab_size: int, order: int, alpha: float
) -> float:
    """Mean held-out cross-entropy (nats) of an add-``alpha`` smoothed n-gram model.

    Args:
        train: training ids, ``(n,)``; counts come from here only.
        held_out: ids to score, ``(m,)``; every id but the first is a target, as in the
            data module's held-out pass.
        vocab_size: number of distinct ids.
        order: 1 (unigram) or 2 (bigram).
        alpha: pseudo-count added to every cell of the count table, > 0.
    """
    if order == 1:
        counts = torch.bincount(train, minlength=vocab_size).double() + alpha  # (V,)
        log_probs = (counts / counts.sum()).log()
        return float(-log_probs[held_out[1:]].mean())
    if order == 2:
        pairs = train[:-1] * vocab_size + train[1:]
        counts = torch.bincount(pairs, minlength=vocab_size**2).double().view(vocab_size, -1)
        counts = counts + alpha  # (V, V): row = previous id, column = next id
        log_probs = (counts / counts.sum(dim=1, keepdim=True)).log()
        return float(-log_probs[held_out[:-1], held_out[1:]].mean())
    raise ValueError(f"order={order} is not supported; expected 1 or 2")


def uniform_loss(vocab_size: int) -> float:
    return math.log(vocab_size)
