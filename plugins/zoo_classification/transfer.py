"""Transfer-learning modes over any backbone with timm's ``feature_info``.

* ``feature_extract``: every backbone parameter frozen, the whole model in
  eval mode (BatchNorm statistics untouched, backbone dropout off); only the
  head trains, on pooled features computed without a graph.
* ``fine_tune`` / ``scratch``: everything trains.
* ``partial``: the first N stages frozen and in eval mode; the rest trains.

Stages come from :class:`zoo_core.nn.StageMap` (timm's ``feature_info``); the
head is never part of a stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.nn import StageMap, set_stage_modes


@dataclass
class ModelParts:
    """How a task's model splits into a backbone and a head.

    ``features(x)`` returns pooled, pre-logits features, and
    ``head(dropout(features(x), head_dropout))`` must equal ``model(x)`` in
    eval mode for the frozen-backbone path (and its feature cache) to be used.
    """

    model: nn.Module
    backbone: nn.Module
    head: nn.Module
    features: Callable[[torch.Tensor], torch.Tensor] | None = None
    head_dropout: float = 0.0

    def head_forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.head_dropout and self.head.training:
            feats = F.dropout(feats, p=self.head_dropout, training=True)
        return self.head(feats)


def stage_map(parts: ModelParts) -> StageMap:
    """The backbone's stages; the head belongs to none."""
    return StageMap(parts.backbone, exclude=[parts.head], model=parts.model)


def frozen_stage_count(mode: str, freeze_stages: int, num_stages: int) -> int:
    if mode == "feature_extract":
        return num_stages
    if mode == "partial":
        return min(freeze_stages, num_stages)
    return 0


def set_train_mode(parts: ModelParts, stages: StageMap, mode: str, frozen: int) -> None:
    """Train mode, except frozen stages (and, for feature extraction, all but the head)."""
    if mode == "feature_extract":
        parts.model.eval()
        parts.head.train()
        return
    set_stage_modes(parts.model, stages, frozen)


def frozen_path_matches(parts: ModelParts, example: torch.Tensor) -> bool:
    """Does ``head(features(x))`` reproduce ``model(x)`` in eval mode?"""
    if parts.features is None:
        return False
    from zoo_core.api import eval_mode

    with torch.no_grad(), eval_mode(parts.model):
        try:
            full = parts.model(example)
            split = parts.head(parts.features(example))
        except Exception:  # noqa: BLE001 - any mismatch in shapes means "no"
            return False
    return full.shape == split.shape and torch.allclose(full, split, rtol=1e-4, atol=1e-5)




class FrozenBackboneNet(nn.Module):
    """The forward of feature extraction: features without a graph, then the head."""

    parts: ModelParts

    def __init__(self, parts: ModelParts):
        super().__init__()
        object.__setattr__(self, "parts", parts)  # not a submodule: no double registration

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.parts.features is not None
        with torch.no_grad():
            feats = self.parts.features(x)
        return self.parts.head_forward(feats)


class CachedHeadNet(nn.Module):
    """The forward over cached features: the head alone."""

    parts: ModelParts

    def __init__(self, parts: ModelParts):
        super().__init__()
        object.__setattr__(self, "parts", parts)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.parts.head_forward(feats)
