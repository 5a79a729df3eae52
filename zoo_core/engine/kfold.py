"""k-fold cross-validation: K runs of one recipe and their mean ± std.

``zoo run RECIPE --folds K`` (or ``[data] folds = K``) cuts the non-test data
into K seeded folds, stratified when the data has labels
(:func:`zoo_core.data.splits.kfold_indices`), and trains K ordinary runs into
one parent folder::

    <parent>/
      recipe.toml        the recipe (data.folds = K)
      fold_1/ ... fold_K/  one `zoo run` folder each (data.fold = k, eval.split = "val")
      metrics.jsonl      one line per fold (its validation metrics), then the mean and std
      report.md          the per-fold table and mean ± std

Run k trains on the other K-1 folds and is evaluated on fold k (its validation
split) with the weights it keeps (the best epoch by the recipe's checkpoint
monitor): the usual cross-validation estimate. The test split stays out of the
folds and is never evaluated here. ``zoo run --resume <parent>`` continues an
interrupted cross-validation: finished folds are kept, a fold with a
checkpoint resumes, the others start.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo_core.engine import distributed
from zoo_core.engine.checkpoint import load_checkpoint
from zoo_core.engine.rundir import RunFolder, new_run_dir
from zoo_core.errors import ZooError


@dataclass
class KFoldResult:
    """The parent folder, each fold's final validation metrics, and their mean and
    (population) standard deviation per metric."""

    path: Path
    folds: list[dict[str, Any]]
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)


def fold_recipe(recipe: Any, fold: int) -> Any:
    """The recipe of fold ``fold``: validated on that fold, and evaluated there."""
    data = recipe.data.model_copy(update={"fold": fold})
    evaluation = recipe.eval.model_copy(update={"split": "val"})
    return recipe.model_copy(update={"data": data, "eval": evaluation})


def summarize(finals: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and population standard deviation (numpy.std, ddof 0) of every validation
    metric that every fold reports as a finite number."""
    keys = [k for k in finals[0] if k.startswith("val/")] if finals else []
    mean: dict[str, float] = {}
    std: dict[str, float] = {}
    for key in keys:
        values = [f.get(key) for f in finals]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            continue
        m = sum(values) / len(values)  # type: ignore[arg-type]
        mean[key] = m
        std[key] = math.sqrt(sum((v - m) ** 2 for v in values) / len(values))  # type: ignore
    return mean, std


def _finished_final(folder: Path) -> dict[str, Any] | None:
    """The final metrics line of a fold's run that finished, else None."""
    run = RunFolder(folder)
    if not run.checkpoint.exists() or not load_checkpoint(run.checkpoint).get("finished"):
        return None
    rows = run.read_metrics()
    return rows[-1] if rows and rows[-1].get("event") == "final" else None


