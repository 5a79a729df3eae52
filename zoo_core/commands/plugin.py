"""``zoo plugin new NAME --kind KIND``: a ready plugin package from zoo's template.

The template ships inside zoo (package data, ``plugin_template/``): files
common to every kind (``pyproject.toml`` with the ``zoo`` entry point, README,
license, a GitHub Actions workflow, the tests that the plugin registers and
its recipe runs) and, per kind, the hook module, a tiny component, a recipe
and the component's own tests. Each kind's ``kind.toml`` says what the
package registers, which task its recipe runs and what ``zoo export`` needs.

Rendering is ``string.Template`` with ``{{ name }}`` placeholders rather than
cookiecutter or copier: the template has a dozen variables and no logic, and
either tool would add a dependency tree (jinja2, requests, pyyaml, prompt
libraries...) to a command that runs once per plugin. Names are checked
before anything is written: a package name pip would refuse, or one that
clashes with an installed plugin, module or registered component, is a
:class:`~zoo_core.errors.ZooError` with a free name suggested.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import importlib.util
import json
import keyword
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zoo_core.errors import ZooError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: the kinds ``zoo plugin new --kind`` can generate (each has a folder in the template)
TEMPLATE_KINDS = ("backbone", "head", "gan", "sr", "segmentation", "regularizer", "task")
_SUFFIX = ".tmpl"
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")  # PEP 508 / packaging


# string.Template's four groups; only `named` can match (verbose mode: `[ ]` is a space)
_PLACEHOLDER = r"""
    \{\{[ ]*(?:
      (?P<named>[a-z][a-z0-9_]*)[ ]*\}\} |
      (?P<braced>(?!)) | (?P<escaped>(?!)) | (?P<invalid>(?!))
    )"""


class _Template(string.Template):
    """``{{ name }}`` placeholders; every other character is literal (a shell ``$``,
    a GitHub Actions ``${{ matrix.x }}`` with a dot in it, Python's braces)."""

    pattern = _PLACEHOLDER  # type: ignore[assignment]  # compiled by __init_subclass__


def template_root() -> Traversable:
    """The template folder inside the installed zoo."""
    return resources.files("zoo_core.commands") / "plugin_template"


@dataclass(frozen=True)
class Names:
    """The names one package is known by."""

    dist: str  # the distribution (pip install NAME)
    module: str  # the import package
    plugin: str  # the entry-point name: what `zoo plugins` shows


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.strip().lower()).strip("-")
    if not slug:
        return "zoo-my-plugin"
    return slug if slug[0].isalpha() else f"zoo-{slug}"


def names_for(name: str) -> Names:
    """``zoo-depth`` -> dist ``zoo-depth``, module ``zoo_depth``, plugin ``depth``.

    Raises :class:`ZooError` (with a valid name suggested) for a name pip or
    Python would refuse.
    """
    if not _NAME.match(name):
        raise ZooError(f"{name!r} is not a valid package name: use letters, digits, '-', '_' "
                       f"and '.', starting and ending with a letter or digit. Try "
                       f"{_slug(name)!r}.")
    dist = re.sub(r"[-_.]+", "-", name).lower()
    module = dist.replace("-", "_")
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ZooError(f"{name!r} gives the Python package name {module!r}, which Python cannot "
                       f"import (it must start with a letter and not be a keyword). Try "
                       f"{_slug('zoo-' + dist)!r}.")
    plugin = module[4:] if module.startswith("zoo_") and len(module) > 4 else module
    return Names(dist, module, plugin)


# -- what a kind's package registers --------------------------------------------------


def kind_spec(kind: str) -> dict[str, Any]:
    """The kind's ``kind.toml``: what it registers, the task its recipe runs..."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    return tomllib.loads((template_root() / kind / "kind.toml").read_text(encoding="utf-8"))


def _fill(value: Any, names: Names) -> Any:
    if isinstance(value, str):
        return value.format(plugin=names.plugin, module=names.module, dist=names.dist)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def registrations(kind: str, names: Names) -> dict[str, list[str]]:
    """registry kind -> the component names the package registers."""
    return _fill(dict(kind_spec(kind)["registers"]), names)


def clashes(kind: str, names: Names) -> list[str]:
    """Why these names cannot be used here: installed plugins, distributions, modules
    and registered components that already carry them (empty: all free)."""
    from zoo_core.plugins import ENTRY_POINT_GROUP, registry

    found = []
    plugins = {ep.name for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
    if names.plugin in plugins:
        found.append(f"an installed plugin is already called {names.plugin!r}")
    try:
        md.distribution(names.dist)
        found.append(f"a distribution {names.dist!r} is installed")
    except md.PackageNotFoundError:
        pass
    if importlib.util.find_spec(names.module) is not None:
        found.append(f"the module {names.module!r} can already be imported")
    reg = registry()
    for reg_kind, wanted in registrations(kind, names).items():
        taken = set(reg.names(reg_kind))
        for comp in wanted:
            if comp in taken:
                owner = ", ".join(c.plugin for c in reg.list(reg_kind) if c.name == comp)
                found.append(f"{reg_kind} {comp!r} is registered by {owner}")
    return found


def _free_name(name: str, kind: str) -> str | None:
    base = names_for(name).dist
    for candidate in (f"{base}2", f"{base}-x", f"my-{base}", f"{base}-plugin"):
        if not clashes(kind, names_for(candidate)):
            return candidate
    return None


def check_name(name: str, kind: str) -> Names:
    """The package's names, or a :class:`ZooError` saying why not and what to use."""
    names = names_for(name)
    problems = clashes(kind, names)
    if problems:
        free = _free_name(name, kind)
        hint = f" Try {free!r}." if free else " Pick another name."
        raise ZooError(f"Cannot create plugin {name!r}: " + "; ".join(problems) + "." + hint)
    return names


