"""Classification models: a backbone with its own classifier, or backbone + head.

A linear head uses the backbone's own classifier (``reset_classifier``), so
the saved weights keep timm's key names and load with ``timm.create_model``.
Any other head wraps the backbone (built with ``num_classes=0``) and the head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_classification.transfer import ModelParts
from zoo_core.nn import add_input_dropout


class Classifier(nn.Module):
    """``head(pooled features of backbone(x))``."""

    def __init__(self, backbone: nn.Module, head: nn.Module, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.pretrained_cfg = dict(getattr(backbone, "pretrained_cfg", {}) or {})

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        body: Any = self.backbone  # timm's interface, which nn.Module's typing does not know
        return body.forward_head(body.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))


def uses_own_classifier(head: str, head_cfg: dict[str, Any]) -> bool:
    """A linear head (with at most a dropout) is the backbone's own classifier."""
    return head == "linear" and set(head_cfg) <= {"dropout"}


def build_classifier(backbone: str, num_classes: int, head: str = "linear",
                     head_cfg: dict[str, Any] | None = None,
                     backbone_cfg: dict[str, Any] | None = None) -> nn.Module:
    """The architecture alone, randomly initialised (weights are loaded after)."""
    from zoo_core.plugins import registry

    head_cfg = dict(head_cfg or {})
    comp = registry().get("backbone", backbone).component
    if uses_own_classifier(head, head_cfg):
        model = comp.create(num_classes=num_classes, **(backbone_cfg or {}))
        if head_cfg.get("dropout"):
            add_input_dropout(model.get_classifier(), head_cfg["dropout"])
        return model
    body = comp.create(num_classes=0, **(backbone_cfg or {}))
    return wrap_with_head(body, num_classes, head, head_cfg)


def wrap_with_head(body: nn.Module, num_classes: int, head: str,
                   head_cfg: dict[str, Any]) -> Classifier:
    from zoo_core.plugins import registry

    in_features = int(getattr(body, "num_features"))  # noqa: B009 - typed as Module
    head_module = registry().get("head", head).component.create(
        in_features=in_features, num_classes=num_classes, **head_cfg)
    return Classifier(body, head_module, num_classes)


def parts_of(module: nn.Module) -> ModelParts | None:
    """Backbone, head and pooled-feature function of a classification model."""
    model: Any = module
    if isinstance(model, Classifier):
        return ModelParts(model=model, backbone=model.backbone, head=model.head,
                          features=model.pooled)
    get_classifier = getattr(model, "get_classifier", None)
    if get_classifier is None or not hasattr(model, "forward_features"):
        return None
    head = get_classifier()
    if not isinstance(head, nn.Module) or not any(True for _ in head.parameters()):
        return None

    def features(x: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.forward_features(x), pre_logits=True)

    return ModelParts(model=model, backbone=model, head=head, features=features,
                      head_dropout=float(getattr(model, "drop_rate", 0.0) or 0.0))
