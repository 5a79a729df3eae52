"""Built-in plugin: super-resolution models, losses and metrics.

* ``sr`` models: ``srresnet`` (BasicSR's MSRResNet; ``batch_norm = true`` for
  the SRGAN paper's generator), ``sr_discriminator`` (VGG-style, 128/256 px),
  ``bicubic`` (MATLAB-compatible, no parameters) and the community
  architectures spandrel detects (``esrgan``, ``swinir``, ``hat``...), whose
  published weights load through zoo's own weight reader.
* losses: ``pixel`` (L1/MSE) and ``perceptual`` (VGG19 conv5_4 by default,
  torchvision's weights as its ``tv_in1k`` tag, or any registry backbone).
* metric: ``sr_psnr_ssim``, PSNR/SSIM on Y and RGB with the border cropped.
* task ``sr`` (:mod:`zoo_sr.task`): SRResNet and SRGAN training, evaluation
  beside bicubic, tiled ``zoo predict``.

Import-light: torch is imported by the factories only.
"""

from __future__ import annotations

from typing import Any

from zoo_core import WeightTag, hookimpl
from zoo_core.hookspecs import Register

_VGG19_TV = WeightTag(
    tag="tv_in1k",
    source="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    # torchvision names its files <arch>-<first 8 hex of sha256>.pth
    sha256="dcbb9e9d",
    num_classes=1000,
    license="bsd-3-clause",
    description="torchvision's ImageNet-1k VGG19: the features BasicSR/ESRGAN's perceptual "
                "loss uses",
)


def _srresnet(**cfg: Any) -> Any:
    from zoo_sr.models import SRResNet

    return SRResNet(**cfg)


def _discriminator(**cfg: Any) -> Any:
    from zoo_sr.models import VGGStyleDiscriminator

    return VGGStyleDiscriminator(**cfg)


def _bicubic(**cfg: Any) -> Any:
    from zoo_sr.models import Bicubic

    return Bicubic(**cfg)


def _community(name: str) -> Any:
    def build(**cfg: Any) -> Any:
        from zoo_sr.community import build_community

        return build_community(name, **cfg)

    build.__name__ = f"build_{name}"
    return build


def _pixel(criterion: str = "l1") -> Any:
    from zoo_sr.losses import pixel_loss

    return pixel_loss(criterion)


def _perceptual(**cfg: Any) -> Any:
    from zoo_sr.losses import PerceptualLoss

    return PerceptualLoss(**cfg)


def _meter(**cfg: Any) -> Any:
    from zoo_sr.metrics import SRMeter

    return SRMeter(**cfg)


def _task() -> Any:
    from zoo_sr.task import SRTask

    return SRTask()


@hookimpl
def register_tasks(register: Register) -> None:
    register("sr", _task,
             description="Super-resolution: SRResNet (pixel loss) or SRGAN (perceptual + "
                         "adversarial, when a discriminator is named); PSNR/SSIM on Y and RGB "
                         "beside bicubic; tiled zoo predict")


@hookimpl
def register_sr_models(register: Register) -> None:
    register("srresnet", _srresnet,
             description="SRResNet: BasicSR's MSRResNet (16 blocks, no BN, bilinear skip); "
                         "batch_norm=true: the SRGAN paper's generator",
             default_cfg={"scale": 4, "num_feat": 64, "num_block": 16, "in_chans": 3,
                          "batch_norm": False})
    register("sr_discriminator", _discriminator,
             description="SRGAN/ESRGAN VGG-style discriminator for 128 or 256 px HR patches",
             default_cfg={"num_feat": 64, "input_size": 128, "in_chans": 3})
    register("bicubic", _bicubic,
             description="MATLAB-compatible bicubic upscaling (no parameters): the baseline",
             default_cfg={"scale": 4, "in_chans": 3})
    from zoo_sr.community_table import SPECS

    for spec in SPECS:
        register(spec.name, _community(spec.name), description=spec.description)


@hookimpl
def register_losses(register: Register) -> None:
    register("pixel", _pixel, description="SR pixel loss: L1 (default) or MSE, mean",
             default_cfg={"criterion": "l1"})
    register("perceptual", _perceptual,
             description="Perceptual loss: L1 between VGG19 conv5_4 features (before ReLU) "
                         "of output and target; any layer, or a registry backbone's stages",
             default_cfg={"network": "vgg19", "layer": "conv5_4", "criterion": "l1",
                          "normalize": True},
             weights={"tv_in1k": _VGG19_TV}, default_tag="tv_in1k")


@hookimpl
def register_metrics(register: Register) -> None:
    register("sr_psnr_ssim", _meter,
             description="PSNR/SSIM on Y (BT.601) and RGB, border = scale cropped, 8-bit, "
                         "as BasicSR; averaged per image",
             default_cfg={"scale": 4, "quantize": True})
