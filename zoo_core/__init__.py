"""zoo: a plugin-based model zoo for PyTorch.

Importing this package is cheap (no torch): the API below loads plugins on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo_core.errors import ZooError
from zoo_core.hookspecs import hookimpl
from zoo_core.types import ResolvedWeights, WeightTag

__version__ = "0.1.0"
__all__ = [
    "ZooError", "hookimpl", "WeightTag", "ResolvedWeights", "create", "get", "list",
    "__version__",
]

if TYPE_CHECKING:
    from zoo_core.api import create, get, list  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in {"create", "get", "list"}:
        from zoo_core import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo_core' has no attribute {name!r}")
