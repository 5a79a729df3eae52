"""Recipes: TOML files that say what to train, checked before anything runs.

The flow is ``read TOML -> resolve extends -> apply --set -> find the task ->
check the schema (the core sections and the task's) -> fill the defaults the
task knows (monitors and their directions) -> check names against the
registry -> check weights and data``. Every step collects its problems
instead of stopping at the first, so one :class:`~zoo_core.errors.RecipeError`
lists everything that is wrong, each as ``dotted.path: message`` with a
did-you-mean where one helps.

Entry points:

* :func:`load_recipe` — parse, ``extends``, ``--set``, schema. Raises on errors.
* :func:`validate_recipe` — registry names, weights availability, data paths:
  returns :class:`Problem` s (errors and warnings; ``strict`` makes warnings errors).
* :func:`load_and_validate` — both at once, what ``zoo run`` and ``zoo validate``
  call; raises a :class:`RecipeError` with every error, returns the warnings.
* :func:`load_resolved` — read back the resolved recipe a run folder stores.
* :func:`recipe_from_dict` — a recipe from plain data, with the same errors.
* :func:`task_of` — the task object of a recipe, set up with it.

Tasks take part in validation without the core naming them: a task's
``Options`` is the ``[task]`` section, its ``sections`` add or extend tables,
``metrics()`` and ``default_monitor()`` say which monitor keys exist and
which way is better, ``model_refs()`` names what each role loads and
``check_recipe(recipe)`` adds problems of its own; a data set component
whose factory has a ``check_recipe(recipe)`` attribute is asked too.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, create_model

from zoo_core.errors import RecipeError, UnknownNameError, ZooError, suggestion
from zoo_core.recipe.checks import (
    Problem,
    data_problems,
    get_path,
    name_problems,
    plugin_problems,
    prune_problems,
    resolve_monitors,
    weights_problems,
    weights_status,
)
from zoo_core.recipe.reading import SET, Collector, apply_override, load_chain, parse_override
from zoo_core.recipe.schema import (
    AugmentSection,
    CheckpointSection,
    DataSection,
    EarlyStoppingSection,
    EvalSection,
    ModelEntry,
    OptimizerSection,
    PruneSection,
    RandomResizedCrop,
    Recipe,
    RecipeMeta,
    RegularizerSpec,
    RoleOptimizer,
    ScheduleSection,
    TrainSection,
    drop_none,
)

__all__ = [
    "AugmentSection", "CheckpointSection", "DataSection", "EarlyStoppingSection",
    "EvalSection", "ModelEntry", "OptimizerSection", "Problem", "PruneSection",
    "RandomResizedCrop", "Recipe", "RecipeError", "RecipeMeta", "RegularizerSpec", "RoleOptimizer",
    "ScheduleSection", "TrainSection", "load_and_validate", "load_recipe", "load_resolved",
    "parse_override", "recipe_class", "recipe_from_dict", "task_of", "validate_recipe",
    "weights_status",
]

_CORE_SECTIONS = frozenset(Recipe.model_fields)


# --- the task and its recipe class --------------------------------------------------------


def _task_object(name: str) -> Any:
    from zoo_core.engine.task import Task
    from zoo_core.plugins import registry

    task = registry().get("task", name).component.create()
    if not isinstance(task, Task):
        raise ZooError(f"task {name!r} is not a zoo_core.engine.task.Task (its factory returned "
                       f"a {type(task).__name__}); the plugin that registers it is out of date.")
    return task


@functools.cache
def _class_for(task_type: Any) -> type[Recipe]:
    fields: dict[str, Any] = {"task": (task_type.Options, Field(default_factory=task_type.Options))}
    for name, section in task_type.sections.items():
        if name in ("recipe", "models", "optimizers", "task"):
            raise TypeError(f"task {task_type.name!r} cannot redefine [{name}]")
        if get_origin(section) is list:
            fields[name] = (section, Field(default_factory=list))
        else:
            fields[name] = (section, Field(default_factory=section))
    return create_model(f"{task_type.__name__}Recipe", __base__=Recipe, **fields)


def recipe_class(task: str | Any) -> type[Recipe]:
    """The recipe model of one task: the core sections plus the task's own."""
    obj = _task_object(task) if isinstance(task, str) else task
    return _class_for(type(obj))  # type: ignore[arg-type]  # classes are hashable


def task_of(recipe: Recipe) -> Any:
    """A fresh task object for ``recipe``, set up with it."""
    task = _task_object(str(recipe.recipe.task))
    task.setup(recipe)
    return task


