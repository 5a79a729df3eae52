"""Real data from a run folder's recipe: input batches for parity checks and
calibration, and the task's own metric for accuracy before/after quantization.

This is the one module of :mod:`zoo_core.export` that knows how the engine
builds data and what a batch looks like (today ``Batch(inputs, targets,
skipped)`` through ``task.build_data`` / ``task.datasets``; the task contract
moves to dict batches). Re-wiring it to the new contract means changing
:func:`_loader`, :func:`_inputs_of` and :func:`evaluate` here, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo_core.errors import DataError, ZooError


def _recipe(run_dir: Path) -> Any:
    """The run's resolved recipe, without augmentation (parity, calibration and
    evaluation all want the deterministic evaluation transform)."""
    from zoo_core.recipe import load_resolved, recipe_from_dict

    raw = load_resolved(run_dir / "recipe.toml").to_dict()
    raw.get("data", {}).pop("augment", None)
    return recipe_from_dict(raw, source=str(run_dir / "recipe.toml"))


def _loader(run_dir: Path, data_config: dict[str, Any], split: str, batch_size: int,
            shuffle: bool, seed: int) -> tuple[Any, Any, Any, Any]:
    """(loader, task, prepared data, recipe) over ``split`` of the run's data."""
    from zoo_core.data.loaders import make_loader
    from zoo_core.data.transforms import resolve_data_config
    from zoo_core.plugins import registry

    recipe = _recipe(run_dir)
    task = registry().get("task", recipe.recipe.task).component.create()
    data = task.build_data(recipe)
    if split not in data.splits:
        raise DataError(f"The data of run {run_dir} has no {split!r} split; it has "
                        f"{', '.join(data.splits)}.")
    only = type(data)(data.classes, {split: data.splits[split]}, data.name)
    task_data = task.datasets(recipe, only, resolve_data_config(data_config))
    loader = make_loader(task_data.datasets[split], batch_size=batch_size, shuffle=shuffle,
                         seed=seed, num_workers=0)
    return loader, task, data, recipe


def _inputs_of(batch: Any) -> tuple[torch.Tensor, ...] | None:
    inputs = batch.inputs
    if inputs is None:
        return None
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def _splits(recipe: Any) -> list[str]:
    d = recipe.data
    out = ["train"]
    if (d.val_fraction or 0) > 0:
        out.append("val")
    if (d.test_fraction or 0) > 0:
        out.append("test")
    return out


def eval_split(run_dir: str | Path) -> str:
    """The split a run's model is scored on, as ``zoo eval`` picks it: the
    recipe's ``eval.split``, else test, val, train (the first the data has)."""
    recipe = _recipe(Path(run_dir))
    if recipe.eval.split:
        return str(recipe.eval.split)
    have = _splits(recipe)
    return next(s for s in ("test", "val", "train") if s in have)


def check_split(run_dir: str | Path) -> str:
    """The split parity is checked on: validation when the run has one, else
    the evaluation split."""
    recipe = _recipe(Path(run_dir))
    return "val" if "val" in _splits(recipe) else eval_split(run_dir)


def real_batches(run_dir: str | Path, data_config: dict[str, Any], *, split: str,
                 n_batches: int, batch_size: int, shuffle: bool = False, seed: int = 0,
                 role: str | None = None) -> list[tuple[torch.Tensor, ...]]:
    """Up to ``n_batches`` input batches (each a tuple of tensors) of ``split``.

    ``shuffle`` draws a seeded random order, so calibration on a few batches
    sees every class rather than the first ones. ``role`` is unused while a run
    holds one model; with several it will pick the role's inputs.
    """
    del role  # one input stream per run today
    loader, *_ = _loader(Path(run_dir), data_config, split, batch_size, shuffle, seed)
    out: list[tuple[torch.Tensor, ...]] = []
    for batch in loader:
        inputs = _inputs_of(batch)
        if inputs is None:
            continue
        out.append(inputs)
        if len(out) >= n_batches:
            break
    if not out:
        raise DataError(f"The {split!r} split of run {run_dir} gave no readable batch.")
    return out


def evaluate(run_dir: str | Path, model: nn.Module, data_config: dict[str, Any], *,
             split: str, batch_size: int = 32, role: str | None = None) -> dict[str, float]:
    """The task's metrics of ``model`` (any callable module, e.g. an ONNX Runtime
    session wrapped by :class:`~zoo_core.export.parity.OrtModule`) on ``split``."""
    del role
    loader, task, data, recipe = _loader(Path(run_dir), data_config, split, batch_size,
                                         False, 0)
    meter = task.meter("eval" if split == "train" else split, data, recipe)
    seen = 0
    with torch.inference_mode():
        for batch in loader:
            if batch.inputs is None:
                continue
            meter.update(task.forward_loss(model, batch))
            seen += int(batch.inputs.shape[0])
    if not seen:
        raise ZooError(f"The {split!r} split of run {run_dir} has no readable samples.")
    return {f"{split}/{k}": float(v) for k, v in meter.compute().items()}


def headline_metric(metrics: dict[str, float]) -> str | None:
    """The metric to put in a one-line summary: the first one that is not a loss."""
    return next((k for k in metrics if not k.endswith("loss")), None)
