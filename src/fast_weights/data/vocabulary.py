"""The character vocabulary, stored as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor

from fast_weights.errors import DataError
from fast_weights.io import atomic_write_json

FORMAT = "fast_weights.vocabulary/1"


class Vocabulary:
    """A bijection between characters and ids ``0 … len − 1``, in sorted character order."""

    def __init__(self, chars: Iterable[str]) -> None:
        chars = list(chars)
        if not chars:
            raise DataError("a vocabulary needs at least one character; got none")
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise DataError(f"vocabulary entries must be single characters; got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            raise DataError("vocabulary entries must be distinct; got repeated characters")
        self.chars = sorted(chars)
        self._ids = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """Every distinct character of ``text``."""
        return cls(set(text))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.chars == other.chars

    def __contains__(self, char: str) -> bool:
        return char in self._ids

    def missing(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that the vocabulary lacks, sorted."""
        return sorted(set(text) - self._ids.keys())

    def encode(self, text: str) -> Tensor:
        """Ids of ``text`` as a ``(len(text),)`` long tensor; every character must be known."""
        missing = self.missing(text)
        if missing:
            raise DataError(f"characters not in the vocabulary: {''.join(missing)!r}")
        return torch.tensor([self._ids[c] for c in text], dtype=torch.long)

    def decode(self, ids: Iterable[int] | Tensor) -> str:
        """The text of a sequence of ids."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "chars": self.chars}

    @classmethod
    def from_dict(cls, data: object) -> Vocabulary:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"not a vocabulary: expected a JSON object with format {FORMAT!r}")
        return cls(data.get("chars", []))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read vocabulary file {path}: {err}") from None
        return cls.from_dict(data)
