"""Every entry point and config group composes, instantiates and is validated."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fast_weights.cli import quote_text_overrides
from fast_weights.config_checks import check_config
from fast_weights.data import CharDataModule
from fast_weights.errors import ConfigError
from fast_weights.train import instantiate_group

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def group_options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("entry_point", ["train", "evaluate", "generate", "prepare"])
def test_entry_points_compose_and_pass_their_checks(make_config, entry_point: str) -> None:
    overrides = [] if entry_point in ("train", "prepare") else ["ckpt_path=model.ckpt"]
    cfg = make_config(entry_point, overrides)
    check_config(cfg, entry_point)


@pytest.mark.parametrize(
    "override",
    [
        f"{group}={option}"
        for group in ("trainer", "callbacks", "logger", "scheduler", "model")
        for option in group_options(group)
    ]
    + [f"experiment={name}" for name in group_options("experiment")]
    + [f"debug={name}" for name in group_options("debug")],
)
def test_every_group_option_composes_and_instantiates(make_config, override: str) -> None:
    cfg = make_config("train", [override])
    check_config(cfg, "train")
    if cfg.trainer.accelerator == "gpu":
        pytest.skip("instantiating a GPU trainer needs a GPU")
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    assert isinstance(trainer, L.Trainer)
    datamodule = instantiate(cfg.data, seq_length=cfg.model.seq_length)
    assert isinstance(datamodule, CharDataModule)


def test_seq_length_override_reaches_the_data_module(make_config) -> None:
    cfg = make_config("train", ["model.seq_length=200"])
    datamodule = instantiate(cfg.data, seq_length=cfg.model.seq_length)
    assert datamodule.seq_length == 200


def test_user_facing_keys_have_short_homes(make_config) -> None:
    train = make_config("train")
    for key in (
        "seed",
        "model.seq_length",
        "optimizer.lr",
        "trainer.max_epochs",
        "sampling.temperature",
        "sampling.length",
    ):
        assert OmegaConf.select(train, key) is not None, key
    assert "ckpt_path" in train
    generate = make_config("generate", ["ckpt_path=x.ckpt"])
    assert {"prompt", "temperature", "length", "top_k", "seed", "num_samples"} <= set(generate)


BAD_TRAIN_VALUES = [
    ("optimizer.lr=-0.001", "optimizer.lr=-0.001", "a number > 0"),
    ("optimizer.lr=abc", "optimizer.lr='abc'", "a number > 0"),
    ("model.seq_length=0", "model.seq_length=0", "an integer >= 1"),
    ("model.seq_length=1.5", "model.seq_length=1.5", "an integer >= 1"),
    ("model.d_model=-4", "model.d_model=-4", "an integer >= 1"),
    ("model.mixer.decay=1.5", "model.mixer.decay=1.5", "a number in [0, 1]"),
    ("model.mixer.fast_lr=-1", "model.mixer.fast_lr=-1", "a number >= 0"),
    ("model.dropout=1", "model.dropout=1", "a number in [0, 1)"),
    ("model.mlp_ratio=-2", "model.mlp_ratio=-2", "a number >= 0"),
    ("data.batch_size=0", "data.batch_size=0", "an integer >= 1"),
    ("data.val_fraction=0", "data.val_fraction=0", "a number in (0, 1)"),
    ("sampling.temperature=0", "sampling.temperature=0", "a number > 0"),
    ("sampling.temperature=-1", "sampling.temperature=-1", "a number > 0"),
    ("sampling.length=10000000", "sampling.length=10000000", "an integer from 0 to 1000000"),
    ("sampling.top_k=0", "sampling.top_k=0", "an integer >= 1 or null"),
    ("sampling.prompt=''", "sampling.prompt=''", "a non-empty string"),
    ("trainer.max_epochs=-5", "trainer.max_epochs=-5", "an integer >= -1 or null"),
    ("seed=-1", "seed=-1", "an integer from 0 to 4294967295"),
]


@pytest.mark.parametrize(
    ("override", "named", "accepted"), BAD_TRAIN_VALUES, ids=[v[0] for v in BAD_TRAIN_VALUES]
)
def test_bad_training_values_are_refused_by_name(
    make_config, override: str, named: str, accepted: str
) -> None:
    cfg = make_config("train", [override])
    with pytest.raises(ConfigError) as info:
        check_config(cfg, "train")
    message = str(info.value)
    assert named in message
    assert accepted in message
    assert "\n" not in message


def test_split_fractions_must_sum_to_one(make_config) -> None:
    cfg = make_config("train", ["data.val_fraction=0.2"])
    with pytest.raises(ConfigError, match=r"sum to 1") as info:
        check_config(cfg, "train")
    assert "0.2" in str(info.value)


BAD_GENERATE_VALUES = [
    ("temperature=0", "temperature=0"),
    ("temperature=-0.5", "temperature=-0.5"),
    ("top_k=0", "top_k=0"),
    ("length=-1", "length=-1"),
    ("length=99999999", "length=99999999"),
    ("num_samples=0", "num_samples=0"),
    ("device=tpu", "device='tpu'"),
]


@pytest.mark.parametrize(
    ("override", "named"), BAD_GENERATE_VALUES, ids=[v[0] for v in BAD_GENERATE_VALUES]
)
def test_bad_generation_values_are_refused_by_name(make_config, override, named) -> None:
    cfg = make_config("generate", ["ckpt_path=x.ckpt", override])
    with pytest.raises(ConfigError, match="expected") as info:
        check_config(cfg, "generate")
    assert named in str(info.value)


def test_missing_checkpoint_path_is_named(make_config) -> None:
    cfg = make_config("evaluate")
    with pytest.raises(ConfigError, match="ckpt_path is missing"):
        check_config(cfg, "evaluate")


@pytest.mark.parametrize(
    "prompt",
    ["To be, or not to be", "O'er the hill", "end\\", "a\\'b", "[1,2]", "key=value", ""],
    ids=["commas", "quote", "trailing-backslash", "escaped-quote", "list-like", "equals", "empty"],
)
def test_free_text_overrides_reach_the_config_verbatim(make_config, prompt: str) -> None:
    (override,) = quote_text_overrides([f"prompt={prompt}"], ("prompt",))
    cfg = make_config("generate", ["ckpt_path=x.ckpt", override])
    assert cfg.prompt == prompt


def test_already_quoted_overrides_are_left_alone() -> None:
    args = ["prompt='To be, or not'", "length=5", "seed=1"]
    assert quote_text_overrides(args, ("prompt",)) == args
