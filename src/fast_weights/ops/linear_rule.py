"""The linear fast-weight rule: a purely additive outer-product memory, per head.

For queries ``q_t``, keys ``k_t`` and values ``v_t`` of one head:

    S_t = S_{t−1} + k_t v_tᵀ,        o_t = S_tᵀ q_t,

with ``S_0`` the start state (zeros unless given). The query reads the memory *after* the
current write, so position ``t`` sees positions ``1 … t``. Unrolled, ``o_t`` is causal linear
attention: ``o_t = S_0ᵀ q_t + Σ_{τ≤t} (q_t · k_τ) v_τ``.

Three forms compute the same thing and are tested against each other:

* :func:`linear_recurrent`, one position at a time, the reference;
* :func:`linear_chunkwise`, causal attention inside chunks of ``chunk_size`` positions and the
  state carried from chunk to chunk, ``O(T·C)`` time and ``O(T/C)`` sequential steps;
* :func:`linear_parallel`, causal attention over the whole sequence at once, ``O(T²)``.

Layout: ``q``, ``k`` are ``(batch, time, heads, d_k)``, ``v`` is ``(batch, time, heads, d_v)``,
the state ``S`` is ``(batch, heads, d_k, d_v)``. Each function returns the outputs
``(batch, time, heads, d_v)`` and the state after the last position.
"""

from __future__ import annotations

import torch
from torch import Tensor


def linear_recurrent(
    q: Tensor, k: Tensor, v: Tensor, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The linear rule one position at a time, written for clarity; the ground truth.

    Args:
        q: queries ``(batch, time, heads, d_k)``.
        k: keys ``(batch, time, heads, d_k)``.
        v: values ``(batch, time, heads, d_v)``.
        state: ``S_0`` ``(batch, heads, d_k, d_v)``; zeros when ``None``.

    Returns:
        The outputs ``(batch, time, heads, d_v)`` and the final state ``S_T``.
    """
    memory = _start_state(q, k, v, state)

    outputs = []
    for t in range(q.shape[1]):
        write = k[:, t, :, :, None] * v[:, t, :, None, :]  # k_t v_tᵀ: (B, H, d_k, d_v)
        memory = memory + write
        outputs.append(torch.einsum("bhkv,bhk->bhv", memory, q[:, t]))  # S_tᵀ q_t
    return torch.stack(outputs, dim=1), memory


def linear_chunkwise(
    q: Tensor, k: Tensor, v: Tensor, state: Tensor | None = None, chunk_size: int = 64
) -> tuple[Tensor, Tensor]:
    """The linear rule in chunks: attention inside a chunk, the state carried across chunks.

    For a chunk with start state ``S`` and rows ``Q``, ``K``, ``V`` (one per position),

        O = Q S + tril(Q Kᵀ) V,        S ← S + Kᵀ V,

    where ``tril`` keeps the diagonal. The last chunk is padded with zeros, which add nothing
    to the state, and the padded outputs are cut off.

    Args:
        q, k, v, state: as in :func:`linear_recurrent`.
        chunk_size: positions per chunk, at least 1; any length is accepted.

    Returns:
        The outputs ``(batch, time, heads, d_v)`` and the final state.
    """
    _check_chunk_size(chunk_size)
    memory = _start_state(q, k, v, state)
    time = q.shape[1]

    q_chunks, k_chunks, v_chunks = (_to_chunks(x, chunk_size) for x in (q, k, v))  # (B,H,N,C,·)
    scores = q_chunks @ k_chunks.transpose(-1, -2)  # (B, H, N, C, C)
    scores = scores.masked_fill(~_causal_mask(chunk_size, q.device), 0.0)
    outputs = scores @ v_chunks  # the part written inside the chunk: (B, H, N, C, d_v)

    chunk_starts = []
    for index in range(q_chunks.shape[2]):
        chunk_starts.append(memory)
        memory = memory + k_chunks[:, :, index].transpose(-1, -2) @ v_chunks[:, :, index]
    starts = torch.stack(chunk_starts, dim=2)  # (B, H, N, d_k, d_v)
    outputs = outputs + q_chunks @ starts

    return _from_chunks(outputs, time), memory


def linear_parallel(
    q: Tensor, k: Tensor, v: Tensor, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The linear rule as causal linear attention over the whole sequence, ``O(T²)``.

        O = Q S_0 + tril(Q Kᵀ) V,        S_T = S_0 + Kᵀ V.

    Args:
        q, k, v, state: as in :func:`linear_recurrent`.

    Returns:
        The outputs ``(batch, time, heads, d_v)`` and the final state.
    """
    memory = _start_state(q, k, v, state)
    time = q.shape[1]

    scores = torch.einsum("bthk,bshk->bhts", q, k)  # (B, H, T, T)
    scores = scores.masked_fill(~_causal_mask(time, q.device), 0.0)
    outputs = torch.einsum("bhts,bshv->bthv", scores, v)
    outputs = outputs + torch.einsum("bthk,bhkv->bthv", q, memory)

    final = memory + torch.einsum("bthk,bthv->bhkv", k, v)
    return outputs, final


def _to_chunks(x: Tensor, chunk_size: int) -> Tensor:
    """``(batch, time, heads, *rest)`` → ``(batch, heads, chunks, chunk_size, *rest)``.

    The time axis is padded with zeros up to a multiple of ``chunk_size``.
    """
    batch, time = x.shape[:2]
    padding = -time % chunk_size
    if padding:
        x = torch.cat([x, x.new_zeros(batch, padding, *x.shape[2:])], dim=1)
    chunks = (time + padding) // chunk_size
    x = x.reshape(batch, chunks, chunk_size, *x.shape[2:])  # (B, N, C, H, *rest)
    return x.movedim(3, 1)


def _from_chunks(x: Tensor, time: int) -> Tensor:
    """``(batch, heads, chunks, chunk_size, d)`` → ``(batch, time, heads, d)``, padding cut."""
    return x.movedim(1, 3).flatten(1, 2)[:, :time]


def _causal_mask(size: int, device: torch.device) -> Tensor:
    """``(size, size)``, true on and below the diagonal: row ``i`` may read columns ``≤ i``."""
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def _check_chunk_size(chunk_size: int) -> None:
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} must be an integer of at least 1")


def _start_state(q: Tensor, k: Tensor, v: Tensor, state: Tensor | None) -> Tensor:
    """Checks the shapes of ``q``, ``k``, ``v`` and ``state``; returns ``state`` or zeros."""
    if q.dim() != 4 or k.shape != q.shape or v.dim() != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} must be "
            "(batch, time, heads, features) with the same batch, time and heads, "
            "and q and k of the same width"
        )
    batch, time, heads, d_k = q.shape
    if time < 1:
        raise ValueError(f"the sequences have time={time}; at least one position is needed")
    expected = (batch, heads, d_k, v.shape[-1])
    if state is None:
        return q.new_zeros(expected)
    if tuple(state.shape) != expected:
        raise ValueError(
            f"state has shape {tuple(state.shape)}; (batch, heads, d_k, d_v) = {expected} "
            "was expected"
        )
    return state