def _infer_task(raw: Mapping[str, Any]) -> str | None:
    """The one task that declares the recipe's non-core top-level tables."""
    from zoo_core.plugins import registry

    extra = {k for k in raw if k not in _CORE_SECTIONS}
    if not extra:
        return None
    owners = []
    for comp in registry().list("task"):
        try:
            task = comp.create()
        except Exception:  # noqa: BLE001 - a broken task cannot own the recipe
            continue
        if extra <= set(getattr(task, "sections", {})):
            owners.append(comp.name)
    return owners[0] if len(owners) == 1 else None


def _task_problem(raw: Mapping[str, Any]) -> Problem:
    from zoo_core.plugins import registry

    tasks = registry().names("task")
    return Problem("recipe.task", "required key is missing: name the task, e.g. "
                   f"task = \"{tasks[0] if tasks else 'classification'}\" (tasks: "
                   f"{', '.join(tasks) or 'none installed'}; `zoo list task`).")


# --- schema errors ----------------------------------------------------------------


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _section_at(loc: Sequence[str | int], root: type[BaseModel]) -> type[BaseModel] | None:
    """The schema model that the key at ``loc`` lives in (None: an open table)."""
    cls: type[BaseModel] | None = root
    keyed = False  # inside dict[str, Model]: the next segment is a key (a role)
    for seg in loc:
        if isinstance(seg, int):
            continue
        if keyed:
            keyed = False
            continue
        if cls is None or seg not in cls.model_fields:
            return None
        annotation = cls.model_fields[seg].annotation
        keyed = get_origin(annotation) is dict
        cls = _inner_model(annotation)
    return None if keyed else cls


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for seg in loc:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


def _section_label(loc: Sequence[str | int]) -> str:
    keys = [str(s) for s in loc if not isinstance(s, int)]
    if not keys:
        return "at the top level"
    if any(isinstance(s, int) for s in loc):
        return f"in [[{'.'.join(keys)}]]"
    return f"in [{'.'.join(keys)}]"


_MISSING_HINTS = {
    "dataset": ' Name the data set, e.g. dataset = "digits" (see `zoo list dataset`).',
    "epochs": " Give each stage its number of epochs, e.g. epochs = 3.",
    "name": ' Name the component (see `zoo list`).',
}


def _schema_problems(exc: ValidationError, col: Collector, root: type[BaseModel]
                     ) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            parent = loc[:-1]
            key = str(loc[-1])
            section = _section_at(parent, root)
            valid = sorted(section.model_fields) if section is not None else []
            message = (f"unknown key {key!r} {_section_label(parent)}.{suggestion(key, valid)}"
                       + (f" Valid keys: {', '.join(valid)}." if valid else ""))
        elif kind == "missing":
            field = str(loc[-1])
            if _section_at(loc, root) is not None and not isinstance(loc[-1], int):
                message = f"required table [{_dotted(loc)}] is missing."
            else:
                message = "required key is missing." + _MISSING_HINTS.get(field, "")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"expected a table, got {value!r}."
        elif kind == "list_type":
            message = f"expected a list [...], got {value!r}."
        elif kind == "literal_error":
            expected = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            message = (f"{value!r} is not one of {', '.join(expected)}."
                       f"{suggestion(str(value), expected)}")
        elif kind in ("value_error", "assertion_error"):
            message = re.sub(r"^(Value|Assertion) error, ", "", err["msg"]).rstrip(".") + "."
        else:
            message = f"{err['msg']} (got {value!r})."
        origin = col.origin_of(loc) if (len(col.files) > 1 or SET in col.origins.values()) else None
        path = _dotted(loc)
        if origin is not None and path:
            path += f" (from {origin})"
        problems.append(Problem(path or "recipe", message))
    return problems


# --- public API -----------------------------------------------------------------------


def _raise(source: str, problems: Sequence[Problem]) -> None:
    errors = [p for p in problems if p.level == "error"]
    if not errors:
        return
    noun = "problem" if len(errors) == 1 else "problems"
    lines = "\n".join(f"  - {p}" for p in errors)
    raise RecipeError(
        f"Recipe {source} has {len(errors)} {noun}:\n{lines}\n"
        "Fix them and run `zoo validate` again (docs/recipes.md lists every key).",
        problems=[str(p) for p in errors],
    )


