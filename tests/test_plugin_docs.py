"""docs/plugins.md documents the whole plugin contract, as datasette's tests check its
hooks: every hookspec, kind, Task member, StepContext member and public API name.

Adding a hook, a kind, a task method or an API name without a line in the docs
fails here, with the names that are missing."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest

from tests.conftest import REPO

DOC = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text under the heading ``title`` (any level) up to the next heading of the
    same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(title)}\s*$", DOC, re.M)
    assert match, f"docs/plugins.md has no heading {title!r}"
    level = len(match.group(1))
    rest = DOC[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def documented(name: str, text: str, prefix: str = "") -> bool:
    """``name`` in a code span or block: `name`, `name(...)`, `ctx.name`..."""
    return re.search(rf"`{re.escape(prefix)}{re.escape(name)}[`(\[ .]", text) is not None


def public(cls: type) -> list[str]:
    return [n for n in vars(cls) if not n.startswith("_")]


def test_every_hookspec_has_a_heading():
    from zoo_core import hookspecs

    marker = f"{hookspecs.PROJECT}_spec"
    specs = [n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), marker)]
    assert len(specs) >= 12
    hooks = section("Hooks")
    missing = [n for n in specs if not re.search(rf"^### `{n}`$", hooks, re.M)]
    assert not missing, f"hooks without a '### `name`' heading in docs/plugins.md: {missing}"


def test_every_kind_has_its_factory_signature():
    from zoo_core.hookspecs import KIND_HOOKS
    from zoo_core.registry import KINDS

    kinds = section("Kinds and their factories")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", kinds, re.M)}
    missing = [k for k in KINDS if k not in rows]
    assert not missing, f"kinds without a row in the kinds table: {missing}"
    for hook, kind in KIND_HOOKS.items():
        assert f"`{hook}`" in rows[kind] and "factory(" in rows[kind], kind


def test_every_task_member_is_documented():
    from zoo_core.engine.task import SupervisedTask, Task

    text = section("The task contract")
    members = public(Task) + public(SupervisedTask) + ["drop_last"]
    missing = sorted({n for n in members if not documented(n, text)})
    assert not missing, f"Task/SupervisedTask members not in 'The task contract': {missing}"


def test_task_value_types_are_documented_field_by_field():
    from zoo_core.engine.task import Meter, ModelRef, ModelSpec, Phase, Role, TaskData

    text = section("The task contract")
    missing = []
    for cls in (Role, ModelRef, ModelSpec, TaskData, Phase):
        if not documented(cls.__name__, text):
            missing.append(cls.__name__)
        for f in dataclasses.fields(cls):
            if not re.search(rf"\b{f.name}\b", text):
                missing.append(f"{cls.__name__}.{f.name}")
    for name in public(Meter):
        if not documented(name, text):
            missing.append(f"Meter.{name}")
    assert not missing, missing


def test_every_step_context_member_is_documented():
    from zoo_core.engine.context import StepContext

    text = section("The step context")
    fields = [f.name for f in dataclasses.fields(StepContext) if not f.name.startswith("_")]
    members = sorted(set(fields + public(StepContext)))
    missing = [n for n in members if not documented(n, text, "ctx.")]
    assert not missing, f"StepContext members not in 'The step context': {missing}"


def test_every_public_api_name_is_documented():
    from zoo_core import api

    text = section("The public API: `zoo_core.api`")
    missing = [n for n in api.__all__ if not documented(n, text)]
    assert not missing, f"zoo_core.api names not in 'The public API': {missing}"


def test_public_api_names_resolve_and_import_no_torch():
    import subprocess

    code = ("import sys, zoo_core.api as api\n"
            "assert 'torch' not in sys.modules, 'importing zoo_core.api imported torch'\n"
            "missing = [n for n in api.__all__ if not hasattr(api, n)]\n"
            "assert not missing, missing\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


@pytest.mark.parametrize("name", ["Task", "SupervisedTask", "Role", "ModelRef", "ModelSpec",
                                  "TaskData", "Phase", "Meter", "StepContext", "hookimpl",
                                  "ZooError", "load_splits", "SampleDataset", "for_sample"])
def test_the_contract_is_importable_from_the_api(name):
    from zoo_core import api

    assert name in api.__all__
    assert getattr(api, name) is not None
