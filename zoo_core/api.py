"""The public surface of zoo: what plugins (and notebooks, and tests) import.

Everything a plugin needs is a name here, so a plugin writes
``from zoo_core.api import SupervisedTask, Role, ModelSpec, hookimpl`` and never
reaches into the engine's modules, which may move. ``__all__`` is the
contract: ``tests/test_plugin_docs.py`` fails when a name in it is not
documented in ``docs/plugins.md``.

Importing this module is cheap (no torch): names other than the registry
functions load from their modules on first use, as ``zoo_core.weights``
does, so a plugin's ``__init__`` may import from here at module level.
"""

from __future__ import annotations

import builtins
import importlib
from typing import TYPE_CHECKING, Any

from zoo_core.plugins import registry
from zoo_core.registry import Component, Resolved

if TYPE_CHECKING:
    from zoo_core.atomic import atomic_open, atomic_path  # noqa: F401
    from zoo_core.data.dataset import SampleDataset, batch_size, collate  # noqa: F401
    from zoo_core.data.datasets import load_splits  # noqa: F401
    from zoo_core.data.imagefolder import scan_image_folder, scan_images  # noqa: F401
    from zoo_core.data.sources import (  # noqa: F401
        ArraySource,
        DatasetSplits,
        LabelledSource,
        Source,
        SubsetSource,
        open_image,
    )
    from zoo_core.data.transforms import (  # noqa: F401
        eval_transform,
        for_sample,
        image_mode,
        resolve_data_config,
        to_float_image,
        train_transform,
    )
    from zoo_core.engine.context import StepContext, StopRequested  # noqa: F401
    from zoo_core.engine.devices import Precision, eval_mode, to_device  # noqa: F401
    from zoo_core.engine.evaluate import Saved  # noqa: F401
    from zoo_core.engine.hooks import Regularizer  # noqa: F401
    from zoo_core.engine.meters import MeanMeter  # noqa: F401
    from zoo_core.engine.optim import decay_groups  # noqa: F401
    from zoo_core.engine.pipeline import BuildContext, build_pipeline  # noqa: F401
    from zoo_core.engine.plots import save as save_plot  # noqa: F401
    from zoo_core.engine.report import table as markdown_table  # noqa: F401
    from zoo_core.engine.rundir import RunFolder  # noqa: F401
    from zoo_core.engine.task import (  # noqa: F401
        Direction,
        Meter,
        ModelRef,
        ModelSpec,
        NoOptions,
        Phase,
        Role,
        SupervisedTask,
        Task,
        TaskData,
        default_weights,
    )
    from zoo_core.errors import (  # noqa: F401
        DataError,
        PluginError,
        RecipeError,
        UnknownNameError,
        WeightsError,
        ZooError,
        suggestion,
    )
    from zoo_core.hookspecs import Register, hookimpl  # noqa: F401
    from zoo_core.recipe import load_recipe  # noqa: F401
    from zoo_core.recipe.checks import Problem  # noqa: F401
    from zoo_core.recipe.schema import Section  # noqa: F401
    from zoo_core.types import ResolvedWeights, WeightTag  # noqa: F401
    from zoo_core.weights import LoadedModel, create_model, load_model, save_model  # noqa: F401

#: public name -> (module, attribute there): loaded on first use
_LAZY: dict[str, tuple[str, str]] = {
    # plugging in
    "hookimpl": ("zoo_core.hookspecs", "hookimpl"),
    "Register": ("zoo_core.hookspecs", "Register"),
    "WeightTag": ("zoo_core.types", "WeightTag"),
    "ResolvedWeights": ("zoo_core.types", "ResolvedWeights"),
    # the task contract
    **{n: ("zoo_core.engine.task", n) for n in (
        "Task", "SupervisedTask", "Role", "ModelRef", "ModelSpec", "TaskData", "Phase",
        "Meter", "NoOptions", "Direction")},
    "StepContext": ("zoo_core.engine.context", "StepContext"),
    "StopRequested": ("zoo_core.engine.context", "StopRequested"),
    "BuildContext": ("zoo_core.engine.pipeline", "BuildContext"),
    "build_pipeline": ("zoo_core.engine.pipeline", "build_pipeline"),
    "MeanMeter": ("zoo_core.engine.meters", "MeanMeter"),
    "Saved": ("zoo_core.engine.evaluate", "Saved"),
    "Regularizer": ("zoo_core.engine.hooks", "Regularizer"),
    "decay_groups": ("zoo_core.engine.optim", "decay_groups"),
    "default_weights": ("zoo_core.engine.task", "default_weights"),
    "RunFolder": ("zoo_core.engine.rundir", "RunFolder"),
    "Precision": ("zoo_core.engine.devices", "Precision"),
    "eval_mode": ("zoo_core.engine.devices", "eval_mode"),
    "to_device": ("zoo_core.engine.devices", "to_device"),
    "save_plot": ("zoo_core.engine.plots", "save"),
    "markdown_table": ("zoo_core.engine.report", "table"),
    # recipes
    "load_recipe": ("zoo_core.recipe", "load_recipe"),
    "Section": ("zoo_core.recipe.schema", "Section"),
    "Problem": ("zoo_core.recipe.checks", "Problem"),
    # data
    "load_splits": ("zoo_core.data.datasets", "load_splits"),
    **{n: ("zoo_core.data.sources", n) for n in (
        "Source", "LabelledSource", "ArraySource", "SubsetSource", "DatasetSplits",
        "open_image")},
    **{n: ("zoo_core.data.dataset", n) for n in (
        "SampleDataset", "collate", "batch_size", "image_datasets")},
    **{n: ("zoo_core.data.transforms", n) for n in (
        "for_sample", "eval_transform", "train_transform", "resolve_data_config",
        "image_mode", "image_channels", "to_float_image")},
    **{n: ("zoo_core.data.imagefolder", n) for n in ("scan_images", "scan_image_folder")},
    "read_image": ("zoo_core.data.sources", "read_image"),
    **{n: ("zoo_core.data.downloads", n) for n in ("dataset_root", "fetch_dataset")},
    # weights
    **{n: ("zoo_core.weights", n) for n in (
        "create_model", "load_model", "save_model", "LoadedModel")},
    "names_own_config": ("zoo_core.weights.uris", "names_own_config"),
    # files
    "atomic_open": ("zoo_core.atomic", "atomic_open"),
    "atomic_path": ("zoo_core.atomic", "atomic_path"),
    # errors
    **{n: ("zoo_core.errors", n) for n in (
        "ZooError", "DataError", "WeightsError", "UnknownNameError", "RecipeError",
        "PluginError", "suggestion")},
}

# `list` is part of the surface but shadows the builtin: import names, never `*`.
__all__ = sorted(["get", "create", "list", "registry", "Component", "Resolved", *_LAZY])


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'zoo_core.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> builtins.list[str]:
    return sorted(set(globals()) | set(_LAZY))


def get(kind: str, name: str) -> Resolved:
    """Look up ``name`` (``arch``, ``arch.tag`` or ``plugin:arch``) in ``kind``."""
    return registry().get(kind, name)


def create(kind: str, name: str, **cfg: Any) -> Any:
    """Build a component by registry name with ``cfg`` over its default config.

    No pretrained weights are loaded here; see :func:`zoo_core.weights.create_model`.
    """
    return get(kind, name).component.create(**cfg)


def list(kind: str | None = None, pattern: str | None = None) -> builtins.list[Component]:  # noqa: A001
    """Registered components, optionally of one kind and matching a glob."""
    return registry().list(kind, pattern)
