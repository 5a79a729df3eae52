"""Transfer-learning modes over any backbone with timm's ``feature_info``.

* ``feature_extract``: every backbone parameter frozen, the whole model in
  eval mode (BatchNorm statistics untouched, backbone dropout off); only the
  head trains, on pooled features computed without a graph.
* ``fine_tune`` / ``scratch``: everything trains.
* ``partial``: the first N stages frozen and in eval mode; the rest trains.

Stages come from ``feature_info``: each entry names the module that ends a
stage, and every parameter belongs to the first stage whose module subtree
ends at or after it, in module definition order. Modules after the last
stage (a final conv or norm before pooling) belong to the last stage; the
head is never part of a stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("fine_tune", "feature_extract", "partial", "scratch")


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


def _feature_modules(backbone: nn.Module) -> list[str]:
    info = getattr(backbone, "feature_info", None)
    if info is None:
        return []
    if hasattr(info, "module_name"):  # timm's FeatureInfo (features_only models)
        return list(info.module_name())
    names = []
    for entry in info:
        name = entry.get("module") if isinstance(entry, dict) else None
        if name:
            names.append(name)
    return names


class StageMap:
    """Which stage each backbone module and parameter belongs to."""

    def __init__(self, parts: ModelParts):
        backbone = parts.backbone
        head_params = {id(p) for p in parts.head.parameters()}
        head_modules = {id(m) for m in parts.head.modules()}
        modules = list(backbone.named_modules())
        pos = {name: i for i, (name, _) in enumerate(modules)}
        ends: list[int] = []
        for name in _feature_modules(backbone):
            if name not in pos:
                continue
            end = max(i for i, (n, _) in enumerate(modules)
                      if n == name or n.startswith(name + "."))
            if not ends or end > ends[-1]:
                ends.append(end)
        self.num_stages = max(len(ends), 1)

        def stage_at(index: int) -> int:
            for k, end in enumerate(ends):
                if index <= end:
                    return k
            return self.num_stages - 1

        self.module_stage: dict[int, int] = {}
        for i, (_, module) in enumerate(modules):
            if id(module) not in head_modules and i > 0:
                self.module_stage[id(module)] = stage_at(i)
        self.params: list[list[nn.Parameter]] = [[] for _ in range(self.num_stages)]
        seen: set[int] = set()
        for name, param in backbone.named_parameters():
            if id(param) in head_params or id(param) in seen:
                continue
            seen.add(id(param))
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            self.params[stage_at(pos.get(owner, 0))].append(param)
        self.head_params = [p for p in parts.head.parameters()]
        # parameters of the model that are neither backbone nor head (a wrapper's own)
        known = seen | head_params
        self.other_params = [p for p in parts.model.parameters() if id(p) not in known]


def frozen_stage_count(mode: str, freeze_stages: int, num_stages: int) -> int:
    if mode == "feature_extract":
        return num_stages
    if mode == "partial":
        return min(freeze_stages, num_stages)
    return 0


def apply_freeze(parts: ModelParts, stages: StageMap, frozen: int) -> None:
    """Freeze the first ``frozen`` stages (all of them: feature extraction)."""
    for k, params in enumerate(stages.params):
        for p in params:
            p.requires_grad_(k >= frozen)
    for p in stages.head_params + stages.other_params:
        p.requires_grad_(True)


def set_train_mode(parts: ModelParts, stages: StageMap, mode: str, frozen: int) -> None:
    """Train mode, except frozen stages (and, for feature extraction, all but the head)."""
    model = parts.model
    if mode == "feature_extract":
        model.eval()
        parts.head.train()
        return
    model.train()
    if frozen <= 0:
        return
    for module in model.modules():
        stage = stages.module_stage.get(id(module))
        if stage is None or stage >= frozen:
            continue
        if any(p.requires_grad for p in module.parameters()):
            continue  # an ancestor of something that trains
        module.training = False


def frozen_path_matches(parts: ModelParts, example: torch.Tensor) -> bool:
    """Does ``head(features(x))`` reproduce ``model(x)`` in eval mode?"""
    if parts.features is None:
        return False
    from zoo_core.engine.devices import eval_mode

    with torch.no_grad(), eval_mode(parts.model):
        try:
            full = parts.model(example)
            split = parts.head(parts.features(example))
        except Exception:  # noqa: BLE001 - any mismatch in shapes means "no"
            return False
    return full.shape == split.shape and torch.allclose(full, split, rtol=1e-4, atol=1e-5)


def _drop_hook(p: float) -> Callable[..., Any]:
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
            module.register_forward_pre_hook(_drop_hook(float(p))))


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
