"""The recipe schema: the core sections every task shares.

One language for every task::

    [recipe]              name, task, seed
    [data]                dataset, root, splits, augmentation
    [models.<role>]       name (registry), weights, cfg
    [optimizers.<role>]   name, lr, betas, weight_decay, schedule
    [train]               epochs, batch size, precision, callbacks, regularizers
    [task]                whatever the task declares
    [eval]                split, batch size
    [prune]               optional: prune one role's model during training

A task adds its own sections (its ``Options`` model becomes ``[task]``; it may
add tables such as classification's short form ``[model]`` and extend a core
section with keys of its own): :func:`zoo_core.recipe.recipe_class` builds the
recipe model of one task from this base.

Each section is a strict pydantic model (``extra="forbid"``, ``strict=True``):
an unknown key is an error, never silently ignored, and a value of the wrong
type is not coerced (``epochs = "3"`` is an error; ``lr = 1`` is fine because
TOML integers are valid floats). Defaults that depend on other keys
(``data.split_seed``, ``eval.batch_size``; monitors and their directions,
which the task knows) are filled in before the recipe is used, so that the
resolved recipe written to a run folder is explicit.

Registry names (task, dataset, model names, regularizers) are plain strings
here; :mod:`zoo_core.recipe` checks them against the live registry.
``docs/recipes.md`` documents every key; keep the two in step.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

MonitorMode = Literal["min", "max"]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_MONITOR = re.compile(r"^(train|val|test)/[A-Za-z0-9_.\-]+$")
_ROLE = re.compile(r"^[a-z][a-z0-9_]*$")

# Keys that carry no schema of their own: they are handed to a component
# factory, whose signature `zoo_core.recipe` checks them against.
OPEN_TABLES = ("models.<role>.cfg", "train.regularizers[]", "sweep")


class Section(BaseModel):
    """Base of every section: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)


def _check_monitor(value: str) -> str:
    if not _MONITOR.match(value):
        raise ValueError(
            f"{value!r} is not a metric key; write <split>/<metric>, e.g. 'val/loss'"
        )
    return value


# --- [recipe] ---------------------------------------------------------------


class RecipeMeta(Section):
    name: str | None = Field(default=None, description="run name; defaults to the file stem")
    #: None: the one task that declares the recipe's extra sections (see recipe_class)
    task: str | None = Field(default=None, description="registry name of kind task")
    seed: int = Field(default=0, ge=0)
    description: str = ""


# --- [data] -----------------------------------------------------------------


class RandomResizedCrop(Section):
    scale: list[float] = Field(default_factory=lambda: [0.08, 1.0], min_length=2, max_length=2)
    ratio: list[float] = Field(default_factory=lambda: [0.75, 4 / 3], min_length=2, max_length=2)

    @field_validator("scale", "ratio")
    @classmethod
    def _ordered_positive(cls, v: list[float]) -> list[float]:
        if not 0 < v[0] <= v[1]:
            raise ValueError(f"expected two numbers 0 < low <= high, got {v}")
        return v

    @field_validator("scale")
    @classmethod
    def _scale_at_most_one(cls, v: list[float]) -> list[float]:
        if v[1] > 1:
            raise ValueError(f"a crop scale is a fraction of the image area, at most 1.0; got {v}")
        return v


class AugmentSection(Section):
    #: None (off) or the crop parameters; TOML `true` means the default parameters
    random_resized_crop: RandomResizedCrop | None = None
    hflip: float = Field(default=0.0, ge=0.0, le=1.0, description="probability")
    rotation: float = Field(default=0.0, ge=0.0, le=180.0, description="max degrees either way")
    color_jitter: float = Field(default=0.0, ge=0.0, le=1.0)
    noise: float = Field(default=0.0, ge=0.0, description="Gaussian noise std, on [0, 1] pixels")
    blur: float = Field(default=0.0, ge=0.0, description="max Gaussian blur sigma, pixels")

    @field_validator("random_resized_crop", mode="before")
    @classmethod
    def _bool_means_default(cls, v: Any) -> Any:
        if v is True:
            return {}
        if v is False:
            return None
        return v

    @property
    def deterministic(self) -> bool:
        """True when no random transform is on (frozen features may be cached)."""
        return (
            self.random_resized_crop is None
            and self.hflip == 0
            and self.rotation == 0
            and self.color_jitter == 0
            and self.noise == 0
            and self.blur == 0
        )


