"""From a mask file's pixel values to what the losses and metrics take.

A recipe names its classes one of two ways (:class:`LabelSpec.from_options`):

* ``classes = ["background", "cat"]``: pixel value i is class i (palette
  masks are read by index); ``ignore_index`` passes through as ignored;
* ``values = {0 = "membrane", 255 = "cell"}``: a value map, classes numbered
  in order of first appearance; keys are grey levels or colours (``"#ff0000"``,
  ``"255,0,0"``); a value mapped to ``"ignore"`` is left out of loss and
  metrics. In multilabel mode a value maps to a list of classes.

Masks are mapped *before* the joint augmentation (so nearest-neighbour
interpolation moves class indices, never raw colours). Multilabel masks travel
through the augmentation as the index of their value-map entry and become
(C, H, W) 0/1 planes afterwards (:meth:`LabelSpec.expand`). A value that is
not in the map raises :class:`~zoo_core.errors.DataError`; the core adds the
file's name and stops the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from zoo_core.errors import DataError

Key = int | tuple[int, int, int]
IGNORE = "ignore"


def _parse_key(key: Any) -> int | tuple[int, int, int]:
    """A value-map key: a grey level or an RGB colour."""
    if isinstance(key, (int, np.integer)):
        return int(key)
    if isinstance(key, (tuple, list)) and len(key) == 3:
        return (int(key[0]), int(key[1]), int(key[2]))
    text = str(key).strip()
    if text.startswith("#") and len(text) == 7:
        return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
    if "," in text:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) == 3:
            return (int(parts[0]), int(parts[1]), int(parts[2]))
    return int(text)


def read_raw_mask(path: str | Path | IO[bytes]) -> np.ndarray:
    """A mask file's values as stored: (H, W) for grey, palette (indices) and 16-bit
    masks and for RGB masks whose channels agree; (H, W, 3) for colour masks."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("RGB", "RGBA"):
            arr = np.asarray(im.convert("RGB"))
            if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                return np.ascontiguousarray(arr[..., 0])
            return arr
        if im.mode == "LA":
            return np.asarray(im.convert("L"))
        return np.asarray(im)


def _shown(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values[:8]) + (" ..." if len(values) > 8 else "")


