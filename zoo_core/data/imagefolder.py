"""Image folders: ``root/<class>/<file>`` or ``root/{train,val,test}/<class>/<file>``.

Files are found recursively under each class folder, filtered by image
extension, and sorted, so the sample order (and hence every seeded split)
does not depend on the file system.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo_core.data.sources import IMAGE_EXTENSIONS, DatasetSplits, FileSource, Source
from zoo_core.errors import DataError

#: folder names accepted for each split (the seed's data uses "validation")
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_under(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.append(Path(dirpath) / name)
    return sorted(found)


def split_folders(root: Path) -> dict[str, Path]:
    """``{"train": root/train, ...}`` when ``root`` holds split folders, else ``{}``."""
    found: dict[str, Path] = {}
    by_name = {p.name.lower(): p for p in _visible_dirs(root)}
    for split, aliases in SPLIT_ALIASES.items():
        for alias in aliases:
            if alias in by_name:
                found[split] = by_name[alias]
                break
    return found if "train" in found else {}


def scan_image_folder(root: str | os.PathLike[str], *, name: str = "imagefolder") -> DatasetSplits:
    """Read an image-folder data set; raises :class:`DataError` with the expected layout."""
    root = Path(root).expanduser()
    layout = (
        "Expected either <root>/<class>/<image files> or <root>/train/<class>/<image files> "
        "with optional <root>/val/ and <root>/test/ in the same shape."
    )
    if not root.exists():
        raise DataError(f"data.root {str(root)!r} does not exist. {layout}")
    if not root.is_dir():
        raise DataError(f"data.root {str(root)!r} is a file, not a folder. {layout}")
    folders = split_folders(root) or {"train": root}
    per_split: dict[str, dict[str, list[Path]]] = {}
    notes: list[str] = []
    for split, folder in folders.items():
        classes: dict[str, list[Path]] = {}
        for class_dir in _visible_dirs(folder):
            files = _images_under(class_dir)
            if files:
                classes[class_dir.name] = files
            else:
                notes.append(f"{split}: class folder {str(class_dir)!r} holds no images; left out")
        per_split[split] = classes
    if not per_split["train"]:
        loose = _images_under(folders["train"])
        hint = (f" It holds {len(loose)} image files but no class folders." if loose else "")
        raise DataError(f"No class folders with images under {str(folders['train'])!r}.{hint} "
                        f"{layout}")
    class_names = sorted({c for classes in per_split.values() for c in classes})
    index = {c: i for i, c in enumerate(class_names)}
    splits: dict[str, Source] = {}
    for split, classes in per_split.items():
        files = [f for c in sorted(classes) for f in classes[c]]
        targets = [index[c] for c in sorted(classes) for _ in classes[c]]
        if files:
            splits[split] = FileSource(files, targets, class_names)
    missing = sorted(set(class_names) - set(per_split["train"]))
    if missing:
        notes.append(f"classes with no training images: {', '.join(missing)}")
    return DatasetSplits(class_names, splits, name, notes)


def scan_images(root: str | os.PathLike[str], *, name: str = "images") -> DatasetSplits:
    """Every image under ``root`` (recursively), unlabelled; ``root/{train,val,test}/``
    folders become those splits."""
    from zoo_core.data.sources import ImageFilesSource

    root = Path(root).expanduser()
    layout = "Expected a folder of images (sub-folders are searched too)."
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is a file, not a folder"
        raise DataError(f"data.root {str(root)!r} {what}. {layout}")
    folders = split_folders(root) or {"train": root}
    splits: dict[str, Source] = {}
    for split, folder in folders.items():
        files = _images_under(folder)
        if files:
            splits[split] = ImageFilesSource(files)
    if "train" not in splits:
        raise DataError(f"No image files under {str(folders['train'])!r} (looked for "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))}). {layout}")
    return DatasetSplits([], splits, name)
