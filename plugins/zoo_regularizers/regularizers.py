"""The regularizers themselves (imports torch)."""

from __future__ import annotations

from typing import Any

import torch

from zoo_core.api import Regularizer
from zoo_core.errors import ZooError


def _number(name: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ZooError(f"regularizer {name}: expected a number, got {value!r}")
    v = float(value)
    if v < low or (high is not None and v >= high):
        bound = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ZooError(f"regularizer {name}: must be {bound}, got {v}")
    return v


class L2Penalty(Regularizer):
    """``coef / 2 * sum(w ** 2)`` over the weights that train, as a loss term.

    Unlike the optimizer's ``weight_decay`` this is part of the loss (and so
    of ``train/loss``), and it is the same for every optimizer.
    """

    name = "l2"

    def __init__(self, coef: float = 1e-4, include_bias_and_norm: bool = False):
        self.coef = _number("l2.coef", coef, 0.0)
        self.include_bias_and_norm = bool(include_bias_and_norm)

    def loss_term(self, model: torch.nn.Module) -> torch.Tensor | None:
        params = [p for p in model.parameters()
                  if p.requires_grad and (self.include_bias_and_norm or p.ndim > 1)]
        if not params or not self.coef:
            return None
        return 0.5 * self.coef * torch.stack([p.pow(2).sum() for p in params]).sum()


def _head_of(model: Any) -> Any:
    """The classifier of a model: timm's ``get_classifier()``, else a ``head`` module."""
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else getattr(model, "head", None)
    if isinstance(head, torch.nn.Module) and any(True for _ in head.parameters()):
        return head
    return None


class HeadDropout(Regularizer):
    """Dropout on the input of the model's head (its classifier), while it trains.

    Added as a forward pre-hook, so the model's state dict (and a saved
    model's timm key names) do not change; evaluation is unaffected.
    """

    name = "dropout"

    def __init__(self, p: float = 0.5):
        self.p = _number("dropout.p", p, 0.0, 1.0)

    def on_model_built(self, model: Any) -> None:
        head = _head_of(model)
        if head is None:
            raise ZooError("regularizer 'dropout' needs a model with a head (a classifier: "
                           "timm's get_classifier() or a `head` module); this task's model has "
                           "none. Use the backbone's drop_rate instead.")
        from zoo_core.nn import add_input_dropout

        add_input_dropout(head, self.p)


class InputNoise(Regularizer):
    """Adds N(0, std^2) to one input of every training batch (on the device): ``key``,
    the batch's image by default."""

    name = "input_noise"
    modifies_inputs = True

    def __init__(self, std: float = 0.05, key: str = "image"):
        self.std = _number("input_noise.std", std, 0.0)
        self.key = str(key)

    def on_batch(self, batch: Any) -> Any:
        inputs = batch.get(self.key)
        if not isinstance(inputs, torch.Tensor) or not self.std:
            return batch
        return {**batch, self.key: inputs + torch.randn_like(inputs) * self.std}
