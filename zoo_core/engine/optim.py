"""Named optimizers over parameter groups, and per-epoch learning-rate schedules.

Each role of a task gets its own optimizer and schedule. Its settings come,
key by key, from ``[optimizers.<role>]``, else ``[train.optimizer]`` (keys the
recipe set), else the task's defaults for the role, else the schema's
defaults; the schedule from ``[optimizers.<role>.schedule]`` or
``[train.schedule]``. Groups split parameters that take weight decay
(weights) from those that do not (biases and norm scales, as timm's
``filter_bias_and_bn``); a task may group further (learning rates per
backbone stage). Frozen parameters stay in their group: they get no gradient
and so are skipped by the optimizer, and an unfreeze schedule needs no new
optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from zoo_core.errors import ZooError


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def decay_groups(params: Iterable[torch.nn.Parameter], *, lr: float, weight_decay: float,
                 name: str = "all", lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Weights with weight decay, biases and norm scales (ndim <= 1) without."""
    params = list(params)
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = []
    for suffix, members, wd in (("", decay, weight_decay), ("/no_decay", no_decay, 0.0)):
        if members:
            groups.append({"params": members, "lr": lr * lr_mult, "base_lr": lr * lr_mult,
                           "weight_decay": wd, "name": name + suffix})
    return groups


def role_optimizer(recipe: Any, role: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The effective optimizer settings of ``role`` (see the module doc), with its
    ``schedule`` as a dict."""
    from zoo_core.recipe.schema import RoleOptimizer

    train_opt = recipe.train.optimizer
    merged: dict[str, Any] = dict(defaults)
    merged.update({k: getattr(train_opt, k) for k in train_opt.model_fields_set})
    own = recipe.optimizers.get(role)
    if own is not None:
        merged.update({k: getattr(own, k) for k in own.model_fields_set if k != "schedule"})
    opt = RoleOptimizer.model_validate(merged).model_dump()
    schedule = own.schedule if own is not None and own.schedule is not None \
        else recipe.train.schedule
    opt["schedule"] = schedule.model_dump()
    return opt


def build_optimizer(cfg: Any, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    name = _get(cfg, "name", "adamw")
    lr = float(_get(cfg, "lr", 1e-3))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(_get(cfg, "momentum", 0.9)),
                               nesterov=bool(_get(cfg, "nesterov", False)))
    betas = tuple(_get(cfg, "betas", (0.9, 0.999)))
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)  # type: ignore[arg-type]
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas)  # type: ignore[arg-type]
    raise ZooError(f"Unknown optimizer {name!r}: use sgd, adam or adamw.")


class EpochSchedule:
    """Sets every group's learning rate at the start of each epoch.

    ``cosine`` decays from the base rate to ``min_lr`` over the epochs after
    warm-up; ``step`` multiplies by ``gamma`` every ``step_size`` epochs;
    ``plateau`` multiplies by ``factor`` after ``patience`` epochs without
    improvement of the monitored metric (reduce-LR-on-plateau); warm-up ramps
    linearly over ``warmup_epochs``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: Any, epochs: int):
        self.optimizer = optimizer
        self.name = _get(cfg, "name", "none")
        self.warmup = int(_get(cfg, "warmup_epochs", 0))
        self.step_size = int(_get(cfg, "step_size", 10))
        self.gamma = float(_get(cfg, "gamma", 0.1))
        self.patience = int(_get(cfg, "patience", 2))
        self.factor = float(_get(cfg, "factor", 0.1))
        self.min_lr = float(_get(cfg, "min_lr", 0.0))
        self.epochs = max(int(epochs), 1)
        self.scale = 1.0  # plateau reductions so far
        self.best: float | None = None
        self.bad_epochs = 0

    def factor_at(self, epoch: int) -> float:
        """Multiplier on the base rate for 0-based ``epoch`` (before min_lr)."""
        if epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        t = epoch - self.warmup
        if self.name == "cosine":
            span = max(self.epochs - self.warmup, 1)
            return 0.5 * (1.0 + math.cos(math.pi * t / span))
        if self.name == "step":
            return self.gamma ** (t // self.step_size)
        if self.name == "plateau":
            return self.scale
        return 1.0

    def set_epoch(self, epoch: int) -> None:
        f = self.factor_at(epoch)
        for group in self.optimizer.param_groups:
            base = group.get("base_lr", group["lr"])
            if self.name == "cosine" and epoch >= self.warmup:
                floor = min(self.min_lr, base)
                group["lr"] = floor + (base - floor) * f
            else:
                group["lr"] = max(base * f, min(self.min_lr, base))

    def observe(self, value: float | None, mode: str = "min") -> bool:
        """Plateau bookkeeping at the end of an epoch; True when the rate was cut."""
        if self.name != "plateau" or value is None or not math.isfinite(value):
            return False
        better = (self.best is None or
                  (value < self.best if mode == "min" else value > self.best))
        if better:
            self.best, self.bad_epochs = value, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.scale *= self.factor
            self.bad_epochs = 0
            return True
        return False

    def lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale = float(state["scale"])
        self.best = state["best"]
        self.bad_epochs = int(state["bad_epochs"])
