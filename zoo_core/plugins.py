"""Plugin discovery: entry points of group ``zoo``, loaded one at a time.

Each plugin is isolated. One that fails to import, implements a hook pluggy
rejects or a hook that does not exist, or raises while registering, is
reported as failed and leaves no trace in the registry; the others keep
working. ``ZOO_STRICT_PLUGINS=1`` re-raises instead, for plugin authors.

``ZOO_LOAD_PLUGINS=a,b`` loads only the third-party plugins named; an empty
value loads none of them. Built-in plugins (those shipped in zoo-toolkit)
always load: they are part of the tool.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from zoo_core import hookspecs
from zoo_core.errors import PluginError, ZooError, suggestion
from zoo_core.registry import Component, Registry
from zoo_core.types import WeightTag

ENTRY_POINT_GROUP = "zoo"
BUILTIN_DISTRIBUTION = "zoo-toolkit"


@dataclass
class PluginReport:
    """What ``zoo plugins`` shows for one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    status: str = "ok"  # ok | failed | skipped
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    #: the hooks the plugin implements (``register_backbones``, ``resolve_weights``...)
    hooks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "status": self.status,
            "error": self.error,
            "provides": self.provides,
            "hooks": self.hooks,
            "warnings": self.warnings,
        }


def _strict() -> bool:
    return os.environ.get("ZOO_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes"}


