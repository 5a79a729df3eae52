"""Built-in plugin: DCGAN models, GAN losses, the ganhacks, FID/KID and sample grids.

Registers ``dcgan_generator`` and ``dcgan_discriminator`` (kind ``gan``) and
the losses ``gan_vanilla``, ``gan_lsgan``, ``gan_hinge`` (kind ``loss``, for
any plugin that trains against a discriminator). Modules, all importing torch
only when used:

* :mod:`zoo_gan.models` -- the networks and ``dcgan_init``;
* :mod:`zoo_gan.losses` -- loss formulas on logits and the ``GanLoss`` module;
* :mod:`zoo_gan.hacks` -- the ganhacks as functions, and ``GanOptions``;
* :mod:`zoo_gan.options` -- ``GanOptions`` alone (pydantic, no torch);
* :mod:`zoo_gan.metrics` -- ``GanMetrics`` (FID/KID), ``conditional_accuracy``;
* :mod:`zoo_gan.samples` -- fixed noise, generation, PNG grids.

See docs/gan.md.
"""

from __future__ import annotations

from typing import Any

from zoo_core import hookimpl
from zoo_core.hookspecs import Register

GENERATOR_CFG = {"nz": 100, "ngf": 64, "image_size": 64, "channels": 3, "num_classes": 0,
                 "embed_dim": 50}
DISCRIMINATOR_CFG = {"ndf": 64, "image_size": 64, "channels": 3, "num_classes": 0,
                     "projection": False}


def _lazy(module: str, name: str, *args: Any) -> Any:
    def build(**cfg: Any) -> Any:
        import importlib

        target = getattr(importlib.import_module(f"zoo_gan.{module}"), name)
        return target(*args, **cfg)

    build.__name__ = f"build_{name}{'_' + '_'.join(map(str, args)) if args else ''}"
    return build


def _task(**cfg: Any) -> Any:
    from zoo_gan.task import GanTask

    return GanTask(**cfg)


@hookimpl
def register_tasks(register: Register) -> None:
    register("gan", _task,
             description="GANs: generator and discriminator with two optimizers; DCGAN and "
                         "conditional GAN; the ganhacks as [task] switches; FID/KID, sample "
                         "grids")


@hookimpl
def register_gans(register: Register) -> None:
    register("dcgan_generator", _lazy("models", "build_generator"),
             description="DCGAN generator (PyTorch tutorial): ConvTranspose+BN+ReLU, tanh; "
                         "conditional with num_classes > 0",
             default_cfg=GENERATOR_CFG)
    register("dcgan_discriminator", _lazy("models", "build_discriminator"),
             description="DCGAN discriminator (PyTorch tutorial): Conv+BN+LeakyReLU(0.2), "
                         "logits; conditional by label plane or projection",
             default_cfg=DISCRIMINATOR_CFG)


@hookimpl
def register_losses(register: Register) -> None:
    register("gan_vanilla", _lazy("losses", "GanLoss", "vanilla"),
             description="GAN loss: BCE on logits; G non-saturating -log D(G(z)) or saturating",
             default_cfg={"non_saturating": True, "loss_weight": 1.0})
    register("gan_lsgan", _lazy("losses", "GanLoss", "lsgan"),
             description="GAN loss: least squares (MSE to 1/0 on logits)",
             default_cfg={"loss_weight": 1.0})
    register("gan_hinge", _lazy("losses", "GanLoss", "hinge"),
             description="GAN loss: hinge, D relu(1 -/+ l), G -l",
             default_cfg={"loss_weight": 1.0})
