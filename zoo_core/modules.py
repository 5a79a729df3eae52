"""Helpers over torch modules that every kind shares (imports torch)."""

from __future__ import annotations

from typing import Any

import torch
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
