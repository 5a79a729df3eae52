"""Sources: the samples of one split, before any transform. No torch here.

A source knows how many samples it holds, how to load one as a dict
(``{"image": PIL image, "label": 3}``, or whatever a data set pairs: an image
and its mask...), how to name a sample in a message (its path, for files on
disk) and, when the data has class labels, the label of each sample without
decoding anything (so splits stratify and few-shot subsets are cheap).
Unlabelled sources (``labels() -> None``) are split at random.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_core.errors import DataError

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
})


@dataclass(frozen=True)
class BadSample:
    """An image that could not be read: where it is and what went wrong."""

    where: str
    error: str
    #: a problem no policy may skip (a mask that does not match its image...)
    fatal: bool = False


class Source:
    """The samples of one split. Subclasses implement ``__len__``, ``load`` and
    ``describe``, and ``label`` when they have labels (``labelled = True``), or
    override ``sample`` for samples that are more than one image."""

    classes: list[str] = []
    labelled = False

    def __len__(self) -> int:
        raise NotImplementedError

    def label(self, index: int) -> int:
        raise NotImplementedError

    def labels(self) -> list[int] | None:
        """Every sample's class index, or None for unlabelled data."""
        if not self.labelled:
            return None
        return [self.label(i) for i in range(len(self))]

    def load(self, index: int) -> Any:
        """The decoded image (a PIL image); raises on an unreadable file."""
        raise NotImplementedError

    def sample(self, index: int) -> dict[str, Any]:
        """The sample dict: ``{"image": ...}`` plus ``"label"`` for labelled data."""
        if self.labelled:
            return {"image": self.load(index), "label": self.label(index)}
        return {"image": self.load(index)}

    def describe(self, index: int) -> str:
        return f"sample {index}"


class LabelledSource(Source):
    """A source whose labels are a list known up front."""

    labelled = True

    def __init__(self, targets: Sequence[int], classes: Sequence[str]):
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.targets)

    def label(self, index: int) -> int:
        return self.targets[index]

    def labels(self) -> list[int]:
        return list(self.targets)


def open_image(path: Path) -> Any:
    """A decoded PIL image; a truncated file fails here and not in a transform."""
    from PIL import Image

    img = Image.open(path)
    img.load()
    return img


def read_image(name: str, mode: str | None = None) -> Any:
    """An image file a user named (``zoo predict``), decoded and converted to PIL
    ``mode`` (None: as stored); a missing or unreadable file is one DataError naming it."""
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataError(f"Image {name!r} does not exist.")
    try:
        img = open_image(path)
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's UnidentifiedImageError: OSError
        raise DataError(f"Cannot read image {name!r} ({type(exc).__name__}: {exc}).") from None
    return img if mode is None or img.mode == mode else img.convert(mode)


class ImageFilesSource(Source):
    """Image files on disk without labels (GANs, super-resolution, autoencoders)."""

    def __init__(self, files: Sequence[Path]):
        self.files = [Path(f) for f in files]

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> Any:
        return open_image(self.files[index])

    def describe(self, index: int) -> str:
        return str(self.files[index])


class FileSource(LabelledSource):
    """Image files on disk with their labels."""

    def __init__(self, files: Sequence[Path], targets: Sequence[int], classes: Sequence[str]):
        if len(files) != len(targets):
            raise ValueError("files and targets differ in length")
        super().__init__(targets, classes)
        self.files = [Path(f) for f in files]

    def load(self, index: int) -> Any:
        return open_image(self.files[index])

    def describe(self, index: int) -> str:
        return str(self.files[index])


class ArraySource(LabelledSource):
    """Images held in memory as a uint8 array (N, H, W) or (N, H, W, C)."""

    def __init__(self, images: Any, targets: Sequence[int], classes: Sequence[str],
                 name: str = "array"):
        if len(images) != len(targets):
            raise ValueError("images and targets differ in length")
        super().__init__(targets, classes)
        self.images = images
        self.name = name

    def load(self, index: int) -> Any:
        from PIL import Image

        return Image.fromarray(self.images[index])

    def describe(self, index: int) -> str:
        return f"{self.name}[{index}]"


class IndexedSource(LabelledSource):
    """A map-style data set whose item is ``(PIL image, label)`` (torchvision's),
    with the labels known up front."""

    def __init__(self, dataset: Any, targets: Sequence[int], classes: Sequence[str],
                 files: Sequence[Any] | None = None, name: str = "dataset"):
        super().__init__(targets, classes)
        self.dataset = dataset
        self.files = list(files) if files is not None else None
        self.name = name

    def load(self, index: int) -> Any:
        img = self.dataset[index][0]
        if hasattr(img, "load"):
            img.load()
        return img

    def describe(self, index: int) -> str:
        if self.files is not None:
            return str(self.files[index])
        return f"{self.name}[{index}]"


class SubsetSource(Source):
    """Some samples of another source, optionally with labels renumbered."""

    def __init__(self, base: Source, indices: Sequence[int],
                 label_map: dict[int, int] | None = None, classes: Sequence[str] | None = None):
        self.base = base
        self.labelled = base.labelled
        self.indices = list(indices)
        self.label_map = label_map
        self.classes = list(classes) if classes is not None else list(base.classes)

    def __len__(self) -> int:
        return len(self.indices)

    def label(self, index: int) -> int:
        raw = self.base.label(self.indices[index])
        return self.label_map[raw] if self.label_map is not None else raw

    def labels(self) -> list[int] | None:
        base = self.base.labels()
        if base is None:
            return None
        if self.label_map is None:
            return [base[i] for i in self.indices]
        return [self.label_map[base[i]] for i in self.indices]

    def load(self, index: int) -> Any:
        return self.base.load(self.indices[index])

    def sample(self, index: int) -> dict[str, Any]:
        sample = self.base.sample(self.indices[index])
        if self.label_map is not None and "label" in sample:
            sample["label"] = self.label_map[sample["label"]]
        return sample

    def describe(self, index: int) -> str:
        return self.base.describe(self.indices[index])


class ConcatSource(Source):
    """Several sources one after the other (a published val split joining train)."""

    def __init__(self, parts: Sequence[Source]):
        self.parts = list(parts)
        self.classes = list(self.parts[0].classes)
        self.labelled = all(p.labelled for p in self.parts)
        self._starts = [0]
        for part in self.parts:
            self._starts.append(self._starts[-1] + len(part))

    def _find(self, index: int) -> tuple[Source, int]:
        for k, part in enumerate(self.parts):
            if index < self._starts[k + 1]:
                return part, index - self._starts[k]
        raise IndexError(index)

    def __len__(self) -> int:
        return self._starts[-1]

    def label(self, index: int) -> int:
        part, i = self._find(index)
        return part.label(i)

    def load(self, index: int) -> Any:
        part, i = self._find(index)
        return part.load(i)

    def sample(self, index: int) -> dict[str, Any]:
        part, i = self._find(index)
        return part.sample(i)

    def describe(self, index: int) -> str:
        part, i = self._find(index)
        return part.describe(i)


@dataclass
class DatasetSplits:
    """What a data set plugin returns: class names (empty for unlabelled data) and a
    source per split.

    ``splits`` holds ``train`` and, when the data set defines them, ``val``
    and ``test``. ``notes`` are remarks worth showing the user (a class
    folder left out because it is empty, a split carved from train...).
    """

    classes: list[str]
    splits: dict[str, Source]
    name: str = "dataset"
    notes: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}
