"""Transforms built from a backbone's data config, as timm's
``resolve_data_config`` + ``create_transform`` do, with torchvision's
``transforms.v2``.

Evaluation: resize the short side to ``size / crop_pct``, center-crop
``size``, to tensor, normalize. Training adds the augmentation switched on
in ``[data.augment]`` (random resized crop, horizontal flip, rotation, color
jitter, Gaussian noise and blur). With none on, the training transform
equals the evaluation one: deterministic, so the features of a frozen
backbone can be cached.

Every pipeline here is a ``v2.Compose`` and takes a whole sample dict:
geometric steps move ``tv_tensors.Mask`` / bounding boxes together with the
image (nearest-neighbour for masks), photometric steps and the
normalisation touch images only, and plain values (a label) pass through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T

from zoo_core.nn.modules import data_config as _model_data_config

_INTERPOLATION = {
    "nearest": InterpolationMode.NEAREST,
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "lanczos": InterpolationMode.LANCZOS,
    "box": InterpolationMode.BOX,
    "hamming": InterpolationMode.HAMMING,
}

_AUGMENT_DEFAULTS: dict[str, Any] = {
    "random_resized_crop": None, "hflip": 0.0, "rotation": 0.0,
    "color_jitter": 0.0, "noise": 0.0, "blur": 0.0,
}


def _aug(augment: Any, key: str) -> Any:
    if augment is None:
        return _AUGMENT_DEFAULTS[key]
    if isinstance(augment, Mapping):
        return augment.get(key, _AUGMENT_DEFAULTS[key])
    return getattr(augment, key, _AUGMENT_DEFAULTS[key])


def resolve_data_config(config: Mapping[str, Any] | None = None, *, image_size: int | None = None,
                        in_chans: int | None = None) -> dict[str, Any]:
    """A complete data config: ``config`` over ImageNet defaults, then the recipe's
    ``image_size`` / ``in_chans``; mean/std follow the channel count."""
    cfg = _model_data_config(None, **dict(config or {}))
    chans, height, width = cfg["input_size"]
    if in_chans is not None and in_chans != chans:
        chans = in_chans
    if image_size is not None:
        height = width = image_size
    cfg["input_size"] = (int(chans), int(height), int(width))
    for key in ("mean", "std"):
        values = tuple(cfg[key])
        if len(values) != chans:
            # a 3-channel statistic for a 1-channel input (or the reverse): average it
            avg = sum(values) / len(values)
            values = (avg,) * chans
        cfg[key] = values
    return cfg


def image_mode(cfg: Mapping[str, Any]) -> str:
    """The PIL mode images are converted to before any transform."""
    return "L" if cfg["input_size"][0] == 1 else "RGB"


GREY_MODES = ("L", "1", "I", "F", "I;16")


def image_channels(image: Any) -> int:
    """1 for a grey PIL image (any bit depth), else 3: the channels a task builds its
    networks for when the data decides."""
    return 1 if getattr(image, "mode", "RGB") in GREY_MODES else 3


def is_deterministic(augment: Any) -> bool:
    """True when no random augmentation is switched on."""
    rrc = _aug(augment, "random_resized_crop")
    return not (rrc or any(_aug(augment, k) for k in
                           ("hflip", "rotation", "color_jitter", "noise", "blur")))


def _interp(cfg: Mapping[str, Any]) -> InterpolationMode:
    return _INTERPOLATION.get(str(cfg.get("interpolation", "bilinear")).lower(),
                              InterpolationMode.BILINEAR)


def _resize_crop(cfg: Mapping[str, Any]) -> list[Any]:
    _, height, width = cfg["input_size"]
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    if height == width:
        scale: int | tuple[int, int] = math.floor(height / crop_pct)
    else:
        scale = (math.floor(height / crop_pct), math.floor(width / crop_pct))
    return [T.Resize(scale, interpolation=_interp(cfg)), T.CenterCrop((height, width))]


def _normalize(cfg: Mapping[str, Any]) -> Any:
    return T.Normalize(mean=list(cfg["mean"]), std=list(cfg["std"]))


class GaussianNoise(T.Transform):
    """Adds N(0, std^2) noise to a [0, 1] float image (never a mask) and clips it back."""

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        noisy = (inpt + torch.randn_like(inpt) * self.std).clamp_(0.0, 1.0)
        return tv_tensors.wrap(noisy, like=inpt)

    def extra_repr(self) -> str:
        return f"std={self.std}"


def to_float_image() -> list[Any]:
    """PIL or uint8 image -> float tensor in [0, 1] (what ``ToTensor`` did in v1)."""
    return [T.ToImage(), T.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True)]


def eval_transform(cfg: Mapping[str, Any]) -> Any:
    """Deterministic: resize, center crop, tensor, normalize."""
    return T.Compose([*_resize_crop(cfg), *to_float_image(), _normalize(cfg)])


def train_transform(cfg: Mapping[str, Any], augment: Any = None) -> Any:
    """The evaluation transform plus the augmentation switched on in ``augment``."""
    if is_deterministic(augment):
        return eval_transform(cfg)
    chans, height, width = cfg["input_size"]
    steps: list[Any] = []
    rrc = _aug(augment, "random_resized_crop")
    if rrc:
        params = rrc if isinstance(rrc, Mapping) else (
            rrc.model_dump() if hasattr(rrc, "model_dump") else {})
        scale = tuple(params.get("scale", (0.08, 1.0)))
        ratio = tuple(params.get("ratio", (3 / 4, 4 / 3)))
        steps.append(T.RandomResizedCrop((height, width), scale=scale, ratio=ratio,
                                         interpolation=_interp(cfg)))
    else:
        steps.extend(_resize_crop(cfg))
    if _aug(augment, "hflip"):
        steps.append(T.RandomHorizontalFlip(float(_aug(augment, "hflip"))))
    if _aug(augment, "rotation"):
        steps.append(T.RandomRotation(float(_aug(augment, "rotation")),
                                      interpolation=InterpolationMode.BILINEAR))
    jitter = float(_aug(augment, "color_jitter"))
    if jitter:
        if chans == 3:
            steps.append(T.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter,
                                       hue=min(jitter / 4, 0.5)))
        else:
            steps.append(T.ColorJitter(brightness=jitter, contrast=jitter))
    blur = float(_aug(augment, "blur"))
    if blur:
        kernel = 2 * math.ceil(3 * blur) + 1
        steps.append(T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, blur))], p=0.5))
    steps.extend(to_float_image())
    noise = float(_aug(augment, "noise"))
    if noise:
        steps.append(GaussianNoise(noise))
    steps.append(_normalize(cfg))
    return T.Compose(steps)


def for_sample(transform: Any, mode: str) -> Any:
    """A sample-dict transform: convert ``sample["image"]`` to PIL ``mode`` first,
    then run ``transform`` (a v2 pipeline) on the whole dict."""

    def apply(sample: dict[str, Any]) -> dict[str, Any]:
        img = sample["image"]
        if getattr(img, "mode", mode) != mode:
            sample = {**sample, "image": img.convert(mode)}
        out = transform(sample)
        # tv_tensors stay tv_tensors through collate's torch.stack; plain tensors are simpler
        return {k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v
                for k, v in out.items()}

    return apply
