"""``zoo eval`` and ``zoo predict`` over a run folder or a saved model folder.

Both dispatch to the task that trained the model (``config.json`` records
it): evaluation runs the task's ``eval_step`` and meter over a split, through
the same pipeline ``zoo run`` builds, with the saved models in place of the
recipe's weights; prediction is the task's ``predict``. ``zoo eval`` also
takes a registry model name of the kind of a task's main role (a baseline
such as an interpolation, or published weights given with
``--set models.<role>.weights=...``): the task builds it as a recipe naming
it would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo_core.errors import DataError, ZooError, suggestion


@dataclass
class Saved:
    """One saved model, rebuilt and loaded."""

    folder: Path
    model: torch.nn.Module
    config: dict[str, Any]
    data_config: dict[str, Any]
    lock: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task_name(self) -> str | None:
        zoo = self.config.get("zoo") or {}
        return zoo.get("task") if isinstance(zoo, dict) else None


def _load(folder: Path, device: torch.device) -> Saved:
    from zoo_core.data.transforms import resolve_data_config
    from zoo_core.weights import load_model
    from zoo_core.weights.saved import read_config

    loaded = load_model(folder)
    return Saved(folder, loaded.model.to(device).eval(), read_config(folder),
                 resolve_data_config(loaded.data_config), list(loaded.lock))


def open_saved(path: str | os.PathLike[str], device: torch.device, role: str | None = None,
               every_role: bool = False) -> tuple[Path | None, dict[str, Saved]]:
    """(run folder or None, role -> Saved). A run folder gives its roles (all of them
    with ``every_role``, else the one asked for or the main one); a model folder (or a
    wave-1 run's ``model/``) gives itself under its task's main role."""
    from zoo_core.weights.saved import MODELS_DIR, find_model_folder, roles_in, run_of

    folder = find_model_folder(path, role)
    run = run_of(folder)
    if folder.parent.name == MODELS_DIR and run is not None:
        names = roles_in(run) if every_role else [folder.name]
        loaded = {name: _load(run / MODELS_DIR / name, device) for name in names}
        # the task's roles; a model a task exports beside them (an autoencoder's
        # encoder, a plain backbone folder) names no task and is no role of the run
        trained = {name: s for name, s in loaded.items() if s.task_name}
        return run, trained or loaded
    saved = _load(folder, device)
    task = _task_named(saved.task_name)
    return run, {task.main_role if task is not None else "model": saved}


def _task_named(name: str | None) -> Any:
    if not name:
        return None
    from zoo_core.plugins import registry

    return registry().get("task", name).component.create()


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def registry_model(name: str) -> tuple[str, str] | None:
    """(task, main role) when ``name`` is a registry model of the kind of exactly one
    task's main role; None when it is no such model."""
    from zoo_core.plugins import registry

    reg = registry()
    found = []
    for comp in reg.list("task"):
        try:
            task = comp.create()
        except Exception:  # noqa: BLE001 - a broken task owns no model names
            continue
        spec = getattr(task, "roles", {}).get(task.main_role)
        if spec is None:
            continue
        try:
            reg.get(spec.kind, name)
        except ZooError:
            continue
        found.append((comp.name, task.main_role))
    if len(found) > 1:
        raise ZooError(f"{name!r} is a model of several tasks ({', '.join(t for t, _ in found)}); "
                       "evaluate it through a recipe that names the task.")
    return found[0] if found else None


def eval_recipe(run: Path | None, saved: dict[str, Saved], data: str | None,
                overrides: list[str], raw: dict[str, Any] | None = None) -> Any:
    """The recipe whose [data] says what to evaluate on: the run's (or ``raw``), with
    ``data`` (a folder, read the way the task reads folders, or a data set name) in
    its place."""
    from zoo_core.plugins import registry
    from zoo_core.recipe import load_resolved, recipe_from_dict

    if raw is not None:
        pass
    elif run is not None:
        raw = load_resolved(run / "recipe.toml").to_dict()
    elif data is None:
        raise ZooError(f"{next(iter(saved.values())).folder} is a bare model folder: say what "
                       "to evaluate on with --data (a folder or a data set name).")
    else:
        first = next(iter(saved.values()))
        if first.task_name is None:
            raise ZooError(f"{first.folder}/config.json does not name the task that trained "
                           "it, so zoo cannot tell how to evaluate it.")
        raw = {"recipe": {"name": "eval", "task": first.task_name}}
    if data is not None:
        task = _task_named(raw["recipe"]["task"])
        if Path(data).expanduser().exists():
            raw["data"] = {"dataset": task.folder_dataset, "root": str(Path(data).expanduser())}
        else:
            registry().get("dataset", data)  # did-you-mean for a misspelled name
            raw["data"] = {"dataset": data}
        raw["data"].update(val_fraction=0.0, test_fraction=0.0)
    raw["data"].pop("augment", None)
    raw["data"]["subset_per_class"] = None
    return recipe_from_dict(_drop_none(raw), overrides)


def evaluate_saved(path: str | os.PathLike[str], *, data: str | None = None,
                   split: str | None = None, device: str | None = None,
                   batch_size: int | None = None, overrides: list[str] | None = None,
                   role: str | None = None) -> dict[str, Any]:
    """Metrics of a saved model (or a run's models, or a registry model named by
    ``path``) on a split of a data set.

    Data given with ``data`` that has no published splits is evaluated whole
    and reported as split ``eval``; a run's own data keeps its split names.
    """
    from zoo_core.engine.devices import resolve_device
    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.engine.trainer import evaluate_split

    dev = resolve_device(device)
    sets = list(overrides or [])
    if batch_size:
        sets.append(f"eval.batch_size={batch_size}")
    skipped: list[str] = []
    named = None if Path(path).expanduser().exists() else registry_model(str(path))
    if named is not None:
        task_name, main = named
        if role is not None:
            raise ZooError(f"--model {role} picks one of a run's models; the registry model "
                           f"{str(path)!r} is evaluated as task {task_name!r}'s {main!r}.")
        if data is None:
            raise ZooError(f"{str(path)!r} is a registry model, with no data of its own: say "
                           "what to evaluate it on with --data (a folder or a data set name).")
        raw = {"recipe": {"name": "eval", "task": task_name},
               "models": {main: {"name": str(path)}}}
        recipe = eval_recipe(None, {}, data, sets, raw=raw)
        pipe = build_pipeline(recipe, dev, warn=skipped.append, evaluating=True)
        label = str(path)
    elif not Path(path).expanduser().exists():
        raise DataError(f"{path} does not exist, and no task has a model of that name. Give a "
                        "run folder (runs/<recipe>/<time>), a model folder (config.json + "
                        "model.safetensors) or a registry model name (`zoo list`).")
    else:
        run, saved = open_saved(path, dev, role, every_role=True)
        recipe = eval_recipe(run, saved, data, sets)
        pipe = build_pipeline(recipe, dev, saved=saved, warn=skipped.append)
        label = str(next(iter(saved.values())).folder if len(saved) == 1 else run)
    available = list(pipe.loaders)
    if data is not None and available == ["train"]:
        chosen, name = "train", "eval"  # the whole folder or data set, honestly named
    else:
        chosen = split or recipe.eval.split or next(
            (s for s in ("test", "val", "train") if s in available), "train")
        name = chosen
    if chosen not in available:
        raise DataError(f"The data has no {chosen!r} split; it has {', '.join(available)}."
                        f"{suggestion(chosen, available)}")
    meter = evaluate_split(pipe, chosen, meter_split="eval" if chosen == "train" else chosen)
    metrics = {f"{name}/{k}": v for k, v in meter.compute().items()}
    return {"model": label, "split": name,
            "samples": len(pipe.data.splits[chosen]), "skipped": sorted(pipe.policy.seen),
            "metrics": metrics, "tables": pipe.task.eval_tables(meter)}


def predict(path: str | os.PathLike[str], inputs: list[str], *, options: dict[str, Any],
            role: str | None = None, device: str | None = None,
            out: str | os.PathLike[str] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """The task's inference on ``inputs`` (image files, or nothing for a generator);
    returns (task, results)."""
    from pydantic import ValidationError

    from zoo_core.engine.devices import resolve_device
    from zoo_core.recipe import load_resolved

    dev = resolve_device(device)
    run, saved = open_saved(path, dev, role, every_role=role is None)
    first = next(iter(saved.values()))
    task = _task_named(first.task_name)
    if task is None:
        raise ZooError(f"{first.folder}/config.json does not name the task that trained it, so "
                       "zoo cannot tell how to predict with it.")
    if run is not None:
        task.setup(load_resolved(run / "recipe.toml"))
    try:
        opts = task.PredictOptions.model_validate(options)
    except ValidationError as exc:
        fields = list(task.PredictOptions.model_fields)
        problems = []
        for err in exc.errors(include_url=False):
            key = str(err["loc"][-1]) if err["loc"] else "?"
            if err["type"] == "extra_forbidden":
                problems.append(f"--{key.replace('_', '-')}: no such option for task "
                                f"{task.name!r}.{suggestion(key, fields)}")
            else:
                problems.append(f"--{key.replace('_', '-')}: {err['msg']}")
        known = ", ".join(f"--{f.replace('_', '-')}" for f in fields) or "none"
        raise ZooError("zoo predict: " + " ".join(problems) + f" Options of task "
                       f"{task.name!r}: {known}.") from None
    folder = Path(out).expanduser() if out is not None else None
    with torch.no_grad():
        results = task.predict(saved, inputs, opts, folder)
    return task, results
