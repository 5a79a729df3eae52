"""Built-in plugin: reconstruction (autoencoders, denoising).

Registers the autoencoders ``conv_autoencoder`` and ``backbone_autoencoder``
(kind ``autoencoder``), the ``conv_encoder`` backbone (the encoder of
``conv_autoencoder``, with timm's interface, so a trained encoder is an
ordinary backbone) and the task ``reconstruction`` (denoising autoencoders:
noise on the input only, PSNR against the noisy input, encoder export).

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


def _lazy(name: str) -> Any:
    def build(**cfg: Any) -> Any:
        from zoo_reconstruction import models

        return getattr(models, name)(**cfg)

    build.__name__ = f"build_{name}"
    return build


@hookimpl
def register_autoencoders(register: Register) -> None:
    register("conv_autoencoder", _lazy("conv_autoencoder"),
             default_cfg={"in_chans": 3, "widths": [32, 64, 128], "latent_channels": 64,
                          "image_size": 64, "output": "sigmoid"},
             description="Stride-2 conv encoder (the conv_encoder backbone) and a mirrored "
                         "transposed-conv decoder; [0, 1] in and out, any size")
    register("backbone_autoencoder", _lazy("backbone_autoencoder"),
             default_cfg={"encoder": "resnet18", "encoder_weights": "none", "in_chans": 3,
                          "decoder_width": 256, "image_size": 224, "output": "sigmoid",
                          "encoder_cfg": {}},
             description="Any registry backbone's forward_features with a light upsampling "
                         "decoder; [0, 1] in and out")


def _task(**cfg: Any) -> Any:
    from zoo_reconstruction.task import ReconstructionTask

    return ReconstructionTask(**cfg)


@hookimpl
def register_tasks(register: Register) -> None:
    register("reconstruction", _task,
             description="Autoencoders and denoising: Gaussian/salt-and-pepper/masking noise "
                         "on the input, PSNR/MSE vs the noisy input, encoder export for "
                         "transfer")
