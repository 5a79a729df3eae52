"""Recipes: TOML files that say what to train, checked before anything runs.

The flow is ``read TOML -> resolve extends -> apply --set -> check schema ->
check names against the registry -> check weights and data``. Every step
collects its problems instead of stopping at the first, so one
:class:`~zoo_core.errors.RecipeError` lists everything that is wrong, each as
``dotted.path: message`` with a did-you-mean where one helps.

Entry points:

* :func:`load_recipe` — parse, ``extends``, ``--set``, schema. Raises on errors.
* :func:`validate_recipe` — registry names, weights availability, data paths:
  returns :class:`Problem` s (errors and warnings; ``strict`` makes warnings errors).
* :func:`load_and_validate` — both at once, what ``zoo run`` and ``zoo validate``
  call; raises a :class:`RecipeError` with every error, returns the warnings.
* :func:`load_resolved` — read back the resolved recipe a run folder stores.

Plugins may take part in validation without the core naming them: a task or
data set component whose factory has a ``check_recipe(recipe)`` attribute is
asked for extra problems (an iterable of :class:`Problem` or
``(level, path, message)`` tuples), and a task factory with
``needs_backbone = False`` lifts the ``model.backbone`` requirement.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ValidationError

from zoo_core.errors import RecipeError, ZooError, suggestion
from zoo_core.recipe_schema import (
    AugmentSection,
    CheckpointSection,
    DataSection,
    EarlyStoppingSection,
    EvalSection,
    ModelSection,
    OptimizerSection,
    RandomResizedCrop,
    Recipe,
    RecipeMeta,
    RegularizerSpec,
    ScheduleSection,
    StageSection,
    TrainSection,
    infer_monitor_mode,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "AugmentSection", "CheckpointSection", "DataSection", "EarlyStoppingSection",
    "EvalSection", "ModelSection", "OptimizerSection", "Problem", "RandomResizedCrop",
    "Recipe", "RecipeError", "RecipeMeta", "RegularizerSpec", "ScheduleSection",
    "StageSection", "TrainSection", "infer_monitor_mode", "load_and_validate",
    "load_recipe", "load_resolved", "parse_override", "validate_recipe", "weights_status",
]

Level = Literal["error", "warning", "info"]
SET = "--set"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or worth knowing about) a recipe.

    ``info`` never fails a run; ``warning`` fails only under ``--strict``.
    """

    path: str
    message: str
    level: Level = "error"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_error(self) -> Problem:
        return Problem(self.path, self.message, "error")


# --- reading files and extends ---------------------------------------------------


class _Collector:
    """Problems plus where each key came from (file or --set), for messages."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.origins: dict[tuple[str, ...], str] = {}
        self.files: list[Path] = []
        self.file_failed = False

    def add(self, path: str, message: str, level: Level = "error") -> None:
        self.problems.append(Problem(path, message, level))

    def note_origins(self, table: Mapping[str, Any], origin: str,
                     prefix: tuple[str, ...] = ()) -> None:
        for key, value in table.items():
            here = (*prefix, str(key))
            if isinstance(value, Mapping):
                self.note_origins(value, origin, here)
            else:
                self.origins[here] = origin

    def origin_of(self, loc: Sequence[str | int]) -> str | None:
        keys = tuple(str(k) for k in loc if not isinstance(k, int))
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.origins:
                return self.origins[keys[:n]]
        return None


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_toml(path: Path, col: _Collector, referrer: str | None) -> dict[str, Any] | None:
    where = f" (extended by {referrer})" if referrer else ""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        col.file_failed = True
        col.add("extends" if referrer else "",
                f"recipe file {_display(path)} does not exist{where}.")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        col.file_failed = True
        col.add("extends" if referrer else "", f"cannot read {_display(path)}{where}: {exc}.")
        return None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        col.file_failed = True
        col.add("", f"{_display(path)}{where} is not valid TOML: {exc}.")
        return None
    return raw


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else (lists too) is replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _load_chain(path: Path, col: _Collector, chain: tuple[Path, ...] = (),
                referrer: str | None = None) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        loop = " -> ".join(_display(p) for p in (*chain, path))
        col.add("extends", f"recipes extend each other in a cycle: {loop}. Remove one `extends`.")
        return {}
    raw = _read_toml(path, col, referrer)
    if raw is None:
        return {}
    col.files.append(path)
    parent = raw.pop("extends", None)
    base: dict[str, Any] = {}
    if parent is not None:
        if not isinstance(parent, str) or not parent.strip():
            col.add("extends", f"in {_display(path)}: expected a file name (a string, relative "
                               f"to this file), got {parent!r}.")
        else:
            base = _load_chain(path.parent / Path(parent).expanduser(), col, (*chain, path),
                               referrer=_display(path))
    col.note_origins(raw, _display(path))
    return _merge(base, raw)


# --- --set overrides ------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'train.optimizer.betas=[0.9,0.99]'`` -> (['train', 'optimizer', 'betas'], [0.9, 0.99]).

    The value is a TOML literal; anything that is not one (``/tmp/x``,
    ``resnet50``) is taken as a plain string. Raises ValueError on a bad key.
    """
    if "=" not in text:
        raise ValueError(f"{SET} {text!r}: expected key.path=value, e.g. {SET} train.epochs=3")
    key, _, value = text.partition("=")
    key, value = key.strip(), value.strip()
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ValueError(
            f"{SET} {text!r}: {key!r} is not a key path; write dotted keys such as "
            f"train.optimizer.lr (quote a key with dots in it: model.unfreeze_at.\"3\")"
        ) from None
    keys: list[str] = []
    while isinstance(node, dict):
        (k, node), = node.items()
        keys.append(k)
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value  # a bare word or path: a string, as a person meant it
    return keys, parsed


