"""MATLAB-compatible bicubic resizing (``imresize(img, scale)``, antialiased, a = -0.5).

Every super-resolution benchmark makes its low-resolution images with MATLAB's
``imresize``: bicubic with Keys' a = -0.5, a kernel widened by ``1/scale`` when
shrinking (antialiasing), and symmetric (edge-repeating) mirroring at the
borders. PIL, OpenCV and ``torch.nn.functional.interpolate`` all differ from it
by a few tenths of a dB of PSNR, so published tables are only reproducible with
the same resampling.

A resize along one axis is a linear map, so each axis is one ``(out, in)``
matrix: output pixel ``k`` takes MATLAB's weights of the input pixels it
touches, and weights that fall outside the image are added to the pixel MATLAB
mirrors them onto. The 2-D resize is ``A_h @ img @ A_w.T``; the matrices are
built once per (length, scale) in float64.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["cubic", "resize_matrix", "output_size", "imresize", "imresize_np"]


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def output_size(in_len: int, scale: float) -> int:
    """MATLAB's ``ceil(scale * in_len)``, immune to ``1/3``-style float noise
    (510 * (1/3) must give 170, not 171)."""
    return int(math.ceil(in_len * scale - 1e-9))


@lru_cache(maxsize=256)
def _matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    # 1-based input coordinate of each output pixel's centre: 0.5 maps to 0.5
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * cubic(dist * scale) if shrink else cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    # MATLAB mirrors out-of-range indices symmetrically: ... 2 1 | 1 2 ... n | n n-1 ...
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    rows = np.repeat(np.arange(out_len), taps)
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (rows, cols.ravel()), weights.ravel())
    mat.setflags(write=False)
    return mat


def resize_matrix(in_len: int, out_len: int | None = None, scale: float | None = None,
                  antialias: bool = True) -> np.ndarray:
    """The ``(out_len, in_len)`` float64 matrix of a 1-D MATLAB bicubic resize.

    Give ``scale`` (``out_len`` then defaults to ``ceil(in_len * scale)``) or
    ``out_len`` alone (then ``scale = out_len / in_len``, as MATLAB does).
    """
    if scale is None:
        if out_len is None:
            raise ValueError("give scale or out_len")
        scale = out_len / in_len
    if out_len is None:
        out_len = output_size(in_len, scale)
    if in_len < 1 or out_len < 1 or scale <= 0:
        raise ValueError(f"cannot resize length {in_len} to {out_len} (scale {scale})")
    return _matrix(int(in_len), int(out_len), float(scale), bool(antialias))


def imresize_np(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """Resize an ``(H, W)`` or ``(H, W, C)`` array as MATLAB's ``imresize(img, scale)``.

    Computed in float64 and returned as float64, unrounded and unclipped (the
    caller quantises to 8 bits when it stands for an image file).
    """
    arr = np.asarray(img, dtype=np.float64)
    h, w = arr.shape[:2]
    mh = resize_matrix(h, scale=scale, antialias=antialias)
    mw = resize_matrix(w, scale=scale, antialias=antialias)
    if arr.ndim == 2:
        return mh @ arr @ mw.T
    if arr.ndim != 3:
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {arr.shape}")
    return np.einsum("oh,hwc,pw->opc", mh, arr, mw, optimize=True)


def imresize(img: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """Resize a ``(..., H, W)`` tensor (any leading batch/channel dims) as MATLAB's
    ``imresize(img, scale)``; computed in the tensor's floating dtype on its device."""
    import torch

    if img.dim() < 2:
        raise ValueError(f"expected a (..., H, W) tensor, got shape {tuple(img.shape)}")
    dtype = img.dtype if img.is_floating_point() else torch.float32
    x = img.to(dtype)
    h, w = x.shape[-2:]
    mh = _torch_matrix(h, float(scale), bool(antialias), dtype, x.device)
    mw = _torch_matrix(w, float(scale), bool(antialias), dtype, x.device)
    return mh @ x @ mw.T


@lru_cache(maxsize=128)
def _torch_matrix(in_len: int, scale: float, antialias: bool, dtype: torch.dtype,
                  device: torch.device) -> torch.Tensor:
    import torch

    mat = resize_matrix(in_len, scale=scale, antialias=antialias)
    return torch.tensor(mat, dtype=dtype, device=device)
