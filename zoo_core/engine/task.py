"""What the engine asks of a task (kind ``task``).

A task owns its data, its model, its loss and its metrics; the engine owns
everything around them (devices, precision, optimizer, schedule, freezing,
feature cache, checkpoints, callbacks, the run folder). The engine calls,
in order:

1. ``build_data(recipe) -> DatasetSplits`` - class names and split sources.
2. ``create_model(recipe, data) -> ModelSpec`` - the model with its
   pretrained weights, data config, weights lock and the config that
   ``zoo_core.weights.save_model`` writes beside the best weights.
3. ``parts(model) -> ModelParts | None`` - backbone, head and a pooled
   feature function, for the transfer-learning modes and the feature cache
   (None: the model is trained as a whole).
4. ``datasets(recipe, data, data_config) -> TaskData`` - torch datasets per
   split, and whether the training transform is deterministic.
5. every step: ``forward_loss(net, batch) -> StepOutput`` (``net`` is the
   model, or a frozen-backbone or cached-feature view of it); metrics go
   through ``meter(split, data, recipe)`` objects with ``update(out)``,
   ``compute() -> {metric: float}`` and ``details() -> dict``.
6. ``build_model(**model_kwargs)`` rebuilds the architecture without
   weights (``zoo_core.weights.load_model`` uses it for saved runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class StepOutput:
    """One forward pass: the mean loss over the batch, and what metrics need."""

    loss: torch.Tensor
    outputs: Any = None
    targets: Any = None
    count: int = 0


@dataclass
class ModelSpec:
    """A built model with what the run folder records about it."""

    model: nn.Module
    data_config: dict[str, Any]
    save_config: dict[str, Any]
    lock: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class TaskData:
    """Torch datasets per split and facts the engine needs about them."""

    datasets: dict[str, Any]
    train_deterministic: bool
    classes: list[str] = field(default_factory=list)


class Task:
    """Base class with the hooks documented above."""

    name = "task"

    def build_data(self, recipe: Any) -> Any:
        raise NotImplementedError

    def create_model(self, recipe: Any, data: Any) -> ModelSpec:
        raise NotImplementedError

    def build_model(self, **model_kwargs: Any) -> nn.Module:
        raise NotImplementedError

    def parts(self, model: nn.Module) -> Any:
        return None

    def datasets(self, recipe: Any, data: Any, data_config: dict[str, Any]) -> TaskData:
        raise NotImplementedError

    def forward_loss(self, net: nn.Module, batch: Any) -> StepOutput:
        raise NotImplementedError

    def meter(self, split: str, data: Any, recipe: Any) -> Any:
        raise NotImplementedError