def _apply_override(raw: dict[str, Any], text: str, col: _Collector) -> None:
    try:
        keys, value = parse_override(text)
    except ValueError as exc:
        col.add("", str(exc))
        return
    dotted = ".".join(keys)
    if keys[0] == "extends":
        col.add("", f"{SET} {text!r}: `extends` cannot be overridden; edit the file or "
                     "point zoo at the recipe you want to extend.")
        return
    node: Any = raw
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        so_far = ".".join(keys[:depth]) or "(top level)"
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                col.add(dotted, f"{SET}: {so_far} is a list of {len(node)} item(s); address an "
                                f"item by its number from 0, e.g. {so_far}.0, or replace the "
                                f"whole list: {so_far}=[...]")
                return
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
            continue
        if not isinstance(node, dict):
            col.add(dotted, f"{SET}: {so_far} is a value ({node!r}), not a table.")
            return
        if last:
            if isinstance(value, Mapping) and isinstance(node.get(key), Mapping):
                node[key] = _merge(dict(node[key]), value)
            else:
                node[key] = value
        else:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif isinstance(child, list):
                node[key] = child = list(child)  # do not edit a list another key shares
            elif isinstance(child, dict):
                node[key] = child = dict(child)
            node = child
    col.origins[tuple(keys)] = SET
    if isinstance(value, Mapping):
        col.note_origins(value, SET, tuple(keys))


