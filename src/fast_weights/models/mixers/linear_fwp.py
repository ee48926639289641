"""The linear fast-weight programmer (Schmidhuber 1992; Schlag, Irie and Schmidhuber 2021).

A slow network programs a fast weight matrix per head. For ``x_t`` ``(d_model)``:

    q_t = φ(W_q x_t),   k_t = φ(W_k x_t),   v_t = W_v x_t          (split into heads)
    S_t = S_{t−1} + k_t v_tᵀ,               o_t = S_tᵀ q_t
    z_t = z_{t−1} + k_t,                    o_t ← o_t / (z_tᵀ q_t + ε)   (if normalize)
    y_t = W_o [o_t for every head]

``φ`` is a positive feature map, so that ``q · k`` behaves like an unnormalised attention
weight:

* ``"elu+1"``: ``φ(x) = elu(x) + 1``, ``head_dim`` features;
* ``"dpfp"``, deterministic parameter-free projection: ``r = [relu(x), relu(−x)]`` and
  ``φ(x) = [r ⊙ roll(r, 1), …, r ⊙ roll(r, ν)]``, ``2·head_dim·ν`` features.

The normaliser ``z`` is carried as one more value column that is always 1, so the state is
the single tensor ``S`` ``(batch, heads, features, head_dim + 1)`` (``head_dim`` columns
without the normaliser). Tensors are ``(batch, time, features)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from fast_weights.models.mixers.base import (
    Mixer,
    check_choice,
    check_positive_int,
    resolve_head_dim,
)
from fast_weights.ops import linear_chunkwise, linear_parallel, linear_recurrent

FEATURE_MAPS = ("elu+1", "dpfp")
FORMS = ("chunkwise", "recurrent", "parallel")
NORMALIZER_EPS = 1e-6  # keeps o / (zᵀ q) finite when a query has no overlap with any key


class LinearFWP(Mixer):
    """Linear attention as a fast-weight programmer, with a choice of feature map.

    Args:
        d_model: features of the input and output.
        heads: number of fast weight matrices.
        head_dim: width of each head's queries, keys and values; ``d_model // heads`` when
            ``None``.
        feature_map: ``"elu+1"`` or ``"dpfp"``, the ``φ`` applied to queries and keys.
        dpfp_nu: ``ν ≥ 1``, how many rolled products DPFP concatenates (at most
            ``2·head_dim − 1``); ignored by ``"elu+1"``.
        normalize: divide each output by ``zᵀ q``, the query's total overlap with the keys.
        chunk_size: positions per chunk of the chunkwise form.
        form: ``"chunkwise"``, ``"recurrent"`` or ``"parallel"``, which form of the rule runs;
            all give the same result.
    """

    def __init__(
        self,
        d_model: int,
        heads: int = 4,
        head_dim: int | None = None,
        feature_map: Literal["elu+1", "dpfp"] = "elu+1",
        dpfp_nu: int = 1,
        normalize: bool = True,
        chunk_size: int = 64,
        form: Literal["chunkwise", "recurrent", "parallel"] = "chunkwise",
    ) -> None:
        super().__init__()
        head_dim = resolve_head_dim(d_model, heads, head_dim)
        check_choice("feature_map", feature_map, FEATURE_MAPS)
        check_positive_int("dpfp_nu", dpfp_nu)
        if feature_map == "dpfp" and dpfp_nu > 2 * head_dim - 1:
            raise ValueError(
                f"dpfp_nu={dpfp_nu} is too large for head_dim={head_dim}; "
                f"DPFP accepts 1 … {2 * head_dim - 1} (2·head_dim − 1)"
            )
        check_positive_int("chunk_size", chunk_size)
        check_choice("form", form, FORMS)
        self.heads = heads
        self.head_dim = head_dim
        self.feature_map = feature_map
        self.dpfp_nu = dpfp_nu
        self.normalize = normalize
        self.chunk_size = chunk_size
        self.form = form

        inner = heads * head_dim
        self.query = nn.Linear(d_model, inner, bias=False)
        self.key = nn.Linear(d_model, inner, bias=False)
        self.value = nn.Linear(d_model, inner, bias=False)
        self.out = nn.Linear(inner, d_model, bias=False)

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mixes ``x`` ``(batch, time, d_model)`` into ``(batch, time, d_model)``.

        Args:
            x: the inputs.
            state: ``S`` ``(batch, heads, features, head_dim + normalize)`` to continue from;
                zeros when ``None``.

        Returns:
            The outputs and the state after the last position.
        """
        batch, time, _ = x.shape
        split = (batch, time, self.heads, self.head_dim)
        q = self._features(self.query(x).view(split))  # (B, T, H, F)
        k = self._features(self.key(x).view(split))
        v = self.value(x).view(split)  # (B, T, H, D)
        if self.normalize:
            v = torch.cat([v, v.new_ones(batch, time, self.heads, 1)], dim=-1)  # (B, T, H, D+1)

        # Half precision is too coarse for a memory that sums every position.
        q, k, v = (t.to(torch.promote_types(t.dtype, torch.float32)) for t in (q, k, v))
        if self.form == "chunkwise":
            o, state = linear_chunkwise(q, k, v, state, chunk_size=self.chunk_size)
        elif self.form == "recurrent":
            o, state = linear_recurrent(q, k, v, state)
        else:
            o, state = linear_parallel(q, k, v, state)

        if self.normalize:
            o = o[..., :-1] / (o[..., -1:] + NORMALIZER_EPS)  # the last column is zᵀ q
        return self.out(o.to(x.dtype).reshape(batch, time, -1)), state

    def _features(self, x: Tensor) -> Tensor:
        """``φ`` on the last axis: ``(..., head_dim)`` → ``(..., features)``."""
        if self.feature_map == "elu+1":
            return F.elu(x) + 1.0
        r = torch.cat([F.relu(x), F.relu(-x)], dim=-1)  # (..., 2·head_dim)
        products = [r * r.roll(shift, dims=-1) for shift in range(1, self.dpfp_nu + 1)]
        return torch.cat(products, dim=-1)  # (..., 2·head_dim·ν)
