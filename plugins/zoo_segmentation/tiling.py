"""Tiled inference for images larger than the training crop.

The image is cut into overlapping tiles (the last tile of a row or column is
moved back to end at the border, so every tile has full size), each tile's
logits are weighted and summed, and the sum is divided by the summed weights.

Blends:

* ``"crop"``: each tile counts only away from its inner borders (``overlap // 2``
  pixels are dropped on sides shared with a neighbour). For a fully
  convolutional network whose receptive field reaches less than ``overlap // 2``
  pixels, this reproduces the full-image output (up to float rounding); with
  pooling, also keep ``stride = tile - overlap`` a multiple of the network's
  total stride so tiles see the same pooling grid.
* ``"gaussian"``: a Gaussian window (sigma = tile / 8, as nnU-Net and MONAI use)
  that fades tile borders in smoothly; never exactly the full-image output, but
  free of visible seams for networks with large receptive fields.
* ``"mean"``: plain average of the overlapping tiles.

A model with ``required_multiple`` > 1 gets each tile padded to that multiple
and the logits cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from zoo_segmentation.shapes import pad_to_multiple

BLENDS = ("crop", "gaussian", "mean")


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering ``length`` with tiles of ``tile`` every ``stride``;
    the last one ends at the border."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _window(th: int, tw: int, blend: str, top: int, bottom: int, left: int, right: int,
            device: torch.device) -> Tensor:
    """Weights (th, tw) of one tile; ``top`` ... are the margins dropped by "crop"."""
    if blend == "mean":
        return torch.ones(th, tw, device=device)
    if blend == "gaussian":
        def g(n: int) -> Tensor:
            x = torch.arange(n, device=device, dtype=torch.float32) - (n - 1) / 2
            return torch.exp(-0.5 * (x / (n / 8)) ** 2)

        w = g(th)[:, None] * g(tw)[None, :]
        return (w / w.max()).clamp_min(1e-4)
    w = torch.zeros(th, tw, device=device)
    w[top:th - bottom, left:tw - right] = 1.0
    return w


@torch.no_grad()
def tiled_predict(model: nn.Module, image: Tensor, tile: int | Sequence[int] = 256,
                  overlap: int = 64, blend: str = "gaussian", batch_size: int = 4) -> Tensor:
    """Logits (N, K, H, W) of ``model`` over ``image`` (N, C, H, W), tile by tile.

    ``tile``: tile height and width (clipped to the image); ``overlap``: pixels
    shared by neighbouring tiles (``stride = tile - overlap``); ``blend``: see
    the module docstring. The model is called in whatever mode it is in (call
    ``model.eval()`` first); ``batch_size`` tiles go through it at once.
    """
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    n, _, h, w = image.shape
    th, tw = (tile, tile) if isinstance(tile, int) else (int(tile[0]), int(tile[-1]))
    th, tw = min(th, h), min(tw, w)
    if not 0 <= overlap < min(th, tw):
        raise ValueError(f"overlap must be in [0, tile), got {overlap} for tile {th}x{tw}")
    ys = tile_starts(h, th, th - overlap if th < h else th)
    xs = tile_starts(w, tw, tw - overlap if tw < w else tw)
    margin = overlap // 2
    multiple = int(getattr(model, "required_multiple", 1) or 1)
    out: Tensor | None = None
    weight = torch.zeros(1, 1, h, w, device=image.device)
    boxes = [(y, x) for y in ys for x in xs]
    for b in range(n):
        for i in range(0, len(boxes), batch_size):
            chunk = boxes[i:i + batch_size]
            tiles = torch.stack([image[b, :, y:y + th, x:x + tw] for y, x in chunk])
            padded, _, _ = pad_to_multiple(tiles, multiple)
            logits = model(padded)[..., :th, :tw].float()
            if out is None:
                out = torch.zeros(n, logits.shape[1], h, w, device=image.device)
            for (y, x), lg in zip(chunk, logits, strict=True):
                win = _window(th, tw, blend,
                              margin if y > 0 else 0, margin if y + th < h else 0,
                              margin if x > 0 else 0, margin if x + tw < w else 0,
                              image.device)
                out[b, :, y:y + th, x:x + tw] += lg * win
                if b == 0:
                    weight[0, 0, y:y + th, x:x + tw] += win
    assert out is not None
    return out / weight.clamp_min(1e-12)
