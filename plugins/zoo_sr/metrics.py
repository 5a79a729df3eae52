"""PSNR and SSIM exactly as BasicSR (and the SR literature's tables) compute them.

The protocol, per image:

1. both images are clamped to [0, 1] and, with ``quantize=True`` (the
   default), rounded to 8-bit levels, as BasicSR's ``tensor2img`` does before
   its metrics and as the image files of every benchmark are;
2. ``crop_border`` pixels (by convention the scale) are cut from every edge;
3. on the Y channel, RGB in [0, 1] becomes ITU-R BT.601 luma
   ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (16..235), otherwise the RGB
   channels are scaled to 0..255; one-channel images are used as they are;
4. all in float64: PSNR = ``10 log10(255^2 / MSE)``, the MSE over every pixel
   and channel; SSIM with an 11x11 Gaussian window (sigma 1.5),
   C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, over 'valid' window positions
   only, averaged over positions and channels.

A set's figure is the mean of the per-image figures (BasicSR's average).

Why not torchmetrics: its SSIM score averages over reflect-padded border
positions too (BasicSR and MATLAB keep only windows inside the image; on a
64x64 image that moves SSIM by ~7e-5), and cropping its full SSIM map instead
costs a non-separable float64 11x11 convolution of padded images (about 8x
slower than the separable filtering here on a 512x512 image). Its PSNR takes
the logarithms of ``data_range`` and of 10 in float32, which moves a figure by
about 1.5e-6 dB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import Tensor

__all__ = ["to_255", "rgb_to_y", "psnr", "ssim", "SRMeter", "METRIC_DIRECTIONS"]

#: metric name -> which way is better (for the task's metric declaration)
METRIC_DIRECTIONS: dict[str, str] = {
    "psnr_y": "max", "ssim_y": "max", "psnr_rgb": "max", "ssim_rgb": "max",
}

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5


def _as_batch(img: Tensor) -> Tensor:
    if img.dim() == 3:
        img = img.unsqueeze(0)
    if img.dim() != 4:
        raise ValueError(f"expected an (N, C, H, W) or (C, H, W) image, got {tuple(img.shape)}")
    return img


def to_255(img: Tensor, quantize: bool = True, crop_border: int = 0) -> Tensor:
    """[0, 1] images -> float64 on the 0..255 scale, optionally rounded to 8-bit
    levels, with ``crop_border`` pixels cut from every edge."""
    import torch

    x = _as_batch(img).detach().to(torch.float64).clamp(0.0, 1.0) * 255.0
    if quantize:
        x = torch.round(x)
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    return x


def rgb_to_y(img255: Tensor) -> Tensor:
    """BT.601 luma of RGB on the 0..255 scale -> ``(N, 1, H, W)`` on the same scale.

    BasicSR works on [0, 1] (``img / 255``), applies the 65.481/128.553/24.966
    matrix, divides by 255 and scales back: the same number, written here once.
    """
    if img255.shape[1] == 1:
        return img255
    if img255.shape[1] != 3:
        raise ValueError(f"the Y channel needs RGB or one-channel images, got {img255.shape[1]}")
    r, g, b = img255[:, 0:1], img255[:, 1:2], img255[:, 2:3]
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def _y(img255: Tensor, round_y: bool) -> Tensor:
    import torch

    y = rgb_to_y(img255)
    return torch.round(y) if round_y else y


def _prepare(sr: Tensor, hr: Tensor, crop_border: int, y_channel: bool,
             quantize: bool, round_y: bool) -> tuple[Tensor, Tensor]:
    sr, hr = _as_batch(sr), _as_batch(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR images differ in shape: {tuple(sr.shape)} vs "
                         f"{tuple(hr.shape)}")
    a = to_255(sr, quantize, crop_border)
    b = to_255(hr, quantize, crop_border)
    if y_channel:
        a, b = _y(a, round_y), _y(b, round_y)
    return a, b


def psnr_255(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR of float64 ``(N, C, H, W)`` images on the 0..255 scale (inf if equal)."""
    import torch

    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(255.0 ** 2 / mse)


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> Tensor:
    import torch

    x = torch.arange(_SSIM_WINDOW, dtype=dtype, device=device) - _SSIM_WINDOW // 2
    g = torch.exp(-(x**2) / (2 * _SSIM_SIGMA**2))
    return g / g.sum()


_BANDED_MAX = 2048  # sides above this filter by convolution (the band matrix grows as side^2)


def _band(g: Tensor, n: int) -> Tensor:
    """The (n, n - len(g) + 1) matrix whose product with a signal is its 'valid'
    correlation with ``g``."""
    import torch

    k = g.shape[0]
    m = torch.zeros(n, n - k + 1, dtype=g.dtype, device=g.device)
    cols = torch.arange(n - k + 1, device=g.device)
    for i in range(k):
        m[cols + i, cols] = g[i]
    return m