def _validate_tables(raw: dict[str, Any], col: Collector) -> tuple[Recipe | None, Any]:
    """Schema-check ``raw`` against its task's recipe class and fill the defaults the
    task knows; problems go to ``col``. Returns (recipe or None, task or None)."""
    meta: dict[str, Any] = raw["recipe"] if isinstance(raw.get("recipe"), dict) else {}
    name = meta.get("task")
    if name is None:
        name = _infer_task(raw)
        if name is None:
            col.problems.append(_task_problem(raw))
            return None, None
        raw["recipe"] = {**meta, "task": name}
    try:
        task = _task_object(str(name))
    except ZooError as exc:
        if not isinstance(exc, UnknownNameError):  # an unknown name: the name checks say it
            col.add("recipe.task", str(exc))
        return None, None
    cls = recipe_class(task)
    try:
        recipe = cls.model_validate(raw)
    except ValidationError as exc:
        col.problems += _schema_problems(exc, col, cls)
        return None, task
    task.setup(recipe)
    col.problems += resolve_monitors(recipe, task)
    try:
        task.resolve(recipe)
    except ValueError as exc:
        col.add("recipe", str(exc).rstrip(".") + ".")
    return recipe, task


def _build(path: str | os.PathLike[str], overrides: Iterable[str],
           col: Collector) -> tuple[dict[str, Any], Recipe | None, Any]:
    top = Path(path).expanduser()
    raw = load_chain(top, col)
    for text in overrides:
        apply_override(raw, text, col)
    meta = raw.get("recipe")
    if isinstance(meta, dict) and "name" not in meta:
        raw["recipe"] = {**meta, "name": top.stem}
    elif "recipe" not in raw:
        raw["recipe"] = {"name": top.stem}
    if col.file_failed:  # an unreadable file: schema errors would only be noise
        return raw, None, None
    recipe, task = _validate_tables(raw, col)
    if recipe is not None:
        recipe._source = str(path)
    return raw, recipe, task


def recipe_from_dict(raw: Mapping[str, Any], overrides: Iterable[str] = (), *,
                     source: str = "(built in code)") -> Recipe:
    """A recipe from plain data (e.g. ``load_resolved(...).to_dict()`` edited in code),
    with ``--set`` overrides and the same all-problems :class:`RecipeError` as a file.
    None values mean "unset" (as in TOML, where they are left out)."""
    col = Collector()
    data = drop_none(copy.deepcopy(dict(raw)))
    for text in overrides:
        apply_override(data, text, col)
    recipe = _validate_tables(data, col)[0] if not col.problems else None
    _raise(source, col.problems)
    assert recipe is not None
    return recipe


def load_recipe(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> Recipe:
    """Parse ``path`` with its ``extends`` chain and ``--set`` overrides; schema-check it.

    Raises :class:`RecipeError` listing every problem found.
    """
    col = Collector()
    _, recipe, _ = _build(path, overrides, col)
    _raise(str(path), col.problems)
    assert recipe is not None
    return recipe


def validate_recipe(recipe: Recipe, *, strict: bool = False) -> list[Problem]:
    """Registry names, weights availability and data paths. Returns errors,
    warnings and infos; with ``strict`` every warning becomes an error."""
    task = task_of(recipe)
    problems = name_problems(recipe.to_dict(), task)
    for ref in task.model_refs(recipe).values():
        if not any(p.path.startswith(ref.path + ".") for p in problems):
            problems += weights_problems(ref)
    problems += data_problems(recipe.data.dataset, recipe.data.root, recipe.data.download)
    problems += plugin_problems(recipe, task)
    problems += prune_problems(recipe, task)
    if strict:
        problems = [p.as_error() if p.level == "warning" else p for p in problems]
    return problems


def load_and_validate(path: str | os.PathLike[str], overrides: Iterable[str] = (), *,
                      strict: bool = False) -> tuple[Recipe, list[Problem]]:
    """Everything ``zoo run`` checks before it starts, all problems at once.

    Returns the recipe and its non-error problems (warnings, infos); raises
    :class:`RecipeError` listing every error (schema, names, files, and, under
    ``strict``, warnings).
    """
    col = Collector()
    raw, recipe, task = _build(path, overrides, col)
    if recipe is None:
        if not col.file_failed:  # schema errors: still check names and paths, to show all
            col.problems += name_problems(raw, task)
            col.problems += [p for p in data_problems(
                get_path(raw, "data.dataset"), get_path(raw, "data.root"),
                get_path(raw, "data.download", True)) if p.level == "error"]
        _raise(str(path), col.problems)
    assert recipe is not None
    problems = col.problems + validate_recipe(recipe, strict=strict)
    _raise(str(path), problems)
    return recipe, [p for p in problems if p.level != "error"]


def load_resolved(path: str | os.PathLike[str]) -> Recipe:
    """Read back a resolved recipe (``Recipe.to_toml()``), e.g. for ``zoo run --resume``."""
    return load_recipe(path)
