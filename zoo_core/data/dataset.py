"""The torch side of a split: load a sample dict, transform it, collate dicts.

Samples are dicts (``{"image": ..., "label": 3}``, ``{"image": ..., "mask": ...}``,
``{"lr": ..., "hr": ...}``); a task's transform takes the sample dict and
returns the dict of tensors the model sees, so image and target are
transformed together where they must be (torchvision ``transforms.v2`` does
that for ``tv_tensors``). Two properties the engine relies on:

* **Bad samples never crash a worker.** A file that does not decode comes
  back as a :class:`~zoo_core.data.sources.BadSample` naming its path; the
  collate function drops it from the batch and the engine reports it (skip
  with a warning, or stop with a :class:`~zoo_core.errors.DataError`, as the
  recipe says), in the main process, without a worker traceback. A
  :class:`~zoo_core.errors.ZooError` raised by a source or a transform (a
  mask that does not match its image...) always stops the run, with its own
  message.
* **Augmentation is a function of (seed, epoch, index).** The sampler hands
  ``(index, epoch)`` to ``__getitem__``, which seeds the random transforms
  from them. Which worker loads a sample, how many workers there are, and
  whether the run was resumed do not change the pixels a sample gets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from zoo_core.data.sources import BadSample, Source
from zoo_core.errors import DataError, ZooError

_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio) to spread seeds


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed unique to one sample in one epoch of one run."""
    h = (seed * _MIX + epoch) & 0xFFFFFFFFFFFFFFFF
    h = (h * _MIX + index) & 0xFFFFFFFFFFFFFFFF
    h ^= h >> 31
    return h & 0x7FFFFFFFFFFFFFFF


class Batch(dict):  # type: ignore[type-arg]
    """A collated batch: the stacked sample dicts, plus the samples left out."""

    skipped: tuple[BadSample, ...] = ()

    @property
    def empty(self) -> bool:
        return not self


def batch_size(batch: Mapping[str, Any]) -> int:
    """Samples in a batch: the leading size of its first tensor."""
    for value in batch.values():
        if isinstance(value, torch.Tensor):
            return int(value.shape[0]) if value.ndim else 1
        if isinstance(value, (list, tuple)):
            return len(value)
    return 0


class SampleDataset(Dataset):
    """``source.sample(i)`` through ``transform``; items are dicts or BadSamples."""

    def __init__(self, source: Source, transform: Callable[[dict[str, Any]], dict[str, Any]], *,
                 random: bool = False, seed: int = 0):
        self.source = source
        self.transform = transform
        self.random = random
        self.seed = seed

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | BadSample:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        try:
            sample = self.source.sample(index)
        except ZooError as exc:
            return BadSample(self.source.describe(index), str(exc), fatal=True)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is a data problem
            return BadSample(self.source.describe(index), f"{type(exc).__name__}: {exc}")
        try:
            if not self.random:
                return self.transform(sample)
            # Seed the (global-RNG) torchvision transforms for this sample only,
            # and give the caller's RNG back untouched.
            state = torch.get_rng_state()
            torch.default_generator.manual_seed(sample_seed(self.seed, epoch, index))
            try:
                return self.transform(sample)
            finally:
                torch.set_rng_state(state)
        except ZooError as exc:
            return BadSample(self.source.describe(index), str(exc), fatal=True)


class _Keep:
    """A sample transform that keeps only some keys of its output (picklable, for
    DataLoader workers)."""

    def __init__(self, transform: Callable[[dict[str, Any]], dict[str, Any]],
                 keys: tuple[str, ...]):
        self.transform, self.keys = transform, keys

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = self.transform(sample)
        return {k: out[k] for k in self.keys}


def image_datasets(splits: Mapping[str, Source], data_config: Mapping[str, Any], augment: Any,
                   *, seed: int, keys: Sequence[str] | None = None) -> dict[str, SampleDataset]:
    """One dataset per split of images through the recipe's pipeline: the train
    transform (its random augmentation seeded per sample) on ``train``, the evaluation
    transform on the others. ``keys``: the sample keys to keep (all by default; an
    unconditional GAN or an autoencoder keeps only ``image``)."""
    from zoo_core.data.transforms import (
        eval_transform,
        for_sample,
        image_mode,
        is_deterministic,
        train_transform,
    )

    mode = image_mode(data_config)
    random = not is_deterministic(augment)
    out = {}
    for split, source in splits.items():
        train = split == "train"
        tf = for_sample(train_transform(data_config, augment) if train
                        else eval_transform(data_config), mode)
        if keys is not None:
            tf = _Keep(tf, tuple(keys))
        out[split] = SampleDataset(source, tf, random=train and random, seed=seed)
    return out


def _stack(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, torch.Tensor):
        return torch.stack(values)
    if isinstance(first, bool):
        return torch.tensor(values, dtype=torch.bool)
    if isinstance(first, int):
        return torch.tensor(values, dtype=torch.long)
    if isinstance(first, float):
        return torch.tensor(values, dtype=torch.float32)
    return list(values)


def collate(items: Sequence[Mapping[str, Any] | BadSample]) -> Batch:
    """Stack the good samples key by key; keep the bad ones aside."""
    good = [it for it in items if not isinstance(it, BadSample)]
    batch = Batch()
    batch.skipped = tuple(it for it in items if isinstance(it, BadSample))
    if good:
        for key in good[0]:
            batch[key] = _stack([it[key] for it in good])
    return batch


class BadImagePolicy:
    """Reports bad samples once each: a warning (skip) or a DataError (fail)."""

    def __init__(self, policy: str = "skip", warn: Callable[[str], None] | None = None):
        if policy not in {"skip", "fail"}:
            raise ValueError(f"bad image policy must be 'skip' or 'fail', not {policy!r}")
        self.policy = policy
        self.warn = warn or (lambda msg: None)
        self.seen: dict[str, str] = {}

    def check(self, skipped: Sequence[BadSample]) -> None:
        for bad in skipped:
            if bad.fatal:
                raise DataError(f"{bad.where}: {bad.error}")
            if self.policy == "fail":
                raise DataError(
                    f"Cannot read image {bad.where!r} ({bad.error}). Replace or delete the "
                    "file, or set data.bad_images = \"skip\" to leave such files out with a "
                    "warning."
                )
            if bad.where not in self.seen:
                self.seen[bad.where] = bad.error
                self.warn(f"skipping unreadable image {bad.where} ({bad.error})")
