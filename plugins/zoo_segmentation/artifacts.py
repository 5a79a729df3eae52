"""Pictures and tables of segmentation results, written atomically.

* :func:`write_overlays`: one row per image - image | truth | prediction - as a PNG;
* :func:`write_iou_table`: the per-image IoU/Dice rows of a meter as a CSV.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from zoo_core.atomic import atomic_open, atomic_path

#: class index -> colour; class 0 black, then distinct colours (VOC-like)
_PALETTE = [(0, 0, 0), (255, 255, 255), (230, 25, 75), (60, 180, 75), (255, 225, 25),
            (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
            (210, 245, 60), (250, 190, 190), (0, 128, 128), (170, 110, 40), (128, 0, 0)]
IGNORED_COLOUR = (128, 128, 128)


def colourise(mask: Tensor, ignore_index: int | None = None) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 colours; ignored pixels grey."""
    m = mask.detach().cpu().long().numpy()
    palette = np.array(_PALETTE, dtype=np.uint8)
    out = palette[np.clip(m, 0, None) % len(palette)]
    if ignore_index is not None:
        out[m == ignore_index] = IGNORED_COLOUR
    return out


def to_display(image: Tensor, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None) -> np.ndarray:
    """(C, H, W) float image (normalised with mean/std if given) -> (H, W, 3) uint8."""
    x = image.detach().cpu().float()
    if mean is not None and std is not None:
        x = x * torch.tensor(list(std))[:, None, None] + torch.tensor(list(mean))[:, None, None]
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return (x[:3].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def overlay_grid(images: Sequence[Tensor], truths: Sequence[Tensor], preds: Sequence[Tensor],
                 *, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 ignore_index: int | None = None, titles: Sequence[str] | None = None,
                 gap: int = 4) -> Image.Image:
    """A PIL image: one row per sample, image | truth | prediction."""
    if not (len(images) == len(truths) == len(preds)) or not images:
        raise ValueError("overlay_grid needs as many images, truths and predictions (>= 1)")
    rows = []
    for img, truth, pred in zip(images, truths, preds, strict=True):
        panels = [to_display(img, mean, std), colourise(truth, ignore_index),
                  colourise(pred, None)]
        h = max(p.shape[0] for p in panels)
        spacer = np.full((h, gap, 3), 255, dtype=np.uint8)
        row = np.concatenate([panels[0], spacer, panels[1], spacer, panels[2]], axis=1)
        rows.append(row)
    width = max(r.shape[1] for r in rows)
    header = 14
    parts = [np.full((header, width, 3), 255, dtype=np.uint8)]
    for r in rows:
        pad = np.full((r.shape[0], width - r.shape[1], 3), 255, dtype=np.uint8)
        parts += [np.concatenate([r, pad], axis=1), np.full((gap, width, 3), 255, np.uint8)]
    grid = Image.fromarray(np.concatenate(parts, axis=0))
    draw = ImageDraw.Draw(grid)
    panel_w = rows[0].shape[1] // 3
    for k, label in enumerate(titles or ("image", "truth", "prediction")):
        draw.text((k * (panel_w + gap) + 2, 1), label, fill=(0, 0, 0))
    return grid


def write_overlays(path: str | Path, images: Sequence[Tensor], truths: Sequence[Tensor],
                   preds: Sequence[Tensor], **kwargs: Any) -> Path:
    """Write :func:`overlay_grid` as a PNG at ``path`` (atomically); returns the path."""
    path = Path(path)
    grid = overlay_grid(images, truths, preds, **kwargs)
    with atomic_path(path) as tmp:
        grid.save(tmp, format="PNG")
    return path


def write_iou_table(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write per-image rows (``SegmentationMeter.per_image_rows()``) as CSV, atomically."""
    path = Path(path)
    if not rows:
        raise ValueError("no rows to write")
    fields = list(rows[0])
    with atomic_open(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v)
                             for k, v in row.items()})
    return path
