"""The SR task's recipe sections (no torch here: validation stays cheap).

* ``[task]`` (:class:`SROptions`): scale, crop size, losses and their
  weights, EMA, the metric protocol and the artifacts. The loss weights left
  unset follow BasicSR's configs: a pixel-only SRResNet run uses L1 with
  weight 1; an SRGAN run (one with ``[models.discriminator]``) uses pixel
  1e-2, perceptual 1.0 and adversarial 5e-3 (:func:`loss_weights`).
* ``[data]`` (:class:`SRDataSection`): the core's, plus ``val_root`` (a
  separate validation folder, e.g. Set5) and ``bad_images = "fail"`` by
  default (a benchmark's figure without one of its images is another figure).
* ``[eval]`` (:class:`SREvalSection`): whole images of different sizes are
  evaluated one at a time, so ``batch_size`` is 1.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from zoo_core.recipe import DataSection, EvalSection
from zoo_sr.defaults import EMA_DECAY, GT_SIZE, SRGAN_LOSS_WEIGHTS

__all__ = ["SROptions", "SRDataSection", "SREvalSection", "PredictOptions", "loss_weights",
           "VGG_NETWORKS", "SCALES"]

SCALES = (2, 3, 4)
#: perceptual networks whose layers have BasicSR's names (conv5_4...); any other name is a
#: registry backbone tapped at feature-stage indices
VGG_NETWORKS = ("vgg11", "vgg13", "vgg16", "vgg19")


class SROptions(BaseModel):
    """``[task]`` of ``task = "sr"``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    scale: int = Field(default=4, description="upscaling factor: 2, 3 or 4")
    gt_size: int = Field(default=GT_SIZE, ge=8, description=(
        "HR training crop in pixels (96 or 128 in the literature), a multiple of scale; "
        "the LR crop is gt_size / scale"))
    augment: bool = Field(default=True, description="the same random flips and 90-degree "
                                                     "rotations on each LR/HR pair")
    pixel_criterion: Literal["l1", "mse"] = "l1"
    pixel_weight: float | None = Field(default=None, ge=0.0, description=(
        "unset: 1.0 (SRResNet) or 1e-2 (SRGAN)"))
    perceptual_weight: float | None = Field(default=None, ge=0.0, description=(
        "unset: 0 (SRResNet) or 1.0 (SRGAN)"))
    perceptual_network: str = Field(default="vgg19", description=(
        "vgg11/13/16/19 (torchvision layout) or any registry backbone"))
    perceptual_layer: str | int = Field(default="conv5_4", description=(
        "a VGG layer (conv5_4 is before its ReLU), or a backbone's feature-stage index"))
    perceptual_criterion: Literal["l1", "mse"] = "l1"
    perceptual_weights: str = Field(default="default", description=(
        "the feature network's weights: \"default\" (torchvision's VGG file, or the "
        "backbone's default tag), a tag, a URI, or \"none\""))
    gan_loss: Literal["vanilla", "lsgan", "hinge"] = Field(default="vanilla", description=(
        "the GAN plugin's registered loss gan_<type>"))
    gan_weight: float | None = Field(default=None, ge=0.0, description=(
        "unset: 0 (SRResNet) or 5e-3 (SRGAN); > 0 needs [models.discriminator]"))
    ema_decay: float = Field(default=EMA_DECAY, ge=0.0, lt=1.0, description=(
        "generator EMA (evaluated and saved); 0 turns it off"))
    crop_border: int | None = Field(default=None, ge=0, description=(
        "pixels cut from each edge before PSNR/SSIM; unset: the scale"))
    round_y: bool = Field(default=False, description=(
        "Y rounded to integers (the MATLAB scripts behind published tables) instead of "
        "BasicSR's float Y"))
    channel: Literal["y", "rgb"] = Field(default="y", description=(
        "the channel of the default monitor (val/psnr_y or val/psnr_rgb)"))
    artifact_images: int = Field(default=3, ge=0, description=(
        "images in each epoch's side-by-side comparison (0: none)"))
    artifact_crop: int = Field(default=96, ge=8, description="HR side of each compared crop")

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: int) -> int:
        if v not in SCALES:
            raise ValueError(f"the SR scale is 2, 3 or 4, not {v}")
        return v

    @model_validator(mode="after")
    def _crop_fits_scale(self) -> SROptions:
        if self.gt_size % self.scale:
            lower = self.gt_size - self.gt_size % self.scale
            raise ValueError(
                f"task.gt_size = {self.gt_size} is not a multiple of task.scale = {self.scale}, "
                f"so the LR crop ({self.gt_size}/{self.scale}) would not align with the HR "
                f"crop; use {lower} or {lower + self.scale}")
        return self


def loss_weights(options: SROptions, gan: bool) -> dict[str, float]:
    """The effective loss weights: the recipe's, else BasicSR's for the run's kind."""
    if gan:
        defaults = dict(SRGAN_LOSS_WEIGHTS)
    else:
        defaults = {"pixel": 1.0, "perceptual": 0.0, "gan": 0.0}
    given = {"pixel": options.pixel_weight, "perceptual": options.perceptual_weight,
             "gan": options.gan_weight}
    return {k: float(defaults[k] if v is None else v) for k, v in given.items()}


class SRDataSection(DataSection):
    """``[data]`` of an SR recipe: any data set of images (``dataset = "images"``)."""

    bad_images: Literal["skip", "fail"] = Field(default="fail", description=(
        "an unreadable image stops the run (a set's PSNR without one image is another "
        "figure); \"skip\" leaves it out with a warning"))
    val_root: str | None = Field(default=None, description=(
        "a separate folder of validation images (e.g. Set5); data.val_fraction is then 0"))


class SREvalSection(EvalSection):
    """``[eval]`` of an SR recipe: whole images, one at a time."""

    batch_size: int | None = Field(default=1, ge=1, description="always 1")

    @field_validator("batch_size")
    @classmethod
    def _one(cls, v: Any) -> Any:
        if v is not None and v != 1:
            raise ValueError("SR evaluates whole images of different sizes one at a time; "
                             "eval.batch_size must be 1")
        return v


class PredictOptions(BaseModel):
    """``zoo predict RUN IMAGE... --out DIR [--tile N] [--overlap N]``."""

    model_config = ConfigDict(extra="forbid")

    tile: int = Field(default=192, ge=0, description=(
        "LR tile side in pixels (0: the whole image at once)"))
    overlap: int = Field(default=16, ge=0, description=(
        "LR pixels of context around each tile (cut from its output)"))
