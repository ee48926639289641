"""The corpus, its vocabulary and its splits."""

from fast_weights.data.datamodule import IGNORE_INDEX, CharDataModule
from fast_weights.data.vocabulary import Vocabulary

__all__ = ["IGNORE_INDEX", "CharDataModule", "Vocabulary"]
