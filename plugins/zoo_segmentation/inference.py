"""One call for every place that runs a segmentation model on whole images.

Evaluation, the epoch overlays and ``zoo predict`` all go through
:func:`segment`: images larger than the tile are predicted tile by tile
(:func:`zoo_segmentation.tiling.tiled_predict`), others in one pass, padded
to the model's ``required_multiple`` and cropped back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from zoo_segmentation.shapes import pad_to_multiple
from zoo_segmentation.tiling import tiled_predict


@dataclass(frozen=True)
class Tiling:
    """When and how to tile: images with a side above ``tile`` are tiled."""

    enabled: bool = True
    tile: int | None = None
    overlap: int | None = None
    blend: str = "gaussian"
    batch_size: int = 4

    def wants(self, height: int, width: int) -> bool:
        return bool(self.enabled and self.tile and (height > self.tile or width > self.tile))

    @property
    def step_overlap(self) -> int:
        assert self.tile is not None
        return self.overlap if self.overlap is not None else self.tile // 4


def segment(model: nn.Module, images: Tensor, tiling: Tiling | None = None) -> Tensor:
    """Logits (N, K, H, W) of ``model`` for ``images`` (N, C, H, W), in the mode the model
    is in (call it under ``torch.no_grad()`` and ``model.eval()`` for inference)."""
    h, w = int(images.shape[-2]), int(images.shape[-1])
    if tiling is not None and tiling.wants(h, w):
        assert tiling.tile is not None
        return tiled_predict(model, images, tile=tiling.tile, overlap=tiling.step_overlap,
                             blend=tiling.blend, batch_size=tiling.batch_size)
    multiple = int(getattr(model, "required_multiple", 1) or 1)
    padded, h, w = pad_to_multiple(images, multiple)
    out = model(padded)
    return out[..., :h, :w] if out.shape[-2:] != (h, w) else out


def predicted_mask(logits: Tensor, mode: str, threshold: float = 0.5) -> Tensor:
    """Class indices (N, H, W) for binary and multiclass; 0/1 planes (N, C, H, W) for
    multilabel."""
    if mode == "multiclass":
        return logits.argmax(dim=1)
    positive = (torch.sigmoid(logits.float()) >= threshold).long()
    return positive[:, 0] if mode == "binary" else positive


def display_index(mask: Tensor, mode: str, ignore_index: int) -> Tensor:
    """A (H, W) index map to colour: the mask itself, or for multilabel planes the
    highest-numbered class a pixel carries plus one (0: none; ignored stays ignored)."""
    if mode != "multilabel" or mask.ndim == 2:
        return mask
    planes = mask.long()
    ignored = (planes == ignore_index).any(dim=0)
    numbers = torch.arange(1, planes.shape[0] + 1, device=planes.device).view(-1, 1, 1)
    index = ((planes == 1).long() * numbers).amax(dim=0)
    return torch.where(ignored, torch.full_like(index, ignore_index), index)
