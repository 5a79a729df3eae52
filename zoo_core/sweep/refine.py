"""``zoo sweep --refine PREVIOUS``: a finer grid around the best of a finished search.

For each parameter, around the best trial's value:

* ``loguniform(a,b)``: best/2, best, best*2 (3 significant digits);
* ``uniform(a,b)``: best - 10% of the range, best, best + 10% of the range;
* ``int(a,b)``: best - 1, best, best + 1;
* ``choice(...)``: the best choice and its neighbours in the order written;

always inside the range the first search declared (a value at the edge of its
range gets a note: the range may be too narrow). The grid sampler then runs
every combination once (3 parameters: at most 27 trials), with no pruner, in a
new sweep folder (``PREVIOUS-refine`` unless ``--out``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core.sweep import SweepError
from zoo_core.sweep.spec import SweepSpec, grid_spec, read_spec


def refine_grid(spec: SweepSpec, best: dict[str, Any]) -> tuple[dict[str, list[Any]], list[str]]:
    """The grid around ``best`` (the best trial's params) and notes on values at an edge."""
    grid: dict[str, list[Any]] = {}
    notes: list[str] = []
    for key, space in spec.params.items():
        if key not in best:
            raise SweepError(f"The best trial has no value for {key}; the sweep is damaged.")
        values, note = space.refine(best[key])
        grid[key] = values
        if note:
            notes.append(f"{key}: {note}")
    return grid, notes


def refine_spec(previous: Path) -> tuple[SweepSpec, dict[str, Any], list[str]]:
    """The grid sweep around the best of the finished sweep in ``previous``.

    Returns the new spec, the best trial's params and value, and notes.
    """
    from zoo_core.sweep.final import test_used, used_message
    from zoo_core.sweep.report import best_trial
    from zoo_core.sweep.study import load_finished_study

    prev = read_spec(previous)
    used = test_used(previous)
    if used is not None:
        raise SweepError(f"{used_message(used)}. Searching further now would tune with the "
                         "test result in mind, and a second --final would look at the test "
                         "split twice. Report that result, or start a new study with a test "
                         "split that was never evaluated.")
    study = load_finished_study(prev, previous, "--refine")
    best = best_trial(study, prev)
    if best is None:
        raise SweepError(f"No trial of the sweep in {previous} completed (all were pruned or "
                         "failed), so there is no best value to refine around.")
    grid, notes = refine_grid(prev, dict(best.params))
    spec = grid_spec(prev, grid, study=f"{prev.study}-refine",
                     refined_from=str(previous.resolve()))
    return spec, {"trial": best.number, "value": best.value, "params": dict(best.params)}, notes
