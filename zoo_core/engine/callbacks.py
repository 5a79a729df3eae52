"""Epoch-end callbacks: best-model tracking and early stopping.

Both keep their state in the training checkpoint, so a resumed run stops
and saves exactly where an uninterrupted one would.
"""

from __future__ import annotations

import math
from typing import Any


class Monitor:
    """Tracks the best value of one metric key (``val/loss``...). With no key nothing is
    ever best: the last epoch is kept (a task with no quality metric to pick by)."""

    def __init__(self, key: str | None, mode: str = "max", min_delta: float = 0.0):
        if mode not in {"min", "max"}:
            raise ValueError(f"monitor mode must be 'min' or 'max', not {mode!r}")
        self.key = key
        self.mode = mode
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def value(self, metrics: dict[str, Any]) -> float | None:
        if self.key is None:
            return None
        v = metrics.get(self.key)
        if v is None:
            return None
        v = float(v)
        return v if math.isfinite(v) else None

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def update(self, epoch: int, metrics: dict[str, Any]) -> bool:
        """True when ``metrics`` holds a new best (the first value always is)."""
        v = self.value(metrics)
        if v is None or not self.improved(v):
            return False
        self.best, self.best_epoch = v, epoch
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping:
    """Stop when the monitored metric has not improved for ``patience`` epochs."""

    def __init__(self, key: str, mode: str = "min", patience: int = 5, min_delta: float = 0.0):
        self.monitor = Monitor(key, mode, min_delta)
        self.patience = int(patience)
        self.bad_epochs = 0
        self.stopped_epoch: int | None = None

    def step(self, epoch: int, metrics: dict[str, Any]) -> bool:
        """Record an epoch; True when training should stop."""
        if self.monitor.value(metrics) is None:
            return False
        if self.monitor.update(epoch, metrics):
            self.bad_epochs = 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "bad_epochs": self.bad_epochs,
                "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped_epoch = state["stopped_epoch"]
