"""The character language model shared by every mixer: embedding, residual blocks, head.

    tokens (B, T) → embedding (B, T, D)
                  → num_layers × [ x + mixer(LN(x));  x + MLP(LN(x)) if mlp_ratio > 0 ]
                  → LN → linear head → logits (B, T, vocab)

Only the mixer differs between models; it is chosen by name in the ``mixer`` option.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn

from fast_weights.errors import ConfigError
from fast_weights.models.mixers import MIXERS, Mixer, MixerState

ModelState = list[MixerState]
"""One mixer state per block, bottom first."""


def build_mixer(options: dict[str, Any], d_model: int, seq_length: int) -> Mixer:
    """The mixer that ``options`` names (``name`` plus its keyword arguments).

    Unknown names and misspelt options are refused, naming what is accepted.
    """
    options = dict(options)
    name = options.pop("name", None)
    if name not in MIXERS:
        raise ConfigError(f"model.mixer.name={name!r} is not one of {sorted(MIXERS)}")
    mixer_class = MIXERS[name]
    accepted = set(inspect.signature(mixer_class).parameters) - {"d_model", "max_length"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"model.mixer has options that {name} does not take: {unknown}; "
            f"it accepts {sorted(accepted)}"
        )
    if "max_length" in inspect.signature(mixer_class).parameters:
        options["max_length"] = seq_length
    try:
        return mixer_class(d_model=d_model, **options)
    except ValueError as err:  # the mixer's own check of an option's value
        raise ConfigError(f"model.mixer ({name}): {err}") from None


class Block(nn.Module):
    """A pre-norm residual block: the mixer, then an MLP when ``mlp_ratio > 0``."""

    def __init__(self, mixer: Mixer, d_model: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.mixer_norm = nn.LayerNorm(d_model)
        self.mixer = mixer
        self.dropout = nn.Dropout(dropout)
        self.mlp: nn.Module | None = None
        if mlp_ratio > 0:
            hidden = round(mlp_ratio * d_model)
            self.mlp_norm = nn.LayerNorm(d_model)
            self.mlp = nn.Sequential(
                nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model)
            )

    def forward(self, x: Tensor, state: MixerState = None) -> tuple[Tensor, MixerState]:
        """``x`` ``(batch, time, d_model)`` → same shape, and the mixer's new state."""
        mixed, state = self.mixer(self.mixer_norm(x), state)
        x = x + self.dropout(mixed)
        if self.mlp is not None:
            x = x + self.dropout(self.mlp(self.mlp_norm(x)))
        return x, state


class CharLM(nn.Module):
    """Next-character model around a chosen mixer.

    Args:
        vocab_size: number of characters.
        seq_length: length of the training windows; the learned positions of the attention
            mixer are this many, and a checkpoint records it.
        mixer: ``name`` of the mixer (see :data:`MIXERS`) and its keyword arguments.
        d_model: width of the residual stream.
        num_layers: number of blocks.
        mlp_ratio: hidden width of each block's MLP over ``d_model``; 0 for no MLP.
        dropout: dropout on the embedding and on each residual branch.
    """

    def __init__(
        self,
        vocab_size: int,
        seq_length: int,
        mixer: dict[str, Any],
        d_model: int = 128,
        num_layers: int = 1,
        mlp_ratio: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.seq_length = seq_length
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(build_mixer(mixer, d_model, seq_length), d_model, mlp_ratio, dropout)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(
        self, tokens: Tensor, state: ModelState | None = None
    ) -> tuple[Tensor, ModelState]:
        """Scores the next character at every position.

        Args:
            tokens: character ids, ``(batch, time)``.
            state: the state to continue from, one entry per block; empty when ``None``.

        Returns:
            Logits ``(batch, time, vocab)`` and the state after the last position.
        """
        x = self.dropout(self.embedding(tokens))  # (B, T, D)
        new_state = []
        for i, block in enumerate(self.blocks):
            x, block_state = block(x, None if state is None else state[i])
            new_state.append(block_state)
        return self.head(self.norm(x)), new_state
