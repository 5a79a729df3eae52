"""Built-in plugin: regularizers that act at the engine's hook points.

``l2`` (an explicit weight penalty added to the loss), ``dropout`` (dropout
on the head's input) and ``input_noise`` (Gaussian noise on each training
batch). Early stopping is a callback (``[train.early_stopping]``), and
label-preserving image augmentation lives in ``[data.augment]``.
"""

from __future__ import annotations

from typing import Any

from zoo_core import hookimpl
from zoo_core.hookspecs import Register


def _lazy(name: str) -> Any:
    def build(**cfg: Any) -> Any:
        from zoo_regularizers import regularizers

        return getattr(regularizers, name)(**cfg)

    build.__name__ = f"build_{name}"
    return build


@hookimpl
def register_regularizers(register: Register) -> None:
    register("l2", _lazy("L2Penalty"), default_cfg={"coef": 1e-4},
             description="Adds coef/2 * sum of squared trainable weights to the loss "
                         "(biases and norm scales excluded unless include_bias_and_norm)")
    register("dropout", _lazy("HeadDropout"), default_cfg={"p": 0.5},
             description="Dropout with probability p on the head's input while training")
    register("input_noise", _lazy("InputNoise"), default_cfg={"std": 0.05},
             description="Gaussian noise (std in normalized units) on every training batch")
