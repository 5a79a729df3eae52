"""docs/recipes.md documents every key of the recipe schema."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from zoo_core.recipe import Recipe
from zoo_core.recipe.schema import RandomResizedCrop

DOC = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        inner = _model_in(field.annotation)
        if inner is RandomResizedCrop:  # a value of data.augment.random_resized_crop
            out.append(path)
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


def test_every_schema_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    keys = _keys(Recipe)
    assert len(keys) > 70
    # top-level sections are documented as tables, keys with their dotted path
    missing = [k for k in keys if f"`{k}`" not in text and f"`[{k}]`" not in text]
    assert missing == [], f"docs/recipes.md does not document: {missing}"
    for section in ("## `extends`", "## `--set KEY.PATH=VALUE`", "## Validation", "--strict"):
        assert section in text
