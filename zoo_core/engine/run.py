"""``zoo run`` end to end: build, train, evaluate, and fill the run folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

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


def run_recipe(recipe: Any, *, out: str | os.PathLike[str] | None = None,
               resume: str | os.PathLike[str] | None = None, device: str | None = None,
               console: Console | None = None, progress: bool | None = None,
               on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
    """Train ``recipe`` into a new run folder, or continue the run in ``resume``.

    ``on_epoch_end(metrics)`` is called after each epoch's metrics are recorded (history,
    checkpoint, metrics.jsonl); an exception it raises (e.g. ``optuna.TrialPruned``) stops
    the run and propagates, leaving the run folder as it is after that epoch.
    """
    console = console or Console(stderr=True, soft_wrap=True)
    if resume is not None:
        run = RunFolder(resume)
        state = load_checkpoint(run.checkpoint)
        if state.get("finished"):
            raise ZooError(f"The run in {run.path} has already finished; there is nothing to "
                           "resume. Its results are in report.md and metrics.jsonl.")
    else:
        run = RunFolder(new_run_dir(recipe.name, out))
        run.write_recipe(recipe.to_toml())
    with TrainProgress(console, enabled=progress) as bar:
        bar.log(f"[bold]zoo run[/bold] {recipe.name} -> {run.path}")
        pipe = build_pipeline(recipe, device, warn=lambda msg: bar.log(f"[yellow]{msg}[/yellow]"))
        run.write_lock(pipe.spec.lock)
        from zoo_core.modules import count_params

        params = count_params(pipe.model)
        trainable = sum(p.numel() for p in pipe.model.parameters() if p.requires_grad)
        sizes = {k: len(v) for k, v in pipe.data.splits.items()}
        bar.log(f"data {recipe.data.dataset}: {len(pipe.data.classes)} classes, "
                + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        for note in list(pipe.data.notes) + list(pipe.spec.notes):
            bar.log(f"  {note}")
        bar.log(f"model {recipe.model.backbone} ({params:,} parameters), mode "
                f"{pipe.phases[0].mode}; device {pipe.device}, precision {pipe.precision.name}")
        trainer = Trainer(pipe, run, bar, on_epoch_end=on_epoch_end)
        if resume is not None:
            state = trainer.load(run.checkpoint)
            where = (f"epoch {state['epoch'] + 1}, batch {state['step']}" if state["step"]
                     else f"the end of epoch {state['epoch']}")
            bar.log(f"resuming from {where}")
        fit = trainer.fit()
        how = trainer.finish_weights()
        split = recipe.eval.split or ("test" if "test" in pipe.loaders else "val")
        if split not in pipe.loaders:
            split = "val" if "val" in pipe.loaders else "train"
        meter = trainer.evaluate(split)
        scores = meter.compute()
        final: dict[str, Any] = {"event": "final", "epoch": fit.history[-1]["epoch"]
                                 if fit.history else 0, "split": split}
        final.update({f"{split}/{k}": v for k, v in scores.items()})
        details = meter.details(pipe.data.classes) if hasattr(meter, "details") else {}
        run.write_metrics(fit.history, final)
        plots = _write_tables_and_plots(run, fit.history, details, split)
        from zoo_core.engine import report

        text = report.render(
            recipe=recipe, run_path=str(run.path), device=str(pipe.device),
            precision=pipe.precision.name, param_count=params, trainable=trainable,
            data_sizes=sizes, classes=pipe.data.classes, data_notes=pipe.data.notes,
            model_notes=pipe.spec.notes, lock=run.read_lock(), history=fit.history, final=final,
            details=details, final_weights=how, stopped_early=fit.stopped_early,
            cache=fit.cache, plots=plots)
        from zoo_core.atomic import atomic_open

        with atomic_open(run.report) as fh:
            fh.write(text)
        done = load_checkpoint(run.checkpoint)
        done["finished"] = True
        done.pop("format", None)
        save_checkpoint(run.checkpoint, done)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in final.items()
                          if isinstance(v, float) and k.startswith(split))
        bar.log(f"[bold green]done[/bold green] {split}: {shown}")
        bar.log(f"run folder: {run.path}")
    return RunResult(run.path, final, fit)


def _write_tables_and_plots(run: RunFolder, history: list[dict[str, Any]],
                            details: dict[str, Any], split: str) -> list[str]:
    from zoo_core.engine import plots

    made = []
    if plots.curves(history, ["train/loss", "val/loss"], run.path / "loss.png",
                    title="loss", ylabel="cross-entropy"):
        made.append("loss.png")
    if plots.curves(history, ["train/top1", "val/top1", "val/top5"], run.path / "accuracy.png",
                    title="accuracy", ylabel="fraction correct"):
        made.append("accuracy.png")
    if details.get("confusion_matrix"):
        classes = details["classes"]
        run.write_table("per_class.csv", ["class", "accuracy", "f1", "support"],
                        list(zip(classes, details["per_class_acc"], details["per_class_f1"],
                                 details["support"], strict=False)))
        run.write_table("confusion_matrix.csv", ["true \\ predicted", *classes],
                        [[c, *row] for c, row in zip(classes, details["confusion_matrix"],
                                                     strict=True)])
        plots.confusion(details["confusion_matrix"], classes, run.path / "confusion_matrix.png",
                        title=f"confusion matrix ({split})")
        made.append("confusion_matrix.png")
    return made
