"""An exponential moving average of a model's weights (BasicSR's ``net_g_ema``).

After every optimizer step ``ema.update(model)`` moves each parameter of the
copy towards the live one: ``e <- decay * e + (1 - decay) * p`` (BasicSR's
``model_ema``, decay 0.999 in its SRGAN config). Buffers (BatchNorm
statistics) are copied from the live model: BasicSR leaves the copy's at
their initial values, which only matters for networks with BatchNorm, and
there a copy is what evaluation needs.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

__all__ = ["EMA"]


def _unwrap(model: nn.Module) -> nn.Module:
    # DistributedDataParallel / DataParallel keep the network in .module
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


class EMA:
    """A frozen copy of ``model`` that follows it with ``decay`` per update."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = float(decay)
        self.module = copy.deepcopy(_unwrap(model)).eval().requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        live = _unwrap(model)
        ema_params = list(self.module.parameters())
        live_params = [p.detach() for p in live.parameters()]
        if len(ema_params) != len(live_params):
            raise ValueError("EMA.update got a model with another set of parameters")
        if ema_params:
            torch._foreach_lerp_(ema_params, live_params, 1.0 - self.decay)
        for mine, theirs in zip(self.module.buffers(), live.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def to(self, *args: Any, **kwargs: Any) -> EMA:
        self.module.to(*args, **kwargs)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates,
                "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        self.module.load_state_dict(state["module"])