# --- schema errors ----------------------------------------------------------------


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if inspect.isclass(tp) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _section_at(loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The schema model that the key at ``loc`` lives in (None: an open table)."""
    cls: type[BaseModel] | None = Recipe
    for seg in loc:
        if isinstance(seg, int):
            continue
        if cls is None or seg not in cls.model_fields:
            return None
        cls = _inner_model(cls.model_fields[seg].annotation)
    return cls


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
    "name": ' Name the component, e.g. name = "l2" (see `zoo list regularizer`).',
}


def _schema_problems(exc: ValidationError, col: _Collector) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            parent = loc[:-1]
            key = str(loc[-1])
            section = _section_at(parent)
            valid = sorted(section.model_fields) if section is not None else []
            message = (f"unknown key {key!r} {_section_label(parent)}.{suggestion(key, valid)}"
                       + (f" Valid keys: {', '.join(valid)}." if valid else ""))
        elif kind == "missing":
            field = str(loc[-1])
            if _section_at(loc) is not None and not isinstance(loc[-1], int):
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


# --- registry names ----------------------------------------------------------------


def _get(raw: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = raw
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def _looks_like_uri(value: str) -> bool:
    return (
        "://" in value
        or value.startswith(("/", "./", "../", "~"))
        or os.sep in value
        or value.endswith((".safetensors", ".pth", ".pt", ".bin"))
    )


def _lookup(kind: str, name: Any, path: str, problems: list[Problem]) -> Any:
    """Resolve ``name`` in ``kind``; a problem (with did-you-mean) when it does not."""
    from zoo_core.plugins import registry

    if not isinstance(name, str):
        return None  # the schema already reports the type
    try:
        return registry().get(kind, name)
    except ZooError as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _factory_keys(component: Any) -> list[str] | None:
    """The config keys a component accepts: its factory's keyword parameters, or,
    when the factory takes ``**cfg``, the keys of its ``default_cfg`` (the
    convention: a component declares every key it takes there). None: unknown."""
    try:
        params = inspect.signature(component.factory).parameters.values()
    except (TypeError, ValueError):
        params = []
    named = [p.name for p in params
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind == p.VAR_KEYWORD for p in params):
        if not component.default_cfg:
            return None
        return sorted(set(named) | set(component.default_cfg))
    return sorted(set(named) | set(component.default_cfg)) if params else None


def _cfg_problems(component: Any, cfg: Mapping[str, Any], path: str,
                  reserved: Iterable[str] = ()) -> list[Problem]:
    reserved = set(reserved)
    problems = []
    valid = _factory_keys(component)
    for key in cfg:
        if key in reserved:
            problems.append(Problem(f"{path}.{key}", f"{key!r} is set by zoo from the model and "
                                                     "data; remove it."))
        elif valid is not None and key not in valid:
            choices = [k for k in valid if k not in reserved]
            problems.append(Problem(
                f"{path}.{key}",
                f"unknown key {key!r} for {component.kind} {component.name!r}."
                f"{suggestion(key, choices)} Valid keys: {', '.join(choices) or 'none'}.",
            ))
    return problems


def _factory_attr(resolved: Any, attr: str, default: Any = None) -> Any:
    if resolved is None:
        return default
    return getattr(resolved.component.factory, attr, default)


def _name_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """Registry checks on the merged raw tables, so they run (and report) even when
    the schema has errors elsewhere."""
    problems: list[Problem] = []
    task = _lookup("task", _get(raw, "recipe.task", "classification"), "recipe.task", problems)
    _lookup("dataset", _get(raw, "data.dataset"), "data.dataset", problems)

    backbone_name = _get(raw, "model.backbone")
    backbone = None
    if backbone_name is None:
        if _factory_attr(task, "needs_backbone", True) and isinstance(raw.get("model", {}), dict):
            problems.append(Problem("model.backbone", "required key is missing: name the "
                                    "backbone, e.g. \"resnet18\" (see `zoo list backbone`)."))
    elif isinstance(backbone_name, str) and not backbone_name.startswith("hf://"):
        backbone = _lookup("backbone", backbone_name, "model.backbone", problems)

    weights = _get(raw, "model.weights", "default")
    if backbone is not None and isinstance(weights, str) and weights not in ("default", "none") \
            and not _looks_like_uri(weights):
        component = backbone.component
        if backbone.tag is not None and backbone.tag != weights:
            problems.append(Problem("model.weights", (
                f"the backbone names tag {backbone.tag!r} but weights = {weights!r}; "
                "keep one of them.")))
        elif weights not in component.weights:
            tags = sorted(component.weights)
            problems.append(Problem("model.weights", (
                f"backbone {component.name!r} has no weight tag {weights!r}."
                f"{suggestion(weights, tags)} Tags: {', '.join(tags) or 'none'}; "
                "or give a URI (hf://org/repo, https://...#sha256=..., a local file), "
                "\"default\" or \"none\".")))

    if isinstance(weights, str) and weights.startswith(("https://", "http://")) \
            and "#sha256=" not in weights:
        problems.append(Problem("model.weights", (
            "a download URL must pin its content: append #sha256=<64 hex digits> "
            "(`sha256sum FILE` prints it), e.g. https://host/w.safetensors#sha256=...")))

    head = _lookup("head", _get(raw, "model.head", "linear"), "model.head", problems)
    head_cfg = _get(raw, "model.head_cfg", {})
    if head is not None and isinstance(head_cfg, Mapping):
        problems += _cfg_problems(head.component, head_cfg, "model.head_cfg",
                                  reserved=("in_features", "num_classes"))

    regs = _get(raw, "train.regularizers", [])
    if isinstance(regs, list):
        for i, spec in enumerate(regs):
            if not isinstance(spec, Mapping) or "name" not in spec:
                continue  # the schema reports it
            path = f"train.regularizers[{i}]"
            reg = _lookup("regularizer", spec["name"], f"{path}.name", problems)
            if reg is not None:
                cfg = {k: v for k, v in spec.items() if k != "name"}
                problems += _cfg_problems(reg.component, cfg, path)
    return problems


# --- weights and data availability ------------------------------------------------


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


_reachable: dict[str, bool] = {}


def _hub_reachable() -> bool:
    """A quick TCP probe of the Hub endpoint (HF_ENDPOINT), remembered per process."""
    if _hub_offline():
        return False
    import socket
    from urllib.parse import urlsplit

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    if endpoint not in _reachable:
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=2.0):
                _reachable[endpoint] = True
        except OSError:
            _reachable[endpoint] = False
    return _reachable[endpoint]


def _weights_uri(model: ModelSection) -> tuple[str | None, str | None]:
    """(URI the run will load, name to show) for ``[model]``; URI None: random init.

    Raises ZooError for a name or tag the registry does not know.
    """
    from zoo_core.plugins import registry

    if not model.pretrained or model.backbone is None:
        return None, None
    if model.backbone.startswith("hf://"):
        return model.backbone, model.backbone
    if _looks_like_uri(model.weights):
        return model.weights, model.weights
    resolved = registry().get("backbone", model.backbone)
    component = resolved.component
    tag = resolved.tag or (None if model.weights == "default" else model.weights)
    if tag is None and not component.weights:
        return None, None  # nothing pretrained exists for this backbone
    weight = component.weight(tag)
    return weight.source, f"{component.name}.{weight.tag}"


def _is_cached(uri: str) -> bool | None:
    """True/False when we can tell whether ``uri`` is on this machine, None when not."""
    try:
        from zoo_core import weights as weights_layer  # the weights layer, once it exists
    except ImportError:
        weights_layer = None  # type: ignore[assignment]
    probe = getattr(weights_layer, "is_cached", None)
    if callable(probe):
        return bool(probe(uri))
    if "://" not in uri:
        return Path(uri).expanduser().exists()
    if uri.startswith("hf://"):
        from huggingface_hub import try_to_load_from_cache

        parts = uri[len("hf://"):].split("/")
        repo_id, revision = "/".join(parts[:2]), None
        if "@" in repo_id:
            repo_id, revision = repo_id.split("@", 1)
        files = ["/".join(parts[2:])] if len(parts) > 2 else [
            "model.safetensors", "pytorch_model.bin"]
        return any(isinstance(try_to_load_from_cache(repo_id, f, revision=revision), str)
                   for f in files)
    return None


def weights_status(model: ModelSection) -> tuple[bool, str]:
    """Are the weights ``[model]`` asks for on this machine? (ok, message for people).

    ok is True for random initialisation and for cached weights.
    """
    try:
        uri, label = _weights_uri(model)
    except ZooError as exc:
        return False, str(exc)
    if uri is None:
        return True, "random initialisation: no pretrained weights needed"
    if _is_cached(uri):
        return True, f"{label}: cached"
    if "://" not in uri:
        return False, f"weights file {uri} does not exist"
    return False, f"weights {label} are not cached" if label == uri else \
        f"weights {label} ({uri}) are not cached"


def _weights_problems(model: ModelSection) -> list[Problem]:
    if model.backbone is None or not model.pretrained:
        if model.mode in ("feature_extract", "partial"):
            return [Problem("model.mode", (
                f"mode {model.mode!r} freezes a randomly initialised backbone (weights = "
                "\"none\"): its features are noise. Use pretrained weights or mode 'scratch'."),
                "warning")]
        return []
    try:
        uri, label = _weights_uri(model)
    except ZooError as exc:
        return [Problem("model.weights", str(exc))]
    if uri is None:
        return [Problem("model.weights", (
            f"backbone {model.backbone!r} has no pretrained weights, so it starts from random "
            "initialisation; say so with mode = \"scratch\" (or weights = \"none\"), or pick "
            "a backbone with weights (`zoo list backbone`)."), "warning")]
    ok, message = weights_status(model)
    if ok:
        return []
    if "://" not in uri:
        return [Problem("model.weights", message + ".")]
    if _hub_reachable():
        return [Problem("model.weights", f"{message}; `zoo run` will download them.", "info")]
    why = "HF_HUB_OFFLINE is set" if _hub_offline() else "the Hub is unreachable"
    return [Problem("model.weights", (
        f"{message} and {why}, so `zoo run` cannot load them. Run `zoo pull {label}` "
        "while online (or copy the cache over), or pick weights that are cached."), "warning")]


def _data_problems(dataset: Any, root: Any, download: Any) -> list[Problem]:
    if not isinstance(root, str):
        return []
    folder = Path(root).expanduser()
    if folder.is_dir():
        return []
    if folder.exists():
        return [Problem("data.root", f"{root} is a file; data.root must be a folder.")]
    if download is False:
        return [Problem("data.root", (
            f"folder {root} does not exist and data.download = false. Point data.root at "
            "the data, or allow data.download."))]
    return [Problem("data.root", (
        f"{root} does not exist: `zoo run` would try to download data set {dataset!r} "
        "there. Run `zoo pull` for it while online, or point data.root at a copy."), "warning")]


def _consistency_problems(recipe: Recipe) -> list[Problem]:
    data, model = recipe.data, recipe.model
    if data.classes is not None and model.num_classes is not None \
            and len(data.classes) != model.num_classes:
        return [Problem("model.num_classes", (
            f"{model.num_classes} classes, but data.classes keeps {len(data.classes)}; "
            "drop model.num_classes (it follows the data) or make them agree."))]
    return []


def _plugin_problems(recipe: Recipe) -> list[Problem]:
    """Problems reported by the task's and the data set's own ``check_recipe``."""
    from zoo_core.plugins import registry

    problems: list[Problem] = []
    for kind, name in (("task", recipe.recipe.task), ("dataset", recipe.data.dataset)):
        try:
            component = registry().get(kind, name).component
        except ZooError:
            continue  # already reported by the name checks
        check = getattr(component.factory, "check_recipe", None)
        if check is None:
            continue
        for item in check(recipe) or ():
            if isinstance(item, Problem):
                problems.append(item)
            else:
                level, path, message = item
                problems.append(Problem(path, message, level))
    if recipe.task_options and not any(
        getattr(c.factory, "check_recipe", None)
        for c in _components("task", recipe.recipe.task)
    ):
        problems.append(Problem("task_options", (
            f"task {recipe.recipe.task!r} takes no [task_options]; remove the table.")))
    return problems


def _components(kind: str, name: str) -> list[Any]:
    from zoo_core.plugins import registry

    try:
        return [registry().get(kind, name).component]
    except ZooError:
        return []


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


def _build(path: str | os.PathLike[str], overrides: Iterable[str],
           col: _Collector) -> tuple[dict[str, Any], Recipe | None]:
    top = Path(path).expanduser()
    raw = _load_chain(top, col)
    for text in overrides:
        _apply_override(raw, text, col)
    meta = raw.get("recipe")
    if isinstance(meta, dict) and "name" not in meta:
        raw["recipe"] = {**meta, "name": top.stem}
    elif "recipe" not in raw:
        raw["recipe"] = {"name": top.stem}
    if col.file_failed:  # an unreadable file: schema errors would only be noise
        return raw, None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        col.problems += _schema_problems(exc, col)
        return raw, None
    recipe._source = str(path)
    return raw, recipe


def load_recipe(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> Recipe:
    """Parse ``path`` with its ``extends`` chain and ``--set`` overrides; schema-check it.

    Raises :class:`RecipeError` listing every problem found.
    """
    col = _Collector()
    _, recipe = _build(path, overrides, col)
    _raise(str(path), col.problems)
    assert recipe is not None
    return recipe


def validate_recipe(recipe: Recipe, *, strict: bool = False) -> list[Problem]:
    """Registry names, weights availability and data paths. Returns errors,
    warnings and infos; with ``strict`` every warning becomes an error."""
    problems = _name_problems(recipe.to_dict())
    if not any(p.path.startswith("model.") for p in problems):
        problems += _weights_problems(recipe.model)
    problems += _data_problems(recipe.data.dataset, recipe.data.root, recipe.data.download)
    problems += _consistency_problems(recipe)
    problems += _plugin_problems(recipe)
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
    col = _Collector()
    raw, recipe = _build(path, overrides, col)
    if recipe is None:
        if not col.file_failed:  # schema errors: still check names and paths, to show all
            col.problems += _name_problems(raw)
            col.problems += [p for p in _data_problems(
                _get(raw, "data.dataset"), _get(raw, "data.root"),
                _get(raw, "data.download", True)) if p.level == "error"]
        _raise(str(path), col.problems)
    assert recipe is not None
    problems = col.problems + validate_recipe(recipe, strict=strict)
    _raise(str(path), problems)
    return recipe, [p for p in problems if p.level != "error"]


def load_resolved(path: str | os.PathLike[str]) -> Recipe:
    """Read back a resolved recipe (``Recipe.to_toml()``), e.g. for ``zoo run --resume``."""
    return load_recipe(path)
