"""What a sweep leaves in its folder, rebuilt from the study after every trial:

* ``trials.csv`` - one row per trial (surplus records left out);
* ``summary.md`` - the sweep, the counts, the best trial, every trial by score, plots;
* ``best.toml`` - the resolved recipe with the best values: ``zoo run best.toml``;
* ``optimization_history.png``, ``parallel_coordinate.png``, ``param_importances.png`` -
  Optuna's matplotlib plots (importances need 2+ parameters and
  ``MIN_IMPORTANCE_TRIALS`` complete trials; otherwise summary.md says why not).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

from zoo_core.atomic import atomic_open, atomic_path
from zoo_core.sweep.spec import SweepSpec, best_recipe_toml
from zoo_core.sweep.view import duration, fmt, trial_state

MIN_IMPORTANCE_TRIALS = 5
PLOTS = ("optimization_history.png", "parallel_coordinate.png", "param_importances.png")


def visible_trials(study: Any) -> list[Any]:
    return [t for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("zoo_status") != "surplus"]


def best_trial(study: Any, spec: SweepSpec) -> Any | None:
    done = [t for t in study.get_trials(deepcopy=False)
            if t.state.name == "COMPLETE" and t.value is not None]
    if not done:
        return None
    return (max if spec.direction == "max" else min)(done, key=lambda t: t.value)


def counts(trials: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        state = trial_state(t)
        out[state] = out.get(state, 0) + 1
    return out


def _first_line(text: Any) -> str:
    return str(text).strip().splitlines()[0] if text else ""


def _rows(trials: list[Any], spec: SweepSpec) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        seconds = duration(t)
        row: dict[str, Any] = {
            "number": t.number, "state": t.state.name,
            "status": t.user_attrs.get("zoo_status", ""),
            "value": "" if t.value is None else t.value}
        for key in spec.params:
            row[key] = t.params.get(key, "")
        row.update({
            "epochs": len(t.intermediate_values),
            "duration_s": "" if seconds is None else round(seconds, 2),
            "retry_of": t.user_attrs.get("zoo_retry_of", ""),
            "worker": t.user_attrs.get("worker", ""),
            "run_dir": t.user_attrs.get("run_dir", ""),
            "error": _first_line(t.user_attrs.get("zoo_error"))})
        rows.append(row)
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with atomic_open(path) as fh:
        fh.write(buf.getvalue())


def _save_axes(ax: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    fig.set_size_inches(max(fig.get_size_inches()[0], 8), max(fig.get_size_inches()[1], 5))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_plots(study: Any, spec: SweepSpec, folder: Path) -> tuple[list[str], list[str]]:
    """Optuna's matplotlib plots; returns (files written, notes on the ones skipped)."""
    from optuna.visualization import matplotlib as ovm

    made: list[str] = []
    notes: list[str] = []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return made, ["no complete trial yet: no plots"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's "experimental" warnings
        _save_axes(ovm.plot_optimization_history(study, target_name=spec.metric),
                   folder / PLOTS[0])
        made.append(PLOTS[0])
        _save_axes(ovm.plot_parallel_coordinate(study, target_name=spec.metric),
                   folder / PLOTS[1])
        made.append(PLOTS[1])
        if len(spec.params) < 2:
            notes.append("parameter importances need at least 2 parameters; this sweep has 1")
        elif len(complete) < MIN_IMPORTANCE_TRIALS:
            notes.append(f"parameter importances need {MIN_IMPORTANCE_TRIALS} complete trials; "
                         f"this sweep has {len(complete)}")
        else:
            try:
                _save_axes(ovm.plot_param_importances(study, target_name=spec.metric),
                           folder / PLOTS[2])
                made.append(PLOTS[2])
            except (RuntimeError, ValueError, ZeroDivisionError) as exc:
                notes.append(f"parameter importances could not be computed: {exc}")
    return made, notes


def _final_line(folder: Path) -> str:
    path = folder / "final.json"
    if not path.is_file():
        return ("The test split has not been used. When the search is over, "
                "`zoo sweep ... --final` trains the best recipe on train+val and evaluates the "
                "test split once.")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("state") != "done":
        return f"`--final` was started on {data.get('started')} and has not finished."
    scores = "  ".join(f"{k} {v:.4f}" for k, v in data.get("test", {}).items())
    return (f"The test split was used once, by `--final` on {data.get('finished')}: {scores} "
            f"(run folder `{data.get('run_dir')}`).")


def render(study: Any, spec: SweepSpec, folder: Path, rows: list[dict[str, Any]],
           plots: list[str], notes: list[str], best: Any | None) -> str:
    lines = [f"# Sweep `{spec.study}`", ""]
    lines += [f"- recipe: `{spec.recipe}`" + (f" with `--set {' '.join(spec.overrides)}`"
                                              if spec.overrides else ""),
              f"- search: {spec.sampler} sampler, pruner {spec.pruner}, {spec.trials} trials, "
              f"{spec.metric} ({'higher' if spec.direction == 'max' else 'lower'} is better)"]
    if spec.refined_from:
        lines.append(f"- a grid refined around the best of `{spec.refined_from}`")
    if spec.folds:
        lines.append(f"- each trial is a {spec.folds}-fold cross-validation: its score is the "
                     f"mean of {spec.metric} over the folds (each trial folder holds `fold_1/` "
                     f"... `fold_{spec.folds}/` and the per-fold report.md)")
    tally = counts(visible_trials(study))
    lines.append("- trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(tally.items())))
    lines += ["- every trial is evaluated on the validation split (`eval.split = \"val\"`); "
              "the test split is never evaluated during the search.", "",
              _final_line(folder), "", "## Spaces", "", "| parameter | space |", "| --- | --- |"]
    lines += [f"| `{k}` | `{s.text()}` |" for k, s in spec.params.items()]
    lines += ["", "## Best trial", ""]
    if best is None:
        lines.append("No trial has completed yet.")
    else:
        lines += [f"Trial {best.number}: **{spec.metric} = {best.value:.4f}**, run folder "
                  f"`{best.user_attrs.get('run_dir', '')}`.", "",
                  "| parameter | value |", "| --- | --- |"]
        lines += [f"| `{k}` | {fmt(v)} |" for k, v in best.params.items()]
        lines += ["", "`best.toml` is the resolved recipe with these values: "
                  "`zoo run best.toml`."]
    lines += ["", "## Trials", "", "Sorted by score (pruned trials by their last epoch's "
              "score).", ""]
    keys = list(spec.params)
    lines.append("| # | state | " + " | ".join(k.rsplit(".", 1)[-1] for k in keys)
                 + f" | {spec.metric} | epochs | seconds |")
    lines.append("| --- " * (len(keys) + 5) + "|")
    reverse = spec.direction == "max"

    def order(row: dict[str, Any]) -> tuple[int, float]:
        v = row["value"]
        if v == "":
            return (1, 0.0)
        return (0, -v if reverse else v)

    for row in sorted(rows, key=order):
        state = row["state"] + (f" ({row['status']})" if row["status"] else "")
        value = "" if row["value"] == "" else f"{row['value']:.4f}"
        lines.append(f"| {row['number']} | {state} | "
                     + " | ".join(fmt(row[k]) for k in keys)
                     + f" | {value} | {row['epochs']} | {row['duration_s']} |")
    failed = [r for r in rows if r["error"]]
    if failed:
        lines += ["", "Failures:", ""]
        lines += [f"- trial {r['number']}: {r['error']}" for r in failed]
    if plots or notes:
        lines += ["", "## Plots", ""]
        lines += [f"![{p}]({p})" for p in plots]
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_report(study: Any, spec: SweepSpec, folder: Path, *, plots: bool = True) -> Path:
    """Write trials.csv, summary.md, best.toml and (``plots``) the PNGs into ``folder``."""
    trials = visible_trials(study)
    rows = _rows(trials, spec)
    write_csv(rows, folder / "trials.csv")
    best = best_trial(study, spec)
    if best is not None:
        header = (f"# The best recipe of sweep {spec.study!r}: trial {best.number}, "
                  f"{spec.metric} = {best.value:.4f}\n# with "
                  + ", ".join(f"{k} = {fmt(v)}" for k, v in best.params.items())
                  + ". Run it with: zoo run best.toml\n")
        with atomic_open(folder / "best.toml") as fh:
            fh.write(best_recipe_toml(spec, dict(best.params), header))
    made: list[str] = []
    notes: list[str] = []
    if plots:
        made, notes = write_plots(study, spec, folder)
    else:
        made = [p for p in PLOTS if (folder / p).is_file()]
    with atomic_open(folder / "summary.md") as fh:
        fh.write(render(study, spec, folder, rows, made, notes, best))
    return folder / "summary.md"
