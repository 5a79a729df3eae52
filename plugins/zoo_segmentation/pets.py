"""Oxford-IIIT Pet trimaps (Parkhi et al., 2012) as a segmentation data set.

torchvision's ``OxfordIIITPet`` finds (and, online, downloads) the images and
trimaps; samples are read straight from its file lists. Trimap pixel values:
1 = pet, 2 = background, 3 = the uncertain border, mapped by the recipe's
``task.values`` (``recipes/pets_unet.toml``). Published splits: ``trainval``
(our ``train``) and ``test``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_core.data.downloads import dataset_root, fetch_dataset
from zoo_core.data.sources import DatasetSplits, Source
from zoo_core.errors import DataError

HELP = "oxford-iiit-pet/ with images/ and annotations/ (trimaps/, trainval.txt, test.txt)"


class PetTrimaps(Source):
    """Images and trimaps by path (unlabelled for splits)."""

    def __init__(self, images: Sequence[Path], masks: Sequence[Path], name: str):
        self.images, self.masks = [Path(p) for p in images], [Path(p) for p in masks]
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def image_size(self, index: int) -> tuple[int, int]:
        """(width, height) of image ``index`` from its header."""
        from PIL import Image

        with Image.open(self.images[index]) as im:
            return im.size

    def describe(self, index: int) -> str:
        return f"{self.images[index]} (mask {self.masks[index]})"

    def sample(self, index: int) -> dict[str, Any]:
        import numpy as np
        import torch
        from PIL import Image
        from torchvision import tv_tensors

        from zoo_segmentation.labels import read_raw_mask

        with Image.open(self.images[index]) as im:
            image = np.array(im.convert("RGB"))
        raw = read_raw_mask(self.masks[index])
        if raw.shape[:2] != image.shape[:2]:
            raise DataError(f"Mask {self.masks[index]} is {raw.shape[1]}x{raw.shape[0]} but its "
                            f"image is {image.shape[1]}x{image.shape[0]}.")
        chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return {"image": tv_tensors.Image(chw), "mask": raw, "name": self.images[index].stem,
                "mask_file": str(self.masks[index])}


def oxford_pets_seg(root: str | None = None, download: bool = True) -> DatasetSplits:
    """Oxford-IIIT Pet with trimaps: ``train`` (trainval, 3,680 images), ``test`` (3,669)."""
    from torchvision.datasets import OxfordIIITPet

    # the classification data set oxford_pets's folder: one download serves both
    folder = Path(root).expanduser() if root else dataset_root("oxford_pets")
    splits: dict[str, Source] = {}
    for split, key in (("train", "trainval"), ("test", "test")):
        def make(r: str, d: bool, key: str = key) -> Any:
            return OxfordIIITPet(r, split=key, target_types="segmentation", download=d)

        ds = fetch_dataset("oxford_pets_seg", folder, download, make, layout=HELP,
                           source="torchvision's datasets.OxfordIIITPet",
                           own_data="To segment your own images, use dataset = \"segfolder\".")
        splits[split] = PetTrimaps(ds._images, ds._segs, f"oxford_pets_seg/{split}")
    return DatasetSplits([], splits, "oxford_pets_seg")
