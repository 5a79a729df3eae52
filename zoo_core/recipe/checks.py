"""Checks a recipe needs beyond its schema: registry names, weights, data.

Each check returns :class:`Problem` s rather than raising, so that
:mod:`zoo_core.recipe` can report every problem of a recipe at once. The name
checks read the merged raw tables, so they also run when the schema has
errors elsewhere.

Weights are checked with the weights layer's own rules (:mod:`zoo_core.weights`
picks the file exactly as ``zoo run`` will; :mod:`zoo_core.weights.hub` and
:mod:`zoo_core.weights.cache` say where it would be cached), without hashing
or downloading anything.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zoo_core.errors import ZooError, suggestion

Level = Literal["error", "warning", "info"]


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


def get_path(raw: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    """``raw['a']['b']`` for ``'a.b'``, or ``default`` when any step is missing."""
    node: Any = raw
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


# --- registry names -----------------------------------------------------------------


def _lookup(kind: str, name: Any, path: str, problems: list[Problem]) -> Any:
    """Resolve ``name`` in ``kind``; a problem (with did-you-mean) when it does not."""
    from zoo_core.plugins import registry

    if not isinstance(name, str):
        return None  # the schema reports the type
    try:
        return registry().get(kind, name)
    except ZooError as exc:
        problems.append(Problem(path, str(exc)))
        return None


def _factory_keys(component: Any) -> list[str] | None:
    """The config keys a component takes: its factory's keyword parameters, or,
    when the factory takes ``**cfg``, the keys of its ``default_cfg`` (the
    convention: a component declares there every key it takes). None: unknown."""
    try:
        params = list(inspect.signature(component.factory).parameters.values())
    except (TypeError, ValueError):
        return None
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind == p.VAR_KEYWORD for p in params) and not component.default_cfg:
        return None
    return sorted(named | set(component.default_cfg))


def _cfg_problems(component: Any, cfg: Mapping[str, Any], path: str,
                  reserved: Iterable[str] = ()) -> list[Problem]:
    reserved = set(reserved)
    valid = _factory_keys(component)
    choices = [k for k in valid or () if k not in reserved]
    problems = []
    for key in cfg:
        if key in reserved:
            problems.append(Problem(f"{path}.{key}",
                                    f"{key!r} is set by zoo from the model and data; remove it."))
        elif valid is not None and key not in valid:
            problems.append(Problem(
                f"{path}.{key}",
                f"unknown key {key!r} for {component.kind} {component.name!r}."
                f"{suggestion(key, choices)} Valid keys: {', '.join(choices) or 'none'}.",
            ))
    return problems


def model_name_problems(kind: str, name: Any, weights: Any, path: str,
                        weights_path: str) -> list[Problem]:
    """A model name of ``kind`` (``arch``, ``arch.tag``, ``plugin:arch``; ``hf://`` names
    are checked when loaded; a saved-model folder must be one) and a weights value
    naming a tag of it."""
    from zoo_core.weights.uris import is_model_path, is_uri

    problems: list[Problem] = []
    if isinstance(name, str) and is_model_path(name):
        from zoo_core.weights.saved import is_model_folder

        if not is_model_folder(Path(name).expanduser()):
            problems.append(Problem(path, (
                f"{name} is not a saved-model folder (config.json + model.safetensors); a "
                f"{kind} name with a '/' is one. Train the run that writes it first, or fix "
                "the path.")))
        return problems
    if not isinstance(name, str) or name.startswith("hf://"):
        return problems
    resolved = _lookup(kind, name, path, problems)
    if resolved is None or not isinstance(weights, str) or weights in ("default", "none") \
            or is_uri(weights):
        return problems
    component = resolved.component
    if resolved.tag is not None and resolved.tag != weights:
        problems.append(Problem(weights_path, (
            f"{path} names tag {resolved.tag!r} but weights = {weights!r}; keep one of them.")))
    elif weights not in component.weights:
        tags = sorted(component.weights)
        problems.append(Problem(weights_path, (
            f"{kind} {component.name!r} has no weight tag {weights!r}."
            f"{suggestion(weights, tags)} Tags: {', '.join(tags) or 'none'}; "
            "or give a URI (hf://org/repo, https://...#sha256=..., a local file), "
            "\"default\" or \"none\".")))
    return problems


def component_cfg_problems(kind: str, name: Any, cfg: Any, path: str,
                           reserved: Iterable[str] = ()) -> list[Problem]:
    """The keys of ``cfg`` against the factory of ``name`` (unknown names are reported
    elsewhere)."""
    from zoo_core.plugins import registry
    from zoo_core.weights.uris import names_own_config

    if not isinstance(name, str) or names_own_config(name) or not isinstance(cfg, Mapping):
        return []
    try:
        component = registry().get(kind, name).component
    except ZooError:
        return []
    return _cfg_problems(component, cfg, path, reserved)


def name_problems(raw: Mapping[str, Any], task: Any = None) -> list[Problem]:
    """Every registry name in the (merged, raw) recipe: task, dataset, the roles of
    ``[models]``/``[optimizers]`` and what the task checks in the raw tables (model names,
    weight tags, cfg keys), regularizers and their keys. Works on raw tables so that it
    also runs when the schema has problems elsewhere."""
    problems: list[Problem] = []
    task_name = get_path(raw, "recipe.task")
    if task_name is not None and task is None:
        _lookup("task", task_name, "recipe.task", problems)
    _lookup("dataset", get_path(raw, "data.dataset"), "data.dataset", problems)

    if task is not None:
        roles = task.roles
        for section in ("models", "optimizers"):
            table = get_path(raw, section, {})
            for role in table if isinstance(table, Mapping) else ():
                if role not in roles:
                    known = ", ".join(roles) or "none"
                    problems.append(Problem(f"{section}.{role}", (
                        f"task {task.name!r} has no model role {role!r}."
                        f"{suggestion(role, roles)} Its roles: {known}.")))
                elif section == "optimizers" and not roles[role].trains:
                    problems.append(Problem(f"{section}.{role}", (
                        f"role {role!r} of task {task.name!r} does not train; remove "
                        f"[optimizers.{role}].")))
        problems += [_problem(item) for item in task.raw_problems(raw)]

    regs = get_path(raw, "train.regularizers", [])
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


def _problem(item: Any) -> Problem:
    if isinstance(item, Problem):
        return item
    level, path, message = item
    return Problem(path, message, level)


#: per-epoch values every run records (``train/lr``...), with their directions
ENGINE_METRICS = {"lr": "min", "epoch_time_s": "min", "samples_per_s": "max"}


def resolve_monitors(recipe: Any, task: Any) -> list[Problem]:
    """Fill ``train.checkpoint`` and ``train.early_stopping`` monitors from the task's
    default and their modes from the metric's direction; a monitor that names no metric
    the task reports is an error (with did-you-mean), never silently ignored."""
    # what the engine itself records every epoch is a metric too
    metrics = {**ENGINE_METRICS, **task.metrics()}
    known = [f"{split}/{name}" for split in ("val", "train", "test") for name in metrics]
    problems = []
    for section, path in ((recipe.train.checkpoint, "train.checkpoint"),
                          (recipe.train.early_stopping, "train.early_stopping")):
        if section.monitor is None:
            section.monitor = task.default_monitor()
        if section.monitor is None:
            if section is recipe.train.early_stopping and section.enabled:
                problems.append(Problem(f"{path}.monitor", (
                    f"task {task.name!r} has no default metric to stop on: name one, e.g. "
                    f"{known[0] if known else 'val/loss'!r}.")))
            continue
        metric = section.monitor.split("/", 1)[1]
        if metric not in metrics:
            problems.append(Problem(f"{path}.monitor", (
                f"task {task.name!r} reports no metric {metric!r}, so {section.monitor!r} "
                f"would never be measured.{suggestion(section.monitor, known)} Metrics: "
                f"{', '.join(sorted(metrics))} (each as val/..., train/... or test/...).")))
            continue
        if section.mode is None:
            section.mode = metrics[metric]
    return problems


# --- weights ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Need:
    """Weights a run will load: where from, and the name `zoo pull` takes for them."""

    uri: str
    sha256: str | None
    label: str


def _weights_need(ref: Any) -> _Need | None:
    """What a role (a :class:`~zoo_core.engine.task.ModelRef`) will load, picked by the
    weights layer's rules; None: random init.

    Raises ZooError for a name, tag or URI the run could not use.
    """
    from zoo_core.plugins import registry
    from zoo_core.weights import weights_source
    from zoo_core.weights.uris import is_uri, names_own_config, parse_hf

    if ref.weights == "none":
        return None
    if names_own_config(ref.name):
        if ref.name.startswith("hf://"):
            parse_hf(ref.name)
        if ref.weights == "default":
            return _Need(ref.name, None, ref.name)
        if not is_uri(ref.weights):
            raise ZooError(f"{ref.name} names its own weights and has no weight tags; "
                           f"weights = {ref.weights!r} should be \"default\", \"none\" or "
                           "a URI")
    if is_uri(ref.weights):
        return _Need(ref.weights, None, ref.weights)
    resolved = registry().get(ref.kind, ref.name)
    picked = weights_source(resolved.component, resolved.tag, ref.weights)
    if picked is None:
        return None
    uri, sha256, tag = picked
    label = f"{resolved.component.name}.{tag.tag}" if tag is not None else uri
    return _Need(uri, sha256, label)



def _plugin_scheme(uri: str) -> bool:
    from zoo_core.weights.uris import scheme_of

    return scheme_of(uri) not in ("hf", "http", "https", "file")


_probed: dict[str, bool] = {}


def _reachable(uri: str) -> bool:
    """Can this process open a connection to where ``uri`` downloads from?

    HF_HUB_OFFLINE means no. Otherwise a quick TCP connect to the Hub endpoint
    (HF_ENDPOINT) or the URL's host, remembered per process.
    """
    import socket
    from urllib.parse import urlsplit

    from zoo_core.weights import uris as hub

    if hub.offline_from_env():
        return False
    target = hub.hf_endpoint() if uri.startswith("hf://") else uri
    parts = urlsplit(target)
    key = f"{parts.hostname}:{parts.port}"
    if key not in _probed:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=2.0):
                _probed[key] = True
        except OSError:
            _probed[key] = False
    return _probed[key]


def weights_status(ref: Any) -> tuple[bool, str]:
    """Are the weights a role asks for on this machine? (ok, message for people).

    ok is True for random initialisation and for cached weights; nothing is
    downloaded or hashed.
    """
    try:
        need = _weights_need(ref)
        if need is None:
            return True, "random initialisation: no pretrained weights needed"
        from zoo_core.weights import is_cached

        cached = is_cached(need.uri, sha256=need.sha256)
    except ZooError as exc:
        return False, str(exc)
    if cached:
        return True, f"weights {need.label}: cached"
    if _plugin_scheme(need.uri):
        return False, f"weights {need.uri}: not cached by the plugin that reads them"
    if "://" not in need.uri:
        return False, f"weights file {need.uri} does not exist"
    shown = need.label if need.label == need.uri else f"{need.label} ({need.uri})"
    return False, f"weights {shown} are not cached"


def weights_problems(ref: Any) -> list[Problem]:
    """Whether a role's weights can be loaded: cached, downloadable, or a problem."""
    where = f"{ref.path}.weights" if ref.path else "weights"
    if ref.weights == "none":
        return []
    try:
        need = _weights_need(ref)
        if need is None:
            return []
        from zoo_core.weights import is_cached

        cached = is_cached(need.uri, sha256=need.sha256)
    except ZooError as exc:
        if ref.weights == "default" and "has no pretrained weights" in str(exc):
            return [Problem(where, (
                f"{ref.kind} {ref.name!r} has no pretrained weights: set weights = \"none\" "
                "to train it from random initialisation, or give a weights URI."))]
        return [Problem(where, str(exc))]
    if cached:
        return []
    ok, message = weights_status(ref)
    if _plugin_scheme(need.uri):
        return [Problem(where, f"{message}; `zoo pull {need.uri}` fetches them "
                                         "ahead of the run.", "info")]
    if "://" not in need.uri:
        return [Problem(where, message + ".")]
    if _reachable(need.uri):
        return [Problem(where, (
            f"{message}; `zoo run` will download them (`zoo pull {need.label}` does it "
            "ahead of time)."), "info")]
    from zoo_core.weights.uris import offline_from_env

    why = ("HF_HUB_OFFLINE is set" if offline_from_env()
           else "the Hub is unreachable" if need.uri.startswith("hf://")
           else "its host is unreachable")
    return [Problem(where, (
        f"{message} and {why}, so `zoo run` cannot load them. Run `zoo pull {need.label}` "
        "on a machine with network access and copy the cache over (docs/weights.md), or "
        "pick weights that are cached (`zoo cache`)."), "warning")]