def ssim_255(a: Tensor, b: Tensor) -> Tensor:
    """Per-image SSIM of float64 ``(N, C, H, W)`` images on the 0..255 scale, over
    valid window positions, averaged over positions and channels."""
    import torch
    import torch.nn.functional as F

    if min(a.shape[-2:]) < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels "
                         f"after the border crop, got {tuple(a.shape[-2:])}")
    n, c, h, w = a.shape
    g = _gaussian_window(a.dtype, a.device)
    # the 11x11 Gaussian is the outer product of two 1-D ones: filter rows, then columns
    stack = torch.cat([a, b, a * a, b * b, a * b]).reshape(5 * n * c, 1, h, w)
    if max(h, w) <= _BANDED_MAX:
        # as banded matrix products: float64 GEMM is ~3x faster than float64 conv2d on CPU
        out = _band(g, h).T @ stack @ _band(g, w)
    else:
        out = F.conv2d(F.conv2d(stack, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    mu_a, mu_b, e_aa, e_bb, e_ab = out.reshape(5, n, c, *out.shape[-2:])
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    var_a, var_b, cov = e_aa - mu_a**2, e_bb - mu_b**2, e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return (num / den).mean(dim=(1, 2, 3))


def psnr(sr: Tensor, hr: Tensor, *, crop_border: int = 0, y_channel: bool = True,
         quantize: bool = True, round_y: bool = False) -> Tensor:
    """Per-image PSNR (dB, float64) of ``[0, 1]`` images, as BasicSR's ``calculate_psnr``
    (``round_y=True``: Y rounded to integers, as MATLAB's ``rgb2ycbcr`` of uint8 images)."""
    return psnr_255(*_prepare(sr, hr, crop_border, y_channel, quantize, round_y))


def ssim(sr: Tensor, hr: Tensor, *, crop_border: int = 0, y_channel: bool = True,
         quantize: bool = True, round_y: bool = False) -> Tensor:
    """Per-image SSIM (float64) of ``[0, 1]`` images, as BasicSR's ``calculate_ssim``."""
    return ssim_255(*_prepare(sr, hr, crop_border, y_channel, quantize, round_y))


class SRMeter:
    """Averages PSNR/SSIM on Y and on RGB over images, as BasicSR's validation does.

    ``update(sr, hr)`` takes batches (or single images) in [0, 1];
    ``compute()`` returns ``{"psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"}``, the
    means of the per-image figures. ``crop_border`` defaults to ``scale``.
    ``round_y=True`` rounds Y to integers as the MATLAB scripts behind most
    published tables do (``rgb2ycbcr`` of uint8 images); BasicSR does not.
    """

    names = tuple(METRIC_DIRECTIONS)
    directions = METRIC_DIRECTIONS

    def __init__(self, scale: int = 1, crop_border: int | None = None, quantize: bool = True,
                 round_y: bool = False):
        self.crop_border = int(scale if crop_border is None else crop_border)
        self.quantize = bool(quantize)
        self.round_y = bool(round_y)
        self.reset()

    def reset(self) -> None:
        self.sums = {name: 0.0 for name in self.names}
        self.count = 0

    def update(self, sr: Tensor, hr: Tensor) -> dict[str, list[float]]:
        """Add a batch; returns its per-image figures (for per-image reports)."""
        a = to_255(_as_batch(sr), self.quantize, self.crop_border)
        b = to_255(_as_batch(hr), self.quantize, self.crop_border)
        if a.shape != b.shape:
            raise ValueError(f"SR and HR images differ in shape: {tuple(sr.shape)} vs "
                             f"{tuple(hr.shape)}")
        ya, yb = _y(a, self.round_y), _y(b, self.round_y)
        per = {
            "psnr_y": psnr_255(ya, yb), "ssim_y": ssim_255(ya, yb),
            "psnr_rgb": psnr_255(a, b), "ssim_rgb": ssim_255(a, b),
        }
        out: dict[str, list[float]] = {}
        for name, values in per.items():
            vals = [float(v) for v in values.cpu()]
            self.sums[name] += sum(vals)
            out[name] = vals
        self.count += a.shape[0]
        return out

    def compute(self) -> dict[str, float]:
        if not self.count:
            return {name: float("nan") for name in self.names}
        return {name: total / self.count for name, total in self.sums.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "count": self.count, "crop_border": self.crop_border,
                "quantize": self.quantize, "round_y": self.round_y}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = {name: float(state["sums"][name]) for name in self.names}
        self.count = int(state["count"])
        self.crop_border = int(state.get("crop_border", self.crop_border))
        self.quantize = bool(state.get("quantize", self.quantize))
        self.round_y = bool(state.get("round_y", self.round_y))

