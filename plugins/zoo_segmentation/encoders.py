"""Any registry backbone as a segmentation encoder: a list of feature maps per stage.

The encoder is the backbone's ``features_only`` module (timm's interface, which
the classic zoo backbones follow too). Pretrained weights are first loaded into
the *full* backbone through :func:`zoo_core.weights.create_model`, which checks
them strictly against the architecture, adapts the stem to ``in_chans`` and
drops the classifier; the core's ``load_weights(..., features_only=True)`` then
maps those tensors onto the ``features_only`` module (timm's feature wrapper
flattens ``stages.0`` to ``stages_0``) and leaves out what the features do not
use. Loading a checkpoint straight into the truncated module would accept the
weights of a deeper sibling (resnet34's into resnet18) without a word, which is
why the full model comes first - timm itself loads before wrapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from zoo_core.errors import ZooError

_NO_WEIGHTS = {"none", "false", "random", "scratch", ""}


def wants_weights(weights: str | bool | None) -> bool:
    """False for None/False/"none"/"random"/"scratch": random initialisation."""
    if weights is None or weights is False:
        return False
    return not (isinstance(weights, str) and weights.strip().lower() in _NO_WEIGHTS)


def stage_info(features: nn.Module) -> tuple[list[int], list[int]]:
    """(channels, reductions) of a ``features_only`` module, timm's ``FeatureInfo`` or
    the list of dicts the classic zoo backbones carry."""
    info: Any = getattr(features, "feature_info", None)
    if info is None:
        raise ZooError(f"{type(features).__name__} has no feature_info: it is not a "
                       "features_only backbone.")
    if hasattr(info, "channels") and hasattr(info, "reduction"):
        return [int(c) for c in info.channels()], [int(r) for r in info.reduction()]
    return [int(d["num_chs"]) for d in info], [int(d["reduction"]) for d in info]


@dataclass
class EncoderBuild:
    """A ``features_only`` encoder with its stage layout, preprocessing and weight lock."""

    module: nn.Module
    channels: list[int]
    reductions: list[int]
    data_config: dict[str, Any]
    lock: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def channel_stats(values: Sequence[float], in_chans: int) -> tuple[float, ...]:
    """Per-channel mean/std for ``in_chans`` inputs from RGB ones: the average for one
    channel (the stem's RGB weights are summed, so a grey image stands for R=G=B)."""
    vals = [float(v) for v in values]
    if len(vals) == in_chans:
        return tuple(vals)
    if in_chans == 1:
        return (sum(vals) / len(vals),)
    return tuple(vals[i % len(vals)] for i in range(in_chans))


def build_encoder(name: str, *, weights: str | bool | None = "none", in_chans: int = 3,
                  depth: int | None = None, **cfg: Any) -> EncoderBuild:
    """The ``features_only`` module of registry backbone ``name``.

    ``weights``: "none" (random), "default", a tag or a URI, as for any backbone.
    ``depth``: use only the first ``depth`` stages (``out_indices``); all by default.
    ``cfg`` goes to the backbone factory (e.g. ``output_stride``).
    """
    from zoo_core.weights import create_model, load_weights

    build = dict(cfg)
    build["in_chans"] = in_chans
    if depth is not None:
        if depth < 1:
            raise ZooError(f"encoder_depth must be at least 1, got {depth}.")
        build["out_indices"] = tuple(range(depth))
    try:
        loaded = create_model("backbone", name, weights=None, features_only=True, **build)
    except ZooError:
        raise
    except (TypeError, RuntimeError, ValueError, AssertionError) as exc:
        raise ZooError(
            f"Backbone {name!r} cannot be built as a features_only encoder "
            f"({type(exc).__name__}: {exc}). Pick a backbone with timm's features_only "
            "interface (a CNN such as resnet34 or efficientnet_b0)."
        ) from None
    if wants_weights(weights):
        full_cfg = {k: v for k, v in build.items() if k != "out_indices"}
        full = create_model("backbone", name, weights=weights, num_classes=0, **full_cfg)
        source = full.lock[-1]["uri"] if full.lock else str(weights)
        load_weights(loaded.model, full.model.state_dict(), source=source, features_only=True)
        loaded.data_config, loaded.lock = dict(full.data_config), list(full.lock)
    features = loaded.model
    channels, reductions = stage_info(features)
    data_config: dict[str, Any] = {k: loaded.data_config[k] for k in
                                   ("mean", "std", "interpolation") if k in loaded.data_config}
    message = "random init"
    if loaded.lock:
        source = loaded.lock[-1].get("uri", str(weights))
        message = f"encoder weights from {source}"
    mean = data_config.get("mean", (0.485, 0.456, 0.406))
    std = data_config.get("std", (0.229, 0.224, 0.225))
    data_config["mean"] = channel_stats(mean, in_chans)
    data_config["std"] = channel_stats(std, in_chans)
    return EncoderBuild(features, channels, reductions, data_config, list(loaded.lock), message)


def example_batch(in_chans: int, size: Sequence[int], batch_size: int) -> Tensor:
    """A random input batch for ``zoo bench``."""
    h, w = int(size[-2]), int(size[-1])
    return torch.randn(batch_size, in_chans, h, w)
