"""Fast-weight language models and the Lightning module that trains them."""

from fast_weights.models.fast_weights_rnn import FastWeightsLayer
from fast_weights.models.language_model import FastWeightsLM

__all__ = ["FastWeightsLM", "FastWeightsLayer"]
