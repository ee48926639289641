"""Contiguous train / validation / test splits of a character corpus."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from fast_weights.data.corpus import ensure_corpus, read_corpus
from fast_weights.data.vocabulary import Vocabulary
from fast_weights.errors import DataError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Target id of padding positions; the loss and the metrics skip it."""


class RandomWindows(Dataset):
    """Every window of ``seq_length + 1`` consecutive ids; item ``i`` starts at offset ``i``.

    Returns ``(inputs, targets)``, each ``(seq_length,)``, the targets shifted by one.
    """

    def __init__(self, tokens: Tensor, seq_length: int) -> None:
        self.tokens = tokens
        self.seq_length = seq_length

    def __len__(self) -> int:
        return len(self.tokens) - self.seq_length

    def __getitem__(self, offset: int) -> tuple[Tensor, Tensor]:
        window = self.tokens[offset : offset + self.seq_length + 1]
        return window[:-1], window[1:]


class ConsecutiveWindows(Dataset):
    """Non-overlapping windows that make every id but the first a target exactly once.

    The last window is padded: inputs with id 0, targets with :data:`IGNORE_INDEX`.
    Returns ``(inputs, targets)``, each ``(seq_length,)``.
    """

    def __init__(self, tokens: Tensor, seq_length: int) -> None:
        self.tokens = tokens
        self.seq_length = seq_length

    def __len__(self) -> int:
        return math.ceil((len(self.tokens) - 1) / self.seq_length)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        start = index * self.seq_length
        inputs = self.tokens[start : start + self.seq_length]
        targets = self.tokens[start + 1 : start + self.seq_length + 1]
        pad = self.seq_length - len(targets)
        inputs = torch.cat([inputs[: len(targets)], inputs.new_zeros(pad)])
        targets = torch.cat([targets, targets.new_full((pad,), IGNORE_INDEX)])
        return inputs, targets


