"""docs/recipes.md documents every key of the recipe schema: the core sections
and what each built-in task adds."""

from __future__ import annotations

from pathlib import Path
from typing import get_origin

from pydantic import BaseModel

from zoo_core.recipe import Recipe, recipe_class
from zoo_core.recipe.schema import RandomResizedCrop

DOC = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        inner = _model_in(field.annotation)
        if inner is RandomResizedCrop:  # a value of data.augment.random_resized_crop
            out.append(path)
        elif inner is not None and get_origin(field.annotation) is dict:
            out += _keys(inner, f"{path}.<role>.")  # [models.<role>], [optimizers.<role>]
        elif inner is not None:
            is_list = "list" in str(field.annotation)
            out += _keys(inner, f"{path}[]." if is_list else f"{path}.")
        else:
            out.append(path)
    return out


def _model_in(tp: object) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in getattr(tp, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _builtin_tasks() -> list[str]:
    from zoo_core.plugins import plugin_set, registry

    builtin = {name for name, r in plugin_set().reports.items() if r.builtin}
    return [c.name for c in registry().list("task") if c.plugin in builtin]


def test_every_schema_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    keys = _keys(Recipe)
    assert len(keys) > 60
    tasks = _builtin_tasks()
    assert "classification" in tasks
    for task in tasks:
        keys += [k for k in _keys(recipe_class(task)) if k not in keys]
        assert f'task = "{task}"' in text, f"docs/recipes.md has no section for task {task!r}"
    # top-level sections are documented as tables, keys with their dotted path
    missing = [k for k in keys if f"`{k}`" not in text and f"`[{k}]`" not in text]
    assert missing == [], f"docs/recipes.md does not document: {missing}"
    for section in ("## `extends`", "## `--set KEY.PATH=VALUE`", "## Validation", "--strict"):
        assert section in text
