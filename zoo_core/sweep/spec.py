"""What a sweep is, where it comes from, and how it is checked.

A sweep is a recipe (with ``--set`` overrides), a set of spaces (``--param
KEY=SPACE``), a number of trials, a sampler, a pruner and the validation
metric it optimises. It comes from the command line and from the recipe's
``[sweep]`` section (the command line wins)::

    [sweep]
    trials = 20
    sampler = "tpe"        # tpe | random | grid
    pruner = "median"      # median | none
    metric = "val/top1"    # a validation metric of the task; its direction is the task's
    folds = 5              # optional: each trial is scored by the mean of a 5-fold CV

    [sweep.params]
    "train.optimizer.lr" = "loguniform(1e-4,1e-1)"
    "train.batch_size" = "choice(16,32,64)"

Before anything runs, every key and both ends of every range (every choice)
are checked against the recipe schema exactly as ``--set`` would be, and all
problems are reported at once. The definition is stored in the sweep folder
(``sweep.toml``) and in the study, so the same command resumes it and a
different sweep cannot be mixed into it by mistake.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_core.errors import RecipeError, suggestion
from zoo_core.sweep import SweepError
from zoo_core.sweep.spaces import Choice, Space, parse_params, parse_space, toml_literal

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
DIRECTIONS = ("max", "min")
SECTION_KEYS = ("trials", "sampler", "pruner", "metric", "direction", "seed", "folds",
                "params")
#: what every trial adds to the recipe: it is judged on validation data only
TRIAL_OVERRIDES = ('eval.split="val"',)
#: keys a search must not vary: the splits (and the seed the split seed defaults to)
#: must be the same in every trial, and the test split must stay unseen
FIXED_KEYS = {
    "eval.split": "trials are always evaluated on the validation split",
    "data.val_fraction": "every trial must be judged on the same validation images",
    "data.test_fraction": "the test split must stay the same and unseen",
    "data.split_seed": "every trial must be judged on the same validation images",
    "data.folds": "every trial must be judged on the same folds (use --folds K)",
    "data.fold": "a trial with --folds K runs every fold",
    "recipe.seed": "the splits follow the seed (data.split_seed defaults to it), and a search "
                   "over seeds only finds a lucky one",
}


@dataclass
class SweepSpec:
    """One sweep, as stored in ``sweep.toml``."""

    recipe: str
    params: dict[str, Space]
    trials: int
    overrides: list[str] = field(default_factory=list)
    sampler: str = "tpe"
    pruner: str = "median"
    metric: str = "val/loss"
    direction: str = "min"
    study: str = ""
    seed: int | None = None
    recipe_digest: str = ""
    refined_from: str | None = None
    #: the storage URL given with --storage ("" = the SQLite file in the sweep folder)
    storage: str = ""
    #: k-fold cross-validation: a trial's score is the mean over K folds (None: one run)
    folds: int | None = None

    # -- identity: what must match for a folder or a study to be "this sweep" --------------
    def identity(self) -> dict[str, Any]:
        return {"recipe_digest": self.recipe_digest, "metric": self.metric,
                "direction": self.direction, "sampler": self.sampler, "pruner": self.pruner,
                "params": {k: s.text() for k, s in sorted(self.params.items())},
                "folds": self.folds}

    def differences(self, other: SweepSpec) -> list[str]:
        mine, theirs = self.identity(), other.identity()
        out = []
        for key in mine:
            if mine[key] != theirs[key]:
                what = "the recipe (with --set)" if key == "recipe_digest" else key
                out.append(f"{what}: {theirs[key]} there, {mine[key]} now"
                           if key != "recipe_digest" else f"{what} differs")
        return out

    def trial_overrides(self, values: dict[str, Any]) -> list[str]:
        """The ``--set`` list of a trial that drew ``values``."""
        folds = [f"data.folds={self.folds}"] if self.folds else []
        return [*self.overrides, *TRIAL_OVERRIDES, *folds,
                *(f"{k}={toml_literal(v)}" for k, v in values.items())]

    def grid(self) -> dict[str, list[Any]]:
        grid = {}
        for key, space in self.params.items():
            values = space.grid()
            assert values is not None, key
            grid[key] = values
        return grid

    def grid_size(self) -> int:
        n = 1
        for values in self.grid().values():
            n *= len(values)
        return n

    # -- sweep.toml ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "recipe": self.recipe, "overrides": list(self.overrides), "trials": self.trials,
            "sampler": self.sampler, "pruner": self.pruner, "metric": self.metric,
            "direction": self.direction, "study": self.study, "recipe_digest": self.recipe_digest,
            "params": {k: s.text() for k, s in self.params.items()},
        }
        if self.seed is not None:
            data["seed"] = self.seed
        if self.refined_from is not None:
            data["refined_from"] = self.refined_from
        if self.storage:
            data["storage"] = self.storage
        if self.folds:
            data["folds"] = self.folds
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        params = {k: parse_space(v) for k, v in data["params"].items()}
        return cls(recipe=data["recipe"], params=params, trials=int(data["trials"]),
                   overrides=list(data.get("overrides", [])), sampler=data["sampler"],
                   pruner=data["pruner"], metric=data["metric"], direction=data["direction"],
                   study=data["study"], seed=data.get("seed"),
                   recipe_digest=data.get("recipe_digest", ""),
                   refined_from=data.get("refined_from"), storage=data.get("storage", ""),
                   folds=data.get("folds"))

    def write(self, folder: Path) -> None:
        import tomli_w

        from zoo_core.atomic import atomic_open

        with atomic_open(folder / "sweep.toml") as fh:
            fh.write("# The sweep this folder holds (written by zoo sweep; the same command "
                     "resumes it).\n")
            fh.write(tomli_w.dumps({"sweep": self.to_dict()}))


def read_spec(folder: Path) -> SweepSpec:
    """The spec stored in a sweep folder."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    path = folder / "sweep.toml"
    if not path.is_file():
        raise SweepError(f"{folder} is not a sweep folder (it has no sweep.toml). Give the "
                         "folder a `zoo sweep` wrote (its --out).")
    try:
        return SweepSpec.from_dict(tomllib.loads(path.read_text(encoding="utf-8"))["sweep"])
    except (KeyError, ValueError, TypeError) as exc:
        raise SweepError(f"{path} is damaged ({exc}); start the sweep again in a new "
                         "folder.") from None


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def recipe_digest(recipe: Any) -> str:
    """A fingerprint of the resolved recipe, without its [sweep] section."""
    data = recipe.to_dict()
    data.pop("sweep", None)
    blob = json.dumps(_without_none(data), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_trial_recipe(spec: SweepSpec, values: dict[str, Any]) -> Any:
    """The recipe a trial runs (raises RecipeError with every problem of this draw)."""
    from zoo_core.recipe import load_and_validate

    recipe, _ = load_and_validate(spec.recipe, spec.trial_overrides(values))
    return recipe


def best_recipe_toml(spec: SweepSpec, values: dict[str, Any], header: str) -> str:
    """The resolved recipe with the best values, ready for ``zoo run`` (no [sweep], no
    forced validation split: it evaluates where the recipe says)."""
    from zoo_core.recipe import load_and_validate, recipe_from_dict

    overrides = [*spec.overrides, *(f"{k}={toml_literal(v)}" for k, v in values.items())]
    recipe, _ = load_and_validate(spec.recipe, overrides)
    data = recipe.to_dict()
    data.pop("sweep", None)
    clean = recipe_from_dict(data, source=spec.recipe)
    return header + clean.to_toml()


# --- building a spec from the command line and [sweep] ---------------------------------


def _section_problems(section: Any) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(section, dict):
        return {}, [f"[sweep] must be a table, got {section!r}"]
    problems = []
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key not in SECTION_KEYS:
            problems.append(f"[sweep]: unknown key {key!r}.{suggestion(key, SECTION_KEYS)} "
                            f"Valid keys: {', '.join(SECTION_KEYS)}.")
            continue
        want: tuple[type, ...] = {"trials": (int,), "seed": (int,), "folds": (int,),
                                  "params": (dict,)}.get(key, (str,))
        if isinstance(value, bool) or not isinstance(value, want):
            kind = {"trials": "a whole number", "seed": "a whole number",
                    "folds": "a whole number", "params": 'a table of "key" = "space"'}.get(
                        key, "a string")
            problems.append(f"sweep.{key}: expected {kind}, got {value!r}.")
            continue
        out[key] = value
    return out, problems


def _choice_problem(name: str, value: Any, allowed: tuple[str, ...], where: str) -> str | None:
    if value in allowed:
        return None
    return (f"{where}: {value!r} is not one of {', '.join(allowed)}."
            f"{suggestion(str(value), allowed)}")


def _probe_problems(recipe_path: str, overrides: list[str],
                    params: dict[str, Space]) -> list[str]:
    """Check each key and each end of each space against the recipe schema, as --set."""
    from zoo_core.recipe import load_and_validate

    problems = []
    for key, space in params.items():
        found: dict[str, list[str]] = {}
        for value in space.probes():
            lit = toml_literal(value)
            try:
                load_and_validate(recipe_path, [*overrides, *TRIAL_OVERRIDES, f"{key}={lit}"])
            except RecipeError as exc:
                for problem in exc.problems or [str(exc)]:
                    found.setdefault(problem.replace(" (from --set)", ""), []).append(lit)
        probes = len(space.probes())
        for problem, values in found.items():
            which = "" if len(values) == probes and probes > 1 else f" (value {', '.join(values)})"
            problems.append(f"--param {key}={space.text()}{which}: {problem}")
    return problems


def build_spec(recipe_path: str | os.PathLike[str], *, overrides: list[str], params: list[str],
               trials: int | None = None, sampler: str | None = None, pruner: str | None = None,
               metric: str | None = None, direction: str | None = None,
               study: str | None = None, seed: int | None = None,
               folds: int | None = None) -> SweepSpec:
    """A checked spec from the command line (None: not given) and the recipe's [sweep].

    Raises :class:`SweepError` (or the recipe's :class:`RecipeError`) listing every problem.
    """
    from zoo_core.recipe import load_and_validate

    path = str(Path(recipe_path).expanduser().resolve())
    problems: list[str] = []
    try:
        recipe, _ = load_and_validate(path, [*overrides, *TRIAL_OVERRIDES])
    except RecipeError as exc:
        # the recipe itself is broken: say so, with the --param problems we can still see
        _, param_problems = parse_params(params)
        if not param_problems:
            raise
        raise SweepError(f"{exc}\nAlso:\n" + "\n".join(f"  - {p}" for p in param_problems),
                         ) from None
    section, problems = _section_problems(getattr(recipe, "sweep", None) or {})
    spaces, more = parse_params(
        [f"{k}={v}" for k, v in (section.get("params") or {}).items() if isinstance(v, str)],
        source="[sweep.params]")
    problems += more
    problems += [f"sweep.params.{k}: expected a space string such as \"loguniform(1e-4,1e-1)\", "
                 f"got {v!r}." for k, v in (section.get("params") or {}).items()
                 if not isinstance(v, str)]
    cli_spaces, more = parse_params(params)
    problems += more
    spaces.update(cli_spaces)
    set_keys = {o.split("=", 1)[0].strip() for o in overrides}
    for key in spaces:
        if key in FIXED_KEYS:
            problems.append(f"--param {key}: cannot be searched: {FIXED_KEYS[key]}.")
        elif key in set_keys:
            problems.append(f"--param {key}: also given with --set; keep one of them.")
    if not spaces:
        problems.append("nothing to search: give --param KEY=SPACE (e.g. --param "
                        "train.optimizer.lr=loguniform(1e-4,1e-1)) or a [sweep.params] table.")
    sampler = sampler or section.get("sampler", "tpe")
    pruner = pruner or section.get("pruner", "median")
    # by default a search optimises what the run keeps its best epoch by
    metric = metric or section.get("metric") or recipe.train.checkpoint.monitor or ""
    direction = direction or section.get("direction")
    for value, allowed, where in ((sampler, SAMPLERS, "sampler"), (pruner, PRUNERS, "pruner"),
                                  (direction, (*DIRECTIONS, None), "direction")):
        problem = _choice_problem(where, value, allowed, f"--{where}")  # type: ignore[arg-type]
        if problem:
            problems.append(problem)
    from zoo_core.recipe import task_of

    task_metrics = task_of(recipe).metrics()
    name = metric.split("/", 1)[1] if "/" in metric else metric
    if not metric.startswith("val/") or len(metric) <= 4:
        problems.append(f"--metric {metric!r}: a search is judged on validation metrics only "
                        "(the test split stays unseen until --final); write val/<metric>, e.g. "
                        "val/loss.")
    elif name not in task_metrics:
        known = [f"val/{m}" for m in task_metrics]
        problems.append(f"--metric {metric!r}: task {task_of(recipe).name!r} reports no "
                        f"metric {name!r}.{suggestion(metric, known)} Metrics: "
                        f"{', '.join(known)}.")
    if direction is None:
        direction = task_metrics.get(name, "min")
    if sampler == "grid":
        for key, space in spaces.items():
            if space.grid() is None:
                problems.append(f"--param {key}={space.text()}: the grid sampler needs "
                                "choice(...) or a small int(...) range.")
    trials = trials if trials is not None else section.get("trials")
    if trials is None and sampler != "grid":
        problems.append("how many trials? give --trials N (or trials = N in [sweep]).")
    elif trials is not None and trials < 1:
        problems.append(f"--trials {trials}: must be at least 1.")
    seed = seed if seed is not None else section.get("seed")
    folds = folds if folds is not None else section.get("folds")
    if folds is not None and folds < 2:
        problems.append(f"--folds {folds}: k-fold cross-validation needs at least 2 folds.")
    elif folds is not None and "data.folds" in set_keys:
        problems.append("--folds and --set data.folds: keep --folds (a trial runs every fold).")
    valid_spaces = {k: s for k, s in spaces.items() if k not in FIXED_KEYS and k not in set_keys}
    problems += _probe_problems(path, overrides, valid_spaces)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        raise SweepError(f"Sweep over {recipe_path} has {len(problems)} {noun}:\n"
                         + "\n".join(f"  - {p}" for p in problems)
                         + "\nSpaces: loguniform(a,b), uniform(a,b), int(a,b), choice(x,y,...)"
                         " (docs/sweeps.md).")
    spec = SweepSpec(recipe=path, params=spaces, trials=int(trials or 0),
                     overrides=list(overrides), sampler=sampler, pruner=pruner, metric=metric,
                     direction=direction, study=study or recipe.name, seed=seed,
                     recipe_digest=recipe_digest(recipe), folds=folds)
    if sampler == "grid":
        size = spec.grid_size()
        spec.trials = min(spec.trials, size) if spec.trials else size
    return spec


def grid_spec(base: SweepSpec, grid: dict[str, list[Any]], *, study: str,
              refined_from: str) -> SweepSpec:
    """A grid sweep over ``grid`` with everything else of ``base`` (for --refine)."""
    spec = SweepSpec(recipe=base.recipe, params={k: Choice(tuple(v)) for k, v in grid.items()},
                     trials=0, overrides=list(base.overrides), sampler="grid", pruner="none",
                     metric=base.metric, direction=base.direction, study=study, seed=base.seed,
                     recipe_digest=base.recipe_digest, refined_from=refined_from,
                     storage="", folds=base.folds)
    spec.trials = spec.grid_size()
    return spec
