"""The small Python API that the CLI and tests use."""

from __future__ import annotations

import builtins
from typing import Any

from zoo_core.plugins import registry
from zoo_core.registry import Component, Resolved


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
