"""The step context: what a task's ``train_step`` and ``eval_step`` are given.

The shape of Lightning's manual optimization, with the bookkeeping in one
place: ``ctx.backward(loss, role)`` scales the loss for fp16, divides it for
gradient accumulation and lets gradients reach only ``role``'s parameters
(a GAN's generator step leaves the discriminator's gradients untouched);
``ctx.step(role)`` unscales, clips, steps and zeroes that role's optimizer
at the accumulation boundary and does nothing in between. One gradient
scaler serves every optimizer, updated once per batch, as PyTorch's AMP
notes prescribe for several optimizers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zoo_core.engine.devices import Precision


class StopRequested(Exception):
    """Raised by a task's long phase set-up (caching features...) when Ctrl-C asked
    the run to stop; nothing new is saved."""


@dataclass
class StepContext:
    """Models, optimizers and the position in training, for one run."""

    models: dict[str, nn.Module]
    device: torch.device
    precision: Precision
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    scaler: Any = None
    grad_accum: int = 1
    clip_grad_norm: float | None = None
    #: regularizers (the engine's HookSet) and the role whose loss they add to
    hooks: Any = None
    penalty_role: str | None = None
    epoch: int = 0
    global_step: int = 0
    #: False between accumulation boundaries: ctx.step() only records the wish
    boundary: bool = True
    seed: int = 0
    #: the task may replace a split's loader for the current phase (cached features)
    loader_overrides: dict[str, Any] = field(default_factory=dict)
    #: what the engine offers tasks beyond the step (loaders, bad-image policy...)
    extras: dict[str, Any] = field(default_factory=dict)
    #: several processes: the trained roles' DDP wrappers (zoo_core.engine.distributed)
    replicas: Any = None
    #: a line for the run log (the progress display when training)
    log: Callable[[str], None] = print
    #: True once Ctrl-C asked to stop; long set-ups poll it (see StopRequested)
    should_stop: Callable[[], bool] = lambda: False
    #: (label, done, total) while a long set-up runs
    report_progress: Callable[[str, int, int], None] = lambda label, done, total: None
    _stepped: set[str] = field(default_factory=set)

    # -- precision ----------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward pass's mixed-precision context (nothing in fp32)."""
        return self.precision.autocast()

    # -- gradients ----------------------------------------------------------------------
    def trainable(self, role: str | None = None) -> list[nn.Parameter]:
        roles = [role] if role is not None else list(self.optimizers)
        return [p for r in roles for p in self.models[r].parameters() if p.requires_grad]

    def penalty(self, role: str) -> torch.Tensor | None:
        """The regularizers' loss terms for ``role`` (None when there are none)."""
        if self.hooks is None or role != self.penalty_role:
            return None
        return self.hooks.loss_terms(self.models[role])

    def backward(self, loss: torch.Tensor, role: str | None = None) -> torch.Tensor:
        """Backpropagate ``loss`` (plus the regularizers' terms for ``role``) into
        ``role``'s trainable parameters only (every role's when None). Returns the
        total loss, which is what a task should report."""
        extra = self.penalty(role) if role is not None else None
        total = loss if extra is None else loss + extra
        scaled = total / self.grad_accum if self.grad_accum > 1 else total
        if self.scaler is not None:
            scaled = self.scaler.scale(scaled)
        with torch.autocast(device_type=self.device.type, enabled=False):
            if role is None or len(self.optimizers) <= 1:
                scaled.backward()
            else:
                # inputs= keeps the other models' .grad untouched (and skips computing it)
                params = self.trainable(role)
                if params:
                    torch.autograd.backward(scaled, inputs=params)
        return total

    def step(self, role: str) -> bool:
        """Step ``role``'s optimizer at an accumulation boundary (then zero its
        gradients); True when it stepped."""
        if not self.boundary:
            return False
        opt = self.optimizers[role]
        if self.replicas is not None:  # several processes: average the gradients first
            self.replicas.sync(role, self.trainable(role))
        if self.clip_grad_norm:
            if self.scaler is not None:
                self.scaler.unscale_(opt)
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
        if self.scaler is not None:
            self.scaler.step(opt)
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        self._stepped.add(role)
        return True

    def end_batch(self) -> None:
        """After the task's step: update the one gradient scaler once."""
        if self.scaler is not None and self._stepped:
            self.scaler.update()
        self._stepped.clear()

    def zero_grad(self) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)

    # -- modes ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Every model in eval mode and no autograd inside; modes restored after."""
        modes = {m: m.training for model in self.models.values() for m in model.modules()}
        for model in self.models.values():
            model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            for m, training in modes.items():
                m.training = training

    def lr(self, role: str) -> float:
        return max(g["lr"] for g in self.optimizers[role].param_groups)

    def to_device(self, batch: Mapping[str, Any], channels_last: bool = False) -> dict[str, Any]:
        from zoo_core.engine.devices import to_device

        return to_device(dict(batch), self.device, channels_last=channels_last)
