"""Upscaling an image of any size in bounded memory: tiles with context.

The LR image is cut into ``tile`` x ``tile`` tiles; each is upscaled with
``overlap`` pixels of its neighbours around it (clamped at the image edge)
and only the tile's own part of the output is kept, so the network sees the
context a seam needs and no output pixel is blended. With ``overlap`` at
least the network's receptive radius the result equals upscaling the whole
image (exactly so for bicubic, whose radius is 2 LR pixels). Memory holds one
tile's activations and the 8-bit output.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo_core.errors import ZooError

__all__ = ["to_uint8", "upscale_tiled", "model_device", "run_model"]


def model_device(model: nn.Module) -> torch.device:
    """Where a module's tensors live (CPU for one without any)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def to_uint8(img: Tensor) -> Tensor:
    """[0, 1] floats -> 8-bit levels (clamped and rounded, as an image file stores them)."""
    return (img.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def run_model(model: nn.Module, x: Tensor, *, what: str = "The model", shown: str = "input",
              advice: str = "it needs larger inputs") -> Tensor:
    """``model(x)``; a network that cannot take an input this size is a clear error
    (``"{what} cannot upscale a WxH px {shown} (its error); {advice}."``)."""
    try:
        return model(x)
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the network on this input
        from zoo_core.errors import DataError

        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(
            f"{what} cannot upscale a {x.shape[-1]}x{x.shape[-2]} px {shown} "
            f"({type(exc).__name__}: {first}); {advice}.") from None


@torch.no_grad()
def upscale_tiled(model: nn.Module, lr: Tensor, scale: int, tile: int = 192,
                  overlap: int = 16) -> Tensor:
    """``model`` applied to ``lr`` ((C, h, w) in [0, 1]) tile by tile; returns the
    (C, h*scale, w*scale) uint8 result on the CPU. ``tile = 0``: the whole image."""
    if lr.dim() != 3:
        raise ValueError(f"expected one (C, H, W) image, got {tuple(lr.shape)}")
    c, h, w = lr.shape
    s = int(scale)
    device = model_device(model)
    step = int(tile) if tile and tile > 0 else max(h, w)
    out = torch.empty((c, h * s, w * s), dtype=torch.uint8)
    for top in range(0, h, step):
        bottom = min(top + step, h)
        for left in range(0, w, step):
            right = min(left + step, w)
            t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
            t1, r1 = min(bottom + overlap, h), min(right + overlap, w)
            x = lr[:, t0:t1, l0:r1].unsqueeze(0).to(device)
            y = run_model(model, x)[0]
            want = ((t1 - t0) * s, (r1 - l0) * s)
            if tuple(y.shape[-2:]) != want:
                raise ZooError(
                    f"The model turned a {r1 - l0}x{t1 - t0} px tile into "
                    f"{y.shape[-1]}x{y.shape[-2]} px, not x{s}: it was built for another "
                    "scale.")
            y = y[:, (top - t0) * s:(bottom - t0) * s, (left - l0) * s:(right - l0) * s]
            out[:, top * s:bottom * s, left * s:right * s] = to_uint8(y).cpu()
    return out
