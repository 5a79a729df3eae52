"""Corruptions for denoising autoencoders: pure functions of a batch in [0, 1].

Each draws from torch's RNG (the global one, or ``generator``), so a seeded
run corrupts identically; none changes its input. :func:`corrupt` applies the
switched-on ones in a fixed order: Gaussian, salt-and-pepper, masking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from zoo_core.errors import ZooError


def gaussian_noise(x: Tensor, sigma: float, *, clip: bool = True,
                   generator: torch.Generator | None = None) -> Tensor:
    """``x + sigma * N(0, 1)`` per element, clipped to [0, 1] unless ``clip=False``."""
    if sigma < 0:
        raise ZooError(f"Gaussian noise sigma must be >= 0, got {sigma}.")
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    y = x + sigma * noise
    return y.clamp(0.0, 1.0) if clip else y


def salt_and_pepper(x: Tensor, amount: float, *, salt_ratio: float = 0.5,
                    per_channel: bool = False, low: float = 0.0, high: float = 1.0,
                    generator: torch.Generator | None = None) -> Tensor:
    """Set a fraction ``amount`` of pixels to ``high`` (salt, a ``salt_ratio`` share
    of them) or ``low`` (pepper). A pixel is hit in all channels at once unless
    ``per_channel`` (then each element independently, as scikit-image does)."""
    if not 0.0 <= amount <= 1.0 or not 0.0 <= salt_ratio <= 1.0:
        raise ZooError(f"salt-and-pepper amount and salt_ratio must be in [0, 1], got "
                       f"{amount} and {salt_ratio}.")
    shape = x.shape if per_channel else (*x.shape[:-3], 1, *x.shape[-2:])
    u = torch.rand(shape, generator=generator, device=x.device)
    hit = u < amount
    # the same uniform decides salt vs pepper among hit pixels: u / amount is uniform
    salt = hit & (u < amount * salt_ratio)
    pepper = hit & ~salt
    y = x.clone()
    y = torch.where(salt.expand_as(x), torch.as_tensor(high, dtype=x.dtype, device=x.device), y)
    return torch.where(pepper.expand_as(x), torch.as_tensor(low, dtype=x.dtype, device=x.device),
                       y)


def random_masking(x: Tensor, fraction: float, *, patch_size: int | None = None,
                   fill: float = 0.0, generator: torch.Generator | None = None,
                   return_mask: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Blank exactly ``round(fraction * count)`` pixels (or ``patch_size`` squares, as
    MAE masks patches) per image, chosen uniformly without replacement, with
    ``fill``. With ``return_mask`` also return the (N, 1, H, W) boolean mask."""
    if not 0.0 <= fraction <= 1.0:
        raise ZooError(f"masking fraction must be in [0, 1], got {fraction}.")
    n, _, h, w = x.shape
    p = int(patch_size or 1)
    gh, gw = -(-h // p), -(-w // p)
    count = gh * gw
    k = round(fraction * count)
    scores = torch.rand(n, count, generator=generator, device=x.device)
    order = scores.argsort(dim=1)
    grid = torch.zeros(n, count, dtype=torch.bool, device=x.device)
    grid.scatter_(1, order[:, :k], True)
    mask = grid.view(n, 1, gh, gw)
    if p > 1:
        mask = mask.repeat_interleave(p, dim=2).repeat_interleave(p, dim=3)[..., :h, :w]
    y = torch.where(mask, torch.as_tensor(fill, dtype=x.dtype, device=x.device), x)
    return (y, mask) if return_mask else y


NOISES = ("gaussian", "salt_pepper", "mask")


def corrupt(x: Tensor, switches: Mapping[str, Mapping[str, Any] | float | None],
            generator: torch.Generator | None = None) -> Tensor:
    """Apply the corruptions switched on in ``switches``, e.g.
    ``{"gaussian": {"sigma": 0.1}, "salt_pepper": {"amount": 0.05}, "mask": {"fraction": 0.25,
    "patch_size": 8}}``; a bare number is the main parameter (sigma, amount, fraction),
    and None or 0 switches a corruption off."""
    unknown = set(switches) - set(NOISES)
    if unknown:
        raise ZooError(f"Unknown noise {sorted(unknown)}; noises are {', '.join(NOISES)}.")
    y = x
    for name, main in (("gaussian", "sigma"), ("salt_pepper", "amount"), ("mask", "fraction")):
        opts = switches.get(name)
        if not opts:
            continue
        kw = dict(opts) if isinstance(opts, Mapping) else {main: float(opts)}
        try:
            if name == "gaussian":
                y = gaussian_noise(y, generator=generator, **kw)
            elif name == "salt_pepper":
                y = salt_and_pepper(y, generator=generator, **kw)
            else:
                y = random_masking(y, generator=generator, **kw)  # type: ignore[assignment]
        except TypeError as exc:
            raise ZooError(f"Bad option for noise {name!r}: {exc}.") from None
    return y
