"""``zoo sweep ... --final``: the one look at the test split.

The best recipe of a finished sweep is trained once on train+val
(``data.train_on_val = true``: the validation images join training after the
same seeded carving, so the test images are exactly those the trials held out)
``final.json`` in the sweep folder, and the study's ``zoo_final`` attribute,
record that it happened; a second ``--final`` refuses, because a test split
looked at twice is a validation split.

With no validation split the run keeps its last epoch's weights (the
recipe's checkpoint monitor, a ``val/`` metric, is not measured: the run
says so). A published validation split joins training the same way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo_core.atomic import atomic_open
from zoo_core.sweep import SweepError
from zoo_core.sweep.spaces import toml_literal
from zoo_core.sweep.spec import SweepSpec

FINAL_OVERRIDES = ("data.train_on_val=true", 'eval.split="test"')


def final_state(folder: Path, study: Any) -> dict[str, Any] | None:
    """What an earlier --final recorded (the folder's marker, else the study's)."""
    path = folder / "final.json"
    if path.is_file():
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            pass
    stored = study.user_attrs.get("zoo_final")
    return dict(stored) if isinstance(stored, dict) else None


def test_used(folder: Path) -> dict[str, Any] | None:
    """The --final record of this sweep or of any sweep it refines (None: test unseen)."""
    from zoo_core.sweep.spec import read_spec

    seen: set[Path] = set()
    here: Path | None = folder
    while here is not None and here.resolve() not in seen:
        seen.add(here.resolve())
        path = here / "final.json"
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                data = {}
            if data.get("state") == "done":
                return {**data, "folder": str(here)}
        if not (here / "sweep.toml").is_file():
            break
        parent = read_spec(here).refined_from
        here = Path(parent) if parent else None
    return None


def used_message(record: dict[str, Any]) -> str:
    scores = "  ".join(f"{k} {v:.4f}" for k, v in record.get("test", {}).items())
    return (f"The test split was already used, by --final of the sweep in {record['folder']} "
            f"on {record.get('finished')} ({scores}; run folder {record.get('run_dir')})")


def _record(folder: Path, study: Any, data: dict[str, Any]) -> None:
    with atomic_open(folder / "final.json") as fh:
        json.dump(data, fh, indent=1, default=str)
        fh.write("\n")
    study.set_user_attr("zoo_final", data)


def run_final(spec: SweepSpec, folder: Path, *, console: Console,
              progress: bool | None = None) -> dict[str, Any]:
    """Train the best recipe on train+val and evaluate the test split, once."""
    from zoo_core.engine import run_recipe
    from zoo_core.recipe import load_and_validate
    from zoo_core.sweep.report import best_trial, write_report
    from zoo_core.sweep.study import load_finished_study

    study = load_finished_study(spec, folder, "--final")
    previous = final_state(folder, study)
    if previous is not None and previous.get("state") == "done":
        previous = {**previous, "folder": str(folder)}
    else:
        previous = test_used(folder)
    if previous is not None:
        raise SweepError(
            f"{used_message(previous)}. It is used once: evaluating it again after more "
            "tuning would make it a validation set. Report that result.")
    best = best_trial(study, spec)
    if best is None:
        raise SweepError(f"No trial of sweep {spec.study!r} completed; nothing to train.")
    params = dict(best.params)
    overrides = [*spec.overrides, *(f"{k}={toml_literal(v)}" for k, v in params.items()),
                 *FINAL_OVERRIDES]
    recipe, _ = load_and_validate(spec.recipe, overrides)
    run_dir = folder / "final"
    if run_dir.exists():  # an earlier --final stopped before it evaluated: keep it aside
        run_dir.rename(folder / f"final.interrupted-{time.strftime('%Y%m%d-%H%M%S')}")
    record: dict[str, Any] = {
        "state": "started", "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "trial": best.number, "params": params, "val_value": best.value,
        "metric": spec.metric, "overrides": overrides, "run_dir": str(run_dir.resolve())}
    _record(folder, study, record)
    result = run_recipe(recipe, out=run_dir, progress=progress, console=console)
    final = result.final
    if final.get("split") != "test":
        record.update(state="no-test", finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _record(folder, study, record)
        raise SweepError(
            f"The best recipe has no test split (it evaluated {final.get('split')!r}): set "
            "data.test_fraction in the recipe (the same value for the whole sweep), or use a "
            "data set that publishes one. The test split was not used.")
    record.update(
        state="done", finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        test={k: v for k, v in final.items() if k.startswith("test/")},
        epochs=final.get("epoch"),
        trained_on="train+val")
    _record(folder, study, record)
    write_report(study, spec, folder, plots=False)
    return record
