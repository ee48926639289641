"""DeltaNet (Schlag, Irie and Schmidhuber 2021; Yang et al. 2024) and Gated DeltaNet
(Yang, Kautz and Hatamizadeh 2024).

Per head, the fast weight matrix ``S`` is corrected towards each new association instead of
only accumulating it, and in the gated variant also decays:

    q_t, k_t, v_t = SiLU(causal_conv(W_{q,k,v} x_t))       (the conv and SiLU if short_conv)
    q_t, k_t      ← q_t / ‖q_t‖, k_t / ‖k_t‖                (per head)
    β_t = σ(w_β · x_t + b_β)   (times 2 with beta_range="02")
    α_t = σ(w_α · x_t + b_α)   (gated only; α_t = 1 otherwise)
    S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,      o_t = S_tᵀ q_t
    y_t = W_o [RMSNorm(o_t) for every head]

The short convolution is depthwise and causal, over ``conv_size`` positions, run on the
concatenated projections ``[W_q x; W_k x; W_v x]``. Its state is the last ``conv_size − 1``
projections, so a sequence processed in segments gives the same result as in one piece.

State: ``(S, conv_state)`` with ``S`` ``(batch, heads, head_dim, head_dim)`` and
``conv_state`` ``(batch, conv_size − 1, 3·heads·head_dim)``, or ``None`` without the short
convolution. Tensors are ``(batch, time, features)``.
"""

from __future__ import annotations

import importlib.util
import math
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
from fast_weights.ops import delta_chunkwise, delta_parallel, delta_recurrent

DeltaNetState = tuple[Tensor, Tensor | None]
"""``(S, conv_state)``: ``(batch, heads, head_dim, head_dim)`` and
``(batch, conv_size − 1, 3·heads·head_dim)`` or ``None``."""

BETA_RANGES = ("01", "02")
FORMS = ("chunkwise", "recurrent", "parallel")
BACKENDS = ("torch", "fla")
GATE_INIT = (0.9, 0.99)  # α at initialisation for x = 0, spread over the heads
NORM_EPS = 1e-6


