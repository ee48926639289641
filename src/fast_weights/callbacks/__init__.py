"""Callbacks that Lightning does not ship."""

from fast_weights.callbacks.sampling import TextSampler

__all__ = ["TextSampler"]
