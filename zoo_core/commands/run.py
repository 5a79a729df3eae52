"""``zoo run``, ``zoo eval``, ``zoo predict``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from zoo_core.commands._output import emit_json, emit_table
from zoo_core.errors import ZooError

_SET_HELP = "Override one recipe value, e.g. --set train.epochs=3 (TOML literal; repeatable)."


@click.command("run")
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default: "
              "runs/<recipe>/<timestamp>).")
@click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True),
              help="Continue the run in this folder from its last checkpoint.")
@click.option("--device", help="auto, cpu, mps, cuda or cuda:N (overrides train.device).")
@click.option("--strict", is_flag=True, help="Treat validation warnings as errors.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bars (default: on when writing to a terminal).")
@click.option("--folds", type=click.IntRange(min=2), help="K-fold cross-validation: K runs, "
              "each validated on one fold of the non-test data, and their mean ± std "
              "(sets data.folds).")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train with N processes on this machine (DistributedDataParallel through "
              "torchrun; one per GPU, or gloo on the CPU). train.batch_size is per process.")
def run(recipe: str | None, overrides: tuple[str, ...], out: str | None, resume: str | None,
        device: str | None, strict: bool, progress: bool | None, folds: int | None,
        nproc: int) -> None:
    """Train and evaluate RECIPE (a TOML file), writing a run folder.

    With --resume RUN_DIR the recipe is the one stored in the run folder.
    Ctrl-C saves a checkpoint and exits; `zoo run --resume RUN_DIR` continues.
    Several machines: see docs/distributed.md (torchrun ... -m zoo_core run RECIPE).
    """
    from rich.console import Console

    from zoo_core.engine import distributed
    from zoo_core.recipe import load_and_validate

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not distributed.is_main_env():
        console = Console(quiet=True)
    if folds is not None:
        if resume is not None:
            raise ZooError("--folds does not go with --resume: a resumed run keeps the folds "
                           "it was started with.")
        overrides = (*overrides, f"data.folds={folds}")
    if resume is not None:
        if recipe is not None:
            raise ZooError("Give either a RECIPE or --resume RUN_DIR: a resumed run uses the "
                           "recipe stored in its folder.")
        stored = Path(resume) / "recipe.toml"
        if not stored.exists():
            raise ZooError(f"{resume} is not a run folder (it has no recipe.toml).")
        if overrides:
            console.print("[yellow]warning:[/yellow] --set on a resumed run changes it; the "
                          "result is no longer identical to an uninterrupted run.")
        loaded, problems = load_and_validate(stored, list(overrides), strict=strict)
    elif recipe is None:
        raise click.UsageError("Missing RECIPE (or --resume RUN_DIR).")
    else:
        loaded, problems = load_and_validate(recipe, list(overrides), strict=strict)
    if nproc > 1 and not distributed.launched():
        # the recipe is valid: start N copies of this command, minus --nproc
        sys.exit(distributed.launch(nproc, _worker_argv(
            recipe, overrides, out, resume, device, strict, progress)))
    for problem in problems:
        if problem.level == "warning":
            console.print(f"[yellow]warning:[/yellow] {problem}")
    from zoo_core.engine.trainer import TrainingInterrupted

    try:
        with distributed.session(device) as dev:
            if loaded.data.folds and loaded.data.fold is None:
                from zoo_core.engine.kfold import run_kfold

                run_kfold(loaded, out=out, resume=resume, device=dev, console=console,
                          progress=progress)
            else:
                from zoo_core.engine.run import run_recipe

                run_recipe(loaded, out=out, resume=resume, device=dev, console=console,
                           progress=progress)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        if exc.saved:
            where = resume or out or "the run folder printed above"
            console.print(f"Continue with: zoo run --resume {where}")
        sys.exit(130)


def _worker_argv(recipe: str | None, overrides: tuple[str, ...], out: str | None,
                 resume: str | None, device: str | None, strict: bool,
                 progress: bool | None) -> list[str]:
    """The `zoo run` arguments each of the --nproc processes gets."""
    argv = ["run", *([recipe] if recipe else [])]
    for override in overrides:
        argv += ["--set", override]
    for flag, value in (("--out", out), ("--resume", resume), ("--device", device)):
        if value is not None:
            argv += [flag, value]
    if strict:
        argv.append("--strict")
    if progress is not None:
        argv.append("--progress" if progress else "--no-progress")
    return argv


@click.command("eval")
@click.argument("run_or_model")
@click.option("--data", help="A folder, or a data set name (default: the run's data).")
@click.option("--split", type=click.Choice(["train", "val", "test"]),
              help="Which split (default: the recipe's eval split, else test, val, train).")
@click.option("--model", "role", metavar="ROLE",
              help="Which of a run's models (default: the task's main one).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the evaluation, e.g. --set data.root=/data.")
@click.option("--batch-size", type=int, help="Evaluation batch size.")
@click.option("--device", help="auto, cpu, mps, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_cmd(run_or_model: str, data: str | None, split: str | None, role: str | None,
             overrides: tuple[str, ...], batch_size: int | None, device: str | None,
             as_json: bool) -> None:
    """Evaluate a run's models (or a saved model folder) with its task's metrics.

    RUN_OR_MODEL may also be a registry model name of a task's main kind (with
    --data; weights with --set models.<role>.weights=...). Data given with
    --data that has no split folders is evaluated whole and reported as the
    `eval` split.
    """
    from zoo_core.engine.evaluate import evaluate_saved

    result = evaluate_saved(run_or_model, data=data, split=split, device=device, role=role,
                            batch_size=batch_size, overrides=list(overrides))
    if as_json:
        emit_json(result)
        return
    emit_table(f"{result['model']} on {result['split']} ({result['samples']} samples)",
               ["metric", "value"],
               [[k, f"{v:.4f}"] for k, v in result["metrics"].items()])
    for title, header, rows in result.get("tables", []):
        emit_table(title, header, [["-" if v is None else f"{v:.4f}" if isinstance(v, float)
                                    else v for v in row] for row in rows])
    for path in result.get("skipped", []):
        click.echo(f"skipped unreadable image: {path}", err=True)


def parse_task_options(tokens: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """(inputs, options) from ``img.png --topk 3 --label=2 --flag``: values are TOML
    literals (else strings); an option with no value is True."""
    from zoo_core.recipe.reading import literal

    inputs: list[str] = []
    options: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            key, eq, value = token[2:].partition("=")
            key = key.replace("-", "_")
            if eq:
                options[key] = literal(value)
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                options[key] = literal(tokens[i + 1])
                i += 1
            else:
                options[key] = True
        else:
            inputs.append(token)
        i += 1
    return inputs, options


@click.command("predict", context_settings={"ignore_unknown_options": True})
@click.argument("run_or_model", type=click.Path(exists=True, file_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--model", "role", metavar="ROLE",
              help="Which of a run's models (default: all the task needs).")
@click.option("--out", type=click.Path(file_okay=False), help="Folder for files the task "
              "writes (masks, sample grids, upscaled images).")
@click.option("--device", help="auto, cpu, mps, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def predict(run_or_model: str, args: tuple[str, ...], role: str | None, out: str | None,
            device: str | None, as_json: bool) -> None:
    """Run a trained model's task on INPUTS (image files; none for a generator).

    Further --options belong to the task: classification takes --topk K, a GAN
    --n N and --label L, and so on (`zoo info TASK`).
    """
    from zoo_core.engine.evaluate import predict as run_predict

    inputs, options = parse_task_options(args)
    task, results = run_predict(run_or_model, inputs, options=options, role=role,
                                device=device, out=out)
    if as_json:
        emit_json(results)
        return
    for title, header, rows in task.render_predictions(results):
        if title:
            click.echo(title)
        emit_table("", header, rows)