class DataSection(Section):
    dataset: str = Field(..., description="registry name of kind dataset")
    root: str | None = None
    download: bool = True
    val_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    test_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)
    split_seed: int | None = Field(default=None, ge=0)
    #: the validation images train too (after tuning; the test split does not change)
    train_on_val: bool = False
    #: k-fold cross-validation: the non-test data in K seeded (stratified) folds; `zoo run`
    #: trains K runs, run k validating on fold k; val_fraction is not used
    folds: int | None = Field(default=None, ge=2)
    #: the fold this run validates on (1..folds): `zoo run` sets it for each fold's run
    fold: int | None = Field(default=None, ge=1)
    num_workers: int = Field(default=2, ge=0)
    pin_memory: bool | Literal["auto"] = "auto"
    persistent_workers: bool = True
    bad_images: Literal["skip", "fail"] = "skip"
    image_size: int | None = Field(default=None, ge=1)
    subset_per_class: int | None = Field(default=None, ge=1)
    classes: list[str] | None = Field(default=None, min_length=1)
    augment: AugmentSection = Field(default_factory=AugmentSection)

    @field_validator("pin_memory", mode="before")
    @classmethod
    def _auto_or_bool(cls, v: Any) -> Any:
        if isinstance(v, bool) or v == "auto":
            return v
        raise ValueError(f"expected true, false or \"auto\", got {v!r}")

    @field_validator("classes")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            dups = sorted({c for c in v if v.count(c) > 1})
            if dups:
                raise ValueError(f"class names repeat: {', '.join(dups)}")
        return v

    @model_validator(mode="after")
    def _folds_consistent(self) -> DataSection:
        if self.fold is not None and self.folds is None:
            raise ValueError("fold needs folds (the number of folds it is one of)")
        if self.fold is not None and self.folds is not None and self.fold > self.folds:
            raise ValueError(f"fold = {self.fold} but there are only folds = {self.folds}")
        if self.folds is not None and self.train_on_val:
            raise ValueError("folds and train_on_val exclude each other: in k-fold "
                             "cross-validation each fold in turn is the validation split")
        return self

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataSection:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction = {self.val_fraction + self.test_fraction:g} "
                "leaves nothing to train on; keep their sum below 1"
            )
        return self


# --- [models.<role>] -------------------------------------------------------


class ModelEntry(Section):
    """One named model: a registry name, its weights, and its factory's keys."""

    name: str = Field(..., description="registry name, name.tag, plugin:name or hf://org/repo")
    #: None: the component's default weights when it has any, else random initialisation
    weights: str | None = Field(default=None,
                                description='"default", a tag, a URI, "none", or unset')
    cfg: dict[str, Any] = Field(default_factory=dict)


# --- [train] ----------------------------------------------------------------


class OptimizerSection(Section):
    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="sgd only")
    betas: list[float] = Field(
        default_factory=lambda: [0.9, 0.999], min_length=2, max_length=2,
        description="adam/adamw only",
    )
    nesterov: bool = False

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: list[float]) -> list[float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"both betas must be in [0, 1), got {v}")
        return v

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerSection:
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs name = 'sgd' and momentum > 0")
        return self


class ScheduleSection(Section):
    name: Literal["none", "cosine", "step", "plateau"] = "none"
    warmup_epochs: int = Field(default=0, ge=0)
    step_size: int = Field(default=10, ge=1, description="step: epochs between decays")
    gamma: float = Field(default=0.1, gt=0.0, le=1.0, description="step: decay factor")
    patience: int = Field(default=2, ge=0, description="plateau: epochs without improvement")
    factor: float = Field(default=0.1, gt=0.0, lt=1.0, description="plateau: decay factor")
    min_lr: float = Field(default=0.0, ge=0.0)


class RoleOptimizer(OptimizerSection):
    """``[optimizers.<role>]``: one role's optimizer; unset keys come from the task's
    defaults for the role, then ``[train.optimizer]``; ``schedule`` from
    ``[train.schedule]`` when absent."""

    schedule: ScheduleSection | None = None


class EarlyStoppingSection(Section):
    enabled: bool = False
    #: None: the task's default monitor; mode None: the metric's direction
    monitor: str | None = None
    mode: MonitorMode | None = None
    patience: int = Field(default=5, ge=0)
    min_delta: float = Field(default=0.0, ge=0.0)
    restore_best: bool = True

    @field_validator("monitor")
    @classmethod
    def _monitor_ok(cls, v: str | None) -> str | None:
        return None if v is None else _check_monitor(v)


class CheckpointSection(Section):
    #: None: the task's default monitor; mode None: the metric's direction
    monitor: str | None = None
    mode: MonitorMode | None = None

    @field_validator("monitor")
    @classmethod
    def _monitor_ok(cls, v: str | None) -> str | None:
        return None if v is None else _check_monitor(v)


class RegularizerSpec(BaseModel):
    """``name`` plus the regularizer's own keys (checked against its factory)."""

    model_config = ConfigDict(extra="allow", strict=True)

    name: str

    @property
    def cfg(self) -> dict[str, Any]:
        """The keys handed to the regularizer factory."""
        return dict(self.model_extra or {})