# --- data and consistency -----------------------------------------------------------------


def data_problems(dataset: Any, root: Any, download: Any) -> list[Problem]:
    """``data.root`` against the file system.

    Whether a missing folder can be filled by a download depends on the data
    set: its factory's ``downloads`` attribute says (True: it downloads,
    False: it reads only what is there; absent: unknown). Data sets add their
    own checks through ``check_recipe``.
    """
    if not isinstance(root, str):
        return []
    folder = Path(root).expanduser()
    if folder.is_dir():
        return []
    if folder.exists():
        return [Problem("data.root", f"{root} is a file; data.root must be a folder.")]
    downloads = _dataset_attr(dataset, "downloads")
    if downloads is False:
        return [Problem("data.root", (
            f"folder {root} does not exist. Point data.root at the data set's folder "
            f"(`--set data.root=PATH`); data set {dataset!r} does not download."))]
    if download is False:
        return [Problem("data.root", (
            f"folder {root} does not exist and data.download = false. Point data.root at "
            "the data, or allow data.download."))]
    would = ("would download data set" if downloads
             else "would need data set")
    tail = "" if downloads else " to download its files"
    return [Problem("data.root", (
        f"{root} does not exist: `zoo run` {would} {dataset!r}{tail} there. On a machine "
        "that will be offline, fetch the data where the network is reachable and copy it "
        "to data.root (`zoo pull RECIPE` prefetches the weights the same way)."),
        "warning")]


