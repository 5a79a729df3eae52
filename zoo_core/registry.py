"""kind -> name -> component, filled by plugins.

Names are unique per kind. When two plugins register the same name, neither
silently wins (timm overwrites; we do not): the plain name becomes ambiguous
and raises an error naming both plugins, while ``plugin:name`` still picks
one. Any name may carry a weight tag, timm-style: ``resnet50.a1_in1k``.
"""

from __future__ import annotations

import builtins
import fnmatch
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo_core.errors import UnknownNameError, ZooError, suggestion
from zoo_core.types import WeightTag

#: canonical kind names and the spellings users may type for them
KINDS = (
    "backbone", "head", "gan", "sr", "segmentation", "autoencoder", "regularizer",
    "task", "dataset", "loss", "metric",
)
_KIND_ALIASES = {
    "backbones": "backbone", "heads": "head", "gans": "gan", "sr_models": "sr",
    "super-resolution": "sr", "segmentations": "segmentation", "autoencoders": "autoencoder",
    "regularizers": "regularizer",
    "tasks": "task", "datasets": "dataset", "losses": "loss", "metrics": "metric",
}


def canonical_kind(kind: str) -> str:
    """``'backbones'`` -> ``'backbone'``; unknown kinds raise with did-you-mean."""
    k = kind.strip().lower()
    k = _KIND_ALIASES.get(k, k)
    if k not in KINDS:
        raise UnknownNameError(
            f"Unknown kind {kind!r}.{suggestion(kind, (*KINDS, *_KIND_ALIASES))} "
            f"Kinds are: {', '.join(KINDS)}."
        )
    return k


@dataclass
class Component:
    """One registered thing, with what ``zoo info`` shows about it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""
    default_cfg: dict[str, Any] = field(default_factory=dict)
    default_tag: str | None = None
    _weights: Mapping[str, WeightTag] | Callable[[], Mapping[str, WeightTag]] | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def weights(self) -> dict[str, WeightTag]:
        """tag -> WeightTag; a lazy provider is called once, on first use."""
        w = self._weights
        if callable(w):
            w = dict(w())
            self._weights = w
        return dict(w or {})

    def weight(self, tag: str | None = None) -> WeightTag:
        """The weights for ``tag`` (or the default tag)."""
        tags = self.weights
        tag = tag or self.default_tag or (next(iter(tags)) if tags else None)
        if tag is None:
            raise ZooError(f"{self.kind} {self.name!r} has no pretrained weights.")
        if tag not in tags:
            raise UnknownNameError(
                f"{self.kind} {self.name!r} has no weight tag {tag!r}."
                f"{suggestion(tag, tags)} Tags: {', '.join(sorted(tags)) or 'none'}."
            )
        return tags[tag]

    def create(self, **cfg: Any) -> Any:
        return self.factory(**{**self.default_cfg, **cfg})


@dataclass(frozen=True)
class Resolved:
    """A name looked up: the component plus the tag the user wrote, if any."""

    component: Component
    tag: str | None = None


class Registry:
    """Components by kind and name. Filled by :mod:`zoo_core.plugins`."""

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}

    # -- filling ---------------------------------------------------------------
    def add(self, component: Component) -> None:
        kind = canonical_kind(component.kind)
        owners = self._by_kind[kind].setdefault(component.name, [])
        if any(c.plugin == component.plugin for c in owners):
            raise ZooError(
                f"Plugin {component.plugin!r} registers {kind} {component.name!r} twice."
            )
        owners.append(component)

    def remove_plugin(self, plugin: str) -> None:
        for names in self._by_kind.values():
            for name in list(names):
                names[name] = [c for c in names[name] if c.plugin != plugin]
                if not names[name]:
                    del names[name]

    # -- reading ---------------------------------------------------------------
    def conflicts(self) -> dict[tuple[str, str], list[str]]:
        """(kind, name) -> the plugins that all claim it."""
        return {
            (kind, name): [c.plugin for c in owners]
            for kind, names in self._by_kind.items()
            for name, owners in names.items()
            if len(owners) > 1
        }

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[canonical_kind(kind)])

    def components(self, kind: str | None = None) -> Iterator[Component]:
        kinds = [canonical_kind(kind)] if kind else list(KINDS)
        for k in kinds:
            for name in sorted(self._by_kind[k]):
                yield from self._by_kind[k][name]

    def list(self, kind: str | None = None, pattern: str | None = None) -> list[Component]:
        """Components of ``kind`` (all kinds when None) whose name matches the glob."""
        out = list(self.components(kind))
        if pattern:
            pat = pattern.lower()
            if not any(ch in pat for ch in "*?["):
                pat = f"*{pat}*"
            out = [c for c in out if fnmatch.fnmatchcase(c.name.lower(), pat)]
        return out

    def get(self, kind: str, name: str) -> Resolved:
        """Look up ``name``, ``name.tag`` or ``plugin:name[.tag]`` in ``kind``."""
        kind = canonical_kind(kind)
        names = self._by_kind[kind]
        plugin = None
        bare = name
        if ":" in name and "://" not in name:
            plugin, bare = name.split(":", 1)
        arch, tag = bare, None
        if arch not in names and "." in arch:
            # timm-style arch.tag; arch names themselves may contain dots
            head, _, tail = arch.rpartition(".")
            if head in names:
                arch, tag = head, tail
        owners = names.get(arch)
        if not owners:
            raise UnknownNameError(
                f"Unknown {kind} {name!r}.{suggestion(arch, names)} "
                f"See `zoo list {kind}`."
            )
        if plugin is not None:
            picked = [c for c in owners if c.plugin == plugin]
            if not picked:
                raise UnknownNameError(
                    f"Plugin {plugin!r} provides no {kind} {arch!r}; it is provided by "
                    + ", ".join(repr(c.plugin) for c in owners) + "."
                )
            return Resolved(picked[0], tag)
        if len(owners) > 1:
            both = " and ".join(repr(c.plugin) for c in owners)
            raise ZooError(
                f"The {kind} name {arch!r} is registered by both {both}. "
                f"Pick one with a qualified name, e.g. {owners[0].qualified_name!r}."
            )
        component = owners[0]
        if tag is not None and tag not in component.weights:
            raise UnknownNameError(
                f"{kind} {arch!r} has no weight tag {tag!r}."
                f"{suggestion(tag, component.weights)} "
                f"See `zoo info {arch}` for its tags."
            )
        return Resolved(component, tag)

    def find(self, name: str) -> builtins.list[Resolved]:
        """Every kind in which ``name`` resolves (for ``zoo info NAME``)."""
        found = []
        for kind in KINDS:
            try:
                found.append(self.get(kind, name))
            except UnknownNameError:
                continue
        return found

    def all_names(self) -> builtins.list[str]:
        return sorted({n for names in self._by_kind.values() for n in names})
