"""``zoo eval`` and ``zoo predict`` over a saved model or a run folder."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo_core.engine.rundir import model_folder
from zoo_core.errors import DataError, ZooError


@dataclass
class SavedModel:
    folder: Path
    model: torch.nn.Module
    data_config: dict[str, Any]
    config: dict[str, Any]
    run_dir: Path | None

    @property
    def labels(self) -> list[str]:
        names = self.config.get("label_names")
        if names:
            return [str(n) for n in names]
        n = int(self.config.get("num_classes") or 0)
        return [str(i) for i in range(n)]

    @property
    def task_name(self) -> str | None:
        zoo = self.config.get("zoo") or {}
        return zoo.get("task") if isinstance(zoo, dict) else None


def open_saved(path: str | os.PathLike[str], device: torch.device) -> SavedModel:
    from zoo_core.data.transforms import resolve_data_config
    from zoo_core.weights import load_model

    folder = model_folder(path)
    loaded = load_model(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    run_dir = folder.parent if (folder.parent / "recipe.toml").exists() else None
    model = loaded.model.to(device).eval()
    return SavedModel(folder, model, resolve_data_config(loaded.data_config), config, run_dir)


def _eval_recipe(saved: SavedModel, data: str | None, overrides: list[str]) -> Any:
    """The recipe whose [data] says what to evaluate on."""
    from zoo_core.recipe import load_resolved
    from zoo_core.recipe.schema import Recipe

    if data is None:
        if saved.run_dir is None:
            raise ZooError(f"{saved.folder} is a bare model folder: say what to evaluate on "
                           "with --data (an image folder or a data set name).")
        recipe = load_resolved(saved.run_dir / "recipe.toml")
        raw = recipe.to_dict()
    else:
        raw = {"recipe": {"name": "eval", "task": saved.task_name or "classification"},
               "data": {}}
        if saved.run_dir is not None:
            raw = load_resolved(saved.run_dir / "recipe.toml").to_dict()
        from zoo_core.plugins import registry

        if Path(data).expanduser().exists():
            raw["data"] = {"dataset": "imagefolder", "root": str(Path(data).expanduser()),
                           "val_fraction": 0.0, "test_fraction": 0.0}
        else:
            registry().get("dataset", data)  # did-you-mean for a misspelled name
            raw["data"] = {"dataset": data, "val_fraction": 0.0, "test_fraction": 0.0}
    raw["data"].pop("augment", None)
    raw["data"]["subset_per_class"] = None
    for text in overrides:
        from zoo_core.recipe import parse_override

        keys, value = parse_override(text)
        node = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return Recipe.model_validate(_drop_none(raw))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _align_labels(data: Any, labels: list[str]) -> Any:
    """Renumber the data's classes to the model's label order."""
    from zoo_core.data.sources import DatasetSplits, Source, SubsetSource

    if list(data.classes) == labels:
        return data
    unknown = [c for c in data.classes if c not in labels]
    if unknown:
        raise DataError(
            f"The data has classes the model does not know: {', '.join(unknown[:10])}"
            f"{' ...' if len(unknown) > 10 else ''}. The model predicts: "
            f"{', '.join(labels[:20])}{' ...' if len(labels) > 20 else ''}."
        )
    label_map = {i: labels.index(c) for i, c in enumerate(data.classes)}
    splits: dict[str, Source] = {
        k: SubsetSource(v, range(len(v)), label_map=label_map, classes=labels)
        for k, v in data.splits.items()}
    return DatasetSplits(labels, splits, data.name, list(data.notes))


def evaluate_saved(path: str | os.PathLike[str], *, data: str | None = None,
                   split: str | None = None, device: str | None = None,
                   batch_size: int | None = None, overrides: list[str] | None = None
                   ) -> dict[str, Any]:
    """Metrics of a saved model on a split of a data set."""
    from zoo_core.data.dataset import BadImagePolicy
    from zoo_core.data.loaders import make_loader
    from zoo_core.engine.devices import resolve_device
    from zoo_core.engine.task import StepOutput
    from zoo_core.plugins import registry

    dev = resolve_device(device)
    saved = open_saved(path, dev)
    recipe = _eval_recipe(saved, data, list(overrides or []))
    task = registry().get("task", saved.task_name or recipe.recipe.task).component.create()
    prepared = _align_labels(task.build_data(recipe), saved.labels)
    chosen = split or recipe.eval.split or next(
        (s for s in ("test", "val", "train") if s in prepared.splits), "train")
    if chosen not in prepared.splits:
        raise DataError(f"The data has no {chosen!r} split; it has "
                        f"{', '.join(prepared.splits)}.")
    only = type(prepared)(prepared.classes, {chosen: prepared.splits[chosen]}, prepared.name)
    task_data = task.datasets(recipe, only, saved.data_config)
    loader = make_loader(task_data.datasets[chosen], batch_size=batch_size or
                         recipe.eval.batch_size or 64, shuffle=False,
                         num_workers=recipe.data.num_workers)
    policy = BadImagePolicy(recipe.data.bad_images)
    # "train" would get the light training meter; any evaluation gets the full one
    meter = task.meter("eval" if chosen == "train" else chosen, prepared, recipe)
    with torch.no_grad():
        for batch in loader:
            policy.check(batch.skipped)
            if batch.inputs is None:
                continue
            out: StepOutput = task.forward_loss(saved.model, type(batch)(
                batch.inputs.to(dev), batch.targets.to(dev), ()))
            meter.update(out)
    result = {f"{chosen}/{k}": v for k, v in meter.compute().items()}
    details = meter.details(prepared.classes) if hasattr(meter, "details") else {}
    return {"model": str(saved.folder), "split": chosen, "samples": len(only.splits[chosen]),
            "skipped": sorted(policy.seen), "metrics": result, "details": details}


def predict_images(path: str | os.PathLike[str], images: list[str], *, topk: int = 5,
                   device: str | None = None) -> list[dict[str, Any]]:
    """Softmax probabilities of the top ``topk`` classes for each image file."""
    from PIL import Image

    from zoo_core.data.transforms import eval_transform, image_mode
    from zoo_core.engine.devices import resolve_device

    dev = resolve_device(device)
    saved = open_saved(path, dev)
    transform = eval_transform(saved.data_config)
    mode = image_mode(saved.data_config)
    tensors = []
    for name in images:
        p = Path(name).expanduser()
        if not p.is_file():
            raise DataError(f"Image {name!r} does not exist.")
        try:
            with Image.open(p) as img:
                img.load()
                tensors.append(transform(img.convert(mode)))
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"Cannot read image {name!r} ({type(exc).__name__}: {exc}).") \
                from None
    labels = saved.labels
    results = []
    with torch.no_grad():
        for start in range(0, len(tensors), 32):
            x = torch.stack(tensors[start:start + 32]).to(dev)
            logits = saved.model(x)
            if logits.ndim != 2:
                raise ZooError(f"{saved.folder} does not output class scores (got shape "
                               f"{tuple(logits.shape)}); zoo predict is for classifiers.")
            probs = torch.softmax(logits.float(), dim=1).cpu()
            k = min(topk, probs.shape[1])
            top = probs.topk(k, dim=1)
            for i in range(probs.shape[0]):
                preds = [{"class": labels[j] if j < len(labels) else str(j), "index": int(j),
                          "probability": float(v)}
                         for v, j in zip(top.values[i].tolist(), top.indices[i].tolist(),
                                         strict=True)]
                results.append({"image": images[start + i], "predictions": preds})
    return results
