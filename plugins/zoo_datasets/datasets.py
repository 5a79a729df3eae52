"""Data sets: image folders (with or without classes), scikit-learn digits, and
torchvision's Flowers102, CIFAR-10 and Oxford-IIIT Pet (downloaded when online).

Each factory takes ``root`` and ``download`` and returns
:class:`~zoo_core.data.sources.DatasetSplits`; the core applies the recipe's
class filter, validation/test fractions and few-shot subsets afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core.data.downloads import dataset_root, fetch_dataset
from zoo_core.data.sources import ArraySource, DatasetSplits, IndexedSource, Source
from zoo_core.errors import DataError

# where a downloadable data set lives without data.root
default_root = dataset_root


def imagefolder(root: str | None = None, download: bool = True) -> DatasetSplits:
    from zoo_core.data.imagefolder import scan_image_folder

    if not root:
        raise DataError("Data set 'imagefolder' needs data.root: the folder that holds one "
                        "sub-folder of images per class (or train/, val/, test/ folders of them).")
    return scan_image_folder(root)


def images(root: str | None = None, download: bool = True) -> DatasetSplits:
    from zoo_core.data.imagefolder import scan_images

    if not root:
        raise DataError("Data set 'images' needs data.root: a folder of images.")
    return scan_images(root)


def digits(root: str | None = None, download: bool = True) -> DatasetSplits:
    """scikit-learn's 1,797 handwritten 8x8 digits (shipped with scikit-learn)."""
    import numpy as np
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # pixel values are 0..16; spread them over 0..255 for an 8-bit grayscale image
    images = np.clip(bunch.images * 16.0, 0, 255).astype(np.uint8)
    classes = [str(int(c)) for c in bunch.target_names]
    return DatasetSplits(classes, {"train": ArraySource(images, bunch.target, classes, "digits")},
                         "digits")


_OFFLINE_HELP = {
    "flowers102": "flowers-102/ with jpg/, imagelabels.mat and setid.mat",
    "cifar10": "cifar-10-batches-py/ (the python version of CIFAR-10)",
    "oxford_pets": "oxford-iiit-pet/ with images/ and annotations/",
}


def _torchvision(name: str, root: str | None, download: bool,
                 make: Callable[[str, bool], Any]) -> Any:
    folder = Path(root).expanduser() if root else default_root(name)
    return fetch_dataset(name, folder, download, make, layout=_OFFLINE_HELP[name],
                         source=f"torchvision's datasets.{name}",
                         own_data="To train on your own images, use dataset = \"imagefolder\".")


def _split_of(cls: Any, split: str, root: str, download: bool) -> Any:
    return cls(root, split=split, download=download)


def flowers102(root: str | None = None, download: bool = True) -> DatasetSplits:
    """Oxford 102 Category Flowers with its published train/val/test splits."""
    from torchvision.datasets import Flowers102

    splits: dict[str, Source] = {}
    classes: list[str] = []
    for split in ("train", "val", "test"):
        ds = _torchvision("flowers102", root, download,
                          functools.partial(_split_of, Flowers102, split))
        classes = list(getattr(ds, "classes", [])) or [str(i) for i in range(102)]
        splits[split] = IndexedSource(ds, ds._labels, classes, files=ds._image_files,
                                      name=f"flowers102/{split}")
    return DatasetSplits(classes, splits, "flowers102")


def cifar10(root: str | None = None, download: bool = True) -> DatasetSplits:
    """CIFAR-10: 50,000 training and 10,000 test images, 32x32."""
    from torchvision.datasets import CIFAR10

    train = _torchvision("cifar10", root, download,
                         lambda r, d: CIFAR10(r, train=True, download=d))
    test = _torchvision("cifar10", root, download,
                        lambda r, d: CIFAR10(r, train=False, download=d))
    classes = list(train.classes)
    return DatasetSplits(classes, {
        "train": ArraySource(train.data, train.targets, classes, "cifar10/train"),
        "test": ArraySource(test.data, test.targets, classes, "cifar10/test"),
    }, "cifar10")


def oxford_pets(root: str | None = None, download: bool = True) -> DatasetSplits:
    """Oxford-IIIT Pet: 37 breeds, its trainval and test splits."""
    from torchvision.datasets import OxfordIIITPet

    splits: dict[str, Source] = {}
    classes: list[str] = []
    for split, key in (("train", "trainval"), ("test", "test")):
        ds = _torchvision("oxford_pets", root, download,
                          functools.partial(_split_of, OxfordIIITPet, key))
        classes = list(ds.classes)
        splits[split] = IndexedSource(ds, ds._labels, classes, files=ds._images,
                                      name=f"oxford_pets/{split}")
    return DatasetSplits(classes, splits, "oxford_pets")
