"""Grids of images, one row per kind (noisy | reconstruction | clean), written atomically."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from zoo_core.atomic import atomic_path


def row_grid(rows: Sequence[Tensor], *, min_side: int = 64, gap: int = 2) -> Tensor:
    """(3, H, W) uint8: each tensor (N, C, h, w) in [0, 1] a row, small images enlarged
    with nearest neighbours so that a side is at least ``min_side`` pixels."""
    from torchvision.utils import make_grid

    if not rows:
        raise ValueError("no rows to draw")
    n = int(rows[0].shape[0])
    scale = max(1, math.ceil(min_side / max(int(rows[0].shape[-1]), 1)))
    stacked = torch.cat([r.detach().float().cpu().clamp(0, 1) for r in rows])
    if stacked.shape[1] == 1:
        stacked = stacked.expand(-1, 3, -1, -1)
    if scale > 1:
        stacked = stacked.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    grid = make_grid(stacked, nrow=n, padding=gap, pad_value=1.0)
    return (grid * 255).round().byte()


def write_rows(path: str | Path, rows: Sequence[Tensor], **kwargs: int) -> Path:
    """:func:`row_grid` as a PNG at ``path``."""
    from PIL import Image

    path = Path(path)
    grid = row_grid(rows, **kwargs)
    with atomic_path(path) as tmp:
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
    return path