def _describe(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).strip().splitlines())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PluginSet:
    """A plugin manager, the registry it fills, and a report per plugin."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.reports: dict[str, PluginReport] = {}
        self._objects: dict[str, object] = {}
        self._registry: Registry | None = None

    # -- loading -----------------------------------------------------------
    def load_entry_points(self, wanted: Iterable[str] | None = None) -> None:
        """Load every ``zoo`` entry point; ``wanted`` limits third-party ones."""
        wanted_set = None if wanted is None else set(wanted)
        seen: set[str] = set()
        eps = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=_builtin_first)
        for ep in eps:
            if ep.name in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist is not None else None
            report = PluginReport(
                name=ep.name,
                module=ep.value,
                distribution=dist,
                version=ep.dist.version if ep.dist is not None else None,
                builtin=_canon(dist) == _canon(BUILTIN_DISTRIBUTION),
            )
            if not report.builtin and wanted_set is not None and ep.name not in wanted_set:
                report.status = "skipped"
                report.error = "not named in ZOO_LOAD_PLUGINS"
                self.reports[ep.name] = report
                continue
            self.reports[ep.name] = report
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:
                self._fail(report, f"import failed: {_describe(exc)}", exc)
                continue
            self._register(report, obj)
        if wanted_set:
            for missing in sorted(wanted_set - seen):
                self.reports[missing] = PluginReport(
                    name=missing, module="?", status="failed",
                    error="named in ZOO_LOAD_PLUGINS but not installed"
                    + suggestion(missing, seen),
                )

    def add(self, name: str, obj: object, *, builtin: bool = False) -> PluginReport:
        """Register an in-process plugin object (tests, notebooks, examples)."""
        report = PluginReport(name=name, module=getattr(obj, "__name__", repr(obj)),
                              builtin=builtin)
        self.reports[name] = report
        self._register(report, obj)
        return report

    def _register(self, report: PluginReport, obj: object) -> None:
        try:
            self.pm.register(obj, name=report.name)
        except (Exception, SystemExit) as exc:
            self._fail(report, f"rejected by pluggy: {_describe(exc)}", exc)
            return
        unknown = [
            caller.name for caller in self.pm.get_hookcallers(obj) or []
            if caller.spec is None
        ]
        if unknown:
            known = [n for n in dir(hookspecs) if n.startswith(("register_", "resolve_"))]
            msgs = [f"unknown hook {n!r}.{suggestion(n, known)}" for n in sorted(unknown)]
            self._fail(report, " ".join(msgs), PluginError(" ".join(msgs)), obj=obj)
            return
        report.hooks = sorted(c.name for c in self.pm.get_hookcallers(obj) or [])
        self._objects[report.name] = obj
        if self._registry is not None:  # a plugin added after the registry was filled
            self._fill(report, obj)
            self._note_conflicts()

    @property
    def registry(self) -> Registry:
        """The registry, filled on first use so that commands which need no
        component (``zoo --help``) never run a registration hook."""
        if self._registry is None:
            self._registry = Registry()
            for name, obj in list(self._objects.items()):
                self._fill(self.reports[name], obj)
            self._note_conflicts()
        return self._registry

    def _fill(self, report: PluginReport, obj: object) -> None:
        assert self._registry is not None
        for hook_name, kind in hookspecs.KIND_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin_name != report.name:
                    continue
                staged: list[Component] = []
                try:
                    impl.function(register=_register_callback(kind, report.name, staged))
                except (Exception, SystemExit) as exc:
                    self._fail(report, f"{hook_name} raised {_describe(exc)}", exc, obj=obj)
                    return
                for comp in staged:
                    try:
                        self._registry.add(comp)
                    except ZooError as exc:
                        self._fail(report, str(exc), exc, obj=obj)
                        return
                    report.provides.setdefault(kind, []).append(comp.name)

    def _fail(self, report: PluginReport, message: str, exc: BaseException,
              obj: object | None = None) -> None:
        report.status = "failed"
        report.error = message
        report.provides = {}
        report.hooks = []
        self._objects.pop(report.name, None)
        if self._registry is not None:
            self._registry.remove_plugin(report.name)
        if obj is not None and self.pm.is_registered(obj):
            self.pm.unregister(obj)
        if _strict():
            if isinstance(exc, ZooError):
                raise exc
            raise PluginError(f"Plugin {report.name!r} failed: {message}") from exc

    def _note_conflicts(self) -> None:
        for report in self.reports.values():
            report.warnings = [w for w in report.warnings if not w.startswith("name clash")]
        assert self._registry is not None
        for (kind, name), owners in self._registry.conflicts().items():
            for owner in owners:
                others = ", ".join(repr(o) for o in owners if o != owner)
                if owner in self.reports:
                    self.reports[owner].warnings.append(
                        f"name clash: {kind} {name!r} is also registered by {others}; "
                        f"use {owner}:{name}"
                    )

    # -- calling the non-registration hooks ---------------------------------
    def call_each(self, hook_name: str, **kwargs: Any) -> None:
        """Call one hook plugin by plugin, reporting (not raising) failures."""
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            try:
                impl.function(**{a: kwargs[a] for a in impl.argnames})
            except (Exception, SystemExit) as exc:
                report = self.reports.get(impl.plugin_name)
                if report is not None:
                    report.warnings.append(f"{hook_name} raised {_describe(exc)}")
                if _strict():
                    raise


def _canon(dist: str | None) -> str:
    return (dist or "").lower().replace("_", "-")


def _builtin_first(ep: md.EntryPoint) -> tuple[int, str]:
    dist = ep.dist.name if ep.dist is not None else None
    return (0 if _canon(dist) == _canon(BUILTIN_DISTRIBUTION) else 1, ep.name)


def _register_callback(kind: str, plugin: str, staged: list[Component]) -> hookspecs.Register:
    def register(
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        default_cfg: Mapping[str, Any] | None = None,
        weights: Mapping[str, WeightTag] | Callable[[], Mapping[str, WeightTag]] | None = None,
        default_tag: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or ":" in name or "/" in name:
            raise ValueError(f"invalid {kind} name {name!r}: a non-empty string without ':' or '/'")
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: factory must be callable, got {factory!r}")
        staged.append(Component(
            kind=kind, name=name, factory=factory, plugin=plugin,
            description=description, default_cfg=dict(default_cfg or {}),
            default_tag=default_tag, _weights=weights,
        ))

    return register


# -- the process-wide plugin set ---------------------------------------------

_lock = threading.Lock()
_current: PluginSet | None = None


def wanted_from_env() -> list[str] | None:
    raw = os.environ.get("ZOO_LOAD_PLUGINS")
    if raw is None:
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


def plugin_set() -> PluginSet:
    """The plugins of this process, discovered on first use."""
    global _current
    with _lock:
        if _current is None:
            ps = PluginSet()
            ps.load_entry_points(wanted_from_env())
            _current = ps
        return _current


def registry() -> Registry:
    return plugin_set().registry


def reset() -> None:
    """Forget the discovered plugins (tests; after installing a plugin)."""
    global _current
    with _lock:
        _current = None
