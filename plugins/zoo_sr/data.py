"""SR data: a folder of high-resolution images, low-resolution made on the fly.

The low-resolution image is what every SR benchmark uses: MATLAB bicubic
downscaling (``zoo_sr.resize``) of the HR image, stored with 8 bits (so
rounded to 1/255 levels; ``quantize_lr=False`` keeps the float values).

* :class:`HRFolderSource`: any folder of images, searched recursively;
  ``sample(i) -> {"hr": PIL image}``, grayscale/palette/RGBA converted to RGB.
* :class:`PairedTrainTransform`: a random GT crop (96 or 128 px, say) and the
  LR patch aligned with it (``gt_size / scale``), then the same random flips
  and 90-degree rotation on both (BasicSR's ``paired_random_crop`` and
  ``augment``). The LR patch equals the crop of the whole image's LR.
* :class:`PairedEvalTransform`: the full image, cropped to a multiple of the
  scale (BasicSR's ``GTmod``), and its LR.

Samples are ``{"lr": (C, h, w), "hr": (C, h*scale, w*scale)}`` float tensors
in [0, 1]. Randomness comes from torch's global RNG (the engine seeds it per
sample and epoch). The transforms take and return the whole sample dict, so
they compose with ``torchvision.transforms.v2.Compose``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from zoo_core.errors import DataError, ZooError
from zoo_sr.resize import imresize

__all__ = ["IMAGE_EXTENSIONS", "HRFolderSource", "PairedTrainTransform", "PairedEvalTransform",
           "SRPairDataset", "to_tensor", "modcrop", "make_lr", "quantize", "dihedral"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                              ".pgm"})
# LR pixels around a patch that its bicubic support can reach (2 LR pixels) plus one
_MARGIN = 3


class HRFolderSource:
    """Every image under ``root`` (recursively, sorted by path) as ``{"hr": PIL image}``."""

    def __init__(self, root: str | os.PathLike[str], mode: str = "RGB",
                 files: Sequence[str | os.PathLike[str]] | None = None):
        self.root = Path(root).expanduser()
        if mode not in ("RGB", "L"):
            raise ZooError(f"SR images are read as 'RGB' or 'L' (grayscale), not {mode!r}.")
        self.mode = mode
        if files is not None:
            self.files = [Path(f) for f in files]
            return
        if not self.root.is_dir():
            raise DataError(
                f"The SR image folder {self.root} does not exist. Point data.root at a folder "
                "of high-resolution images (any layout; subfolders are searched)."
            )
        self.files = sorted(
            p for p in self.root.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )
        if not self.files:
            raise DataError(
                f"The SR image folder {self.root} holds no images "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}). Point data.root at a folder of "
                "high-resolution images."
            )

    def __len__(self) -> int:
        return len(self.files)

    def describe(self, index: int) -> str:
        return str(self.files[index])

    def sample(self, index: int) -> dict[str, Any]:
        from PIL import Image, UnidentifiedImageError

        path = self.files[index]
        try:
            with Image.open(path) as img:
                img.load()
                return {"hr": img.convert(self.mode) if img.mode != self.mode else img.copy()}
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise DataError(f"Cannot read the image {path}: {exc}. Remove or replace the "
                            "file.") from None


def to_tensor(img: Any) -> Tensor:
    """A PIL image (or uint8/float tensor) -> float32 (C, H, W) in [0, 1]."""
    from torchvision.transforms.v2 import functional as F

    if isinstance(img, Tensor):
        return img.float() / 255.0 if img.dtype == torch.uint8 else img.float()
    return F.to_dtype(F.pil_to_tensor(img), torch.float32, scale=True)


def modcrop(img: Tensor, scale: int) -> Tensor:
    """Crop the bottom/right so that height and width are multiples of ``scale``."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def quantize(img: Tensor) -> Tensor:
    """Round [0, 1] values to 8-bit levels, as writing an image file does."""
    return torch.round(img.clamp(0.0, 1.0) * 255.0) / 255.0


def make_lr(hr: Tensor, scale: int, quantize_lr: bool = True) -> Tensor:
    """MATLAB bicubic downscaling by ``scale`` (HR sides must be multiples of it)."""
    lr = imresize(hr, 1.0 / scale)
    return quantize(lr) if quantize_lr else lr


