"""Image/mask folders: ``root/image/N.png`` with ``root/label/N.png``.

Masks are found by file name: an image ``x.jpg`` in the image folder pairs
with the mask in the mask folder whose name without extension is ``x`` plus
``mask_suffix`` (``x.png``, or ``x_mask.gif`` with ``mask_suffix="_mask"``).
A value map turns mask pixel values into classes, in the order given:
``{0: "membrane", 255: "cell"}`` makes 0 class 0 and 255 class 1. Keys are
grey levels (ints, or their strings as TOML writes them) or colours
(``"#ff0000"`` or ``"255,0,0"``) for RGB masks; a value mapped to
``"ignore"`` becomes ``ignore_index``.

Samples are dicts ``{"image": tv_tensors.Image (uint8, C x H x W),
"mask": tv_tensors.Mask (int64, H x W), "name": file stem}``, ready for joint
transforms. With ``raw_masks=True`` (what the registered data set ``segfolder``
reads, the task mapping the values itself with its recipe's value map) the
mask is the file's values as stored, a NumPy array.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from zoo_core.data.sources import DatasetSplits, Source
from zoo_core.errors import DataError
from zoo_segmentation.labels import LabelSpec, read_raw_mask

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm")
class SegmentationFolder(Source):
    """Pairs of images and masks from two folders (a data Source, unlabelled for splits).

    ``root/images`` and ``root/masks`` (``"image"`` and ``"label"`` by default);
    ``channels`` 1 reads images as grey, 3 as RGB, None keeps what the first
    image has (grey stays grey). ``mask_suffix`` may list several suffixes to
    try in order.
    """

    def __init__(self, root: str | Path, images: str = "image", masks: str = "label",
                 value_map: Mapping[Any, str] | None = None,
                 mask_suffix: str | tuple[str, ...] = "", channels: int | None = None,
                 ignore_index: int = 255, raw_masks: bool = False):
        self.root = Path(root).expanduser()
        self.image_dir, self.mask_dir = self.root / images, self.root / masks
        for folder, what in ((self.image_dir, "image"), (self.mask_dir, "mask")):
            if not folder.is_dir():
                raise DataError(f"The {what} folder {folder} does not exist. A segmentation "
                                f"folder holds {images}/<name>.png and {masks}/<name>.png.")
        # the task's value-map rules, without its binary/multiclass distinction
        self.label_spec = LabelSpec.from_options("multiclass", None, value_map, ignore_index) \
            if value_map else None
        self.ignore_index = ignore_index
        self.raw_masks = raw_masks
        suffixes = (mask_suffix,) if isinstance(mask_suffix, str) else tuple(mask_suffix)
        masks_by_stem: dict[str, Path] = {}
        for p in sorted(self.mask_dir.iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                masks_by_stem.setdefault(p.stem, p)
        pairs: list[tuple[Path, Path]] = []
        lonely: list[str] = []
        for p in sorted(self.image_dir.iterdir(), key=_natural):
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            mask = next((masks_by_stem[p.stem + sfx] for sfx in suffixes
                         if p.stem + sfx in masks_by_stem), None)
            if mask is None:
                lonely.append(p.name)
            else:
                pairs.append((p, mask))
        if lonely:
            shown = ", ".join(lonely[:5]) + (f" and {len(lonely) - 5} more" if len(lonely) > 5
                                             else "")
            raise DataError(
                f"{len(lonely)} image(s) in {self.image_dir} have no mask in {self.mask_dir} "
                f"named <image name>{'|'.join(suffixes) if len(suffixes) > 1 else suffixes[0]}"
                f".<ext>: {shown}."
            )
        if not pairs:
            raise DataError(f"No images found in {self.image_dir} "
                            f"(extensions {', '.join(IMAGE_EXTENSIONS)}).")
        self.pairs = pairs
        if channels is None:
            with Image.open(pairs[0][0]) as im:
                channels = 1 if im.mode in ("L", "I", "I;16", "1", "LA") else 3
        if channels not in (1, 3):
            raise DataError(f"channels must be 1 or 3, got {channels}.")
        self.channels = channels

    @property
    def class_names(self) -> list[str]:
        """Class names from the value map (indices as names without one)."""
        return list(self.label_spec.class_names) if self.label_spec else []

    def __len__(self) -> int:
        return len(self.pairs)

    def describe(self, i: int) -> str:
        image, mask = self.pairs[i]
        return f"{image} (mask {mask})"

    def name(self, i: int) -> str:
        return self.pairs[i][0].stem

    def image_size(self, i: int) -> tuple[int, int]:
        """(width, height) of image ``i`` from its header (nothing decoded)."""
        with Image.open(self.pairs[i][0]) as im:
            return im.size

    def sample(self, i: int) -> dict[str, Any]:
        from torchvision import tv_tensors

        image_path, mask_path = self.pairs[i]
        try:
            with Image.open(image_path) as im:
                image = np.array(im.convert("L" if self.channels == 1 else "RGB"))
            raw = read_raw_mask(mask_path)
        except OSError as exc:
            raise DataError(f"Cannot read {self.describe(i)}: {exc}.") from None
        if image.shape[:2] != raw.shape[:2]:
            raise DataError(
                f"Mask {mask_path} is {raw.shape[1]}x{raw.shape[0]} but its image "
                f"{image_path} is {image.shape[1]}x{image.shape[0]}; a mask must have its "
                "image's size."
            )
        chw = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
        tensor = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(chw)))
        if self.raw_masks:
            return {"image": tensor, "mask": raw, "name": image_path.stem,
                    "mask_file": str(mask_path)}
        if self.label_spec is None:
            if raw.ndim == 3:
                raise DataError(f"Mask {mask_path} is a colour image; without a value map a "
                                "mask holds class indices. Map its colours with a value map.")
            mask = raw.astype(np.int64)
        else:
            mask = self.label_spec.map_raw(raw, str(mask_path))
        return {"image": tensor, "mask": tv_tensors.Mask(torch.from_numpy(mask)),
                "name": image_path.stem}


def _natural(p: Path) -> tuple[Any, ...]:
    """2.png before 10.png."""
    stem = p.stem
    return (0, int(stem), p.name) if stem.isdigit() else (1, 0, p.name)


#: folder names the ``segfolder`` data set looks for, in order
IMAGE_DIRS = ("image", "images", "img", "imgs")
MASK_DIRS = ("label", "labels", "mask", "masks", "annotations", "gt")
#: how a mask's name may extend its image's (``x.png`` with ``x_mask.png``)
MASK_SUFFIXES = ("", "_mask", "_label", "_gt", "_seg", "_segmentation")


def _pair_folders(root: Path) -> tuple[str, str] | None:
    images = next((d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    masks = next((d for d in MASK_DIRS if (root / d).is_dir()), None)
    return (images, masks) if images and masks else None


def segfolder(root: str | None = None, download: bool = True) -> DatasetSplits:
    """The registered ``segfolder`` data set: ``root/image/`` + ``root/label/`` (or
    ``images``/``masks``...), masks matched by file name; or ``root/train/``,
    ``root/val/``, ``root/test/`` each laid out so (published splits). Masks are
    read raw: the task maps their values with the recipe's ``task.values``."""
    if not root:
        raise DataError("Data set 'segfolder' needs data.root: a folder with image/ and "
                        "label/ (masks named like their images).")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"data.root {base} is not a folder.")
    layouts = {split: base / split for split in ("train", "val", "test")
               if (base / split).is_dir() and _pair_folders(base / split)}
    if _pair_folders(base) is not None:
        layouts = {"train": base}
    elif "train" not in layouts:
        raise DataError(
            f"{base} holds no image/mask folder pair: segfolder reads {base}/image/ with "
            f"{base}/label/ (or one of {', '.join(IMAGE_DIRS)} with one of "
            f"{', '.join(MASK_DIRS)}), or train/, val/, test/ folders laid out so.")
    splits: dict[str, Source] = {}
    for split, folder in layouts.items():
        pair = _pair_folders(folder)
        assert pair is not None
        splits[split] = SegmentationFolder(folder, pair[0], pair[1], mask_suffix=MASK_SUFFIXES,
                                           raw_masks=True)
    return DatasetSplits([], splits, base.name or "segfolder")
