"""The classification task: image -> class, cross-entropy, top-k/F1/confusion."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo_classification.metrics import ClassificationMeter
from zoo_classification.model import (
    Classifier,
    build_classifier,
    parts_of,
    uses_own_classifier,
    wrap_with_head,
)
from zoo_core.engine.task import ModelSpec, StepOutput, Task, TaskData
from zoo_core.engine.transfer import add_input_dropout
from zoo_core.errors import ZooError


def _weights_arg(model_cfg: Any) -> str | None:
    if model_cfg.mode == "scratch" or str(model_cfg.weights).lower() == "none":
        return None
    return model_cfg.weights


def _backbone_cfg(model_cfg: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    if model_cfg.in_chans is not None:
        cfg["in_chans"] = model_cfg.in_chans
    if model_cfg.drop_rate is not None:
        cfg["drop_rate"] = model_cfg.drop_rate
    return cfg


def _architecture(name: str, model: nn.Module) -> str:
    """The registry name of the backbone (what timm calls the architecture)."""
    pretrained = getattr(model, "pretrained_cfg", None) or {}
    if name.startswith("hf://"):
        arch = pretrained.get("architecture")
        if not arch:
            raise ZooError(f"Cannot tell which architecture {name} holds: its config.json "
                           "names none.")
        return str(arch)
    from zoo_core.plugins import registry

    return registry().get("backbone", name).component.name


def _checkpoint_labels(lock: list[dict[str, Any]]) -> list[str] | None:
    """The class names a saved zoo model was trained on (config.json beside its weights)."""
    import json
    from pathlib import Path

    for entry in lock:
        path = entry.get("path")
        config = Path(path).parent / "config.json" if path else None
        if config is None or not config.is_file():
            continue
        try:
            names = json.loads(config.read_text(encoding="utf-8")).get("label_names")
        except (OSError, ValueError):
            continue
        if isinstance(names, list):
            return [str(n) for n in names]
    return None


class ClassificationTask(Task):
    name = "classification"

    def __init__(self) -> None:
        self.label_smoothing = 0.0
        self.classes: list[str] = []

    # -- data -------------------------------------------------------------------------
    def build_data(self, recipe: Any) -> Any:
        from zoo_core.data.splits import prepare_splits
        from zoo_core.plugins import registry

        d = recipe.data
        comp = registry().get("dataset", d.dataset).component
        raw = comp.create(root=d.root, download=d.download)
        data = prepare_splits(raw, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                              seed=d.split_seed if d.split_seed is not None else recipe.recipe.seed,
                              classes=d.classes, subset_per_class=d.subset_per_class)
        self.classes = list(data.classes)
        self.label_smoothing = float(recipe.train.label_smoothing)
        return data

    def datasets(self, recipe: Any, data: Any, data_config: dict[str, Any]) -> TaskData:
        from zoo_core.data.dataset import ImageDataset
        from zoo_core.data.transforms import (
            eval_transform,
            image_mode,
            is_deterministic,
            train_transform,
        )

        augment = recipe.data.augment
        deterministic = is_deterministic(augment)
        mode = image_mode(data_config)
        out = {}
        for split, source in data.splits.items():
            train = split == "train"
            tf = train_transform(data_config, augment) if train else eval_transform(data_config)
            out[split] = ImageDataset(source, tf, mode=mode, random=train and not deterministic,
                                      seed=recipe.recipe.seed)
        return TaskData(out, deterministic, list(data.classes))

    # -- model ------------------------------------------------------------------------
    def build_model(  # type: ignore[override]
            self, backbone: str, num_classes: int, head: str = "linear",
            head_cfg: dict[str, Any] | None = None,
            backbone_cfg: dict[str, Any] | None = None) -> nn.Module:
        return build_classifier(backbone, num_classes, head, head_cfg, backbone_cfg)

    def create_model(self, recipe: Any, data: Any) -> ModelSpec:
        from zoo_core.data.transforms import resolve_data_config
        from zoo_core.weights import create_model

        m = recipe.model
        classes = list(data.classes)
        num_classes = m.num_classes or len(classes)
        if num_classes != len(classes):
            raise ZooError(f"model.num_classes = {m.num_classes}, but the data has "
                           f"{len(classes)} classes; remove model.num_classes.")
        head_cfg = dict(m.head_cfg or {})
        own = uses_own_classifier(m.head, head_cfg)
        bcfg = _backbone_cfg(m)
        loaded = create_model("backbone", m.backbone, weights=_weights_arg(m),
                              num_classes=num_classes if own else 0, **bcfg)
        body: Any = loaded.model  # timm's interface, beyond nn.Module's typing
        if own and not (hasattr(body, "get_classifier") and hasattr(body, "forward_features")):
            raise ZooError(f"Backbone {m.backbone!r} has no get_classifier/forward_features "
                           "(timm's interface), so it cannot be used as a classifier.")
        notes = []
        if own and loaded.lock:
            trained_for = _checkpoint_labels(loaded.lock)
            if trained_for is not None and trained_for != classes:
                # same shape, other classes: a head for them would only mislead the start
                body.reset_classifier(num_classes)
                notes.append("new classifier: the checkpoint's was trained on other classes")
        if own:
            model: nn.Module = body
            if head_cfg.get("dropout"):
                add_input_dropout(body.get_classifier(), head_cfg["dropout"])
        else:
            model = wrap_with_head(body, num_classes, m.head, head_cfg)
        arch = _architecture(m.backbone, body)
        data_config = resolve_data_config(loaded.data_config, image_size=recipe.data.image_size,
                                          in_chans=m.in_chans)
        pretrained_cfg: dict[str, Any] = {k: data_config[k] for k in
                          ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
                          if k in data_config}
        pretrained_cfg["num_classes"] = num_classes
        save_config: dict[str, Any] = {
            "num_classes": num_classes,
            "pretrained_cfg": pretrained_cfg,
            "label_names": classes,
            "zoo": {
                "builder": {"kind": "task", "name": self.name},
                "model": {"backbone": arch, "num_classes": num_classes, "head": m.head,
                          "head_cfg": head_cfg, "backbone_cfg": bcfg},
                "task": self.name,
                "recipe": {"name": recipe.name, "backbone": m.backbone, "weights": m.weights,
                           "mode": m.mode, "dataset": recipe.data.dataset},
            },
        }
        if own:  # timm can load this folder as `architecture` with `num_classes`
            save_config["architecture"] = arch
            if bcfg:
                save_config["model_args"] = bcfg
        report = loaded.report or {}
        dropped = report.get("dropped") or report.get("dropped_classifier")
        if dropped:
            notes.append(f"new {num_classes}-way classifier (pretrained one dropped)")
        return ModelSpec(model=model, data_config=data_config, save_config=save_config,
                         lock=list(loaded.lock), notes=notes)

    def parts(self, model: nn.Module) -> Any:
        return parts_of(model)

    # -- steps ----------------------------------------------------------------------------
    def forward_loss(self, net: nn.Module, batch: Any) -> StepOutput:
        logits = net(batch.inputs)
        # label smoothing regularizes training; evaluation reports the plain cross-entropy
        smoothing = self.label_smoothing if torch.is_grad_enabled() else 0.0
        loss = F.cross_entropy(logits.float(), batch.targets, label_smoothing=smoothing)
        return StepOutput(loss=loss, outputs=logits, targets=batch.targets,
                          count=int(batch.targets.shape[0]))

    def meter(self, split: str, data: Any, recipe: Any) -> ClassificationMeter:
        num_classes = len(data.classes)
        if split == "train":
            return ClassificationMeter(num_classes, (1,), confusion=False)
        return ClassificationMeter(num_classes, recipe.eval.topk, confusion=True)

    # -- prediction ---------------------------------------------------------------------------
    @staticmethod
    def probabilities(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(inputs).float(), dim=1)


__all__ = ["ClassificationTask", "Classifier"]
