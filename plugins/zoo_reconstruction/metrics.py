"""Reconstruction metrics: MSE and PSNR, accumulated over batches.

``psnr`` is the mean over images of each image's PSNR, ``10 log10(R^2 / MSE_i)``
with ``R`` the data range (the convention of denoising and SR papers);
``psnr_global`` is the PSNR of the mean squared error over all pixels (what
torchmetrics' ``PeakSignalNoiseRatio`` reports by default). An image
reconstructed exactly has infinite PSNR; it is capped at ``max_psnr`` so a
mean stays finite. The state is a few sums, so meters merge by adding them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

DIRECTIONS = {"mse": "min", "psnr": "max", "psnr_global": "max"}


def psnr_per_image(pred: Tensor, target: Tensor, data_range: float = 1.0,
                   max_psnr: float = 100.0) -> Tensor:
    """(N,) PSNR of each image in dB."""
    mse = (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    db = 10.0 * torch.log10(data_range ** 2 / mse.clamp_min(1e-20))
    return db.clamp(max=max_psnr)


class ReconstructionMeter:
    """``update(pred, target)``; ``compute() -> {"mse", "psnr", "psnr_global"}``."""

    directions = DIRECTIONS

    def __init__(self, data_range: float = 1.0, max_psnr: float = 100.0):
        self.data_range, self.max_psnr = float(data_range), float(max_psnr)
        self.reset()

    def reset(self) -> None:
        # float64 sums: millions of squared errors add up without losing digits
        self.sums = torch.zeros(4, dtype=torch.float64)  # sq. error, pixels, psnr sum, images

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor) -> None:
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target "
                             f"{tuple(target.shape)} differ in shape")
        diff = (pred.double() - target.double()).pow(2)
        db = psnr_per_image(pred, target, self.data_range, self.max_psnr).double()
        batch = torch.stack([diff.sum(), torch.tensor(float(diff.numel()), dtype=torch.float64,
                                                      device=diff.device),
                             db.sum(), torch.tensor(float(db.numel()), dtype=torch.float64,
                                                    device=diff.device)])
        self.sums = self.sums.to(batch.device) + batch

    def compute(self) -> dict[str, float]:
        sq, pixels, psnr_sum, images = (float(v) for v in self.sums.cpu())
        if not images:
            return {"mse": math.nan, "psnr": math.nan, "psnr_global": math.nan}
        mse = sq / pixels
        glob = min(self.max_psnr, 10 * math.log10(self.data_range ** 2 / mse)) if mse > 0 \
            else self.max_psnr
        return {"mse": mse, "psnr": psnr_sum / images, "psnr_global": glob}

    def state_dict(self) -> dict[str, Any]:
        return {"sums": self.sums.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sums = torch.as_tensor(state["sums"], dtype=torch.float64).clone()

    def merge(self, state: dict[str, Any]) -> None:
        self.sums = self.sums + torch.as_tensor(state["sums"], dtype=torch.float64).to(
            self.sums.device)
