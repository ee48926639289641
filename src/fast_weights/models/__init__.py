"""Fast-weight language models and the Lightning module that trains them."""

from fast_weights.models.language_model import CharLM
from fast_weights.models.mixers import MIXERS, Mixer

__all__ = ["MIXERS", "CharLM", "Mixer"]
