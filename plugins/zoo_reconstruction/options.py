"""``ReconstructionOptions``: the ``[task]`` section of an autoencoder recipe.

Only pydantic here, no torch. The noise switches corrupt the model's input
only; the target is always the clean image::

    [task]
    loss = "mse"

    [task.noise]
    gaussian = 0.3        # sigma, images in [0, 1]
    salt_pepper = 0.05    # share of pixels set to 0 or 1
    mask = 0.25           # share of pixels (or mask_patch squares) blanked
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NoiseOptions", "ReconstructionOptions"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NoiseOptions(Strict):
    """Corruptions applied on the fly to the input, in this order; 0 switches one off."""

    gaussian: float = Field(default=0.0, ge=0.0, description="Gaussian noise sigma (0: off)")
    salt_pepper: float = Field(default=0.0, ge=0.0, le=1.0,
                               description="share of pixels set to 1 (salt) or 0 (pepper)")
    salt_ratio: float = Field(default=0.5, ge=0.0, le=1.0, description="salt's share of them")
    per_channel: bool = Field(default=False,
                              description="salt-and-pepper hits channels independently")
    mask: float = Field(default=0.0, ge=0.0, le=1.0,
                        description="share of pixels (or patches) blanked (0: off)")
    mask_patch: int | None = Field(default=None, ge=1,
                                   description="blank mask_patch x mask_patch squares (MAE)")
    mask_fill: float = Field(default=0.0, description="value of blanked pixels")

    @property
    def on(self) -> bool:
        return bool(self.gaussian or self.salt_pepper or self.mask)

    def switches(self) -> dict[str, Any]:
        """The argument of :func:`zoo_reconstruction.noise.corrupt`."""
        out: dict[str, Any] = {}
        if self.gaussian:
            out["gaussian"] = {"sigma": self.gaussian}
        if self.salt_pepper:
            out["salt_pepper"] = {"amount": self.salt_pepper, "salt_ratio": self.salt_ratio,
                                  "per_channel": self.per_channel}
        if self.mask:
            out["mask"] = {"fraction": self.mask, "patch_size": self.mask_patch,
                           "fill": self.mask_fill}
        return out

    def describe(self) -> str:
        parts = []
        if self.gaussian:
            parts.append(f"Gaussian sigma {self.gaussian:g}")
        if self.salt_pepper:
            parts.append(f"salt-and-pepper {self.salt_pepper:g}")
        if self.mask:
            parts.append(f"masking {self.mask:g}"
                         + (f" in {self.mask_patch}px patches" if self.mask_patch else ""))
        return ", ".join(parts) or "none (a plain autoencoder)"


class ReconstructionOptions(Strict):
    """The reconstruction task's ``[task]`` section."""

    noise: NoiseOptions = Field(default_factory=NoiseOptions)
    loss: Literal["mse", "l1", "smooth_l1", "bce"] = Field(
        default="mse", description="reconstruction vs clean image (bce: sigmoid outputs)")
    eval_seed: int = Field(default=0, ge=0,
                           description="seed of the evaluation noise (the same every epoch)")
    n_samples: int = Field(default=8, ge=0, description="images in each artifact grid")
    sample_every: int = Field(default=1, ge=0,
                              description="epochs between grids (0: only the last)")
    sample_seed: int = Field(default=0, ge=0, description="seed of the grids' noise")
    export_encoder: bool = Field(default=True,
                                 description="write the encoder to RUN/models/encoder/ at the end")
