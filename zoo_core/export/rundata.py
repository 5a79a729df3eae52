"""Real data from a run folder: input batches for parity checks and calibration,
and the task's own metrics for accuracy before/after quantization.

All of it goes through the engine, as ``zoo eval`` does: the run's recipe
(without augmentation) is built into a pipeline around the saved models, the
task says which tensors of a batch a role's model takes
(:meth:`~zoo_core.engine.task.Task.model_inputs`), and evaluation is the task's
own ``eval_step`` and meter, with the model under test in the role's place.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo_core.errors import DataError, ZooError


def _pipeline(run_dir: Path, role: str | None, model: nn.Module | None = None
              ) -> tuple[Any, str]:
    """(pipeline over the run's data with its saved models, the role under test);
    ``model`` (an ONNX Runtime session wrapped as a module...) takes the role's place."""
    from zoo_core.engine.evaluate import eval_recipe, open_saved
    from zoo_core.engine.pipeline import build_pipeline

    cpu = torch.device("cpu")
    run, saved = open_saved(run_dir, cpu, role, every_role=True)
    recipe = eval_recipe(run, saved, None, [])
    key = role or (next(iter(saved)) if len(saved) == 1 else None)
    if key is None:
        from zoo_core.recipe import task_of

        key = task_of(recipe).main_role
    if model is not None:
        saved[key] = dataclasses.replace(saved[key], model=model)
    return build_pipeline(recipe, cpu, saved=saved), key


def eval_split(run_dir: str | Path) -> str:
    """The split a run's model is scored on, as ``zoo run`` picks it."""
    from zoo_core.engine.run import final_split

    pipe, _ = _pipeline(Path(run_dir), None)
    return final_split(pipe.recipe, pipe.loaders)


def check_split(run_dir: str | Path) -> str:
    """The split parity is checked on: validation when the run has one, else the
    evaluation split."""
    pipe, _ = _pipeline(Path(run_dir), None)
    if "val" in pipe.loaders:
        return "val"
    from zoo_core.engine.run import final_split

    return final_split(pipe.recipe, pipe.loaders)


def real_batches(run_dir: str | Path, data_config: dict[str, Any], *, split: str,
                 n_batches: int, batch_size: int, shuffle: bool = False, seed: int = 0,
                 role: str | None = None) -> list[tuple[torch.Tensor, ...]]:
    """Up to ``n_batches`` input batches of ``split`` for ``role``'s model (each a tuple
    of tensors), through the evaluation transform; ``[]`` when the task feeds that
    model nothing from the data (a generator's noise: the caller draws random inputs).

    ``shuffle`` draws a seeded random order, so calibration on a few batches sees
    every class rather than the first ones. ``data_config`` is the saved model's
    (the pipeline reads the same one from the model folder). Images of different
    sizes (whole evaluation images) come one per batch.
    """
    from zoo_core.data.loaders import make_loader

    pipe, key = _pipeline(Path(run_dir), role)
    if split not in pipe.datasets:
        raise DataError(f"The data of run {run_dir} has no {split!r} split; it has "
                        f"{', '.join(pipe.datasets)}.")
    dataset = pipe.datasets[split]
    if pipe.recipe.eval.batch_size == 1:  # the task evaluates whole images one by one
        batch_size, n_batches = 1, n_batches * batch_size
    loader = make_loader(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed,
                         num_workers=0)
    out: list[tuple[torch.Tensor, ...]] = []
    for batch in loader:
        pipe.policy.check(batch.skipped)
        if not batch:
            continue
        inputs = pipe.task.model_inputs(key, batch)
        if inputs is None:
            return []
        out.append(inputs)
        if len(out) >= n_batches:
            break
    if not out:
        raise DataError(f"The {split!r} split of run {run_dir} gave no readable batch.")
    return out


def evaluate(run_dir: str | Path, model: nn.Module, data_config: dict[str, Any], *,
             split: str, batch_size: int = 32, role: str | None = None) -> dict[str, float]:
    """The task's metrics of ``model`` (any callable module, e.g. an ONNX Runtime
    session wrapped by :class:`~zoo_core.export.parity.OrtModule`) on ``split``, in
    ``role``'s place."""
    from zoo_core.data.dataset import batch_size as count
    from zoo_core.data.loaders import make_loader

    pipe, _ = _pipeline(Path(run_dir), role, model)
    if split not in pipe.datasets:
        raise DataError(f"The data of run {run_dir} has no {split!r} split.")
    loader = make_loader(pipe.datasets[split], batch_size=batch_size, shuffle=False,
                         num_workers=0)
    meter = pipe.task.meter("eval" if split == "train" else split)
    seen = 0
    with torch.inference_mode():
        for batch in loader:
            pipe.policy.check(batch.skipped)
            if not batch:
                continue
            pipe.task.eval_step(pipe.to_device(batch), pipe.ctx, meter)
            seen += count(batch)
    if not seen:
        raise ZooError(f"The {split!r} split of run {run_dir} has no readable samples.")
    return {f"{split}/{k}": float(v) for k, v in meter.compute().items()}


def headline_metric(metrics: dict[str, float]) -> str | None:
    """The metric to put in a one-line summary: the first one that is not a loss."""
    return next((k for k in metrics if not k.endswith("loss")), None)