def run_kfold(recipe: Any, *, out: str | os.PathLike[str] | None = None,
              resume: str | os.PathLike[str] | None = None, device: str | None = None,
              console: Console | None = None, progress: bool | None = None,
              on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> KFoldResult:
    """Train the ``recipe.data.folds`` runs of ``recipe`` into one parent folder (``out``,
    or a new ``runs/<recipe>/<timestamp>``; ``resume``: continue the one given), then
    write the parent's metrics.jsonl and report.md. ``on_epoch_end(metrics)`` is called
    after every epoch of every fold, with ``metrics["fold"]`` set."""
    from zoo_core.engine.run import run_recipe

    k = recipe.data.folds
    if not k or recipe.data.fold is not None:
        raise ZooError("run_kfold needs a recipe with data.folds set and data.fold unset.")
    main = distributed.is_main()
    console = console or Console(stderr=True, soft_wrap=True)
    if not main:
        console = Console(quiet=True)
    if resume is not None:
        parent = RunFolder(resume)
    else:
        parent = RunFolder(distributed.on_main(lambda: new_run_dir(recipe.name, out)))
        if main:
            parent.write_recipe(recipe.to_toml())
    console.print(f"[bold]{k}-fold cross-validation[/bold] of {recipe.name} -> {parent.path}",
                  highlight=False)
    finals: list[dict[str, Any]] = []
    for fold in range(1, k + 1):
        folder = parent.path / f"fold_{fold}"
        final = _finished_final(folder)
        if final is not None:
            console.print(f"fold {fold}/{k}: finished earlier", highlight=False)
        else:
            console.print(f"[bold]fold {fold}/{k}[/bold]", highlight=False)

            def report(metrics: dict[str, Any], fold: int = fold) -> None:
                if on_epoch_end is not None:
                    on_epoch_end({**metrics, "fold": fold})

            started = RunFolder(folder).checkpoint.exists()
            if not started and main and folder.exists():
                shutil.rmtree(folder)  # stopped before its first epoch ended: nothing to keep
            result = run_recipe(fold_recipe(recipe, fold), out=None if started else folder,
                                resume=folder if started else None, device=device,
                                console=console, progress=progress, on_epoch_end=report)
            final = result.final
        finals.append(final)
        if main:
            write_summary(parent, recipe, finals)
    mean, std = summarize(finals)
    shown = "  ".join(f"{key} {mean[key]:.4f} ± {std[key]:.4f}" for key in mean)
    console.print(f"[bold green]{k}-fold[/bold green] mean ± std: {shown}", highlight=False)
    console.print(f"report: {parent.report}", highlight=False)
    return KFoldResult(parent.path, finals, mean, std)


def write_summary(parent: RunFolder, recipe: Any, finals: list[dict[str, Any]]) -> None:
    """The parent's metrics.jsonl and report.md from the folds finished so far."""
    from zoo_core.atomic import atomic_open
    from zoo_core.engine.report import table

    k = int(recipe.data.folds)
    mean, std = summarize(finals)
    rows = [{"event": "fold", "fold": i, "run": f"fold_{i}", "epoch": f.get("epoch"),
             **{key: v for key, v in f.items() if key.startswith("val/")}}
            for i, f in enumerate(finals, 1)]
    summary = {"event": "kfold", "folds": k, "done": len(finals), "split": "val",
               "mean": mean, "std": std}
    with atomic_open(parent.metrics_jsonl) as fh:
        for row in [*rows, summary]:
            fh.write(json.dumps(row) + "\n")
    keys = list(mean) or [key for key in (finals[0] if finals else {}) if key.startswith("val/")]
    lines = [f"# {recipe.name}: {k}-fold cross-validation", ""]
    if recipe.recipe.description:
        lines += [recipe.recipe.description, ""]
    seed = recipe.data.split_seed
    lines += [
        f"Resolved recipe in `recipe.toml`; one run folder per fold (`fold_1/` ... "
        f"`fold_{k}/`, each with its own report.md).", "",
        f"The data outside the test split is cut into {k} folds (seed {seed}; stratified by "
        "class when the data has labels). Run k trains on the other folds and is evaluated "
        "on fold k, its validation split, with the weights it keeps (the best epoch by "
        f"`train.checkpoint.monitor` = `{recipe.train.checkpoint.monitor}`). The test split "
        "is not used.", ""]
    if len(finals) < k:
        lines += [f"**{len(finals)} of {k} folds finished**; `zoo run --resume "
                  f"{parent.path}` continues.", ""]
    lines += table(["fold", "epochs", *keys, "run"],
                   [[i, f.get("epoch"), *(f.get(key) for key in keys), f"`fold_{i}/`"]
                    for i, f in enumerate(finals, 1)])
    if mean:
        lines += table(["", "", *keys, ""], [["mean", "", *(mean[key] for key in keys), ""],
                                             ["std", "", *(std[key] for key in keys), ""]])[2:]
        lines += ["", "Mean ± std over the folds (population std, as numpy.std):", ""]
        lines += [f"- {key}: {mean[key]:.4f} ± {std[key]:.4f}" for key in keys]
    lines.append("")
    with atomic_open(parent.report) as fh:
        fh.write("\n".join(lines))
