"""Built-in backbones: every timm architecture, plus the classics timm lacks.

This module stays import-light: registering >1,000 timm names reads a name
cache (built once per timm version) and never imports torch or builds a model.
"""

from __future__ import annotations

from typing import Any

from zoo_core import WeightTag, hookimpl
from zoo_core.hookspecs import Register

_TV = "https://download.pytorch.org/models/"
_IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
             "input_size": (3, 224, 224), "interpolation": "bilinear", "crop_pct": 0.875}


def _tv_weights(file: str, top1: float, top5: float, **data: Any) -> dict[str, WeightTag]:
    # torchvision names its files <arch>-<first 8 hex of sha256>.pth
    sha_prefix = file.rsplit("-", 1)[1].split(".")[0]
    return {"tv_in1k": WeightTag(
        tag="tv_in1k", source=_TV + file, sha256=sha_prefix, num_classes=1000,
        data_config={**_IMAGENET, **data}, license="bsd-3-clause",
        metrics={"top1": top1, "top5": top5},
        description="torchvision's ImageNet-1k checkpoint",
    )}


# name -> (class in classic_nets, description, default cfg, weights)
CLASSICS: dict[str, tuple[str, str, dict[str, Any], dict[str, WeightTag]]] = {
    "alexnet": ("AlexNet", "AlexNet (Krizhevsky et al., 2012), torchvision layout",
                {}, _tv_weights("alexnet-owt-7be5be79.pth", 56.522, 79.066)),
    "squeezenet1_0": ("SqueezeNet", "SqueezeNet 1.0 (Iandola et al., 2016)", {"version": "1_0"},
                      _tv_weights("squeezenet1_0-b66bff10.pth", 58.092, 80.420)),
    "squeezenet1_1": ("SqueezeNet", "SqueezeNet 1.1: 2.4x less compute than 1.0",
                      {"version": "1_1"},
                      _tv_weights("squeezenet1_1-b8a52dc0.pth", 58.178, 80.624)),
    # torchvision's GoogLeNet weights expect inputs scaled to [-1, 1]; carrying
    # that in the data config replaces its in-model `transform_input` trick.
    "googlenet": ("GoogLeNet", "GoogLeNet / Inception v1 (Szegedy et al., 2014)", {},
                  _tv_weights("googlenet-1378be20.pth", 69.778, 89.530,
                              mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))),
    "lenet5": ("LeNet5", "LeNet-5 (LeCun et al., 1998): 1x32x32 input, tanh, average pooling",
               {"num_classes": 10, "in_chans": 1}, {}),
}


def _classic_factory(cls_name: str):
    def build(**cfg: Any):
        from zoo_backbones import classic_nets

        return classic_nets.BUILDERS[cls_name](**cfg)

    build.__name__ = f"build_{cls_name}"
    return build


@hookimpl
def register_backbones(register: Register) -> None:
    for name, (cls_name, desc, cfg, weights) in CLASSICS.items():
        register(name, _classic_factory(cls_name), description=desc, default_cfg=cfg,
                 weights=weights, default_tag=next(iter(weights), None))

    from zoo_backbones import timm_names

    for arch, tags in timm_names.load().items():
        register(arch, timm_names.factory(arch), description="timm",
                 weights=timm_names.weights_provider(arch),
                 default_tag=tags[0] if tags else None)
