"""Any registry backbone as a segmentation encoder: a list of feature maps per stage.

The encoder is the backbone's ``features_only`` module (timm's interface, which
the classic zoo backbones follow too). Pretrained weights are loaded into the
*full* backbone through :func:`zoo_core.weights.create_model` (which adapts the
stem to ``in_chans`` and drops the classifier) and then copied into the
``features_only`` module. The detour is needed because timm's ``FeatureListNet``
renames flattened children (``stages.0`` -> ``stages_0``), so a full-model
checkpoint does not load into it key for key; timm itself loads weights before
wrapping for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from zoo_core.errors import WeightsError, ZooError

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


def _features_key(full_key: str, wanted: Mapping[str, Any]) -> str | None:
    """The ``features_only`` name of a full-model key: the same name, or the first two
    components joined with '_' (how timm's FeatureListNet flattens a Sequential)."""
    if full_key in wanted:
        return full_key
    parts = full_key.split(".")
    if len(parts) > 2:
        flat = "_".join(parts[:2]) + "." + ".".join(parts[2:])
        if flat in wanted:
            return flat
    return None


def copy_into_features(full_state: Mapping[str, Tensor], features: nn.Module,
                       source: str) -> int:
    """Load a full backbone's tensors into its ``features_only`` module, strictly for
    the features module (every one of its tensors must be found); the rest (the
    classifier, a final norm) is left out. Returns the number of tensors copied."""
    own = features.state_dict()
    state: dict[str, Tensor] = {}
    for key, value in full_state.items():
        target = _features_key(key, own)
        if target is not None:
            state[target] = value
    missing = sorted(set(own) - set(state))
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if missing or wrong:
        raise WeightsError(
            f"The weights from {source} do not fit the encoder: "
            + (f"{len(missing)} tensor(s) not found ({', '.join(missing[:5])})" if missing
               else "")
            + ("; " if missing and wrong else "")
            + (f"{len(wrong)} of another shape ({', '.join(wrong[:5])})" if wrong else "")
            + ". Pick weights made for this backbone, e.g. from `zoo info <encoder>`."
        )
    features.load_state_dict(state, strict=True)
    return len(state)


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
    from zoo_core.plugins import registry
    from zoo_core.weights import create_model

    component = registry().get("backbone", name).component
    build = dict(cfg)
    build["in_chans"] = in_chans
    if depth is not None:
        if depth < 1:
            raise ZooError(f"encoder_depth must be at least 1, got {depth}.")
        build["out_indices"] = tuple(range(depth))
    try:
        features = component.create(features_only=True, **build)
    except (TypeError, RuntimeError, ValueError, AssertionError) as exc:
        raise ZooError(
            f"Backbone {name!r} cannot be built as a features_only encoder "
            f"({type(exc).__name__}: {exc}). Pick a backbone with timm's features_only "
            "interface (a CNN such as resnet34 or efficientnet_b0)."
        ) from None
    channels, reductions = stage_info(features)
    data_config: dict[str, Any] = {}
    lock: list[dict[str, Any]] = []
    message = "random init"
    if wants_weights(weights):
        full_cfg = {k: v for k, v in build.items() if k != "out_indices"}
        loaded = create_model("backbone", name, weights=weights, num_classes=0, **full_cfg)
        source = loaded.lock[-1]["uri"] if loaded.lock else str(weights)
        n = copy_into_features(loaded.model.state_dict(), features, source)
        data_config, lock = dict(loaded.data_config), list(loaded.lock)
        message = f"{n} encoder tensors from {source}"
    else:
        pretrained = getattr(features, "pretrained_cfg", None) or {}
        data_config = {k: pretrained[k] for k in ("mean", "std", "interpolation")
                       if k in pretrained}
    mean = data_config.get("mean", (0.485, 0.456, 0.406))
    std = data_config.get("std", (0.229, 0.224, 0.225))
    data_config["mean"] = channel_stats(mean, in_chans)
    data_config["std"] = channel_stats(std, in_chans)
    return EncoderBuild(features, channels, reductions, data_config, lock, message)


def example_batch(in_chans: int, size: Sequence[int], batch_size: int) -> Tensor:
    """A random input batch for ``zoo bench``."""
    h, w = int(size[-2]), int(size[-1])
    return torch.randn(batch_size, in_chans, h, w)
