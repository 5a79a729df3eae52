"""The contract between zoo and its plugins. Read this first.

A plugin is an importable module (or object) that implements some of the
hooks below with ``@zoo_core.hookimpl`` and is published under the ``zoo``
entry-point group::

    # pyproject.toml of your package
    [project.entry-points.zoo]
    my_models = "my_models"

    # my_models/__init__.py
    from zoo_core import hookimpl

    @hookimpl
    def register_backbones(register):
        register("tiny_cnn", build_tiny_cnn, description="A 3-layer CNN",
                 default_cfg={"width": 32})

Rules that keep the tool fast and robust:

* Import heavy libraries (torch, timm) inside factories, not at module
  import: ``zoo list`` and ``zoo --help`` load every plugin.
* Every registration hook receives a ``register`` callback (as simonw/llm
  does). It is bound to one kind and to your plugin, so a name clash names
  both plugins. If your hook raises, nothing it registered is kept, the
  failure is reported by ``zoo plugins`` and every other plugin keeps working.
* Hook names are checked: a misspelled hook is reported, not ignored.

``register(name, factory, *, description="", default_cfg=None, weights=None,
default_tag=None)``:

* ``factory(**cfg)`` builds the component. ``cfg`` is ``default_cfg``
  updated with what the user asked for.
* ``weights`` maps tag -> :class:`zoo_core.WeightTag` (or is a zero-argument
  callable returning that mapping, called only when someone asks), and
  ``default_tag`` names the one ``arch`` alone means, timm-style.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import click

    from zoo_core.types import ResolvedWeights, WeightTag

PROJECT = "zoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback every ``register_*`` hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        description: str = "",
        default_cfg: Mapping[str, Any] | None = None,
        weights: Mapping[str, WeightTag] | Callable[[], Mapping[str, WeightTag]] | None = None,
        default_tag: str | None = None,
    ) -> None: ...


# --- model kinds -----------------------------------------------------------


@hookspec
def register_backbones(register: Register) -> None:
    """Register feature extractors: ``factory(num_classes=..., features_only=...,
    out_indices=..., **cfg) -> nn.Module`` with the timm interface
    (``num_features``, ``forward_features``, ``forward_head(x, pre_logits=True)``,
    ``feature_info``, ``reset_classifier``, ``pretrained_cfg``)."""


@hookspec
def register_heads(register: Register) -> None:
    """Register classifier heads: ``factory(in_features, num_classes, **cfg) -> nn.Module``."""


@hookspec
def register_gans(register: Register) -> None:
    """Register GANs (generator + discriminator pairs)."""


@hookspec
def register_sr_models(register: Register) -> None:
    """Register super-resolution networks."""


@hookspec
def register_segmentation_models(register: Register) -> None:
    """Register segmentation networks (e.g. U-Net over any backbone)."""


@hookspec
def register_autoencoders(register: Register) -> None:
    """Register autoencoders (image -> reconstruction; ``model.encoder`` transfers)."""


@hookspec
def register_regularizers(register: Register) -> None:
    """Register regularizers: objects that act at the engine's hook points
    (model build, batch, loss term, epoch end)."""


# --- the rest of a run -----------------------------------------------------


@hookspec
def register_tasks(register: Register) -> None:
    """Register tasks (classification, gan, sr, ...): a task owns its training
    step and its metrics; the engine owns everything around them."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register data sets by name: ``factory(**cfg)`` returns the splits."""


@hookspec
def register_losses(register: Register) -> None:
    """Register loss functions: ``factory(**cfg) -> nn.Module``."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics by name."""


@hookspec(firstresult=True)
def resolve_weights(uri: str, offline: bool) -> ResolvedWeights | None:
    """Turn a weights URI into a verified local file.

    Return ``None`` for a scheme you do not own; the first non-None answer
    wins. Raise :class:`zoo_core.errors.WeightsError` for a URI you own that
    cannot be resolved. With ``offline=True`` use only what is cached.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``zoo`` command line."""


#: registration hook name -> the registry kind it fills
KIND_HOOKS: dict[str, str] = {
    "register_backbones": "backbone",
    "register_heads": "head",
    "register_gans": "gan",
    "register_sr_models": "sr",
    "register_segmentation_models": "segmentation",
    "register_autoencoders": "autoencoder",
    "register_regularizers": "regularizer",
    "register_tasks": "task",
    "register_datasets": "dataset",
    "register_losses": "loss",
    "register_metrics": "metric",
}
