"""Side-by-side crops: bicubic | model | HR, one row per image, as a PNG.

Each row shows the same ``crop`` x ``crop`` HR region (the image's centre,
aligned to the scale) upscaled by MATLAB bicubic, by the model, and the HR
original. The model sees the LR crop plus ``margin`` LR pixels around it, so
the crop's edges look as they do in the whole upscaled image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from zoo_sr.resize import imresize
from zoo_sr.tiling import model_device, to_uint8

__all__ = ["center_box", "compare_row", "save_rows"]

_GAP = 4  # white pixels between panels and rows


def center_box(h: int, w: int, crop: int, scale: int) -> tuple[int, int, int]:
    """(top, left, size) in LR pixels of the centred, scale-aligned HR crop."""
    size_hr = min(crop, h * scale, w * scale)
    size = max(size_hr // scale, 1)
    return (h - size) // 2, (w - size) // 2, size


@torch.no_grad()
def compare_row(model: nn.Module, lr: Tensor, hr: Tensor, scale: int, crop: int = 96,
                margin: int = 16) -> Tensor:
    """One (C, size, 3*size + 2*gap) uint8 row for an LR/HR pair ((C, h, w) and
    (C, h*scale, w*scale) in [0, 1])."""
    s = int(scale)
    h, w = lr.shape[-2:]
    top, left, size = center_box(h, w, crop, s)
    t0, l0 = max(top - margin, 0), max(left - margin, 0)
    t1, r1 = min(top + size + margin, h), min(left + size + margin, w)
    window = lr[:, t0:t1, l0:r1].unsqueeze(0)
    box = (slice((top - t0) * s, (top - t0 + size) * s), slice((left - l0) * s,
                                                              (left - l0 + size) * s))
    up = model(window.to(model_device(model))).float().cpu()[0][:, box[0], box[1]]
    bic = imresize(window.float(), s)[0][:, box[0], box[1]]
    ref = hr[:, top * s:(top + size) * s, left * s:(left + size) * s]
    panels = [to_uint8(p) for p in (bic, up, ref)]
    c, ph, pw = panels[0].shape
    row = torch.full((c, ph, 3 * pw + 2 * _GAP), 255, dtype=torch.uint8)
    for i, panel in enumerate(panels):
        row[:, :, i * (pw + _GAP):i * (pw + _GAP) + pw] = panel
    return row


def save_rows(rows: Sequence[Tensor], path: Path) -> None:
    """Stack rows (padded to the widest) into one PNG, written atomically."""
    from PIL import Image

    from zoo_core.atomic import atomic_path

    width = max(r.shape[-1] for r in rows)
    height = sum(r.shape[-2] for r in rows) + _GAP * (len(rows) - 1)
    canvas = torch.full((rows[0].shape[0], height, width), 255, dtype=torch.uint8)
    y = 0
    for r in rows:
        canvas[:, y:y + r.shape[-2], :r.shape[-1]] = r
        y += r.shape[-2] + _GAP
    array = canvas.permute(1, 2, 0).numpy()
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
