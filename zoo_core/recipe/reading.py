"""Reading recipe files: TOML, ``extends`` chains and ``--set`` overrides.

The one copy of these rules in zoo (``zoo pull RECIPE`` reads recipes through
it too). Problems are collected, not raised, so a recipe's every problem can
be reported at once.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo_core.recipe.checks import Level, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SET = "--set"


# --- reading files and extends ---------------------------------------------------


class Collector:
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


def read_toml(path: Path, col: Collector, referrer: str | None) -> dict[str, Any] | None:
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


def merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else (lists too) is replaced."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def load_chain(path: Path, col: Collector, chain: tuple[Path, ...] = (),
                referrer: str | None = None) -> dict[str, Any]:
    path = path.resolve()
    if path in chain:
        loop = " -> ".join(_display(p) for p in (*chain, path))
        col.add("extends", f"recipes extend each other in a cycle: {loop}. Remove one `extends`.")
        return {}
    raw = read_toml(path, col, referrer)
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
            base = load_chain(path.parent / Path(parent).expanduser(), col, (*chain, path),
                               referrer=_display(path))
    col.note_origins(raw, _display(path))
    return merge(base, raw)


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
    return keys, literal(value)


def literal(value: str) -> Any:
    """A TOML literal (``3``, ``1e-3``, ``[1, 2]``, ``"x"``), else the text itself: a bare
    word or a path is a string, as a person meant it."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def apply_override(raw: dict[str, Any], text: str, col: Collector) -> None:
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
                node[key] = merge(dict(node[key]), value)
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




def read_tables(path: str | Path) -> tuple[dict[str, Any], list[Problem]]:
    """A recipe file's tables with its ``extends`` chain merged, and any problems."""
    col = Collector()
    return load_chain(Path(path).expanduser(), col), col.problems
