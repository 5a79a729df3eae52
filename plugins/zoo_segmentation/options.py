"""``SegmentationOptions``: the ``[task]`` section of a segmentation recipe.

Only pydantic here, no torch, so validating a recipe stays cheap. What a
recipe says about masks (which pixel value is which class), the loss as a
weighted sum of smp's losses, the training crop, the joint augmentation, the
tiling of large images at evaluation and prediction, encoder freezing and the
overlay pictures::

    [task]
    mode = "binary"
    values = { 0 = "membrane", 255 = "cell" }
    loss = { dice = 1.0, bce = 0.5 }
    crop_size = 256

    [task.augment]
    vflip = true
    rotate = 15
    elastic = true
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["AugmentOptions", "SegmentationOptions", "TilingOptions"]

#: losses by the short names combined_loss takes (docs/segmentation.md)
LOSS_NAMES = ("dice", "jaccard", "focal", "lovasz", "tversky", "bce", "ce")


class Strict(BaseModel):
    """Unknown keys and wrong types are errors (``rotate = 15`` still fits a float)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class AugmentOptions(Strict):
    """Joint image/mask augmentation of training crops (torchvision ``transforms.v2``)."""

    hflip: bool = Field(default=True, description="random horizontal flips")
    vflip: bool = Field(default=False, description="random vertical flips")
    rotate: float = Field(default=0.0, ge=0.0, le=180.0,
                          description="random rotation within +- this many degrees")
    elastic: bool = Field(default=False, description="elastic deformation (U-Net paper)")
    elastic_alpha: float = Field(default=50.0, gt=0.0, description="displacement magnitude")
    elastic_sigma: float = Field(default=5.0, gt=0.0, description="smoothness of the field")
    elastic_p: float = Field(default=0.5, ge=0.0, le=1.0, description="probability per crop")
    scale: list[float] | None = Field(
        default=None, min_length=2, max_length=2,
        description="random resized crop with this area range instead of a plain crop")

    @field_validator("scale")
    @classmethod
    def _ordered(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and not 0 < v[0] <= v[1] <= 1:
            raise ValueError(f"expected two numbers 0 < low <= high <= 1, got {v}")
        return v


class TilingOptions(Strict):
    """Overlapping tiles for images larger than ``tile`` (evaluation and ``zoo predict``)."""

    enabled: bool = Field(default=True, description="tile images larger than the tile")
    tile: int | None = Field(default=None, ge=8, description="tile side; None: task.crop_size")
    overlap: int | None = Field(default=None, ge=0,
                                description="pixels shared by neighbours; None: tile // 4")
    blend: Literal["gaussian", "crop", "mean"] = "gaussian"
    batch_size: int = Field(default=4, ge=1, description="tiles per forward pass")


class SegmentationOptions(Strict):
    """The segmentation task's ``[task]`` section."""

    mode: Literal["binary", "multiclass", "multilabel"] = Field(
        default="multiclass", description="binary: one sigmoid output; multiclass: softmax; "
                                          "multilabel: a sigmoid per class")
    classes: list[str] | None = Field(
        default=None, min_length=1,
        description="class names; mask pixel value i is class i (binary: two names, "
                    "negative first)")
    values: dict[str, str | list[str]] | None = Field(
        default=None, description="mask pixel value -> class name, in class order; keys are "
                                  "grey levels or colours ('#rrggbb', 'r,g,b'); 'ignore' "
                                  "leaves a value out; multilabel: a list of names")
    ignore_index: int = Field(default=255, ge=0,
                              description="mask index of ignored pixels (and of pixels a "
                                          "rotation or padding brings in)")
    loss: dict[str, float] | None = Field(
        default=None, description="weighted sum of losses, e.g. {dice = 1.0, bce = 0.5}; "
                                  "None: dice + bce (binary, multilabel) or dice + ce")
    loss_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="keyword arguments per loss, e.g. "
                                          "{focal = {gamma = 3.0}}")
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0,
                             description="sigmoid probability from which a pixel is positive")
    crop_size: int | list[int] | None = Field(
        default=None, description="random training crop (side or [height, width]); None: "
                                  "whole images")
    augment: AugmentOptions = Field(default_factory=AugmentOptions)
    tiling: TilingOptions = Field(default_factory=TilingOptions)
    epoch_repeats: int = Field(default=1, ge=1,
                               description="passes over the training images per epoch (each "
                                           "with its own random crops)")
    freeze_encoder_epochs: int = Field(default=0, ge=0,
                                       description="epochs with a frozen encoder first")
    freeze_encoder_stages: int | None = Field(
        default=None, ge=1, description="how many encoder stages those epochs freeze, "
                                        "earliest first; None: all")
    overlays: int = Field(default=4, ge=0,
                          description="validation images in each epoch's overlay PNG")
    overlay_every: int = Field(default=1, ge=0,
                               description="epochs between overlay PNGs (0: only the last)")
    overlay_size: int = Field(default=256, ge=16,
                              description="longest side of each overlay panel, pixels")

    @field_validator("crop_size")
    @classmethod
    def _crop(cls, v: int | list[int] | None) -> int | list[int] | None:
        sizes = [v] if isinstance(v, int) else (v or [])
        if isinstance(v, list) and len(v) != 2:
            raise ValueError(f"crop_size is a side or [height, width], got {v}")
        if any(s < 8 for s in sizes):
            raise ValueError(f"crop sides must be at least 8 pixels, got {v}")
        return v

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one loss, e.g. {dice = 1.0}")
        unknown = [k for k in v if k not in LOSS_NAMES]
        if unknown:
            raise ValueError(f"unknown loss {', '.join(map(repr, unknown))}; losses: "
                             f"{', '.join(LOSS_NAMES)}")
        if any(w < 0 for w in v.values()):
            raise ValueError("loss weights must be >= 0")
        return v

    @model_validator(mode="after")
    def _labels(self) -> SegmentationOptions:
        # neither: only a saved model's own classes can say (zoo eval of a model folder);
        # the task's check_recipe reports it for a recipe
        if self.classes is not None and self.values is not None:
            raise ValueError("give task.classes or task.values, not both")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("task.classes repeats a name")
        if self.mode == "multilabel" and self.values is None:
            raise ValueError("multilabel masks need task.values: each pixel value -> the "
                             "list of classes it carries")
        if self.mode != "multilabel" and self.values is not None and any(
                isinstance(v, list) for v in self.values.values()):
            raise ValueError("a list of classes per value is for mode = \"multilabel\"")
        return self

    def loss_weights(self) -> dict[str, float]:
        """The recipe's loss, or the mode's default."""
        if self.loss is not None:
            return dict(self.loss)
        return {"dice": 1.0, "ce" if self.mode == "multiclass" else "bce": 1.0}
