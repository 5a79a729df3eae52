"""The per-split sample transform of the segmentation task.

A source's sample (``{"image": uint8 image, "mask": raw mask values, "name"}``)
becomes what the model and loss take: the image with the model's channel count,
the mask mapped to classes by the recipe (:class:`~zoo_segmentation.labels.LabelSpec`),
both resized together when ``data.image_size`` is set, then the joint
augmentation of training crops (:func:`~zoo_segmentation.transforms.train_transforms`)
or the plain evaluation transform, and multilabel masks expanded to planes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zoo_segmentation.labels import LabelSpec


def as_image(image: Any, channels: int) -> Any:
    """A uint8 ``tv_tensors.Image`` (C, H, W) with ``channels`` channels (1 or 3) from a
    PIL image or a uint8 tensor."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as F

    if not isinstance(image, torch.Tensor):
        image = F.to_image(image.convert("L" if channels == 1 else "RGB"))
    image = tv_tensors.Image(image)
    c = int(image.shape[0])
    if c == channels:
        return image
    if c == 4:
        image = tv_tensors.Image(image[:3])
        c = 3
    if channels == 1 and c == 3:
        return tv_tensors.Image(F.rgb_to_grayscale(image))
    if channels == 3 and c == 1:
        return tv_tensors.Image(image.expand(3, -1, -1).clone())
    raise ValueError(f"cannot turn a {c}-channel image into {channels} channels")


def raw_values(mask: Any) -> np.ndarray:
    """A mask's values as a NumPy array (H, W) or (H, W, 3)."""
    if isinstance(mask, np.ndarray):
        return mask
    if isinstance(mask, torch.Tensor):
        arr = mask.detach().cpu().numpy()
        return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr
    from zoo_segmentation.labels import read_raw_mask

    if hasattr(mask, "mode"):  # a PIL image: read its stored values as a file would be
        import io

        buf = io.BytesIO()
        mask.save(buf, format="PNG")
        buf.seek(0)
        return read_raw_mask(buf)
    return np.asarray(mask)


@dataclass
class SampleTransform:
    """Callable on a sample dict; see the module docstring."""

    labels: LabelSpec
    channels: int
    geometry: Callable[[dict[str, Any]], dict[str, Any]]
    resize: Sequence[int] | None = None
    keep_name: bool = True

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        from torchvision import tv_tensors
        from torchvision.transforms import v2

        where = str(sample.get("mask_file") or sample.get("name") or "(a sample)")
        image = as_image(sample["image"], self.channels)
        mask = self.labels.map_raw(raw_values(sample["mask"]), where)
        pair = {"image": image, "mask": tv_tensors.Mask(torch.from_numpy(mask))}
        if self.resize is not None:
            pair = v2.Resize(list(self.resize), antialias=True)(pair)
        out = self.geometry(pair)
        out["mask"] = self.labels.expand(out["mask"])
        if self.keep_name and "name" in sample:
            out["name"] = str(sample["name"])
        return out


def build_transform(labels: LabelSpec, channels: int, *, train: bool,
                    crop_size: int | Sequence[int] | None, augment: Any,
                    mean: Sequence[float], std: Sequence[float],
                    resize: int | None = None) -> SampleTransform:
    """The training (random crop + joint augmentation) or evaluation transform."""
    from zoo_segmentation.transforms import eval_transforms, train_transforms

    if train:
        geometry = train_transforms(
            crop_size, hflip=augment.hflip, vflip=augment.vflip, rotate=augment.rotate,
            elastic={"alpha": augment.elastic_alpha, "sigma": augment.elastic_sigma}
            if augment.elastic else False, elastic_p=augment.elastic_p,
            scale=augment.scale, mean=mean, std=std, fill=0.0, mask_fill=labels.ignore_index)
    else:
        geometry = eval_transforms(mean=mean, std=std)
    size = None if resize is None else (int(resize), int(resize))
    return SampleTransform(labels, channels, geometry, size, keep_name=not train)


def is_random(crop_size: Any, augment: Any) -> bool:
    """Whether the training transform draws random numbers (then the core seeds it per
    sample and epoch)."""
    return bool(crop_size or augment.hflip or augment.vflip or augment.rotate
                or augment.elastic or augment.scale)