@dataclass(frozen=True)
class LabelSpec:
    """How raw mask values become class masks for one recipe."""

    mode: str
    class_names: tuple[str, ...]
    ignore_index: int = 255
    #: value-map keys in order (None: the pixel value is the class index)
    keys: tuple[Key, ...] | None = None
    #: per key: the class index, or ignore_index (binary, multiclass); the entry
    #: index (multilabel)
    targets: tuple[int, ...] = ()
    #: multilabel: per entry the classes it carries (None: ignored)
    planes: tuple[tuple[int, ...] | None, ...] = ()
    colour: bool = False

    @classmethod
    def from_options(cls, mode: str, classes: Sequence[str] | None,
                     values: Mapping[str, str | Sequence[str]] | None,
                     ignore_index: int = 255) -> LabelSpec:
        if values is None:
            names = tuple(classes or ())
            spec = cls(mode, names, ignore_index)
        else:
            try:
                keys = tuple(_parse_key(k) for k in values)
            except (TypeError, ValueError):
                raise DataError(f"Mask value-map keys must be grey levels (0-255) or colours "
                                f"('#rrggbb' or 'r,g,b'); got {list(values)}.") from None
            kinds = {isinstance(k, tuple) for k in keys}
            if len(kinds) > 1:
                raise DataError("The mask value map mixes grey levels and colours; use one.")
            names_list: list[str] = []
            targets: list[int] = []
            planes: list[tuple[int, ...] | None] = []
            for entry, target in enumerate(values.values()):
                wanted = [target] if isinstance(target, str) else list(target)
                if wanted == [IGNORE]:
                    targets.append(ignore_index if mode != "multilabel" else entry)
                    planes.append(None)
                    continue
                idx = []
                for name in wanted:
                    if name not in names_list:
                        names_list.append(name)
                    idx.append(names_list.index(name))
                targets.append(idx[0] if mode != "multilabel" else entry)
                planes.append(tuple(idx))
            spec = cls(mode, tuple(names_list), ignore_index, keys, tuple(targets),
                       tuple(planes), kinds.pop())
        spec.check()
        return spec

    def check(self) -> None:
        n = len(self.class_names)
        if self.mode == "binary" and n != 2:
            raise DataError(
                f"Binary segmentation needs exactly two classes, negative first (e.g. "
                f"\"background\", \"object\"); the recipe names {n}: "
                f"{', '.join(self.class_names)}. Use mode = \"multiclass\" for more.")
        if n < 1:
            raise DataError("The recipe names no class.")
        if self.ignore_index < n or (self.keys is not None and self.mode == "multilabel"
                                     and self.ignore_index < len(self.keys)):
            raise DataError(f"task.ignore_index = {self.ignore_index} is a class index; pick "
                            "a number above the classes (255 by default).")

    # -- what the model and metrics see -------------------------------------------------
    @property
    def num_outputs(self) -> int:
        """Model output channels: 1 for binary, one per class otherwise."""
        return 1 if self.mode == "binary" else len(self.class_names)

    # -- raw values -> classes ----------------------------------------------------------
    def map_raw(self, raw: np.ndarray, where: str) -> np.ndarray:
        """(H, W) int64: class indices (binary, multiclass) or value-map entries
        (multilabel), ``ignore_index`` where ignored. Unknown values raise DataError."""
        if self.keys is None:
            return self._identity(raw, where)
        if self.colour and raw.ndim == 2:
            raw = np.repeat(raw[..., None], 3, axis=-1)
        if not self.colour and raw.ndim == 3:
            raise DataError(f"Mask {where} is a colour image, but task.values gives grey "
                            "levels. Give colours as keys ('#rrggbb' or 'r,g,b').")
        out = np.full(raw.shape[:2], -1, dtype=np.int64)
        for key, target in zip(self.keys, self.targets, strict=True):
            hit = (raw == np.asarray(key)).all(axis=-1) if self.colour else raw == key
            out[hit] = target
        unknown = out < 0
        if unknown.any():
            found = raw[unknown]
            shown: list[Any]
            if self.colour:
                shown = sorted({tuple(int(c) for c in v) for v in found.reshape(-1, 3)[:10000]})
            else:
                shown = sorted(int(v) for v in np.unique(found))
            raise DataError(
                f"Mask {where} has pixel values that task.values does not map: "
                f"{_shown(shown)} ({int(unknown.sum())} pixels). Add them to task.values "
                f"(map a value to \"{IGNORE}\" to leave it out of the loss and metrics).")
        return out

    def _identity(self, raw: np.ndarray, where: str) -> np.ndarray:
        if raw.ndim == 3:
            raise DataError(f"Mask {where} is a colour image; with task.classes a mask holds "
                            "class indices. Map its colours with task.values instead.")
        out = raw.astype(np.int64)
        n = len(self.class_names)
        bad = (out < 0) | ((out >= n) & (out != self.ignore_index))
        if bad.any():
            vals = sorted(int(v) for v in np.unique(out[bad]))
            raise DataError(
                f"Mask {where} has pixel values {_shown(vals)}, but task.classes names "
                f"{n} classes (values 0-{n - 1}, {self.ignore_index} = ignore). Map the "
                "values with task.values (e.g. {0 = \"background\", 255 = \"object\"}).")
        return out

    def expand(self, mask: Any) -> Any:
        """After the augmentation: multilabel entry masks (H, W) -> (C, H, W) 0/1 planes,
        ``ignore_index`` in every plane where ignored; other modes unchanged."""
        import torch

        if self.mode != "multilabel":
            return mask
        table = torch.full((len(self.planes) + 1, len(self.class_names)), 0, dtype=torch.long)
        for entry, classes in enumerate(self.planes):
            if classes is None:
                table[entry] = self.ignore_index
            else:
                table[entry, list(classes)] = 1
        table[-1] = self.ignore_index  # fill brought in by rotation or padding
        idx = torch.where(mask == self.ignore_index, len(self.planes), mask).long()
        return table[idx].permute(2, 0, 1).contiguous()
