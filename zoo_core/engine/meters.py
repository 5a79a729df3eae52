"""The default meter: batch-size weighted means of a step's scalar values.

Sums stay on the device (no ``.item()`` per step); numbers come out once,
in :meth:`MeanMeter.compute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from zoo_core.engine.task import Meter


class MeanMeter(Meter):
    """The mean of each value over the samples of the batches that reported it (a GAN's
    generator loss exists only on generator steps)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor | float] = {}
        self.counts: dict[str, int] = {}

    def update(self, values: Mapping[str, Any], count: int) -> None:
        if count <= 0:
            return
        for key, value in values.items():
            v = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + v * count
            self.counts[key] = self.counts.get(key, 0) + count

    def compute(self) -> dict[str, float]:
        return {k: float(v) / self.counts[k] for k, v in self.sums.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts),
                "sums": {k: torch.as_tensor(v).cpu() for k, v in self.sums.items()}}

    def load_state_dict(self, state: dict[str, Any], device: Any = None) -> None:
        self.counts = {k: int(v) for k, v in state["counts"].items()}
        self.sums = {k: (v.to(device) if device is not None else v)
                     for k, v in state["sums"].items()}
