"""``zoo validate RECIPE``: every check ``zoo run`` makes, without training."""

from __future__ import annotations

from typing import Any

import click


def _highlights(recipe: Any) -> list[tuple[str, str]]:
    from zoo_core.recipe import task_of

    d, t = recipe.data, recipe.train
    task = task_of(recipe)
    rows = [
        ("task", task.name),
        ("data", d.dataset + (f" at {d.root}" if d.root else "")
         + (f", {d.subset_per_class} per class" if d.subset_per_class else "")),
        *task.describe(recipe),
        ("train", f"{t.epochs} epochs, batch {t.batch_size}"
         + (f" x{t.grad_accum}" if t.grad_accum > 1 else "")
         + f", {t.precision}, device {t.device}"),
        ("checkpoint", f"best {t.checkpoint.monitor} ({t.checkpoint.mode})"),
    ]
    if t.regularizers:
        rows.append(("regularizers", ", ".join(r.name for r in t.regularizers)))
    if t.early_stopping.enabled:
        es = t.early_stopping
        rows.append(("early stopping", f"{es.monitor} ({es.mode}), patience {es.patience}"))
    return rows


@click.command("validate")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override one key (a TOML literal; bare words are strings). Repeatable.")
@click.option("--strict", is_flag=True, help="Treat warnings (weights or data to download) "
              "as errors.")
@click.option("--show", is_flag=True, help="Also print the fully resolved recipe as TOML.")
def validate(recipe: str, overrides: tuple[str, ...], strict: bool, show: bool) -> None:
    """Check RECIPE: schema, registry names, weights and data, all problems at once.

    Exits 0 when the recipe is valid (warnings allowed unless --strict), 2 otherwise.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from zoo_core.recipe import load_and_validate

    loaded, notes = load_and_validate(recipe, list(overrides), strict=strict)
    console = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"recipe {escape(loaded.name)} ({escape(recipe)})",
                  title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in _highlights(loaded):
        table.add_row(key, escape(value))
    console.print(table)
    styles = {"warning": "yellow", "info": "cyan"}
    for note in notes:
        style = styles.get(note.level, "red")
        console.print(f"[{style}]{note.level}:[/{style}] {escape(str(note))}")
    if show:
        console.print(escape(loaded.to_toml()), markup=True)
    warnings = sum(n.level == "warning" for n in notes)
    tail = f" with {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    console.print(f"[green]ok:[/green] the recipe is valid{tail}.")