def dihedral(*imgs: Tensor) -> tuple[Tensor, ...]:
    """The same random horizontal flip, vertical flip and transposition (so any of
    the 8 flips/90-degree rotations) on every image."""
    hflip, vflip, transpose = (torch.rand(3) < 0.5).tolist()
    out = []
    for img in imgs:
        if hflip:
            img = img.flip(-1)
        if vflip:
            img = img.flip(-2)
        if transpose:
            img = img.transpose(-2, -1)
        out.append(img.contiguous())
    return tuple(out)


def _lr_patch(hr: Tensor, scale: int, top: int, left: int, size: int,
              quantize_lr: bool) -> Tensor:
    """The ``size`` x ``size`` LR patch at (top, left) of the whole image's LR, computed
    from an HR window only a few LR pixels larger than the patch."""
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    t0, l0 = max(0, top - _MARGIN), max(0, left - _MARGIN)
    t1, l1 = min(h, top + size + _MARGIN), min(w, left + size + _MARGIN)
    window = hr[..., t0 * scale: t1 * scale, l0 * scale: l1 * scale]
    lr = imresize(window, 1.0 / scale)[..., top - t0: top - t0 + size,
                                       left - l0: left - l0 + size]
    return quantize(lr) if quantize_lr else lr


class PairedTrainTransform:
    """Random aligned (LR, HR) patches with dihedral augmentation, from ``{"hr": image}``."""

    def __init__(self, scale: int, gt_size: int = 128, augment: bool = True,
                 quantize_lr: bool = True):
        if int(scale) != scale or scale < 1:
            raise ZooError(f"The SR scale is a whole number (2, 3, 4), not {scale!r}.")
        if gt_size % scale:
            raise ZooError(
                f"The HR crop size {gt_size} is not a multiple of the scale {scale}, so the LR "
                f"crop ({gt_size}/{scale}) would not align with it. Pick a crop size divisible "
                f"by {scale} (e.g. {gt_size - gt_size % scale} or "
                f"{gt_size - gt_size % scale + scale})."
            )
        self.scale, self.gt_size = int(scale), int(gt_size)
        self.augment, self.quantize_lr = bool(augment), bool(quantize_lr)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        hr = modcrop(to_tensor(sample["hr"]), self.scale)
        s, lr_size = self.scale, self.gt_size // self.scale
        h, w = hr.shape[-2] // s, hr.shape[-1] // s
        if h < lr_size or w < lr_size:
            raise DataError(
                f"An SR training image of {hr.shape[-1]}x{hr.shape[-2]} px is smaller than the "
                f"{self.gt_size} px crop. Lower the crop size or remove images that small."
            )
        top = int(torch.randint(0, h - lr_size + 1, ()).item())
        left = int(torch.randint(0, w - lr_size + 1, ()).item())
        lr = _lr_patch(hr, s, top, left, lr_size, self.quantize_lr)
        hr = hr[..., top * s: (top + lr_size) * s, left * s: (left + lr_size) * s]
        if self.augment:
            lr, hr = dihedral(lr, hr)
        out = {k: v for k, v in sample.items() if k != "hr"}
        out.update(lr=lr, hr=hr.contiguous())
        return out


class PairedEvalTransform:
    """The whole image, cropped to a multiple of ``scale``, and its LR."""

    def __init__(self, scale: int, quantize_lr: bool = True):
        if int(scale) != scale or scale < 1:
            raise ZooError(f"The SR scale is a whole number (2, 3, 4), not {scale!r}.")
        self.scale, self.quantize_lr = int(scale), bool(quantize_lr)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        hr = modcrop(to_tensor(sample["hr"]), self.scale)
        if min(hr.shape[-2:]) < self.scale:
            raise DataError(f"An SR image of {hr.shape[-1]}x{hr.shape[-2]} px is smaller than "
                            f"the scale {self.scale}.")
        out = {k: v for k, v in sample.items() if k != "hr"}
        out.update(lr=make_lr(hr, self.scale, self.quantize_lr), hr=hr.contiguous())
        return out


class SRPairDataset(torch.utils.data.Dataset):
    """``transform(source.sample(i))``: the plain dataset for scripts and tests (the
    engine wraps sources its own way, with per-sample seeding)."""

    def __init__(self, source: HRFolderSource, transform: Any):
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return self.transform(self.source.sample(index))
        except DataError as exc:
            raise DataError(f"{self.source.describe(index)}: {exc}") from None
