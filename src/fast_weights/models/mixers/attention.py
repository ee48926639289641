"""Causal softmax self-attention with a key/value cache: the Transformer baseline's mixer."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fast_weights.errors import UserInputError
from fast_weights.models.mixers.base import Mixer, check_choice

KVCache = tuple[Tensor, Tensor]
"""Keys and values of every position so far, each ``(batch, heads, past, head_dim)``."""

POSITIONS = ("rotary", "learned")


def rotate(x: Tensor, positions: Tensor, base: float) -> Tensor:
    """Rotary position embedding: rotates feature pairs of ``x`` by position-dependent angles.

    Args:
        x: ``(batch, heads, time, head_dim)`` with an even ``head_dim``.
        positions: absolute positions ``(time,)``.
        base: wavelength base; pair ``i`` turns by ``position · base^(−2i/head_dim)``.
    """
    half = x.shape[-1] // 2
    frequencies = base ** (-torch.arange(half, dtype=x.dtype, device=x.device) / half)
    angles = positions.to(x.dtype)[:, None] * frequencies  # (T, half)
    cos, sin = angles.cos(), angles.sin()
    first, second = x[..., :half], x[..., half:]
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class CausalSelfAttention(Mixer):
    """Multi-head causal self-attention through ``scaled_dot_product_attention``.

    The state is the key/value cache, so generation reads each new character once; unlike the
    fast-weight mixers its cost per step grows with the number of positions cached.

    Args:
        d_model: model width; a multiple of ``heads``.
        heads: attention heads.
        positions: ``"rotary"`` (relative, any length) or ``"learned"`` (absolute, a table of
            ``max_length`` positions added to the input; a stream may not run past it).
        max_length: number of learned positions; required for ``positions="learned"``.
        dropout: attention dropout while training.
        rope_base: wavelength base of the rotary embedding.
    """

    def __init__(
        self,
        d_model: int,
        heads: int = 4,
        positions: Literal["rotary", "learned"] = "rotary",
        max_length: int | None = None,
        dropout: float = 0.0,
        rope_base: float = 10_000.0,
    ) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not a multiple of heads={heads}")
        check_choice("positions", positions, POSITIONS)
        if positions == "rotary" and (d_model // heads) % 2:
            raise ValueError(f"rotary positions need an even head size; got {d_model // heads}")
        if positions == "learned" and not max_length:
            raise ValueError("positions='learned' needs max_length, the number of positions")
        self.heads = heads
        self.positions = positions
        self.dropout = dropout
        self.rope_base = rope_base
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.position_table = nn.Embedding(max_length, d_model) if positions == "learned" else None

    def forward(self, x: Tensor, state: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """``x`` ``(batch, time, d_model)`` → ``(batch, time, d_model)`` and the grown cache."""
        batch, steps, width = x.shape
        past = 0 if state is None else state[0].shape[2]
        positions = torch.arange(past, past + steps, device=x.device)
        if self.position_table is not None:
            if past + steps > self.position_table.num_embeddings:
                raise UserInputError(
                    f"position {past + steps} is past the {self.position_table.num_embeddings} "
                    "learned positions; use positions=rotary for longer streams"
                )
            x = x + self.position_table(positions)

        q, k, v = self.qkv(x).view(batch, steps, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if self.positions == "rotary":  # q, k, v: (B, heads, T, head_dim)
            q = rotate(q, positions, self.rope_base)
            k = rotate(k, positions, self.rope_base)
        if state is not None:
            k = torch.cat([state[0], k], dim=2)  # (B, heads, past + T, head_dim)
            v = torch.cat([state[1], v], dim=2)

        if past == 0:
            mask, causal = None, True
        else:  # query i sits at position past + i and sees keys 0 … past + i
            mask = positions[:, None] >= torch.arange(past + steps, device=x.device)[None, :]
            causal = False
        mixed = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0,
        )  # (B, heads, T, head_dim)
        mixed = mixed.transpose(1, 2).reshape(batch, steps, width)
        return self.out(mixed), (k, v)
