"""The corpus, its vocabulary and its contiguous splits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from fast_weights.data import IGNORE_INDEX, CharDataModule, Vocabulary
from fast_weights.data.corpus import ensure_corpus, read_corpus
from fast_weights.data.datamodule import (
    ConsecutiveWindows,
    EpochSampler,
    HeldOutSampler,
    RandomWindows,
    split_sizes,
)
from fast_weights.errors import DataError


def make_datamodule(path: Path, **options) -> CharDataModule:
    settings = {"seq_length": 16, "batch_size": 4} | options
    datamodule = CharDataModule(path, **settings)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def test_splits_are_contiguous_and_cover_the_corpus(corpus: Path) -> None:
    text = corpus.read_text(encoding="utf-8")
    datamodule = make_datamodule(corpus, val_fraction=0.1, test_fraction=0.05)
    sizes = datamodule.sizes
    assert sizes.val == round(len(text) * 0.1)
    assert sizes.test == round(len(text) * 0.05)
    assert sizes.train + sizes.val + sizes.test == len(text)
    decode = datamodule.vocabulary.decode
    assert decode(datamodule.splits["train"]) == text[: sizes.train]
    assert decode(datamodule.splits["val"]) == text[sizes.train : sizes.train + sizes.val]
    assert decode(datamodule.splits["test"]) == text[sizes.train + sizes.val :]


def target_positions(dataset, first_position: int) -> set[int]:
    """Corpus positions of every target of ``dataset``, whose tokens are their own positions."""
    positions = set()
    for index in range(len(dataset)):
        _, targets = dataset[index]
        positions.update(int(t) for t in targets if t != IGNORE_INDEX)
    return {p + first_position for p in positions} if first_position else positions


def test_no_held_out_character_is_ever_a_training_target() -> None:
    """With tokens equal to their positions, a target's value says where it came from."""
    total, seq_length = 1000, 16
    sizes = split_sizes(total, 0.05, 0.05)
    tokens = torch.arange(total)
    train, val, test = torch.split(tokens, [sizes.train, sizes.val, sizes.test])

    train_targets = target_positions(RandomWindows(train, seq_length), 0)
    val_targets = target_positions(ConsecutiveWindows(val, seq_length), 0)
    test_targets = target_positions(ConsecutiveWindows(test, seq_length), 0)

    assert max(train_targets) < sizes.train
    assert train_targets == set(range(1, sizes.train))  # every training target is reachable
    assert val_targets == set(range(sizes.train + 1, sizes.train + sizes.val))
    assert test_targets == set(range(sizes.train + sizes.val + 1, total))
    assert not train_targets & (val_targets | test_targets)


def test_held_out_pass_scores_every_character_once() -> None:
    tokens = torch.arange(50)
    windows = ConsecutiveWindows(tokens, seq_length=8)
    targets = torch.cat([windows[i][1] for i in range(len(windows))])
    scored = targets[targets != IGNORE_INDEX]
    assert scored.tolist() == list(range(1, 50))
    inputs, last_targets = windows[len(windows) - 1]
    assert inputs.shape == last_targets.shape == (8,)


def test_training_batches_are_shifted_windows(corpus: Path) -> None:
    datamodule = make_datamodule(corpus, chars_per_epoch=160)
    loader = datamodule.train_dataloader()
    batches = list(loader)
    assert sum(len(inputs) for inputs, _ in batches) == 160 // 16
    inputs, targets = batches[0]
    assert inputs.shape == targets.shape == (4, 16)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])


def test_an_epoch_defaults_to_one_pass_over_the_training_split(corpus: Path) -> None:
    datamodule = make_datamodule(corpus)
    windows = len(datamodule.train_dataloader().sampler)
    assert windows == datamodule.sizes.train // 16


def test_seq_length_longer_than_the_training_split_is_refused(corpus: Path) -> None:
    with pytest.raises(DataError, match=r"seq_length=100000"):
        make_datamodule(corpus, seq_length=100_000)


def test_vocabulary_round_trips_through_json(tmp_path: Path) -> None:
    vocabulary = Vocabulary.from_text("to be, or not to be\n")
    path = tmp_path / "vocab.json"
    vocabulary.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["chars"] == vocabulary.chars
    loaded = Vocabulary.load(path)
    assert loaded == vocabulary
    assert loaded.decode(loaded.encode("not to be")) == "not to be"


@pytest.mark.parametrize(
    "content", ["not json", '{"chars": ["a"]}', '{"format": "fast_weights.vocabulary/1"}']
)
def test_bad_vocabulary_files_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError):
        Vocabulary.load(path)


def test_a_fixed_vocabulary_removes_and_reports_unknown_characters(tmp_path: Path) -> None:
    path = tmp_path / "other.txt"
    path.write_text("abcabc~abc#abc" * 20, encoding="utf-8")
    datamodule = make_datamodule(path, seq_length=4, vocabulary=Vocabulary("abc"))
    assert datamodule.unknown_chars == {"~": 20, "#": 20}
    assert sum(datamodule.sizes.__dict__.values()) == 12 * 20


def test_download_from_a_file_url(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_bytes(b"hello world\n" * 10)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = tmp_path / "data" / "corpus.txt"
    assert ensure_corpus(target, source.as_uri(), digest) == target
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["corpus.txt"]  # no temporary left


def test_download_with_a_wrong_checksum_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_bytes(b"tampered\n")
    target = tmp_path / "data" / "corpus.txt"
    with pytest.raises(DataError, match="SHA-256"):
        ensure_corpus(target, source.as_uri(), "0" * 64)
    assert not target.parent.exists() or not any(target.parent.iterdir())


def test_missing_corpus_that_cannot_be_downloaded_says_where_to_put_it(tmp_path: Path) -> None:
    target = tmp_path / "corpus.txt"
    url = (tmp_path / "nowhere.txt").as_uri()
    with pytest.raises(DataError, match=rf"put the corpus file at {target}") as info:
        ensure_corpus(target, url, None)
    assert "\n" not in str(info.value)
    assert not target.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary", "NUL bytes"),
        (b"caf\xe9 latin-1", "not valid UTF-8"),
    ],
    ids=["empty", "binary", "latin-1"],
)
def test_unusable_corpus_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_corpus(path)


def test_a_directory_is_not_a_corpus(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        ensure_corpus(tmp_path, None, None)


def test_data_parallel_processes_share_an_epoch_without_overlap() -> None:
    """Two processes take alternate offsets of the one-process draw, equal shares, and skip
    the same done batches after a resume."""
    alone = list(EpochSampler(1000, windows_per_epoch=41, seed=3, batch_size=4))
    shares = [
        list(EpochSampler(1000, 41, seed=3, batch_size=4, num_replicas=2, rank=rank))
        for rank in (0, 1)
    ]
    assert [len(share) for share in shares] == [20, 20]  # the 41st offset is dropped
    assert shares[0] == alone[0:40:2] and shares[1] == alone[1:40:2]

    resumed = EpochSampler(
        1000, 41, seed=3, batch_size=4, position=lambda: (0, 2), num_replicas=2, rank=1
    )
    assert list(resumed) == shares[1][2 * 4 :]


@pytest.mark.parametrize("num_windows", [1, 7, 8])
def test_held_out_windows_are_shared_out_once_each(num_windows: int) -> None:
    shares = [list(HeldOutSampler(num_windows, num_replicas=3, rank=rank)) for rank in range(3)]
    assert sorted(index for share in shares for index in share) == list(range(num_windows))
    assert [len(HeldOutSampler(num_windows, 3, rank)) for rank in range(3)] == [
        len(share) for share in shares
    ]
