"""Sequence-mixing layers, all behind the :class:`Mixer` interface, chosen by name."""

from collections.abc import Callable
from functools import partial

from fast_weights.models.fast_weights_rnn import FastWeightsLayer
from fast_weights.models.mixers.attention import CausalSelfAttention
from fast_weights.models.mixers.base import Mixer, MixerState
from fast_weights.models.mixers.delta_net import DeltaNet
from fast_weights.models.mixers.linear_fwp import LinearFWP
from fast_weights.models.mixers.recurrent import LSTMMixer

MIXERS: dict[str, Callable[..., Mixer]] = {
    "fast_weights_rnn": FastWeightsLayer,
    "linear_fwp": LinearFWP,
    "delta_net": DeltaNet,
    "gated_delta_net": partial(DeltaNet, gated=True),
    "lstm": LSTMMixer,
    "attention": CausalSelfAttention,
}
"""Mixer constructors by the name a config gives in ``model.mixer.name``."""

__all__ = [
    "MIXERS",
    "CausalSelfAttention",
    "DeltaNet",
    "FastWeightsLayer",
    "LSTMMixer",
    "LinearFWP",
    "Mixer",
    "MixerState",
]
