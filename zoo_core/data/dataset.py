"""The torch side of a split: decode, convert, transform, collate.

Two properties the engine relies on:

* **Bad images never crash a worker.** A file that does not decode comes
  back as a :class:`~zoo_core.data.sources.BadSample` naming its path; the
  collate function drops it from the batch and the engine reports it (skip
  with a warning, or stop with a :class:`~zoo_core.errors.DataError`, as the
  recipe says), in the main process, without a worker traceback.
* **Augmentation is a function of (seed, epoch, index).** The sampler hands
  ``(index, epoch)`` to ``__getitem__``, which seeds the random transforms
  from them. Which worker loads a sample, how many workers there are, and
  whether the run was resumed do not change the pixels a sample gets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from zoo_core.data.sources import BadSample, Source
from zoo_core.errors import DataError

_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio) to spread seeds


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed unique to one sample in one epoch of one run."""
    h = (seed * _MIX + epoch) & 0xFFFFFFFFFFFFFFFF
    h = (h * _MIX + index) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class Batch(NamedTuple):
    """A collated batch: stacked inputs, targets, and the samples left out."""

    inputs: torch.Tensor | None
    targets: torch.Tensor | None
    skipped: tuple[BadSample, ...] = ()


class ImageDataset(Dataset):
    """``source`` through ``transform``; items are ``(tensor, label)`` or a BadSample."""

    def __init__(self, source: Source, transform: Callable[[Any], torch.Tensor], *,
                 mode: str = "RGB", random: bool = False, seed: int = 0):
        self.source = source
        self.transform = transform
        self.mode = mode
        self.random = random
        self.seed = seed

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int] | BadSample:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        try:
            img = self.source.load(index)
            if img.mode != self.mode:
                img = img.convert(self.mode)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a data problem
            return BadSample(self.source.describe(index), f"{type(exc).__name__}: {exc}")
        if not self.random:
            return self.transform(img), self.source.label(index)
        # Seed the (global-RNG) torchvision transforms for this sample only,
        # and give the caller's RNG back untouched.
        state = torch.get_rng_state()
        torch.default_generator.manual_seed(sample_seed(self.seed, epoch, index))
        try:
            x = self.transform(img)
        finally:
            torch.set_rng_state(state)
        return x, self.source.label(index)


def collate(items: Sequence[tuple[torch.Tensor, int] | BadSample]) -> Batch:
    good = [it for it in items if not isinstance(it, BadSample)]
    bad = tuple(it for it in items if isinstance(it, BadSample))
    if not good:
        return Batch(None, None, bad)
    inputs = torch.stack([x for x, _ in good])
    targets = torch.tensor([y for _, y in good], dtype=torch.long)
    return Batch(inputs, targets, bad)


class BadImagePolicy:
    """Reports bad images once each: a warning (skip) or a DataError (fail)."""

    def __init__(self, policy: str = "skip", warn: Callable[[str], None] | None = None):
        if policy not in {"skip", "fail"}:
            raise ValueError(f"bad image policy must be 'skip' or 'fail', not {policy!r}")
        self.policy = policy
        self.warn = warn or (lambda msg: None)
        self.seen: dict[str, str] = {}

    def check(self, skipped: Sequence[BadSample]) -> None:
        for bad in skipped:
            if self.policy == "fail":
                raise DataError(
                    f"Cannot read image {bad.where!r} ({bad.error}). Replace or delete the "
                    "file, or set data.bad_images = \"skip\" to leave such files out with a "
                    "warning."
                )
            if bad.where not in self.seen:
                self.seen[bad.where] = bad.error
                self.warn(f"skipping unreadable image {bad.where} ({bad.error})")