class TrainSection(Section):
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"
    deterministic: bool = False
    max_steps_per_epoch: int | None = Field(default=None, ge=1)
    clip_grad_norm: float | None = Field(default=None, gt=0.0)
    optimizer: OptimizerSection = Field(default_factory=OptimizerSection)
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)
    early_stopping: EarlyStoppingSection = Field(default_factory=EarlyStoppingSection)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    regularizers: list[RegularizerSpec] = Field(default_factory=list)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE.match(v):
            raise ValueError(f"expected auto, cpu, mps, cuda or cuda:N, got {v!r}")
        return v


# --- [prune] ----------------------------------------------------------------

#: torch.nn module types ``prune.modules`` may name (zoo_core.export.prune.MODULE_TYPES)
PruneModule = Literal["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                      "ConvTranspose3d", "Linear"]

_DEFAULT_PRUNE_MODULES: list[PruneModule] = ["Conv2d", "Linear"]


class PruneSection(Section):
    """``[prune]``: magnitude pruning of one role's model on a schedule over epochs,
    fine-tuned in the same run; the masks are made permanent before the final save.
    Epochs count from 1; pruning acts at the start of ``start_epoch`` .. ``end_epoch``."""

    role: str | None = Field(default=None, description="None: the task's main role")
    method: Literal["global_l1", "ln_structured"] = "global_l1"
    amount: float = Field(..., ge=0.0, lt=1.0, description="target sparsity")
    start_epoch: int = Field(default=1, ge=1)
    #: None: start_epoch (prune once, then fine-tune)
    end_epoch: int | None = Field(default=None, ge=1)
    schedule: Literal["cubic", "linear", "constant"] = "cubic"
    n: int = Field(default=2, ge=1, description="ln_structured: the norm of the slices")
    dim: int = Field(default=0, ge=0, description="ln_structured: the weight axis of the slices")
    modules: list[PruneModule] = Field(default_factory=lambda: _DEFAULT_PRUNE_MODULES.copy(),
                                       min_length=1)
    exclude: list[str] = Field(default_factory=list, description="fnmatch patterns of names")
    keep_last: bool = True

    @model_validator(mode="after")
    def _epochs_ordered(self) -> PruneSection:
        if self.end_epoch is None:
            self.end_epoch = self.start_epoch
        if self.end_epoch < self.start_epoch:
            raise ValueError(f"end_epoch = {self.end_epoch} comes before start_epoch = "
                             f"{self.start_epoch}; pruning runs from start_epoch to end_epoch")
        return self


# --- [eval] -----------------------------------------------------------------


class EvalSection(Section):
    split: Literal["train", "val", "test"] | None = Field(
        default=None, description='None: "test" when the data set has one, else "val"')
    batch_size: int | None = Field(default=None, ge=1)


# --- the whole recipe --------------------------------------------------------


def _roles_named(value: dict[str, Any], what: str) -> dict[str, Any]:
    for role in value:
        if not _ROLE.match(role):
            raise ValueError(f"{what}: role {role!r} is not a name (lower case letters, digits "
                             "and '_', starting with a letter)")
    return value


class Recipe(Section):
    """A parsed, schema-checked recipe. Build it with :func:`zoo_core.recipe.load_recipe`;
    a task's recipe class (:func:`zoo_core.recipe.recipe_class`) derives from this one."""

    recipe: RecipeMeta = Field(default_factory=RecipeMeta)
    data: DataSection
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    optimizers: dict[str, RoleOptimizer] = Field(default_factory=dict)
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    #: optional: None (no table) prunes nothing
    prune: PruneSection | None = None
    #: the task's own section; the task's recipe class replaces this with its Options
    task: dict[str, Any] = Field(default_factory=dict)
    #: read by `zoo sweep` (zoo_core.sweep.spec checks it); `zoo run` ignores it
    sweep: dict[str, Any] | None = None

    _source: str | None = PrivateAttr(default=None)

    @field_validator("models", "optimizers")
    @classmethod
    def _role_names(cls, v: dict[str, Any], info: Any) -> dict[str, Any]:
        return _roles_named(v, str(info.field_name))

    @model_validator(mode="after")
    def _resolve_dependent_defaults(self) -> Recipe:
        if self.data.split_seed is None:
            self.data.split_seed = self.recipe.seed
        if self.eval.batch_size is None:
            self.eval.batch_size = self.train.batch_size
        return self

    # -- conveniences -----------------------------------------------------------
    @property
    def source(self) -> str | None:
        """The file this recipe was loaded from (None when built in code)."""
        return self._source

    @property
    def name(self) -> str:
        return self.recipe.name or "recipe"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (None values kept); ``Recipe.model_validate`` reads it back."""
        return self.model_dump(mode="python")

    def to_toml(self) -> str:
        """The fully resolved recipe as TOML (TOML has no null: None keys are left out,
        and every key that may be None defaults to None, so it loads back identically)."""
        import tomli_w

        header = "# Fully resolved recipe written by zoo: every key, every default.\n"
        return header + tomli_w.dumps(drop_none(self.to_dict()))


def drop_none(value: Any) -> Any:
    """``value`` without the None entries of its tables (TOML has no null)."""
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value
