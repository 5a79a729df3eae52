"""``zoo run``, ``zoo eval``, ``zoo predict``."""

from __future__ import annotations

import sys
from pathlib import Path

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
def run(recipe: str | None, overrides: tuple[str, ...], out: str | None, resume: str | None,
        device: str | None, strict: bool, progress: bool | None) -> None:
    """Train and evaluate RECIPE (a TOML file), writing a run folder.

    With --resume RUN_DIR the recipe is the one stored in the run folder.
    Ctrl-C saves a checkpoint and exits; `zoo run --resume RUN_DIR` continues.
    """
    from rich.console import Console

    from zoo_core.recipe import load_and_validate

    console = Console(stderr=True, highlight=False, soft_wrap=True)
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
    for problem in problems:
        if problem.level == "warning":
            console.print(f"[yellow]warning:[/yellow] {problem}")
    from zoo_core.engine.run import run_recipe
    from zoo_core.engine.trainer import TrainingInterrupted

    try:
        run_recipe(loaded, out=out, resume=resume, device=device, console=console,
                   progress=progress)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]{exc}[/yellow]")
        if exc.saved:
            where = resume or out or "the run folder printed above"
            console.print(f"Continue with: zoo run --resume {where}")
        sys.exit(130)


@click.command("eval")
@click.argument("run_or_model", type=click.Path(exists=True, file_okay=False))
@click.option("--data", help="An image folder, or a data set name (default: the run's data).")
@click.option("--split", type=click.Choice(["train", "val", "test"]),
              help="Which split (default: the recipe's eval split, else test, val, train).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a data key of the evaluation, e.g. --set data.root=/data.")
@click.option("--batch-size", type=int, help="Evaluation batch size.")
@click.option("--device", help="auto, cpu, mps, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def eval_cmd(run_or_model: str, data: str | None, split: str | None,
             overrides: tuple[str, ...], batch_size: int | None, device: str | None,
             as_json: bool) -> None:
    """Evaluate a saved model (a run folder or a model folder)."""
    from zoo_core.engine.evaluate import evaluate_saved

    result = evaluate_saved(run_or_model, data=data, split=split, device=device,
                            batch_size=batch_size, overrides=list(overrides))
    if as_json:
        emit_json(result)
        return
    emit_table(f"{result['model']} on {result['split']} ({result['samples']} images)",
               ["metric", "value"],
               [[k, f"{v:.4f}"] for k, v in result["metrics"].items()])
    details = result.get("details") or {}
    if details.get("classes") and len(details["classes"]) <= 40:
        emit_table("per class", ["class", "accuracy", "F1", "support"],
                   [[c, "-" if a is None else f"{a:.4f}", "-" if f is None else f"{f:.4f}", s]
                    for c, a, f, s in zip(details["classes"], details["per_class_acc"],
                                          details["per_class_f1"], details["support"],
                                          strict=True)])
    for path in result.get("skipped", []):
        click.echo(f"skipped unreadable image: {path}", err=True)


@click.command("predict")
@click.argument("run_or_model", type=click.Path(exists=True, file_okay=False))
@click.argument("images", nargs=-1, required=True)
@click.option("--topk", "-k", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many classes to show per image.")
@click.option("--device", help="auto, cpu, mps, cuda or cuda:N.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def predict(run_or_model: str, images: tuple[str, ...], topk: int, device: str | None,
            as_json: bool) -> None:
    """Class probabilities (softmax) for IMAGES from a saved model or run folder."""
    from zoo_core.engine.evaluate import predict_images

    results = predict_images(run_or_model, list(images), topk=topk, device=device)
    if as_json:
        emit_json(results)
        return
    for item in results:
        click.echo(item["image"])
        emit_table("", ["class", "probability"],
                   [[p["class"], f"{p['probability']:.4f}"] for p in item["predictions"]])
