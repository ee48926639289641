"""The LSTM baseline as a mixer."""

from __future__ import annotations

from torch import Tensor, nn

from fast_weights.models.mixers.base import Mixer

LSTMState = tuple[Tensor, Tensor]
"""``(h, c)``, each ``(1, batch, d_model)`` as ``nn.LSTM`` keeps them."""


class LSTMMixer(Mixer):
    """One layer of torch's own ``nn.LSTM`` with ``d_model`` input and hidden features."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(d_model, d_model, batch_first=True)

    def forward(self, x: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """``x`` ``(batch, time, d_model)`` → ``(batch, time, d_model)`` and ``(h, c)``."""
        return self.lstm(x, state)