# -- rendering ------------------------------------------------------------------------------


def variables(names: Names, kind: str, author: str) -> dict[str, str]:
    """Every ``{{ placeholder }}`` of the template."""
    from zoo_core import __version__
    from zoo_core.hookspecs import KIND_HOOKS

    spec = _fill(kind_spec(kind), names)
    provides = {k: list(v) for k, v in spec["registers"].items()}
    hook_of = {k: h for h, k in KIND_HOOKS.items()}
    hooks = sorted(hook_of[k] for k in provides)
    components = [f"`{c}` ({k})" for k, cs in provides.items() for c in cs]
    return {
        "dist": names.dist, "module": names.module, "plugin": names.plugin, "kind": kind,
        "author": author, "year": str(_dt.date.today().year), "zoo_version": __version__,
        "summary": spec["summary"], "readme": spec["readme"].strip(),
        "run_task": spec["run_task"], "components": ", ".join(components),
        "provides": json.dumps(provides), "hooks": json.dumps(hooks),
        "export_args": json.dumps(spec.get("export_args", [])),
        "test_sets": json.dumps(spec.get("test_sets", [])),
    }


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        rel = f"{prefix}{item.name}"
        if item.is_dir():
            yield from _walk(item, rel + "/")
        elif item.name.endswith(_SUFFIX):
            yield rel, item


def _target(rel: str, values: Mapping[str, str]) -> str:
    """``src/MODULE/__init__.py.tmpl`` -> ``src/zoo_depth/__init__.py``; ``dot-github``
    -> ``.github`` (package data leaves dot-files out)."""
    parts = []
    for part in rel[: -len(_SUFFIX)].split("/"):
        part = part.replace("MODULE", values["module"]).replace("PLUGIN", values["plugin"])
        parts.append("." + part[4:] if part.startswith("dot-") else part)
    return "/".join(parts)


def render(kind: str, values: Mapping[str, str]) -> dict[str, str]:
    """relative path -> text of every file of the package (common files, then the kind's)."""
    root = template_root()
    files: dict[str, str] = {}
    for folder in ("common", kind):
        for rel, item in _walk(root / folder):
            text = item.read_text(encoding="utf-8")
            try:
                files[_target(rel, values)] = _Template(text).substitute(values)
            except KeyError as exc:  # a bug in the template, not the user's doing
                raise RuntimeError(f"template {folder}/{rel} uses unknown {exc}") from None
    return files


def create_package(name: str, kind: str, out: Path, author: str) -> tuple[Path, list[str]]:
    """Write the package for ``name`` into ``out/<name>``; (folder, files written)."""
    from zoo_core.atomic import atomic_open

    if kind not in TEMPLATE_KINDS:
        from zoo_core.errors import suggestion

        raise ZooError(f"No plugin template for kind {kind!r}.{suggestion(kind, TEMPLATE_KINDS)}"
                       f" Kinds: {', '.join(TEMPLATE_KINDS)}.")
    names = check_name(name, kind)
    folder = out / names.dist
    if folder.exists() and any(folder.iterdir()):
        raise ZooError(f"{folder} already exists and is not empty: choose another --out "
                       "folder or remove it.")
    files = render(kind, variables(names, kind, author))
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path) as fh:
            fh.write(text)
    return folder, sorted(files)


# -- the command ---------------------------------------------------------------------------


@click.group("plugin")
def plugin() -> None:
    """Create plugin packages (see docs/plugins.md)."""


@plugin.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(TEMPLATE_KINDS), default="backbone",
              show_default=True, help="What the plugin adds.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Folder to create the package in (as OUT/NAME).")
@click.option("--author", default="Your Name", show_default=True,
              help="Author in pyproject.toml and the license.")
def new(name: str, kind: str, out: Path, author: str) -> None:
    """Create a ready plugin package NAME (e.g. zoo-depth) of one kind.

    \b
    zoo plugin new zoo-tinycnn                    # a backbone
    zoo plugin new zoo-keypoints --kind task      # a whole new task
    cd zoo-keypoints && pip install -e ".[test]" && pytest

    The package holds the entry point, a tiny random-init component, a recipe
    that uses it, tests that run offline (it registers, a forward pass, a
    training step, `zoo run` of the recipe, `zoo export` parity), a README,
    a license and a GitHub Actions workflow.
    """
    folder, files = create_package(name, kind, out.expanduser(), author)
    click.echo(f"created {folder} ({kind} plugin, {len(files)} files):")
    for rel in files:
        click.echo(f"  {rel}")
    click.echo(f"\nnext:\n  cd {folder}\n  pip install -e \".[test]\"\n  pytest\n"
               f"  zoo plugins          # shows {names_for(name).plugin}: ok")
