"""An example third-party plugin for zoo.

Install it (`pip install -e examples/zoo-example-plugin`) and
`zoo list backbones --filter tiny*` shows `tinynet`; `zoo plugins` shows
`example`; `zoo run recipes/digits_brightness.toml` trains its task. Torch is
imported inside the factories, never at import time, so `zoo list` stays fast.
"""

from __future__ import annotations

from zoo_core.api import hookimpl


def build_tinynet(num_classes: int = 10, in_chans: int = 3, width: int = 16, **_):
    from zoo_example_plugin.tinynet import TinyNet

    return TinyNet(num_classes=num_classes, in_chans=in_chans, width=width)


def build_cosine_head(in_features: int, num_classes: int, scale: float = 16.0):
    from zoo_example_plugin.tinynet import CosineHead

    return CosineHead(in_features, num_classes, scale)


def build_brightness_task():
    from zoo_example_plugin.brightness import BrightnessTask

    return BrightnessTask()


@hookimpl
def register_backbones(register):
    register("tinynet", build_tinynet, description="A 3-stage CNN for 32x32 images",
             default_cfg={"width": 16})


@hookimpl
def register_heads(register):
    register("cosine", build_cosine_head, description="Cosine-similarity classifier",
             default_cfg={"scale": 16.0})


@hookimpl
def register_tasks(register):
    register("brightness", build_brightness_task,
             description="Image regression: each channel's mean brightness; MSE; mae/rmse")
