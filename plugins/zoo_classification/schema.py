"""Classification's recipe sections: the short form ``[model]`` (backbone, head,
transfer mode) and ``[[stages]]``, plus its keys in ``[train]`` and ``[eval]``.

``[model]`` is sugar for ``[models.net]``: ``backbone``/``weights`` name the
network (or ``[models.net]`` does, with ``[model]`` keeping the head and the
transfer settings); every wave-1 recipe keeps validating unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from zoo_core.recipe.schema import EvalSection, Section, TrainSection

Mode = Literal["fine_tune", "feature_extract", "partial", "scratch"]
MODES = ("fine_tune", "feature_extract", "partial", "scratch")


class ModelSection(Section):
    backbone: str | None = Field(
        default=None, description="registry name, name.tag, plugin:name or hf://org/repo")
    weights: str = Field(default="default", description='"default", a tag, a URI, or "none"')
    head: str = "linear"
    head_cfg: dict[str, Any] = Field(default_factory=dict)
    mode: Mode = "fine_tune"
    freeze_stages: int = Field(default=0, ge=0)
    unfreeze_at: dict[str, int] = Field(default_factory=dict)
    stage_lr_mult: list[float] = Field(default_factory=list)
    head_lr_mult: float = Field(default=1.0, ge=0.0)
    num_classes: int | None = Field(default=None, ge=1)
    in_chans: int | None = Field(default=None, ge=1)
    drop_rate: float | None = Field(default=None, ge=0.0, lt=1.0)

    @field_validator("unfreeze_at")
    @classmethod
    def _epoch_keys(cls, v: dict[str, int]) -> dict[str, int]:
        for epoch, frozen in v.items():
            if not epoch.isdigit():
                raise ValueError(
                    f"keys are epoch numbers written as strings, e.g. {{\"3\" = 0}}; got {epoch!r}"
                )
            if frozen < 0:
                raise ValueError(f"epoch {epoch}: the number of frozen stages must be >= 0")
        return dict(sorted(v.items(), key=lambda kv: int(kv[0])))

    @field_validator("stage_lr_mult")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        if any(m < 0 for m in v):
            raise ValueError(f"learning-rate multipliers must be >= 0, got {v}")
        return v

    @model_validator(mode="after")
    def _mode_and_weights_agree(self) -> ModelSection:
        if self.mode == "scratch":
            if self.weights == "default":
                self.weights = "none"
            elif self.weights != "none":
                raise ValueError(
                    f"mode 'scratch' trains from random initialisation, but weights = "
                    f"{self.weights!r}; remove `weights` or pick mode 'fine_tune'"
                )
        if self.mode != "partial" and self.unfreeze_at:
            raise ValueError("unfreeze_at only applies to mode 'partial'")
        return self

    @property
    def pretrained(self) -> bool:
        return self.weights != "none"


class StageSection(Section):
    """One phase of training; unset keys keep the values of [model]/[train]."""

    name: str | None = None
    epochs: int = Field(..., ge=1)
    mode: Mode | None = None
    freeze_stages: int | None = Field(default=None, ge=0)
    lr: float | None = Field(default=None, gt=0.0)
    weight_decay: float | None = Field(default=None, ge=0.0)
    head_lr_mult: float | None = Field(default=None, ge=0.0)
    stage_lr_mult: list[float] | None = None


class ClassificationTrain(TrainSection):
    """``[train]`` with classification's keys."""

    feature_cache: bool | Literal["auto"] = "auto"
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("feature_cache", mode="before")
    @classmethod
    def _auto_or_bool(cls, v: Any) -> Any:
        if isinstance(v, bool) or v == "auto":
            return v
        raise ValueError(f"expected true, false or \"auto\", got {v!r}")


class ClassificationEval(EvalSection):
    """``[eval]`` with classification's keys."""

    topk: list[int] = Field(default_factory=lambda: [1, 5], min_length=1)

    @field_validator("topk")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(k < 1 for k in v):
            raise ValueError(f"every k must be >= 1, got {v}")
        return sorted(set(v))


SECTIONS: dict[str, Any] = {"model": ModelSection, "stages": list[StageSection],
                            "train": ClassificationTrain, "eval": ClassificationEval}
