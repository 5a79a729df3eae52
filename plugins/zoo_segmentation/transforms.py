"""Joint image/mask transforms with torchvision ``transforms.v2``.

The sample dict holds a ``tv_tensors.Image`` and a ``tv_tensors.Mask``; v2
applies the same random geometry to both and interpolates the mask with
nearest neighbours (never blending class indices). Pixels brought in from
outside the image (rotation, elastic borders, padding) get ``fill`` in the
image and ``mask_fill`` in the mask - ``ignore_index`` keeps them out of the
loss. Randomness comes from torch's global RNG, which the core seeds per
(seed, epoch, index).

The elastic deformation is torchvision's ``ElasticTransform`` (Simard et al.,
2003: a per-pixel random displacement field smoothed by a Gaussian of
``sigma`` and scaled by ``alpha``). The U-Net paper drew displacements on a
coarse 3x3 grid (10 pixel standard deviation) and interpolated them
bicubically; both give smooth, local warps of the kind that paper relied on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def _size(size: int | Sequence[int]) -> list[int]:
    return [int(size), int(size)] if isinstance(size, int) else [int(s) for s in size]


def _fill(image: float, mask: int) -> dict[Any, Any]:
    from torchvision import tv_tensors

    return {tv_tensors.Image: image, tv_tensors.Mask: mask}


def _finish(mean: Sequence[float] | None, std: Sequence[float] | None) -> list[Any]:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    steps: list[Any] = [v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64,
                                    "others": None}, scale=True)]
    if mean is not None and std is not None:
        steps.append(v2.Normalize(mean=list(mean), std=list(std)))
    steps.append(v2.ToPureTensor())
    return steps


def train_transforms(crop_size: int | Sequence[int] | None = None, *, hflip: bool = True,
                     vflip: bool = False, rotate: float = 0.0,
                     elastic: bool | dict[str, float] = False, elastic_p: float = 0.5,
                     scale: Sequence[float] | None = None,
                     mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                     fill: float = 0.0, mask_fill: int = 0) -> Any:
    """Augmentation for training, applied jointly to ``{"image", "mask"}``.

    ``crop_size``: random crop (padded with ``fill``/``mask_fill`` when the image is
    smaller); ``scale``: random resized crop with this area range instead;
    ``rotate``: random rotation within +-degrees; ``elastic``: True or
    ``{"alpha": 50, "sigma": 5}``, applied with probability ``elastic_p``.
    """
    from torchvision.transforms import v2

    fills = _fill(fill, mask_fill)
    steps: list[Any] = []
    if scale is not None:
        if crop_size is None:
            raise ValueError("scale needs crop_size (the output size of the resized crop)")
        steps.append(v2.RandomResizedCrop(_size(crop_size), scale=tuple(scale), antialias=True))
    elif crop_size is not None:
        steps.append(v2.RandomCrop(_size(crop_size), pad_if_needed=True, fill=fills))
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if vflip:
        steps.append(v2.RandomVerticalFlip())
    if rotate:
        steps.append(v2.RandomRotation(float(rotate), fill=fills))
    if elastic:
        opts = {"alpha": 50.0, "sigma": 5.0, **(elastic if isinstance(elastic, dict) else {})}
        steps.append(v2.RandomApply([v2.ElasticTransform(alpha=float(opts["alpha"]),
                                                         sigma=float(opts["sigma"]),
                                                         fill=fills)], p=elastic_p))
    return v2.Compose(steps + _finish(mean, std))


def eval_transforms(*, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                    center_crop: int | Sequence[int] | None = None) -> Any:
    """No randomness: (optionally) a centre crop, then dtype and normalisation."""
    from torchvision.transforms import v2

    steps: list[Any] = []
    if center_crop is not None:
        steps.append(v2.CenterCrop(_size(center_crop)))
    return v2.Compose(steps + _finish(mean, std))
