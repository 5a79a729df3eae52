"""Built-in plugin: data sets every task can read.

Labelled: image folders, scikit-learn's digits, torchvision's Flowers102,
CIFAR-10 and Oxford-IIIT Pet. Unlabelled: ``images``, any folder of images
(GANs, super-resolution, autoencoders). Import-light: torch and torchvision
are imported by the factories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo_core import hookimpl
from zoo_core.hookspecs import Register

# Whether a data set can fetch itself decides if a missing data.root is a
# download warning (torchvision's sets) or an error (local folders, digits).
_DOWNLOADS = {"imagefolder": False, "images": False, "digits": False, "flowers102": True,
              "cifar10": True, "oxford_pets": True}


def _dataset(name: str, check: Any = None) -> Any:
    def build(**cfg: Any) -> Any:
        from zoo_datasets import datasets

        return getattr(datasets, name)(**cfg)

    build.__name__ = f"build_{name}"
    build.downloads = _DOWNLOADS[name]  # type: ignore[attr-defined]
    if check is not None:
        build.check_recipe = check  # type: ignore[attr-defined]
    return build


def _needs_root(name: str, what: str, scan: str) -> Any:
    """A check for `zoo validate`: data.root is given and holds what the data set reads
    (the same scan `zoo run` makes, so an empty folder fails before training)."""

    def check(recipe: Any) -> list[tuple[str, str, str]]:
        root = recipe.data.root
        if not root:
            return [("error", "data.root", f"dataset {name!r} needs data.root: {what}")]
        if not Path(root).expanduser().is_dir():
            return []  # the core's data checks report a missing folder
        from zoo_core.data import imagefolder
        from zoo_core.errors import DataError

        try:
            getattr(imagefolder, scan)(root)
        except DataError as exc:
            return [("error", "data.root", str(exc))]
        return []

    return check


@hookimpl
def register_datasets(register: Register) -> None:
    register("imagefolder", _dataset("imagefolder", _needs_root(
        "imagefolder", "a folder of class folders (or train/, val/, test/ folders of them)",
        "scan_image_folder")),
             description="root/<class>/<images> or root/{train,val,test}/<class>/<images>")
    register("images", _dataset("images", _needs_root(
        "images", "a folder of images (sub-folders are searched too)", "scan_images")),
             description="Any folder of images, unlabelled (GANs, SR, autoencoders)")
    register("digits", _dataset("digits"),
             description="scikit-learn's 1,797 handwritten 8x8 digits; offline")
    register("flowers102", _dataset("flowers102"),
             description="Oxford 102 Category Flowers (torchvision; downloads when online)")
    register("cifar10", _dataset("cifar10"),
             description="CIFAR-10, 60,000 32x32 images (torchvision; downloads when online)")
    register("oxford_pets", _dataset("oxford_pets"),
             description="Oxford-IIIT Pet, 37 breeds (torchvision; downloads when online)")
