"""The delta rule and the gated delta rule (DeltaNet, Gated DeltaNet), per head.

For queries ``q_t``, keys ``k_t``, values ``v_t``, a writing strength ``β_t`` and a decay
``α_t ∈ (0, 1]`` of one head:

    S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,        o_t = S_tᵀ q_t.

Equivalently the memory first decays, ``S ← α_t S``, then moves what it returns for ``k_t``
a fraction ``β_t`` of the way towards ``v_t``: ``S ← S + β_t k_t (v_t − Sᵀ k_t)ᵀ``. With
``α = 1`` (``log_alpha=None``) this is DeltaNet, otherwise Gated DeltaNet. The query reads
the memory after the current write.

**The chunk algebra.** Inside a block of ``C`` positions that starts from ``S_0``, let
``γ_i = α_1 ⋯ α_i`` and ``Γ_ij = γ_i / γ_j`` for ``j ≤ i`` (zero above the diagonal). Writing
the update as ``S_i = α_i S_{i−1} + k_i u_iᵀ`` with ``u_i = β_i (v_i − α_i S_{i−1}ᵀ k_i)`` and
unrolling gives ``S_i = γ_i S_0 + Σ_{j≤i} Γ_ij k_j u_jᵀ``. Putting that back into the
definition of ``u_i`` makes the rows ``U`` the solution of a unit lower-triangular system,

    (I + diag(β) strict_tril(Γ ⊙ K Kᵀ)) U = diag(β) (V − diag(γ) K S_0),

after which

    O     = diag(γ) Q S_0 + tril(Γ ⊙ Q Kᵀ) U,
    S_end = γ_C S_0 + (diag(γ_C / γ) K)ᵀ U.

The system is linear in ``S_0``, so ``U = U_V − W S_0`` with ``U_V`` and ``W`` solved for all
chunks at once; only the cheap products with ``S_0`` run chunk after chunk. ``Γ`` comes from
differences of cumulative sums of ``log α``, masked *before* ``exp`` so that the entries
above the diagonal, whose exponents are positive, never overflow.

Three forms compute the same thing and are tested against each other:
:func:`delta_recurrent` (the reference), :func:`delta_chunkwise` and :func:`delta_parallel`
(the whole sequence as one block).

Layout: ``q``, ``k`` ``(batch, time, heads, d_k)``, ``v`` ``(batch, time, heads, d_v)``,
``beta`` and ``log_alpha`` ``(batch, time, heads)``, state ``(batch, heads, d_k, d_v)``.
``log_alpha`` must be ``≤ 0``; the keys are usually L2-normalised and ``β ∈ (0, 2)``, which
keeps ``I − β k kᵀ`` from amplifying the memory.
"""

from __future__ import annotations

import torch
from torch import Tensor

# The chunking and shape helpers are shared with the linear rule.
from fast_weights.ops.linear_rule import (
    _causal_mask,
    _check_chunk_size,
    _from_chunks,
    _start_state,
    _to_chunks,
)


