"""Built-in plugin: reconstruction (autoencoders, denoising).

Registers the ``conv_encoder`` backbone (the encoder of ``conv_autoencoder``,
with timm's interface), so a trained encoder is an ordinary backbone. The
autoencoders themselves are plain factories in :mod:`zoo_reconstruction.models`
until the registry has a kind for them.

Import-light like every plugin: torch is imported by the factories.
"""

from __future__ import annotations

from typing import Any

from zoo_core import hookimpl
from zoo_core.hookspecs import Register


def _conv_encoder(**cfg: Any) -> Any:
    from zoo_reconstruction.models import ConvEncoder

    return ConvEncoder(**cfg)


@hookimpl
def register_backbones(register: Register) -> None:
    register("conv_encoder", _conv_encoder,
             default_cfg={"in_chans": 3, "widths": [32, 64, 128], "latent_channels": 64,
                          "image_size": 64},
             description="Stride-2 conv stages and a 1x1 latent conv: the encoder of "
                         "conv_autoencoder (zoo_reconstruction)")
