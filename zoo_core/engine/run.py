"""``zoo run`` end to end: build, train, evaluate, and fill the run folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo_core.engine import distributed
from zoo_core.engine.checkpoint import load_checkpoint, save_checkpoint
from zoo_core.engine.pipeline import build_pipeline
from zoo_core.engine.progress import TrainProgress
from zoo_core.engine.rundir import RunFolder, new_run_dir
from zoo_core.engine.trainer import FitResult, Trainer
from zoo_core.errors import ZooError


@dataclass
class RunResult:
    path: Path
    final: dict[str, Any]
    fit: FitResult


def final_split(recipe: Any, splits: Any) -> str:
    """The split the final evaluation uses: the recipe's, else test, val, train."""
    split = recipe.eval.split or ("test" if "test" in splits else "val")
    if split not in splits:
        split = "val" if "val" in splits else "train"
    return str(split)


def run_recipe(recipe: Any, *, out: str | os.PathLike[str] | None = None,
               resume: str | os.PathLike[str] | None = None, device: str | None = None,
               console: Console | None = None, progress: bool | None = None,
               on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Train ``recipe`` into a new run folder, or continue the run in ``resume``.

    ``on_epoch_end(metrics)`` is called after each epoch's metrics are recorded (history,
    checkpoint, metrics.jsonl); an exception it raises (e.g. ``optuna.TrialPruned``) stops
    the run and propagates, leaving the run folder as it is after that epoch.

    In a process group (``zoo run --nproc N``, torchrun) every process calls this; rank 0
    alone prints and writes the run folder (see :mod:`zoo_core.engine.distributed`).
    """
    if recipe.data.folds and recipe.data.fold is None:
        raise ZooError(f"The recipe asks for {recipe.data.folds}-fold cross-validation "
                       "(data.folds) but names no fold: `zoo run` (zoo_core.engine.kfold."
                       "run_kfold) makes the K runs; to train one fold set data.fold.")
    main = distributed.is_main()
    console = console or Console(stderr=True, soft_wrap=True)
    if not main:
        console, progress = Console(quiet=True), False
    if resume is not None:
        run = RunFolder(resume)
        state = load_checkpoint(run.checkpoint)
        if state.get("finished"):
            raise ZooError(f"The run in {run.path} has already finished; there is nothing to "
                           "resume. Its results are in report.md and metrics.jsonl.")
    else:
        run = RunFolder(distributed.on_main(lambda: new_run_dir(recipe.name, out)))
        if main:
            run.write_recipe(recipe.to_toml())
    with TrainProgress(console, enabled=progress) as bar:
        bar.log(f"[bold]zoo run[/bold] {recipe.name} -> {run.path}")
        pipe = build_pipeline(recipe, device, warn=lambda msg: bar.log(f"[yellow]{msg}[/yellow]"))
        if main:
            run.write_lock([entry for spec in pipe.specs.values() for entry in spec.lock])
        from zoo_core.nn import count_params

        params = {role: count_params(spec.model) for role, spec in pipe.specs.items()}
        sizes = pipe.data.sizes()
        classes = f"{len(pipe.data.classes)} classes, " if pipe.data.classes else ""
        bar.log(f"data {recipe.data.dataset}: {classes}"
                + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        for note in pipe.data.notes:
            bar.log(f"  {note}")
        for label, text in pipe.task.describe(recipe):
            bar.log(f"{label}: {text}")
        for role, spec in pipe.specs.items():
            bar.log(f"  {role}: {params[role]:,} parameters"
                    + "".join(f"; {note}" for note in spec.notes))
        device_text = f"{pipe.device}{distributed.describe()}"
        bar.log(f"task {pipe.task.name}; device {device_text}, precision {pipe.precision.name}")
        trainer = Trainer(pipe, run, bar, on_epoch_end=on_epoch_end)
        if resume is not None:
            state = trainer.load(run.checkpoint)
            where = (f"epoch {state['epoch'] + 1}, batch {state['step']}" if state["step"]
                     else f"the end of epoch {state['epoch']}")
            bar.log(f"resuming from {where}")
        fit = trainer.fit()
        how = trainer.finish_weights()
        split = final_split(recipe, pipe.loaders)
        meter = trainer.evaluate(split)
        scores = meter.compute()
        final: dict[str, Any] = {"event": "final", "epoch": fit.history[-1]["epoch"]
                                 if fit.history else 0, "split": split}
        final.update({f"{split}/{k}": v for k, v in scores.items()})
        if trainer.pruning is not None:
            final.update(trainer.pruning.final_record())
        if main:
            _write_results(run, recipe, pipe, params, fit, final, how, split, meter,
                           device_text, trainer.pruning)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in final.items()
                          if isinstance(v, float) and k.startswith(split))
        bar.log(f"[bold green]done[/bold green] {split}: {shown}")
        bar.log(f"run folder: {run.path}")
    return RunResult(run.path, final, fit)


def _write_results(run: RunFolder, recipe: Any, pipe: Any, params: dict[str, int],
                   fit: FitResult, final: dict[str, Any], how: str, split: str, meter: Any,
                   device: str, pruning: Any) -> None:
    """metrics.jsonl with the final line, curves, the task's files (and the pruning
    summary), report.md, and the checkpoint marked finished."""
    run.write_metrics(fit.history, final)
    plots = _curves(run, fit.history, pipe.task)
    section = pipe.task.finish(pipe.ctx, run.path, split, meter)
    if pruning is not None:
        section = [*section, *pruning.report_lines(final)]
    from zoo_core.engine import report

    text = report.render(
        recipe=recipe, task=pipe.task, run_path=str(run.path), device=device,
        precision=pipe.precision.name, params=params, data=pipe.data,
        specs=pipe.specs, lock=run.read_lock(), history=fit.history, final=final,
        final_weights=how, stopped_early=fit.stopped_early, plots=plots,
        task_section=section)
    from zoo_core.atomic import atomic_open

    with atomic_open(run.report) as fh:
        fh.write(text)
    done = load_checkpoint(run.checkpoint)
    done["finished"] = True
    done.pop("format", None)
    save_checkpoint(run.checkpoint, done)


def _curves(run: RunFolder, history: list[dict[str, Any]], task: Any) -> list[str]:
    """One PNG per group of metrics the task declares, train and val curves in each."""
    from zoo_core.engine import plots

    made = []
    for name, metrics in task.curves.items():
        keys = [f"{split}/{m}" for m in metrics for split in ("train", "val")]
        if plots.curves(history, keys, run.path / name, title=Path(name).stem,
                        ylabel=", ".join(metrics)):
            made.append(name)
    return made
