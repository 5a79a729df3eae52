"""DataLoaders whose order and augmentation are a pure function of (seed, epoch).

:class:`EpochSampler` draws the epoch's permutation from its own generator
seeded by (seed, epoch) and yields ``(index, epoch)`` pairs, so the dataset
can seed each sample's augmentation (see :mod:`zoo_core.data.dataset`). It
can also start part-way through an epoch, which is how a run interrupted
with Ctrl-C resumes at the batch it stopped at.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo_core.data.dataset import collate, sample_seed


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``; shuffled per epoch from (seed, epoch) when asked."""

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0):
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; skip its first ``start`` samples (resuming mid-epoch)."""
        self.epoch = epoch
        self.start = start

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.size))
        gen = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, -1))
        return torch.randperm(self.size, generator=gen).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.order()[self.start:]:
            yield index, self.epoch

    def __len__(self) -> int:
        return max(self.size - self.start, 0)


def _ignore_sigint(_worker_id: int) -> None:
    # Ctrl-C goes to the whole process group; the main process handles it
    # (finishes the step, saves, exits). Workers carry on until shut down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, seed: int = 0,
                num_workers: int = 0, pin_memory: bool = False,
                persistent_workers: bool = False, drop_last: bool = False,
                **kwargs: Any) -> DataLoader:
    """A DataLoader over ``dataset`` with an :class:`EpochSampler`."""
    sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=seed)  # type: ignore[arg-type]
    extra: dict[str, Any] = {}
    if num_workers > 0:
        extra["persistent_workers"] = persistent_workers
        extra["worker_init_fn"] = _ignore_sigint
        extra["prefetch_factor"] = kwargs.pop("prefetch_factor", 2)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      collate_fn=kwargs.pop("collate_fn", collate), pin_memory=pin_memory,
                      drop_last=drop_last, **extra, **kwargs)


def epoch_sampler(loader: DataLoader) -> EpochSampler | None:
    sampler = loader.sampler
    return sampler if isinstance(sampler, EpochSampler) else None
