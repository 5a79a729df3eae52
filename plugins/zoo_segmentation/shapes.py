"""Input sizes: which models need divisible sizes, the padded size to use, padding."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from zoo_core.errors import ZooError


class InputSizeError(ZooError, ValueError):
    """An input whose height or width the model cannot take."""


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The smallest (height, width) at least as large that ``multiple`` divides."""
    def up(n: int) -> int:
        return -(-n // multiple) * multiple

    return up(height), up(width)


def check_divisible(x: Tensor, multiple: int, model: str) -> None:
    """Raise :class:`InputSizeError` naming the padded size when ``multiple`` does not
    divide the input's height and width."""
    if multiple <= 1:
        return
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h % multiple or w % multiple:
        ph, pw = padded_size(h, w, multiple)
        raise InputSizeError(
            f"{model} needs an input height and width divisible by {multiple}, got {h}x{w}. "
            f"Pad or crop the images to {ph}x{pw} (e.g. data.crop_size = [{ph}, {pw}]), "
            "or predict with tiles (zoo_segmentation.tiling.tiled_predict pads each tile)."
        )


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "reflect") -> tuple[Tensor, int, int]:
    """Pad ``x`` (N, C, H, W) at the bottom and right to a multiple of ``multiple``;
    returns the padded tensor and the original height and width to crop back to."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if multiple <= 1:
        return x, h, w
    ph, pw = padded_size(h, w, multiple)
    if (ph, pw) == (h, w):
        return x, h, w
    # reflect padding needs the pad to be smaller than the side; fall back to replicate
    if mode == "reflect" and (ph - h >= h or pw - w >= w):
        mode = "replicate"
    return F.pad(x, (0, pw - w, 0, ph - h), mode=mode), h, w
