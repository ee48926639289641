"""The interface every sequence-mixing layer implements."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

MixerState = Any
"""A mixer's recurrent state: a tensor or a tuple of tensors, ``None`` before the first step."""


class Mixer(nn.Module):
    """Mixes information along time, causally, on ``(batch, time, d_model)``.

    A mixer reads a whole sequence in parallel for training, one position at a time for
    generation, and can start from and hand back its state, so a long text can be processed
    in segments: ``forward(x₂, forward(x₁)[1])`` equals the second half of ``forward([x₁; x₂])``.

    Subclasses implement :meth:`forward`; :meth:`step` defaults to a forward of length one,
    which every mixer here supports at a cost that does not grow with the position (except the
    Transformer, whose key/value cache grows by one entry a step).
    """

    def forward(self, x: Tensor, state: MixerState = None) -> tuple[Tensor, MixerState]:
        """Mixes ``x`` ``(batch, time, d_model)``; returns ``(batch, time, d_model)`` and the
        state after the last position. ``state=None`` starts from the empty state."""
        raise NotImplementedError

    def step(self, x: Tensor, state: MixerState = None) -> tuple[Tensor, MixerState]:
        """One position: ``x`` ``(batch, d_model)`` → ``(batch, d_model)`` and the new state."""
        y, state = self(x.unsqueeze(1), state)
        return y.squeeze(1), state


def resolve_head_dim(d_model: int, heads: int, head_dim: int | None) -> int:
    """Checks the widths and returns ``head_dim``, ``d_model // heads`` when ``None``."""
    check_positive_int("d_model", d_model)
    check_positive_int("heads", heads)
    if head_dim is None:
        head_dim = d_model // heads
        if head_dim < 1:
            raise ValueError(
                f"heads={heads} is more than d_model={d_model}; give head_dim or fewer heads"
            )
    check_positive_int("head_dim", head_dim)
    return head_dim


def check_choice(name: str, value: object, options: tuple[str, ...]) -> None:
    """Refuses a value that is not one of ``options``, naming the option and the choices."""
    if value not in options:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {options}")


def check_positive_int(name: str, value: int) -> None:
    """Refuses anything but an integer ``≥ 1``, naming the option."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} must be an integer of at least 1")
