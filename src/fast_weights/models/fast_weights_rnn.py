"""The fast-weights RNN of Ba, Hinton, Mnih, Leibo and Ionescu (2016).

Each example carries a slow state ``h`` and a fast weight matrix ``A`` that is rewritten at
every step. For an input ``x(t)`` and the previous state ``h(t)``:

    A(t)       = λ·A(t−1) + η·h(t) h(t)ᵀ,                    A(0) = 0, h(0) = 0
    h₀(t+1)    = f(W h(t) + C x(t))
    hₛ₊₁(t+1)  = f(LN[W h(t) + C x(t) + A(t) hₛ(t+1)]),       s = 0 … S−1
    h(t+1)     = h_S(t+1)

with ``f`` the ReLU, ``LN`` layer normalisation over the hidden features, ``λ`` the decay,
``η`` the fast learning rate and ``S`` the number of inner steps.

``A(t) h`` has two equal forms. The *matrix* form keeps ``A`` itself, ``(hidden, hidden)``
per example, and costs the same at every step. The *attention* form never builds ``A``; it
reads the past states directly,

    A(t) h = λᵗ A(0) h + η Σ_{τ=1…t} λ^{t−τ} ⟨h(τ), h⟩ h(τ),

so step ``t`` costs ``O(t)``. The two are interchangeable: both take and return the same
state ``(h, A)``, and the tests check that they agree.

Tensors are ``(batch, time, features)`` throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fast_weights.models.mixers.base import Mixer, check_choice

LayerState = tuple[Tensor, Tensor]
"""``(h, A)`` of one layer: ``h`` is ``(batch, hidden)``, ``A`` is ``(batch, hidden, hidden)``."""

MEMORY_FORMS = ("matrix", "attention")


class FastWeightsLayer(Mixer):
    """One fast-weights recurrent layer; its input ``x(t)`` and state ``h(t)`` both have
    ``d_model`` features, and ``A`` is ``d_model × d_model`` per example.

    Args:
        d_model: features of ``x(t)`` and of ``h(t)``.
        decay: ``λ`` in ``[0, 1]``, how much of the fast memory survives one step.
        fast_lr: ``η > 0``, the weight of each new outer product in the fast memory.
        inner_steps: ``S ≥ 1``, the number of inner-loop refinements of each new state.
        memory: ``"matrix"`` or ``"attention"``, which form computes ``A(t) h``.
        slow_init: the slow recurrent matrix ``W`` starts as ``slow_init · I``.
    """

    def __init__(
        self,
        d_model: int,
        decay: float = 0.95,
        fast_lr: float = 0.5,
        inner_steps: int = 1,
        memory: Literal["matrix", "attention"] = "matrix",
        slow_init: float = 0.05,
    ) -> None:
        super().__init__()
        check_choice("memory", memory, MEMORY_FORMS)
        self.d_model = d_model
        self.decay = decay
        self.fast_lr = fast_lr
        self.inner_steps = inner_steps
        self.memory = memory

        self.input_proj = nn.Linear(d_model, d_model)  # C, with the layer's bias
        self.recurrent = nn.Linear(d_model, d_model, bias=False)  # W
        self.norm = nn.LayerNorm(d_model)  # over the hidden features, learned gain and bias
        with torch.no_grad():
            self.recurrent.weight.copy_(slow_init * torch.eye(d_model))

    def initial_state(self, batch_size: int, like: Tensor) -> LayerState:
        """The zero state ``(h(0), A(0))``, with the dtype and device of ``like``."""
        h = like.new_zeros(batch_size, self.d_model)
        fast = like.new_zeros(batch_size, self.d_model, self.d_model)
        return h, fast

    def forward(
        self, inputs: Tensor, state: LayerState | None = None
    ) -> tuple[Tensor, LayerState]:
        """Runs the recurrence over a sequence.

        Args:
            inputs: ``(batch, time, d_model)``.
            state: ``(h, A)`` to continue from; zeros when ``None``.

        Returns:
            The states ``h(1) … h(T)`` as ``(batch, time, hidden)``, and the final ``(h, A)``.
        """
        if state is None:
            state = self.initial_state(inputs.shape[0], inputs)
        driven = self.input_proj(inputs)  # C x(t) + b for every t at once: (B, T, H)
        if self.memory == "matrix":
            return self._forward_matrix(driven, state)
        return self._forward_attention(driven, state)

    def _refine(self, slow: Tensor, read_memory: Callable[[Tensor], Tensor]) -> Tensor:
        """The preliminary state and the inner loop.

        Args:
            slow: ``W h(t) + C x(t)``, ``(batch, hidden)``.
            read_memory: maps a query ``(batch, hidden)`` to ``A(t) query``, same shape.
        """
        h = F.relu(slow)
        for _ in range(self.inner_steps):
            h = F.relu(self.norm(slow + read_memory(h)))
        return h

    def _forward_matrix(self, driven: Tensor, state: LayerState) -> tuple[Tensor, LayerState]:
        h, fast = state
        outputs = []
        for t in range(driven.shape[1]):
            slow = self.recurrent(h) + driven[:, t]
            h = self._refine(slow, lambda query, fast=fast: _matvec(fast, query))
            # λ A + η h hᵀ in one fused call: (B, H, H)
            fast = torch.baddbmm(
                fast, h.unsqueeze(2), h.unsqueeze(1), beta=self.decay, alpha=self.fast_lr
            )
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, fast)

    def _forward_attention(self, driven: Tensor, state: LayerState) -> tuple[Tensor, LayerState]:
        h, fast_start = state
        past: list[Tensor] = []  # h(1) … h(t), the keys and values of the attention form
        outputs = []
        for t in range(driven.shape[1]):
            weights = self._decay_weights(t, driven)  # η λ^{t−τ} for τ = 1 … t: (t,)
            keys = (
                torch.stack(past, dim=1) if past else driven.new_zeros(h.shape[0], 0, h.shape[1])
            )

            def read_memory(query: Tensor, t=t, keys=keys, weights=weights) -> Tensor:
                scores = torch.einsum("bth,bh->bt", keys, query) * weights  # (B, t)
                read = torch.einsum("bt,bth->bh", scores, keys)  # (B, H)
                return read + self.decay**t * _matvec(fast_start, query)

            h = self._refine(self.recurrent(h) + driven[:, t], read_memory)
            past.append(h)
            outputs.append(h)

        states = torch.stack(outputs, dim=1)  # (B, T, H)
        steps = states.shape[1]
        weights = self._decay_weights(steps, driven)
        fast = torch.einsum("t,bth,btg->bhg", weights, states, states)
        fast = fast + self.decay**steps * fast_start
        return states, (h, fast)

    def _decay_weights(self, t: int, like: Tensor) -> Tensor:
        """``η λ^{t−τ}`` for ``τ = 1 … t``, shape ``(t,)``."""
        powers = torch.arange(t - 1, -1, -1, dtype=like.dtype, device=like.device)
        return self.fast_lr * self.decay**powers


def _matvec(matrix: Tensor, vector: Tensor) -> Tensor:
    """Batched ``matrix @ vector``: ``(B, H, H)`` and ``(B, H)`` give ``(B, H)``."""
    return torch.bmm(matrix, vector.unsqueeze(2)).squeeze(2)
