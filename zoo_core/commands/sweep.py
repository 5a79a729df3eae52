"""``zoo sweep``: hyperparameter search over a recipe (the logic is in zoo_core.sweep)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from zoo_core.errors import ZooError

_SET_HELP = "Fix one recipe value for every trial, e.g. --set train.epochs=5 (repeatable)."
_PARAM_HELP = ("Search KEY over SPACE: loguniform(a,b), uniform(a,b), int(a,b) or "
               "choice(x,y,...), e.g. --param train.optimizer.lr=loguniform(1e-4,1e-1) "
               "(repeatable).")


@click.command("sweep")
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--param", "params", multiple=True, metavar="KEY=SPACE", help=_PARAM_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_SET_HELP)
@click.option("--trials", type=int, help="How many trials (complete, pruned or failed) in all.")
@click.option("--sampler", help="tpe (default), random or grid.")
@click.option("--pruner", help="median (default: stops a trial whose epoch score is below the "
              "median of earlier trials) or none.")
@click.option("--metric", help="The validation metric to optimise (default: the recipe's "
              "checkpoint monitor).")
@click.option("--direction", help="max or min (default: the metric's direction, as the task "
              "declares it).")
@click.option("--storage", help="Optuna storage URL (default: SQLite in the sweep folder); "
              "postgresql://..., mysql://..., or journal:///path/file.log for a shared disk.")
@click.option("--study", "study_name", help="Study name in the storage (default: the recipe's "
              "name).")
@click.option("--seed", type=int, help="Seed of the sampler (default: fresh for each worker).")
@click.option("--folds", type=int, help="Score each trial by the mean of a K-fold "
              "cross-validation (K runs) instead of one run.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine, sharing the storage.")
@click.option("--out", type=click.Path(file_okay=False), help="Sweep folder (default "
              "runs/sweeps/<study>); the same command resumes it.")
@click.option("--refine", "refine", type=click.Path(file_okay=False, exists=True),
              help="Run a grid around the best values of this finished sweep folder.")
@click.option("--final", "final", is_flag=True, help="Train the best recipe on train+val and "
              "evaluate the test split, once.")
@click.option("--heartbeat", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="Seconds between a worker's liveness stamps; a trial 6 stamps late is "
              "taken as dead and retried.")
@click.option("--progress/--no-progress", default=None,
              help="Live table (default: on when writing to a terminal).")
@click.option("--worker-index", type=int, hidden=True)
def sweep(recipe: str | None, params: tuple[str, ...], overrides: tuple[str, ...],
          trials: int | None, sampler: str | None, pruner: str | None, metric: str | None,
          direction: str | None, storage: str | None, study_name: str | None,
          seed: int | None, folds: int | None, jobs: int, out: str | None,
          refine: str | None, final: bool,
          heartbeat: float, progress: bool | None, worker_index: int | None) -> None:
    """Search hyperparameters of RECIPE with Optuna; each trial is a run folder.

    Trials are judged on the validation split; the test split is used once, by
    --final, when the search is over. The same command resumes a stopped sweep
    and, with one --storage, runs on several machines. See docs/sweeps.md.
    """
    from rich.console import Console

    from zoo_core.sweep.spec import build_spec, read_spec
    from zoo_core.sweep.storage import url_for
    from zoo_core.sweep.study import SweepInterrupted

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    folder: Path
    if refine is not None:
        if recipe or params or overrides or folds:
            raise ZooError("--refine takes the recipe, --set values and spaces from the "
                           "previous sweep; give only --refine PREVIOUS_SWEEP (and --trials, "
                           "--out, --jobs, --storage if you like).")
        from zoo_core.sweep.refine import refine_spec

        spec, best, notes = refine_spec(Path(refine))
        folder = Path(out) if out else Path(refine).parent / f"{Path(refine).name}-refine"
        console.print(f"refining around trial {best['trial']} ({spec.metric} "
                      f"{best['value']:.4f}): " + ", ".join(
                          f"{k} in {v}" for k, v in spec.grid().items()))
        for note in notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        if trials is not None:
            spec.trials = min(trials, spec.trials)
        if study_name:
            spec.study = study_name
    elif recipe is not None:
        spec = build_spec(recipe, overrides=list(overrides), params=list(params),
                          trials=trials, sampler=sampler, pruner=pruner, metric=metric,
                          direction=direction, study=study_name, seed=seed, folds=folds)
        folder = Path(out) if out else Path("runs") / "sweeps" / spec.study
    elif out is not None and (Path(out) / "sweep.toml").is_file():
        if params or overrides or sampler or pruner or metric or direction or study_name \
                or folds:
            raise ZooError(f"{out} already holds a sweep; only --trials, --jobs, --storage and "
                           "--final go with --out alone. To change the search, start a new "
                           "sweep from the recipe.")
        spec = read_spec(Path(out))
        folder = Path(out)
        if trials is not None:
            spec.trials = trials
    else:
        raise click.UsageError("Missing RECIPE (or --refine PREVIOUS_SWEEP, or --out of an "
                               "existing sweep folder).")
    if storage:
        spec.storage = storage
    _check_folder(spec, folder)
    url = url_for(spec.storage, folder)
    if final:
        from zoo_core.sweep.final import run_final

        record = run_final(spec, folder, console=console, progress=progress)
        scores = "  ".join(f"{k} {v:.4f}" for k, v in record["test"].items())
        console.print(f"[bold green]final[/bold green] trained on {record['trained_on']}; "
                      f"test split, used once: {scores}")
        console.print(f"run folder: {record['run_dir']}; recorded in {folder / 'final.json'}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    if worker_index is None:
        spec.write(folder)
    try:
        if jobs > 1:
            _run_jobs(spec, folder, url, jobs, heartbeat, console, progress)
        else:
            from zoo_core.sweep.study import run_sweep

            # workers started by --jobs draw different points from one --seed
            worker_seed = None if spec.seed is None else spec.seed + 7919 * (worker_index or 0)
            run_sweep(spec, folder, url, console=console, heartbeat=heartbeat,
                      worker_seed=worker_seed, live=progress,
                      write_report=worker_index is None)
    except SweepInterrupted:
        console.print("[yellow]interrupted: the running trial is queued again.[/yellow] "
                      "Resume with the same command.")
        sys.exit(130)
    if worker_index is None:
        _print_done(spec, folder, console)


def _check_folder(spec: Any, folder: Path) -> None:
    """A folder that holds another sweep is not silently reused."""
    from zoo_core.sweep import SweepError
    from zoo_core.sweep.spec import read_spec

    if not (folder / "sweep.toml").is_file():
        # another worker of the same command may be setting the folder up right now
        ours = {"trials", "study.db", "study.db-journal", "workers"}
        if folder.exists() and any(not p.name.startswith(".") and p.name not in ours
                                   for p in folder.iterdir()):
            raise SweepError(f"{folder} exists and holds something else than a sweep; pick an "
                             "empty or new folder with --out.")
        return
    stored = read_spec(folder)
    diffs = spec.differences(stored)
    if stored.study != spec.study:
        diffs.append(f"study: {stored.study} there, {spec.study} now")
    if diffs:
        raise SweepError(f"{folder} holds a different sweep (" + "; ".join(diffs) + "). "
                         "Resume it with the command that started it, or give this one its "
                         "own --out folder.")


def _run_jobs(spec: Any, folder: Path, url: str, jobs: int, heartbeat: float, console: Any,
              progress: bool | None) -> None:
    """K worker processes on this machine, one shared storage; this one shows the table."""
    from zoo_core.sweep import SweepError
    from zoo_core.sweep.report import write_report
    from zoo_core.sweep.storage import open_storage
    from zoo_core.sweep.study import SweepInterrupted, open_study
    from zoo_core.sweep.view import SweepView

    study = open_study(spec, open_storage(url))  # created once, before the workers race
    logs = folder / "workers"
    logs.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    procs = []
    for i in range(jobs):
        cmd = [sys.executable, "-m", "zoo_core.cli", "sweep", "--out", str(folder),
               "--storage", url, "--heartbeat", str(heartbeat), "--worker-index", str(i),
               "--no-progress"]
        fh = open(logs / f"worker-{i}.log", "w", encoding="utf-8")  # noqa: SIM115
        procs.append((subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env), fh))
    console.print(f"{jobs} workers on {url}; their output is in {logs}/")
    interrupted = False
    with SweepView(console, spec, live=progress) as view:
        try:
            while any(p.poll() is None for p, _ in procs):
                view.update(study, force=True)
                time.sleep(1.0)
        except KeyboardInterrupt:  # the workers got it too: they requeue and stop
            interrupted = True
            for p, _ in procs:
                p.wait()
        view.update(study, force=True)
    for _, fh in procs:
        fh.close()
    codes = [p.returncode for p, _ in procs]
    if interrupted or 130 in codes:
        raise SweepInterrupted("interrupted")
    bad = [(i, c) for i, c in enumerate(codes) if c != 0]
    if bad:
        i, code = bad[0]
        tail = (logs / f"worker-{i}.log").read_text(encoding="utf-8").strip().splitlines()[-5:]
        raise SweepError(f"worker {i} stopped with exit code {code}:\n  " + "\n  ".join(tail)
                         + f"\n(all of it: {logs / f'worker-{i}.log'})")
    write_report(study, spec, folder, plots=True)


def _print_done(spec: Any, folder: Path, console: Any) -> None:
    from zoo_core.sweep.report import best_trial
    from zoo_core.sweep.study import load_finished_study

    study = load_finished_study(spec, folder, "the summary")
    best = best_trial(study, spec)
    console.print(f"[bold green]done[/bold green] {spec.trials} trials; summary: "
                  f"{folder / 'summary.md'}")
    if best is not None:
        console.print(f"best: trial {best.number}, {spec.metric} {best.value:.4f}; recipe: "
                      f"{folder / 'best.toml'}")
        console.print(f"next: zoo sweep --refine {folder}   (a grid around the best), then "
                      f"zoo sweep --out {folder} --final   (test split, once)")
