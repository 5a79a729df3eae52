"""Built-in classifier heads: linear, MLP with dropout, 1x1 convolution."""

from __future__ import annotations

from zoo_core import hookimpl
from zoo_core.hookspecs import Register


def _lazy(name: str):
    def build(**cfg):
        from zoo_heads import heads

        return getattr(heads, name)(**cfg)

    build.__name__ = f"build_{name}"
    return build


@hookimpl
def register_heads(register: Register) -> None:
    register("linear", _lazy("LinearHead"), description="Dropout then one linear layer",
             default_cfg={"dropout": 0.0})
    register("mlp", _lazy("MLPHead"), description="Hidden layers with ReLU and dropout",
             default_cfg={"hidden": 512, "layers": 1, "dropout": 0.5})
    register("conv1x1", _lazy("Conv1x1Head"),
             description="1x1 convolution then global average pooling (SqueezeNet-style)",
             default_cfg={"dropout": 0.0})
