"""Pretrained weights: sources, the cache, files, loading, publishing, model cards.

The public surface (what the engine, commands and plugins use):

* :func:`resolve` turns a weights URI into a verified local file:
  ``hf://org/repo[@rev][/file]``, ``https://...`` with a sha256, a local file
  or ``save_pretrained`` folder, or any scheme a plugin adds through the
  ``resolve_weights`` hook (asked first).
* :func:`create_model` builds a registry component (``arch``, ``arch.tag``,
  ``plugin:arch`` or a timm-format Hub repo ``hf://org/repo``) and loads its
  weights: the classifier is dropped when ``num_classes`` differs, the rest
  loads strictly, and any other mismatch is one clear error.
* :func:`save_model` / :func:`load_model` write and read the saved-model
  folder (``config.json`` + ``model.safetensors``) that runs produce and
  ``zoo push`` publishes.
* :func:`pull` prefetches what a name, tag, URI or recipe needs.

The modules, lowest first (each imports only those above it): ``uris``
(parsing, the HF environment), ``files`` (sha256, safetensors, pickles read
with ``weights_only=True``), ``cache`` (zoo's cache layout), ``hub`` and
``urls`` (downloads), ``sources`` (resolving, prefetching), ``loading``
(building and loading models), ``card`` and ``publish`` (``zoo push``).
Importing this package is cheap: names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo_core.weights.files import load_state_dict  # noqa: F401
    from zoo_core.weights.loading import (  # noqa: F401
        DATA_CONFIG_KEYS,
        LoadedModel,
        create_model,
        load_model,
        load_weights,
        save_model,
    )
    from zoo_core.weights.sources import (  # noqa: F401
        is_cached,
        pull,
        pull_recipe,
        resolve,
        resolve_tag,
        sources_for,
        weights_source,
    )

_WHERE = {
    "load_state_dict": "files",
    "DATA_CONFIG_KEYS": "loading", "LoadedModel": "loading", "create_model": "loading",
    "load_model": "loading", "load_weights": "loading", "save_model": "loading",
    "is_cached": "sources", "pull": "sources", "pull_recipe": "sources", "resolve": "sources",
    "resolve_tag": "sources", "sources_for": "sources", "weights_source": "sources",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"zoo_core.weights.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'zoo_core.weights' has no attribute {name!r}")