class DeltaNet(Mixer):
    """DeltaNet, or Gated DeltaNet with ``gated=True``.

    Args:
        d_model: features of the input and output.
        heads: number of fast weight matrices.
        head_dim: width of each head's queries, keys and values; ``d_model // heads`` when
            ``None``.
        gated: learn a decay ``α_t`` per head and position (Gated DeltaNet).
        beta_range: ``"01"`` for ``β ∈ (0, 1)`` or ``"02"`` for ``β ∈ (0, 2)``, which lets
            ``I − β k kᵀ`` have a negative eigenvalue.
        short_conv: run a causal depthwise convolution and SiLU on the projections.
        conv_size: the convolution's width in positions, at least 1.
        chunk_size: positions per chunk of the chunkwise form.
        form: ``"chunkwise"``, ``"recurrent"`` or ``"parallel"``, which torch form of the rule
            runs; all give the same result.
        backend: ``"torch"`` for the forms in :mod:`fast_weights.ops`, or ``"fla"`` for the
            chunked Triton kernels of flash-linear-attention (CUDA only; ``form`` and
            ``chunk_size`` are then unused).
    """

    def __init__(
        self,
        d_model: int,
        heads: int = 4,
        head_dim: int | None = None,
        gated: bool = False,
        beta_range: Literal["01", "02"] = "01",
        short_conv: bool = True,
        conv_size: int = 4,
        chunk_size: int = 64,
        form: Literal["chunkwise", "recurrent", "parallel"] = "chunkwise",
        backend: Literal["torch", "fla"] = "torch",
    ) -> None:
        super().__init__()
        head_dim = resolve_head_dim(d_model, heads, head_dim)
        check_choice("beta_range", beta_range, BETA_RANGES)
        check_positive_int("conv_size", conv_size)
        check_positive_int("chunk_size", chunk_size)
        check_choice("form", form, FORMS)
        check_choice("backend", backend, BACKENDS)
        if backend == "fla" and not fla_available():
            raise ValueError(
                "backend='fla' needs a CUDA device and the flash-linear-attention package "
                "(pip install flash-linear-attention); install it or use backend='torch'"
            )
        self.heads = heads
        self.head_dim = head_dim
        self.gated = gated
        self.beta_scale = 2.0 if beta_range == "02" else 1.0
        self.short_conv = short_conv
        self.conv_size = conv_size
        self.chunk_size = chunk_size
        self.form = form
        self.backend = backend

        inner = heads * head_dim
        self.qkv = nn.Linear(d_model, 3 * inner, bias=False)
        self.conv_weight: nn.Parameter | None = None  # (channels, conv_size), last = now
        if short_conv:
            bound = 1.0 / math.sqrt(conv_size)  # the default of a depthwise nn.Conv1d
            self.conv_weight = nn.Parameter(
                torch.empty(3 * inner, conv_size).uniform_(-bound, bound)
            )
        self.beta = nn.Linear(d_model, heads)
        self.gate: nn.Linear | None = None
        if gated:
            self.gate = nn.Linear(d_model, heads)
            with torch.no_grad():  # σ(bias) = α spread over GATE_INIT, one value per head
                alphas = torch.linspace(*GATE_INIT, heads)
                self.gate.bias.copy_(torch.log(alphas) - torch.log1p(-alphas))
        self.norm = nn.RMSNorm(head_dim, eps=NORM_EPS)
        self.out = nn.Linear(inner, d_model, bias=False)

    def forward(
        self, x: Tensor, state: DeltaNetState | None = None
    ) -> tuple[Tensor, DeltaNetState]:
        """Mixes ``x`` ``(batch, time, d_model)`` into ``(batch, time, d_model)``.

        Args:
            x: the inputs.
            state: ``(S, conv_state)`` to continue from; zeros when ``None``.

        Returns:
            The outputs and the state ``(S, conv_state)`` after the last position.
        """
        batch, time, _ = x.shape
        memory, conv_state = (None, None) if state is None else state

        projected = self.qkv(x)  # (B, T, 3·H·D)
        if self.conv_weight is not None:
            projected, conv_state = self._short_conv(projected, conv_state)
        split = (batch, time, self.heads, self.head_dim)
        q, k, v = (part.reshape(split) for part in projected.chunk(3, dim=-1))  # (B, T, H, D)
        q = F.normalize(q, dim=-1, eps=NORM_EPS)
        k = F.normalize(k, dim=-1, eps=NORM_EPS)
        beta = self.beta_scale * torch.sigmoid(self.beta(x))  # (B, T, H)
        log_alpha = F.logsigmoid(self.gate(x)) if self.gate is not None else None  # (B, T, H)

        if self.backend == "fla":
            o, memory = self._fla_rule(q, k, v, beta, log_alpha, memory)
            return self._read_out(o, x), (memory, conv_state)

        # Half precision is too coarse for the memory and the triangular solves.
        q, k, v, beta = (_at_least_float32(t) for t in (q, k, v, beta))
        if log_alpha is not None:
            log_alpha = _at_least_float32(log_alpha)
        if self.form == "chunkwise":
            o, memory = delta_chunkwise(q, k, v, beta, log_alpha, memory, self.chunk_size)
        elif self.form == "recurrent":
            o, memory = delta_recurrent(q, k, v, beta, log_alpha, memory)
        else:
            o, memory = delta_parallel(q, k, v, beta, log_alpha, memory)

        return self._read_out(o, x), (memory, conv_state)

    def _read_out(self, o: Tensor, x: Tensor) -> Tensor:
        """RMSNorm per head and the output projection: ``(B, T, H, D)`` → ``(B, T, d_model)``."""
        o = self.norm(o.to(x.dtype))
        return self.out(o.flatten(2))

    def _short_conv(self, projected: Tensor, history: Tensor | None) -> tuple[Tensor, Tensor]:
        """The causal depthwise convolution and SiLU on ``(batch, time, channels)``.

        ``history`` holds the ``conv_size − 1`` inputs before this segment (zeros when
        ``None``); the same for the next segment comes back with the result.
        """
        assert self.conv_weight is not None
        batch, time, channels = projected.shape
        if history is None:
            history = projected.new_zeros(batch, self.conv_size - 1, channels)
        padded = torch.cat([history, projected], dim=1)  # (B, conv_size − 1 + T, channels)
        history = padded[:, padded.shape[1] - (self.conv_size - 1) :]
        # A sum of shifted copies: exact, and much faster on a CPU than a grouped nn.Conv1d.
        mixed = sum(
            self.conv_weight[:, offset] * padded[:, offset : offset + time]
            for offset in range(self.conv_size)
        )  # (B, T, channels)
        return F.silu(mixed), history

    def _fla_rule(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        beta: Tensor,
        log_alpha: Tensor | None,
        memory: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """The rule through flash-linear-attention's chunked kernels, same layout as the ops.

        Follows the signatures of fla 0.3.x (``fla.ops.delta_rule.chunk_delta_rule`` and
        ``fla.ops.gated_delta_rule.chunk_gated_delta_rule``): ``(B, T, H, ·)`` tensors,
        ``g`` = log α, ``scale`` defaulting to ``1/√d_k`` (here 1, as in the torch forms),
        ``initial_state`` ``(B, H, d_k, d_v)``, a ``(o, final_state)`` pair back. The kernels
        refuse float32 inputs, so those run in bfloat16; the state stays in float32.
        """
        kernel_dtype = torch.bfloat16 if q.dtype == torch.float32 else q.dtype
        q, k, v, beta = (t.to(kernel_dtype) for t in (q, k, v, beta))
        if memory is not None:
            memory = memory.float()
        if log_alpha is None:
            from fla.ops.delta_rule import chunk_delta_rule

            return chunk_delta_rule(
                q=q,
                k=k,
                v=v,
                beta=beta,
                scale=1.0,
                initial_state=memory,
                output_final_state=True,
            )
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule

        return chunk_gated_delta_rule(
            q=q,
            k=k,
            v=v,
            g=log_alpha.float(),
            beta=beta,
            scale=1.0,
            initial_state=memory,
            output_final_state=True,
        )


def fla_available() -> bool:
    """Whether the ``fla`` backend can run: a CUDA device and flash-linear-attention."""
    return torch.cuda.is_available() and importlib.util.find_spec("fla") is not None


def _at_least_float32(x: Tensor) -> Tensor:
    """``x`` in float32 if it is in a half-precision type, unchanged otherwise."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
