"""Checks of the composed config, run before any work starts.

Each rule names a key, what it accepts, and a test. A failing rule raises :class:`ConfigError`
with one line such as ``model.seq_length=0 is not accepted: expected an integer >= 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fast_weights.errors import ConfigError

_ABSENT = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


@dataclass(frozen=True)
class Rule:
    """A key, the values it accepts in words, and the test of a value."""

    key: str
    accepted: str
    test: Callable[[Any], bool]
    optional: bool = False  # the key may be null (or absent)

    def check(self, cfg: DictConfig) -> None:
        value = OmegaConf.select(cfg, self.key, default=_ABSENT)
        if value is _ABSENT or value is None:
            if self.optional:
                return
            raise ConfigError(f"{self.key} is missing: expected {self.accepted}")
        if not self.test(value):
            raise ConfigError(f"{self.key}={value!r} is not accepted: expected {self.accepted}")


def integer(key: str, low: int, high: int | None = None, optional: bool = False) -> Rule:
    words = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    return Rule(
        key,
        words + (" or null" if optional else ""),
        lambda v: _is_int(v) and v >= low and (high is None or v <= high),
        optional,
    )


def number(
    key: str,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Rule:
    left, right = ("(" if low_open else "["), (")" if high_open else "]")
    words = f"a number > {low}" if low_open else f"a number >= {low}"
    if high is not None:
        words = f"a number in {left}{low}, {high}{right}"

    def test(v: Any) -> bool:
        if not _is_number(v) or v < low or (low_open and v == low):
            return False
        return high is None or v < high or (not high_open and v == high)

    return Rule(key, words + (" or null" if optional else ""), test, optional)


def choice(key: str, options: Iterable[str]) -> Rule:
    options = tuple(options)
    return Rule(key, f"one of {list(options)}", lambda v: v in options)


def text(key: str) -> Rule:
    return Rule(key, "a non-empty string", lambda v: isinstance(v, str) and v != "")


SEED = [integer("seed", 0, 2**32 - 1)]

DATA = [
    text("data.path"),
    number("data.train_fraction", 0, 1, low_open=True, high_open=True),
    number("data.val_fraction", 0, 1, low_open=True, high_open=True),
    number("data.test_fraction", 0, 1, low_open=True, high_open=True),
    integer("data.batch_size", 1),
    integer("data.chars_per_epoch", 1, optional=True),
    integer("data.num_workers", 0),
]

MODEL = [
    integer("model.seq_length", 1),
    integer("model.d_model", 1),
    integer("model.num_layers", 1),
    number("model.mlp_ratio", 0),
    number("model.dropout", 0, 1, high_open=True),
    text("model.mixer.name"),
    # Options of some mixers only; each is checked where the chosen mixer has it.
    integer("model.mixer.heads", 1, optional=True),
    integer("model.mixer.head_dim", 1, optional=True),
    integer("model.mixer.chunk_size", 1, optional=True),
    integer("model.mixer.inner_steps", 1, optional=True),
    number("model.mixer.decay", 0, 1, optional=True),
    number("model.mixer.fast_lr", 0, optional=True),
]

OPTIMISATION = [
    number("optimizer.lr", 0, low_open=True),
    number("optimizer.weight_decay", 0),
    integer("scheduler.warmup_steps", 0, optional=True),
    number("scheduler.min_lr_ratio", 0, 1, optional=True),
    integer("trainer.max_epochs", -1, optional=True),
    integer("trainer.max_steps", -1, optional=True),
    number("trainer.gradient_clip_val", 0, optional=True),
]

SAMPLING_LIMIT = 1_000_000

SAMPLING = [
    text("sampling.prompt"),
    integer("sampling.length", 0, SAMPLING_LIMIT),
    number("sampling.temperature", 0, low_open=True),
    integer("sampling.top_k", 1, optional=True),
    integer("sampling.every_n_epochs", 1),
]

GENERATE = [
    text("ckpt_path"),
    text("prompt"),
    integer("length", 0, SAMPLING_LIMIT),
    number("temperature", 0, low_open=True),
    integer("top_k", 1, optional=True),
    integer("num_samples", 1, 1000),
    choice("device", ("cpu", "cuda")),
]

RULES: dict[str, list[Rule]] = {
    "train": SEED + DATA + MODEL + OPTIMISATION + SAMPLING,
    "evaluate": [text("ckpt_path"), *DATA],
    "generate": SEED + GENERATE,
    "prepare": DATA,
}


def check_config(cfg: DictConfig, entry_point: str) -> None:
    """Checks every rule of ``entry_point`` against ``cfg``; raises :class:`ConfigError`."""
    for rule in RULES[entry_point]:
        rule.check(cfg)
    if "data" in cfg:
        _check_fractions(cfg.data)


def _check_fractions(data: DictConfig) -> None:
    fractions = (data.train_fraction, data.val_fraction, data.test_fraction)
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"data.train_fraction + data.val_fraction + data.test_fraction = "
            f"{data.train_fraction} + {data.val_fraction} + {data.test_fraction} = "
            f"{sum(fractions):g}: expected the three to sum to 1"
        )
