"""Train → evaluate → generate on a small corpus, reading back what each step wrote."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fast_weights.data import CharDataModule
from fast_weights.errors import CheckpointError, UserInputError
from fast_weights.evaluate import evaluate
from fast_weights.models.module import load_checkpoint
from fast_weights.ngram import ngram_loss
from fast_weights.sample import sample
from fast_weights.train import train
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

METRIC_KEYS = [
    f"{split}/{name}" for split in ("val", "test") for name in ("loss", "bpc", "acc", "ppl")
]


@pytest.fixture
def trained(make_config):
    """A tiny model trained for two short epochs; returns its config and metrics.json."""
    cfg = make_config("train", TINY)
    returned = train(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    return cfg, returned, written


def test_training_writes_a_complete_run_folder(trained) -> None:
    cfg, returned, written = trained
    run = Path(cfg.paths.output_dir)
    for key in [*METRIC_KEYS, "val/loss_best"]:
        assert math.isfinite(written[key]), key
        assert written[key] == pytest.approx(returned[key])
    assert written["val/bpc"] == pytest.approx(written["val/loss"] / math.log(2))
    assert written["val/ppl"] == pytest.approx(math.exp(written["val/loss"]), rel=1e-4)
    assert 0.0 <= written["val/acc"] <= 1.0
    assert written["steps"] == 2 * (640 // 16) // 8  # two epochs of 640 characters

    assert Path(written["checkpoint"]).is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run / "vocab.json").read_text())["chars"][0] == "\n"
    assert (run / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = (run / "samples.txt").read_text()
    assert samples.count("=== epoch") == 2
    assert "First" in samples


def test_training_beats_a_count_bigram_on_held_out_text(make_config) -> None:
    """A few dozen steps on the small corpus must beat the add-1 bigram on its validation
    split: the model has learnt more than character pair frequencies."""
    cfg = make_config(
        "train",
        [
            *TINY,
            "model.d_model=32",
            "data.chars_per_epoch=4000",
            "optimizer.lr=1e-2",
        ],
    )
    metrics = train(cfg)
    datamodule = CharDataModule(cfg.data.path, seq_length=16)
    datamodule.setup()
    splits, vocab_size = datamodule.splits, len(datamodule.vocabulary)
    bigram = ngram_loss(splits["train"], splits["val"], vocab_size, order=2, alpha=1.0)
    assert metrics["val/loss"] < bigram


def test_tensorboard_holds_scalars_samples_and_hparams(trained) -> None:
    cfg, _, _ = trained
    events = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    events.Reload()
    tags = events.Tags()
    for scalar in ("train/loss", "train/bpc", "val/loss", "val/acc", "val/bpc", "val/ppl"):
        assert scalar in tags["scalars"], scalar
    assert "val/loss_best" in tags["scalars"]
    assert any(tag.startswith("lr-") for tag in tags["scalars"])
    assert "samples/text_summary" in tags["tensors"]
    assert "hparams/val_loss" in tags["scalars"]


def test_evaluate_reproduces_the_training_run_metrics(trained, make_config) -> None:
    _, _, written = trained
    cfg = make_config("evaluate", [f"ckpt_path={written['checkpoint']}"], run="eval")
    results = evaluate(cfg)
    for key in METRIC_KEYS:
        assert results[key] == pytest.approx(written[key], rel=1e-5), key
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["val/loss"] == pytest.approx(results["val/loss"])
    assert saved["unknown_chars"] == {}


def test_evaluate_reports_characters_missing_from_the_vocabulary(
    trained, make_config, tmp_path: Path
) -> None:
    _, _, written = trained
    other = tmp_path / "other.txt"
    other.write_text("First Citizen: hear me ~speak~.\n" * 30, encoding="utf-8")
    cfg = make_config(
        "evaluate", [f"ckpt_path={written['checkpoint']}", f"data.path={other}"], run="eval2"
    )
    results = evaluate(cfg)
    assert results["unknown_chars"] == {"~": 60}
    assert math.isfinite(results["test/loss"])


def test_generate_streams_and_saves_reproducible_samples(trained, make_config) -> None:
    _, _, written = trained
    overrides = [
        f"ckpt_path={written['checkpoint']}",
        "prompt=First",
        "length=40",
        "num_samples=2",
        "seed=7",
        "top_k=5",
    ]
    stream = io.StringIO()
    cfg = make_config("generate", overrides, run="gen")
    samples = sample(cfg, stream)
    assert len(samples) == 2
    assert all(s.startswith("First") and len(s) == len("First") + 40 for s in samples)
    assert all(s in stream.getvalue() for s in samples)
    saved = (Path(cfg.paths.output_dir) / "samples.txt").read_text()
    assert saved == "\n\n".join(samples) + "\n"
    again = sample(make_config("generate", overrides, run="gen2"), io.StringIO())
    assert again == samples


def test_generate_refuses_a_prompt_with_unknown_characters(trained, make_config) -> None:
    _, _, written = trained
    cfg = make_config(
        "generate", [f"ckpt_path={written['checkpoint']}", "prompt=Zea"], run="refused"
    )
    with pytest.raises(UserInputError, match="'Z'"):
        sample(cfg, io.StringIO())
    assert not (Path(cfg.paths.output_dir) / "samples.txt").exists()


def test_resuming_from_the_last_checkpoint_continues_training(trained, make_config) -> None:
    cfg, _, _ = trained
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed_cfg = make_config(
        "train", [*TINY, "trainer.max_epochs=3", f"ckpt_path={last}"], run="resumed"
    )
    metrics = train(resumed_cfg)
    assert metrics["epochs"] == 3
    assert metrics["steps"] == 3 * (640 // 16) // 8


def test_a_resumed_run_keeps_the_sampling_interval(make_config) -> None:
    """Samples every second validation: epochs 1 and 3, though the run is resumed after 2."""
    every_two = [*TINY, "sampling.every_n_epochs=2"]
    first = make_config("train", [*every_two, "trainer.max_epochs=3"], run="first")
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_config(
        "train", [*every_two, "trainer.max_epochs=4", f"ckpt_path={last}"], run="resumed"
    )
    train(resumed)
    before = (Path(first.paths.output_dir) / "samples.txt").read_text()
    after = (Path(resumed.paths.output_dir) / "samples.txt").read_text()
    assert [line for line in before.splitlines() if line.startswith("===")] == [
        "=== epoch 1, step 10 ==="
    ]
    assert [line for line in after.splitlines() if line.startswith("===")] == [
        "=== epoch 3, step 20 ==="
    ]


def test_a_run_resumed_in_its_folder_drops_the_samples_after_its_checkpoint(
    make_config,
) -> None:
    """What an interrupted run sampled after its last checkpoint is taken out of samples.txt,
    as it is out of TensorBoard, before the resumed run samples those steps again."""
    first = make_config("train", TINY)
    train(first)
    samples = Path(first.paths.output_dir) / "samples.txt"
    with samples.open("a", encoding="utf-8") as handle:
        handle.write("=== epoch 9, step 99 ===\nFirst written after the checkpoint\n\n")
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = make_config("train", [*TINY, "trainer.max_epochs=3", f"ckpt_path={last}"])
    train(resumed)
    headers = [line for line in samples.read_text().splitlines() if line.startswith("===")]
    assert headers == [
        "=== epoch 0, step 5 ===",
        "=== epoch 1, step 10 ===",
        "=== epoch 2, step 15 ===",
    ]


def test_fast_dev_run(make_config) -> None:
    cfg = make_config("train", [*TINY, "debug=fdr"])
    metrics = train(cfg)
    assert math.isfinite(metrics["val/loss"])
    assert metrics["checkpoint"] is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a checkpoint|cannot load"),
        (b"\x00" * 100, "cannot load"),
        (None, "does not exist"),
    ],
    ids=["empty", "garbage", "missing"],
)
def test_bad_checkpoints_give_one_line(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "model.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "model", ["linear_fwp", "delta_net", "gated_delta_net", "lstm", "transformer"]
)
def test_every_model_trains_evaluates_and_generates(make_config, model: str) -> None:
    """The default model is exercised above; here each other one goes the same way."""
    small = ["model.d_model=16", "model.num_layers=1", "data.chars_per_epoch=320"]
    cfg = make_config("train", [f"model={model}", *TINY, *small], run=model)
    written = train(cfg)
    assert math.isfinite(written["val/loss"])

    evaluated = evaluate(
        make_config("evaluate", [f"ckpt_path={written['checkpoint']}"], run=f"{model}-eval")
    )
    assert evaluated["val/loss"] == pytest.approx(written["val/loss"], rel=1e-5)

    overrides = [f"ckpt_path={written['checkpoint']}", "prompt=First", "length=30"]
    (text,) = sample(make_config("generate", overrides, run=f"{model}-gen"), io.StringIO())
    assert text.startswith("First") and len(text) == len("First") + 30
