"""The character language model: embedding, fast-weight layers, output head."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from fast_weights.models.fast_weights_rnn import FastWeightsLayer, LayerState

ModelState = list[LayerState]
"""One ``(h, A)`` per layer, bottom first."""


class FastWeightsLM(nn.Module):
    """Embedding → ``num_layers`` fast-weights RNN layers → linear head over the vocabulary.

    Args:
        vocab_size: number of characters.
        seq_length: length of the training windows. The recurrence itself works on any length;
            the value is kept so that a checkpoint says how its model was trained.
        embed_dim: size of the character embedding ``x(t)``.
        hidden_size: size of each layer's state ``h(t)``.
        num_layers: number of stacked fast-weights layers.
        decay: ``λ``, see :class:`FastWeightsLayer`.
        fast_lr: ``η``, see :class:`FastWeightsLayer`.
        inner_steps: ``S``, see :class:`FastWeightsLayer`.
        dropout: dropout on the embedding and between layers.
        memory: ``"matrix"`` or ``"attention"``, see :class:`FastWeightsLayer`.
    """

    def __init__(
        self,
        vocab_size: int,
        seq_length: int,
        embed_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 1,
        decay: float = 0.95,
        fast_lr: float = 0.5,
        inner_steps: int = 1,
        dropout: float = 0.0,
        memory: Literal["matrix", "attention"] = "matrix",
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.seq_length = seq_length
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.layers = nn.ModuleList(
            FastWeightsLayer(
                input_size=embed_dim if i == 0 else hidden_size,
                hidden_size=hidden_size,
                decay=decay,
                fast_lr=fast_lr,
                inner_steps=inner_steps,
                memory=memory,
            )
            for i in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(
        self, tokens: Tensor, state: ModelState | None = None
    ) -> tuple[Tensor, ModelState]:
        """Scores the next character at every position.

        Args:
            tokens: character ids, ``(batch, time)``.
            state: the state to continue from, one ``(h, A)`` per layer; zeros when ``None``.

        Returns:
            Logits ``(batch, time, vocab)`` and the state after the last position.
        """
        features = self.dropout(self.embedding(tokens))  # (B, T, E)
        new_state = []
        for i, layer in enumerate(self.layers):
            features, layer_state = layer(features, None if state is None else state[i])
            features = self.dropout(features)  # (B, T, H)
            new_state.append(layer_state)
        return self.head(features), new_state
