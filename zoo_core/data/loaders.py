"""DataLoaders whose order and augmentation are a pure function of (seed, epoch).

:class:`EpochSampler` draws the epoch's permutation from its own generator
seeded by (seed, epoch) and yields ``(index, epoch)`` pairs, so the dataset
can seed each sample's augmentation (see :mod:`zoo_core.data.dataset`). It
can also start part-way through an epoch, which is how a run interrupted
with Ctrl-C resumes at the batch it stopped at.

Under DistributedDataParallel each process gets a *shard* of the epoch's
permutation: process ``rank`` of ``world`` takes every ``world``-th position
from ``rank`` on (as ``torch.utils.data.DistributedSampler`` does). With
batch ``B`` per process, the union of the processes' n-th batches is then
exactly the n-th batch of ``B * world`` one process would draw. The sample
indices, and so each sample's augmentation, are unchanged. A training
sampler pads the permutation with its first entries so that every process
gets as many samples (and steps) as the others; an evaluation sampler does
not pad (no sample counts twice in a metric; the shards may differ by one).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from zoo_core.data.dataset import collate, sample_seed


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``; shuffled per epoch from (seed, epoch) when asked.

    ``shard=(rank, world)`` keeps this process's share of each epoch (see the module
    doc); ``pad`` (default: when shuffling, i.e. training) evens the shares out.
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0,
                 shard: tuple[int, int] | None = None, pad: bool | None = None):
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.start = 0
        self.rank, self.world = shard or (0, 1)
        if not 0 <= self.rank < self.world:
            raise ValueError(f"shard {shard}: rank must be in [0, world)")
        self.pad = shuffle if pad is None else pad

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; skip the first ``start`` samples of this process's share
        (resuming mid-epoch)."""
        self.epoch = epoch
        self.start = start

    def order(self) -> list[int]:
        """The whole epoch's order (every process's samples)."""
        if not self.shuffle:
            return list(range(self.size))
        gen = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, -1))
        return torch.randperm(self.size, generator=gen).tolist()

    def shard_order(self) -> list[int]:
        """This process's share of :meth:`order` (all of it in a single process)."""
        order = self.order()
        if self.world == 1:
            return order
        if self.pad and order and len(order) % self.world:
            extra = self.world - len(order) % self.world
            order = order + (order * extra)[:extra]  # repeats, as DistributedSampler pads
        return order[self.rank::self.world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self.shard_order()[self.start:]:
            yield index, self.epoch

    def __len__(self) -> int:
        if self.world == 1:
            share = self.size
        elif self.pad:
            share = -(-self.size // self.world)
        else:
            share = len(range(self.rank, self.size, self.world))
        return max(share - self.start, 0)


def _ignore_sigint(_worker_id: int) -> None:
    # Ctrl-C goes to the whole process group; the main process handles it
    # (finishes the step, saves, exits). Workers carry on until shut down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, seed: int = 0,
                num_workers: int = 0, pin_memory: bool = False,
                persistent_workers: bool = False, drop_last: bool = False,
                shard: tuple[int, int] | None = None, **kwargs: Any) -> DataLoader:
    """A DataLoader over ``dataset`` with an :class:`EpochSampler` (``shard=(rank,
    world)``: this process's share of it, under DistributedDataParallel)."""
    sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=seed,  # type: ignore[arg-type]
                           shard=shard)
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