class EpochSampler(DistributedSampler):
    """Random window offsets, drawn afresh each epoch from the seed and the epoch number alone.

    Because an epoch's order depends on nothing else, a run resumed from a checkpoint sees
    exactly the windows an uninterrupted run would: ``position`` says, when an epoch's
    iteration starts, which epoch it is and how many of its batches are already done, and
    those are skipped.

    Under data parallelism every process draws the same offsets and takes every
    ``num_replicas``-th of them, starting at its ``rank``; the few left over when the count
    does not divide are dropped. The class is a ``DistributedSampler`` so that Lightning uses
    it as it is instead of wrapping it in one, which would shard after the skip.

    Args:
        num_windows: number of valid offsets; offsets are drawn with replacement.
        windows_per_epoch: offsets per epoch, over all processes together.
        seed: seed of the draws.
        batch_size: windows per batch, to turn done batches into done offsets.
        position: returns ``(epoch, batches_done)``; without it epochs count from 0.
        num_replicas: number of data-parallel processes.
        rank: this process's index among them.
    """

    def __init__(
        self,
        num_windows: int,
        windows_per_epoch: int,
        seed: int,
        batch_size: int,
        position: Callable[[], tuple[int, int]] | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(
            range(num_windows), num_replicas=num_replicas, rank=rank, shuffle=False, seed=seed
        )
        self.num_windows = num_windows
        self.windows_per_epoch = windows_per_epoch
        self.num_samples = max(1, windows_per_epoch // num_replicas)  # this process's share
        self.batch_size = batch_size
        self.position = position
        self._next_epoch = 0

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        epoch, batches_done = self.position() if self.position else (self._next_epoch, 0)
        self._next_epoch = epoch + 1
        generator = torch.Generator().manual_seed((self.seed << 20) + epoch)
        drawn = max(self.windows_per_epoch, self.num_replicas)
        offsets = torch.randint(self.num_windows, (drawn,), generator=generator)
        mine = offsets[self.rank :: self.num_replicas][: self.num_samples]
        yield from mine[batches_done * self.batch_size :].tolist()


class HeldOutSampler(DistributedSampler):
    """Every window once over all processes, in order: process ``rank`` takes windows
    ``rank``, ``rank + num_replicas``, … Unlike Lightning's default it repeats none to even
    out the shares, so that held-out metrics count each character exactly once."""

    def __init__(self, num_windows: int, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(range(num_windows), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_windows = num_windows

    def __len__(self) -> int:
        return len(range(self.rank, self.num_windows, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_windows, self.num_replicas))


class ResumableLoader(DataLoader):
    """The training loader. Its :class:`EpochSampler` makes a resumed epoch exact; the state
    methods tell Lightning so, and check that the resumed run draws with the same seed."""

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.sampler.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("seed") != self.sampler.seed:
            raise DataError(
                f"the checkpoint's training windows were drawn with seed={state.get('seed')}, "
                f"this run has seed={self.sampler.seed}; resume with the same seed"
            )


@dataclass(frozen=True)
class SplitSizes:
    """Characters in each split; together they are the whole corpus, in this order."""

    train: int
    val: int
    test: int


def split_sizes(total: int, val_fraction: float, test_fraction: float) -> SplitSizes:
    """Sizes of the contiguous splits: train first, then validation, then test."""
    val = round(total * val_fraction)
    test = round(total * test_fraction)
    return SplitSizes(train=total - val - test, val=val, test=test)


class CharDataModule(L.LightningDataModule):
    """A text file as contiguous splits of character ids.

    The first ``train_fraction`` of the characters train, the next ``val_fraction`` validate
    and the last ``test_fraction`` test; no held-out character is ever a training target.
    Training batches are windows at random offsets of the training split, ``chars_per_epoch``
    target characters an epoch; validation and test are one pass over every held-out character.

    Args:
        path: the corpus, a UTF-8 text file.
        seq_length: characters per window (the model's ``seq_length``).
        url: where to download the corpus from when ``path`` does not exist.
        sha256: the checksum a download must have.
        train_fraction, val_fraction, test_fraction: split sizes; they sum to 1.
        batch_size: windows per batch.
        chars_per_epoch: training target characters per epoch; ``None`` for the size of the
            training split.
        num_workers: data-loading worker processes.
        vocabulary: a fixed vocabulary (from a checkpoint); characters it lacks are removed
            from the corpus and reported. ``None`` builds one from the corpus.
        seed: seed of the training windows' offsets (see :class:`EpochSampler`).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        seq_length: int,
        url: str | None = None,
        sha256: str | None = None,
        train_fraction: float = 0.9,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        batch_size: int = 64,
        chars_per_epoch: int | None = None,
        num_workers: int = 0,
        vocabulary: Vocabulary | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.path = str(path)
        self.seq_length = seq_length
        self.url = url
        self.sha256 = sha256
        self.train_fraction = train_fraction
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.batch_size = batch_size
        self.chars_per_epoch = chars_per_epoch
        self.num_workers = num_workers
        self.vocabulary = vocabulary
        self.seed = seed
        self.unknown_chars: Counter[str] = Counter()
        self.splits: dict[str, Tensor] = {}

    def prepare_data(self) -> None:
        ensure_corpus(self.path, self.url, self.sha256)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        text = read_corpus(ensure_corpus(self.path, self.url, self.sha256))
        if self.vocabulary is None:
            self.vocabulary = Vocabulary.from_text(text)
        missing = self.vocabulary.missing(text)
        if missing:
            self.unknown_chars = Counter(c for c in text if c not in self.vocabulary)
            log.warning(
                "%d characters of %s are not in the vocabulary and were removed: %r",
                sum(self.unknown_chars.values()),
                self.path,
                "".join(missing),
            )
            text = "".join(c for c in text if c in self.vocabulary)
        tokens = self.vocabulary.encode(text)

        sizes = split_sizes(len(tokens), self.val_fraction, self.test_fraction)
        train, val, test = torch.split(tokens, [sizes.train, sizes.val, sizes.test])
        self._check_split("training", train, self.seq_length + 1)
        self._check_split("validation", val, 2)
        self._check_split("test", test, 2)
        self.splits = {"train": train, "val": val, "test": test}

    def _check_split(self, name: str, tokens: Tensor, needed: int) -> None:
        if len(tokens) < needed:
            raise DataError(
                f"the {name} split of {self.path} has {len(tokens)} characters, fewer than the "
                f"{needed} it needs with model.seq_length={self.seq_length}; use a longer corpus, "
                "larger split fractions or a shorter seq_length"
            )

    @property
    def sizes(self) -> SplitSizes:
        """Characters per split, after :meth:`setup`."""
        return SplitSizes(*(len(self.splits[name]) for name in ("train", "val", "test")))

    def train_dataloader(self) -> DataLoader:
        windows = RandomWindows(self.splits["train"], self.seq_length)
        chars = self.chars_per_epoch or len(self.splits["train"])
        sampler = EpochSampler(
            num_windows=len(windows),
            windows_per_epoch=max(1, chars // self.seq_length),
            seed=self.seed,
            batch_size=self.batch_size,
            position=self._training_position if self.trainer is not None else None,
            **self._replicas(),
        )
        return self._loader(windows, sampler=sampler, loader_class=ResumableLoader)

    def _replicas(self) -> dict[str, int]:
        """``num_replicas`` and ``rank`` of this process under data parallelism (1 and 0
        without a trainer)."""
        if self.trainer is None:
            return {"num_replicas": 1, "rank": 0}
        return {"num_replicas": self.trainer.world_size, "rank": self.trainer.global_rank}

    def _training_position(self) -> tuple[int, int]:
        """The epoch that is starting and how many of its batches are done (after a resume)."""
        assert self.trainer is not None
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.completed
        return self.trainer.current_epoch, done

    def val_dataloader(self) -> DataLoader:
        return self._held_out_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._held_out_loader("test")

    def _held_out_loader(self, split: str) -> DataLoader:
        windows = ConsecutiveWindows(self.splits[split], self.seq_length)
        return self._loader(windows, sampler=HeldOutSampler(len(windows), **self._replicas()))

    def _loader(
        self,
        dataset: Dataset,
        sampler: Sampler | None = None,
        loader_class: type[DataLoader] = DataLoader,
    ) -> DataLoader:
        return loader_class(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # Its own generator, so that loading never draws from the global random state.
            generator=torch.Generator().manual_seed(self.seed),
        )
