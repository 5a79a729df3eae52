"""A small third-party plugin (a real installed distribution found through its
entry point) that gives the recipe tests a task, data sets, a backbone with
weights and a regularizer, beside the built-in backbones and heads."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import write_distribution

PLUGIN = '''
from zoo_core import WeightTag, hookimpl

LOCAL_WEIGHTS = {local!r}
MISSING_WEIGHTS = {missing!r}


def toy_task():
    """A third-party task that extends classification (its [model] short form)."""
    from zoo_classification.task import ClassificationTask

    class ToyTask(ClassificationTask):
        name = "toy_task"

    return ToyTask()


def picky_task():
    """A task with its own [task] section and one role it builds itself."""
    from pydantic import BaseModel, ConfigDict

    from zoo_core.engine.task import Role, Task

    class PickyOptions(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        levels: int

    class PickyTask(Task):
        name = "picky_task"
        Options = PickyOptions
        roles = {{"net": Role("backbone", default="toy_net")}}

        def check_recipe(self, recipe):
            if recipe.task.levels > 9:
                yield ("error", "task.levels", "picky_task takes at most 9 levels")

    return PickyTask()


def toy_data(**cfg):
    return ("data", cfg)


def remote_data(**cfg):
    return ("remote", cfg)


def _remote_check(recipe):
    if recipe.data.root is None:
        yield ("warning", "data.root", "remote_data would be downloaded; run `zoo pull` first")


remote_data.check_recipe = _remote_check
remote_data.downloads = True


def folder_data(**cfg):
    return ("folder", cfg)


folder_data.downloads = False


def toy_net(num_classes=10, width=8, **cfg):
    return ("net", num_classes, width, cfg)


def toy_l2(weight=1e-4, exclude_bias=True):
    return ("l2", weight)


@hookimpl
def register_tasks(register):
    register("toy_task", toy_task)
    register("picky_task", picky_task)


@hookimpl
def register_datasets(register):
    register("toy_data", toy_data)
    register("remote_data", remote_data)
    register("folder_data", folder_data)


@hookimpl
def register_backbones(register):
    register("toy_net", toy_net, weights={{
        "hub": WeightTag(tag="hub", source="hf://toy-org/toy-net"),
        "local": WeightTag(tag="local", source=LOCAL_WEIGHTS),
        "gone": WeightTag(tag="gone", source=MISSING_WEIGHTS),
    }}, default_tag="hub")


@hookimpl
def register_regularizers(register):
    register("toy_l2", toy_l2)
'''

#: the smallest valid recipe over the toy plugin
MINIMAL = """
[recipe]
task = "toy_task"
[data]
dataset = "toy_data"
[model]
backbone = "toy_net"
weights = "local"
"""


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch, fresh_plugins):
    """Install the toy plugin for one test; returns the folder holding its weights."""
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    local = weights_dir / "toy.safetensors"
    local.write_bytes(b"not read by validation, only looked up")
    site = tmp_path / "site"
    source = PLUGIN.format(local=str(local), missing=str(weights_dir / "gone.safetensors"))
    write_distribution(site, "zoo-recipe-toys", {"zoo_recipe_toys": source},
                       {"recipe_toys": "zoo_recipe_toys"})
    monkeypatch.syspath_prepend(str(site))
    # the module embeds this test's paths: never reuse one imported by another test
    monkeypatch.delitem(sys.modules, "zoo_recipe_toys", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return weights_dir


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path
