"""Helpers over torch modules that every kind shares (imports torch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_DATA_CONFIG: dict[str, Any] = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "crop_pct": 0.875,
    "crop_mode": "center",
}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def data_config(model: nn.Module | None = None, **overrides: Any) -> dict[str, Any]:
    """The preprocessing a backbone expects, as timm's ``resolve_data_config``:
    the model's ``pretrained_cfg`` over ImageNet defaults, then ``overrides``."""
    cfg = dict(DEFAULT_DATA_CONFIG)
    pretrained = getattr(model, "pretrained_cfg", None) or {}
    for key in DEFAULT_DATA_CONFIG:
        if pretrained.get(key) is not None:
            cfg[key] = pretrained[key]
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    cfg["input_size"] = tuple(cfg["input_size"])
    cfg["mean"] = tuple(float(x) for x in cfg["mean"])
    cfg["std"] = tuple(float(x) for x in cfg["std"])
    return cfg


def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, num_features) pooled, pre-logits features of any zoo backbone."""
    features = model.forward_features(x)  # type: ignore[operator]
    return model.forward_head(features, pre_logits=True)  # type: ignore[operator]


def _dropout_hook(p: float) -> Callable[..., Any]:
    def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if not module.training or not p:
            return args
        return (F.dropout(args[0], p=p, training=True), *args[1:])
    return hook


def add_input_dropout(module: nn.Module, p: float) -> None:
    """Dropout on ``module``'s input while it trains, without touching its state dict
    (a saved classifier keeps timm's key names). Replaces an earlier one."""
    old = getattr(module, "_zoo_input_dropout", None)
    if old is not None:
        old.remove()
    setattr(module, "_zoo_input_dropout",  # noqa: B010 - a plain attribute, not a submodule
            module.register_forward_pre_hook(_dropout_hook(float(p))))