def _dataset_attr(dataset: Any, attr: str) -> Any:
    from zoo_core.plugins import registry

    if not isinstance(dataset, str):
        return None
    try:
        return getattr(registry().get("dataset", dataset).component.factory, attr, None)
    except ZooError:
        return None


def prune_problems(recipe: Any, task: Any) -> list[Problem]:
    """``[prune]`` against the task and ``train.epochs`` (which a task may set, e.g.
    from its stages): the role exists, and pruning ends within the run."""
    section = getattr(recipe, "prune", None)
    if section is None:
        return []
    problems = []
    roles = task.roles
    if section.role is not None and section.role not in roles:
        problems.append(Problem("prune.role", (
            f"task {task.name!r} has no model role {section.role!r}."
            f"{suggestion(section.role, roles)} Its roles: {', '.join(roles) or 'none'}.")))
    epochs = int(recipe.train.epochs)
    for key in ("start_epoch", "end_epoch"):
        value = getattr(section, key)
        if value is not None and value > epochs:
            problems.append(Problem(f"prune.{key}", (
                f"{key} = {value}, but the run has {epochs} epochs (train.epochs); epochs "
                f"count from 1, so use at most {epochs}, and leave epochs after end_epoch "
                "for fine-tuning.")))
            break  # end_epoch >= start_epoch: one message is enough
    return problems


def plugin_problems(recipe: Any, task: Any) -> list[Problem]:
    """What the task's and the data set's own ``check_recipe(recipe)`` report."""
    from zoo_core.plugins import registry

    checks = [task.check_recipe]
    try:
        dataset = registry().get("dataset", recipe.data.dataset).component
        check = getattr(dataset.factory, "check_recipe", None)
        if check is not None:
            checks.append(check)
    except ZooError:
        pass  # the name checks report it
    return [_problem(item) for check in checks for item in check(recipe) or ()]
