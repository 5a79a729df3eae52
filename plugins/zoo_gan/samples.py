"""Fixed noise, side-effect-free generation, and PNG sample grids."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from zoo_gan.hacks import sample_z

__all__ = ["fixed_inputs", "generate", "save_sample_grid", "grid_size"]


def fixed_inputs(n: int, nz: int, *, num_classes: int = 0, distribution: str = "normal",
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """The fixed noise a run's sample grids reuse: ``(z, labels, nrow)``.

    Seeded by ``seed`` alone (its own ``torch.Generator``), so every epoch's
    grid shows the same latent points. Unconditional: ``n`` vectors in a
    near-square grid (8 per row for 64, as in the tutorial). Conditional: one
    row per class, ``max(1, n // num_classes)`` samples each, labels
    ``0,0,..,1,1,..``; ``nrow`` is the samples per row.
    """
    gen = torch.Generator().manual_seed(seed)
    if num_classes > 0:
        per_class = max(1, n // num_classes)
        z = sample_z(per_class * num_classes, nz, distribution, generator=gen)
        labels = torch.arange(num_classes).repeat_interleave(per_class)
        return z, labels, per_class
    return sample_z(n, nz, distribution, generator=gen), None, max(1, math.ceil(math.sqrt(n)))


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None, *,
             batch_size: int = 256, train_mode: bool = True) -> torch.Tensor:
    """The generator's images for ``z`` (and ``labels``), on the CPU, without side effects.

    ``train_mode=True`` runs batch norm on batch statistics, as the tutorial
    samples ``netG(fixed_noise)`` during training, but the running statistics
    it would update are restored afterwards; ``False`` uses eval mode. Either
    way the generator is left in the mode it was in.
    """
    was_training = generator.training
    saved = {k: b.clone() for k, b in generator.named_buffers()} if train_mode else {}
    device = next((p.device for p in generator.parameters()), torch.device("cpu"))
    generator.train(train_mode)
    try:
        out = []
        for i in range(0, z.shape[0], batch_size):
            zz = z[i:i + batch_size].to(device)
            if labels is None:
                out.append(generator(zz).float().cpu())
            else:
                out.append(generator(zz, labels[i:i + batch_size].to(device)).float().cpu())
        return torch.cat(out)
    finally:
        generator.train(was_training)
        if saved:
            buffers = dict(generator.named_buffers())
            for k, v in saved.items():
                buffers[k].copy_(v)


def grid_size(n: int, nrow: int, height: int, width: int, padding: int = 2) -> tuple[int, int]:
    """(width, height) in pixels of ``torchvision.utils.make_grid``'s grid."""
    ncol = min(nrow, n)
    rows = math.ceil(n / nrow)
    return ncol * (width + padding) + padding, rows * (height + padding) + padding


def save_sample_grid(images: torch.Tensor, path: str | Path, *, nrow: int = 8,
                     padding: int = 2) -> Path:
    """Write [-1, 1] images (N, C, H, W) as one PNG grid, atomically; returns ``path``.

    ``nrow`` is the number of images per row (for a conditional grid from
    :func:`fixed_inputs`: the samples per class, so each row is one class).
    """
    from torchvision.utils import save_image

    from zoo_core.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        # the temporary name ends in .tmp, so the format is named explicitly
        save_image(images.detach().float().cpu(), tmp, nrow=nrow, padding=padding,
                   normalize=True, value_range=(-1, 1), format="PNG")
    return path