def delta_recurrent(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    log_alpha: Tensor | None = None,
    state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The (gated) delta rule one position at a time, written for clarity; the ground truth.

    Args:
        q: queries ``(batch, time, heads, d_k)``.
        k: keys ``(batch, time, heads, d_k)``.
        v: values ``(batch, time, heads, d_v)``.
        beta: writing strengths ``β`` ``(batch, time, heads)``.
        log_alpha: ``log α ≤ 0`` ``(batch, time, heads)``; ``None`` for no decay (DeltaNet).
        state: ``S_0`` ``(batch, heads, d_k, d_v)``; zeros when ``None``.

    Returns:
        The outputs ``(batch, time, heads, d_v)`` and the final state ``S_T``.
    """
    memory = _start_state(q, k, v, state)
    _check_gates(q, beta, log_alpha)

    outputs = []
    for t in range(q.shape[1]):
        key, value = k[:, t], v[:, t]  # (B, H, d_k), (B, H, d_v)
        if log_alpha is not None:
            memory = log_alpha[:, t, :, None, None].exp() * memory
        recalled = torch.einsum("bhkv,bhk->bhv", memory, key)  # Sᵀ k_t: (B, H, d_v)
        correction = beta[:, t, :, None] * (value - recalled)  # (B, H, d_v)
        memory = memory + key[:, :, :, None] * correction[:, :, None, :]
        outputs.append(torch.einsum("bhkv,bhk->bhv", memory, q[:, t]))  # S_tᵀ q_t
    return torch.stack(outputs, dim=1), memory


def delta_chunkwise(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    log_alpha: Tensor | None = None,
    state: Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """The (gated) delta rule in chunks of ``chunk_size`` positions (see the module docstring).

    The last chunk is padded with ``k = v = 0``, ``β = 0`` and ``log α = 0``, which leave the
    state untouched; the padded outputs are cut off.

    Args:
        q, k, v, beta, log_alpha, state: as in :func:`delta_recurrent`.
        chunk_size: positions per chunk, at least 1; any length is accepted.

    Returns:
        The outputs ``(batch, time, heads, d_v)`` and the final state.
    """
    _check_chunk_size(chunk_size)
    memory = _start_state(q, k, v, state)
    _check_gates(q, beta, log_alpha)
    time, d_k, d_v = q.shape[1], q.shape[-1], v.shape[-1]
    if log_alpha is None:
        log_alpha = beta.new_zeros(beta.shape)

    q_chunks, k_chunks, v_chunks = (_to_chunks(x, chunk_size) for x in (q, k, v))  # (B,H,N,C,·)
    beta_chunks = _to_chunks(beta, chunk_size)  # (B, H, N, C)
    log_decay = _to_chunks(log_alpha, chunk_size).cumsum(dim=-1)  # log γ within each chunk
    system, readout, decay, decay_to_end = _block_operators(
        q_chunks, k_chunks, beta_chunks, log_decay
    )

    # U = U_V − W S_0: both parts for every chunk from one triangular solve.
    right_hand_sides = torch.cat(
        [beta_chunks[..., None] * v_chunks, (beta_chunks * decay)[..., None] * k_chunks], dim=-1
    )
    solved = torch.linalg.solve_triangular(
        system, right_hand_sides, upper=False, unitriangular=True
    )
    u_values, u_state = solved.split([d_v, d_k], dim=-1)  # (B,H,N,C,d_v), (B,H,N,C,d_k)

    chunk_starts, corrections = [], []
    for index in range(q_chunks.shape[2]):
        chunk_starts.append(memory)
        u = u_values[:, :, index] - u_state[:, :, index] @ memory  # (B, H, C, d_v)
        corrections.append(u)
        written = (decay_to_end[:, :, index, :, None] * k_chunks[:, :, index]).transpose(-1, -2)
        memory = decay[:, :, index, -1, None, None] * memory + written @ u
    starts = torch.stack(chunk_starts, dim=2)  # (B, H, N, d_k, d_v)
    u = torch.stack(corrections, dim=2)  # (B, H, N, C, d_v)
    outputs = decay[..., None] * (q_chunks @ starts) + readout @ u

    return _from_chunks(outputs, time), memory


def delta_parallel(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    log_alpha: Tensor | None = None,
    state: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The (gated) delta rule with the whole sequence as one block, ``O(T²)`` memory.

    Args:
        q, k, v, beta, log_alpha, state: as in :func:`delta_recurrent`.

    Returns:
        The outputs ``(batch, time, heads, d_v)`` and the final state.
    """
    memory = _start_state(q, k, v, state)
    _check_gates(q, beta, log_alpha)
    if log_alpha is None:
        log_alpha = beta.new_zeros(beta.shape)

    queries, keys, values = (x.transpose(1, 2) for x in (q, k, v))  # (B, H, T, ·)
    strengths = beta.transpose(1, 2)  # (B, H, T)
    log_decay = log_alpha.transpose(1, 2).cumsum(dim=-1)  # log γ: (B, H, T)
    system, readout, decay, decay_to_end = _block_operators(queries, keys, strengths, log_decay)

    right_hand_side = strengths[..., None] * (values - decay[..., None] * (keys @ memory))
    u = torch.linalg.solve_triangular(system, right_hand_side, upper=False, unitriangular=True)
    outputs = decay[..., None] * (queries @ memory) + readout @ u  # (B, H, T, d_v)

    written = (decay_to_end[..., None] * keys).transpose(-1, -2)  # (B, H, d_k, T)
    final = decay[..., -1, None, None] * memory + written @ u
    return outputs.transpose(1, 2), final


def _block_operators(
    q: Tensor, k: Tensor, beta: Tensor, log_decay: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The matrices of the chunk algebra for blocks of ``C`` positions.

    Args:
        q, k: ``(..., C, d_k)``.
        beta: ``(..., C)``.
        log_decay: ``log γ``, the cumulative sums of ``log α`` inside each block, ``(..., C)``.

    Returns:
        ``I + diag(β) strict_tril(Γ ⊙ K Kᵀ)`` and ``tril(Γ ⊙ Q Kᵀ)``, both ``(..., C, C)``;
        ``γ`` and ``γ_C / γ``, both ``(..., C)``.
    """
    size = log_decay.shape[-1]
    causal = _causal_mask(size, log_decay.device)
    exponents = log_decay[..., :, None] - log_decay[..., None, :]  # log γ_i − log γ_j
    ratios = exponents.masked_fill(~causal, float("-inf")).exp()  # Γ, zero above the diagonal

    key_overlaps = (ratios * (k @ k.transpose(-1, -2))).tril(diagonal=-1)
    identity = torch.eye(size, dtype=k.dtype, device=k.device)
    system = identity + beta[..., None] * key_overlaps
    readout = ratios * (q @ k.transpose(-1, -2))

    decay = log_decay.exp()
    decay_to_end = (log_decay[..., -1:] - log_decay).exp()
    return system, readout, decay, decay_to_end


def _check_gates(q: Tensor, beta: Tensor, log_alpha: Tensor | None) -> None:
    """Checks that ``beta`` and ``log_alpha`` are ``(batch, time, heads)`` like ``q``."""
    expected = tuple(q.shape[:3])
    if tuple(beta.shape) != expected:
        raise ValueError(f"beta has shape {tuple(beta.shape)}; {expected} was expected")
    if log_alpha is not None and tuple(log_alpha.shape) != expected:
        raise ValueError(f"log_alpha has shape {tuple(log_alpha.shape)}; {expected} was expected")
