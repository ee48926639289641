"""The count-based baselines the README compares against."""

import math

import pytest
import torch

from fast_weights.ngram import ngram_loss, uniform_loss


def test_bigram_learns_a_deterministic_cycle() -> None:
    cycle = torch.arange(5).repeat(200)  # 0 1 2 3 4 0 1 …: each id fixes the next
    assert ngram_loss(cycle, cycle[:50], 5, order=2, alpha=1e-3) < 0.01
    unigram = ngram_loss(cycle, cycle[:50], 5, order=1, alpha=1e-3)
    assert unigram == pytest.approx(math.log(5), rel=1e-4)
    assert uniform_loss(5) == pytest.approx(math.log(5))


def test_unseen_bigrams_get_the_smoothed_probability() -> None:
    train = torch.tensor([0, 1, 0, 1, 0, 1])
    held_out = torch.tensor([1, 1])  # the pair (1, 1) never occurs in training
    # Row 1 of the table: counts (2, 0) from training plus alpha = 1 each → P(1 | 1) = 1/4.
    assert ngram_loss(train, held_out, 2, order=2, alpha=1.0) == pytest.approx(math.log(4))


def test_other_orders_are_refused() -> None:
    with pytest.raises(ValueError, match="order=3"):
        ngram_loss(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, order=3, alpha=1.0)
