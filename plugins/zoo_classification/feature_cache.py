"""Frozen-feature cache: when nothing before the head changes between epochs
(backbone frozen, deterministic training transforms, no input-modifying
regularizer), compute the pooled features once and train the head on them.

The cached loader replays the same seeded per-epoch order the image loader
would, so a cached run sees the same samples in the same batches; only the
backbone's forward passes after the first are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from zoo_classification.transfer import ModelParts
from zoo_core.api import Precision, StopRequested, eval_mode, to_device
from zoo_core.data.dataset import BadImagePolicy, Batch
from zoo_core.data.loaders import EpochSampler


@dataclass
class FeatureSet:
    features: torch.Tensor  # (N, D), float32
    targets: torch.Tensor   # (N,)

    def __len__(self) -> int:
        return int(self.targets.shape[0])


def compute_features(parts: ModelParts, loader: torch.utils.data.DataLoader, *,
                     device: torch.device, precision: Precision, channels_last: bool,
                     policy: BadImagePolicy, should_stop: Callable[[], bool] = lambda: False,
                     on_batch: Callable[[int], None] | None = None) -> FeatureSet:
    """Pooled features of every readable sample of ``loader``, in loader order."""
    assert parts.features is not None
    sampler = loader.sampler
    if isinstance(sampler, EpochSampler):
        sampler.set_epoch(0)
    feats, targets = [], []
    with torch.no_grad(), eval_mode(parts.model):
        for i, batch in enumerate(loader):
            if should_stop():
                raise StopRequested
            policy.check(batch.skipped)
            if not batch:
                continue
            x = to_device(batch["image"], device, channels_last=channels_last)
            with precision.autocast():
                f = parts.features(x)
            feats.append(f.float())
            targets.append(batch["label"].to(device))
            if on_batch is not None:
                on_batch(i)
    if not feats:
        return FeatureSet(torch.empty(0, 0, device=device), torch.empty(0, dtype=torch.long))
    return FeatureSet(torch.cat(feats), torch.cat(targets))


class FeatureLoader:
    """Batches of cached features, in the seeded per-epoch order of an EpochSampler."""

    def __init__(self, features: FeatureSet, *, batch_size: int, shuffle: bool, seed: int = 0,
                 drop_last: bool = False):
        self.features = features
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = EpochSampler(len(features), shuffle=shuffle, seed=seed)

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.sampler.order()[self.sampler.start:]
        device = self.features.features.device
        index = torch.tensor(order, dtype=torch.long, device=device)
        for start in range(0, len(order), self.batch_size):
            idx = index[start:start + self.batch_size]
            if self.drop_last and idx.numel() < self.batch_size:
                return
            batch = Batch(features=self.features.features[idx],
                          label=self.features.targets[idx])
            yield batch
