"""The task contract: what the engine asks of a task (kind ``task``).

A task knows its models, data, loss and metrics; the engine knows devices,
precision, optimizers, schedules, accumulation, checkpoints, callbacks,
resume, Ctrl-C, NaN stops, progress and the run folder. The engine never
names a task, a metric or a role: everything it needs to know comes from the
class attributes and methods below.

A task is registered with ``register_tasks``; its factory returns a
:class:`Task` instance (cheap to make: nothing is built in ``__init__``). The
engine then calls, in order:

1. ``setup(recipe)`` - the validated recipe (``recipe.task`` is an instance
   of :attr:`Task.Options`, the task's ``[task]`` section).
2. ``build_data(ctx) -> TaskData`` - sources per split and facts about them
   (class names...). ``ctx.saved`` holds the saved models' configs when a
   run is evaluated rather than trained.
3. ``build_models(data, ctx) -> {role: ModelSpec}`` - the named models with
   their weights, data config and the ``config.json`` saved beside them.
4. ``datasets(data, specs, ctx) -> {split: torch Dataset}`` - samples are
   dicts (``{"image": Tensor, "label": int}``...), collated into dicts.
5. per phase ``start_phase(phase, ctx)``, per epoch ``start_epoch(epoch, ctx)``;
   per batch ``train_step(batch, ctx) -> {name: scalar Tensor}`` (see
   :class:`~zoo_core.engine.context.StepContext`), and for evaluation
   ``eval_step(batch, ctx, meter)`` into ``meter(split)``.
6. at epoch end ``artifacts(epoch, ctx, folder)``; at the end of the run
   ``finish(ctx, folder, split, meter)`` (tables, plots, a report section).
7. ``predict(models, inputs, options, out)`` serves ``zoo predict``.

:class:`SupervisedTask` implements all of this for one model and one loss:
its subclasses write ``forward`` and ``loss`` and no loop at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import torch
    from torch import nn

    from zoo_core.engine.context import StepContext

Direction = Literal["max", "min"]


class NoOptions(BaseModel):
    """The ``[task]`` section of a task that takes no options: it must stay empty."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class Role:
    """One named model of a task.

    ``kind`` is the registry kind ``[models.<role>].name`` is looked up in;
    ``default`` the name used when the recipe names none; ``optimizer`` the
    role's optimizer defaults (under ``[train.optimizer]`` and
    ``[optimizers.<role>]``, which override them); ``reserved`` the cfg keys
    the task fills from the data (a recipe that sets them gets an error);
    ``trains`` False for a fixed network (a feature extractor) that gets no
    optimizer.
    """

    kind: str
    default: str | None = None
    cfg: Mapping[str, Any] = field(default_factory=dict)
    optimizer: Mapping[str, Any] = field(default_factory=dict)
    reserved: tuple[str, ...] = ()
    trains: bool = True
    description: str = ""


@dataclass(frozen=True)
class ModelRef:
    """What a role will load, for validation and ``zoo pull``: a registry name and its
    weights (``"default"``, a tag, a URI or ``"none"``), and where the recipe says so."""

    kind: str
    name: str
    weights: str = "default"
    path: str = ""


@dataclass
class ModelSpec:
    """A built model with what the run folder records about it.

    ``save_config`` becomes ``models/<role>/config.json``: it must let
    :func:`zoo_core.weights.load_model` rebuild the architecture (timm's
    ``architecture`` + ``num_classes``, or ``zoo.builder``).
    """

    model: nn.Module
    save_config: dict[str, Any]
    data_config: dict[str, Any] = field(default_factory=dict)
    lock: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    save: bool = True


@dataclass
class TaskData:
    """The data of a run: sources per split (see :mod:`zoo_core.data.sources`) and what
    the task wants to remember about them (class names, a value map...)."""

    splits: dict[str, Any]
    name: str = "dataset"
    classes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}


@dataclass
class Phase:
    """A span of epochs with fresh optimizers; ``optimizers`` overrides keys of each
    role's optimizer (``{"net": {"lr": 1e-3}}``); ``info`` is the task's own."""

    name: str
    epochs: int
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def default_weights(kind: str, name: str, weights: str | None) -> str:
    """``weights`` as written, or for an unset value the component's default tag when it
    has pretrained weights (``"default"``) and random initialisation (``"none"``) when not."""
    if weights is not None:
        return weights
    from zoo_core.weights.uris import names_own_config

    if names_own_config(name):
        return "default"
    from zoo_core.errors import ZooError
    from zoo_core.plugins import registry

    try:
        resolved = registry().get(kind, name)
    except ZooError:
        return "none"  # the name checks report it
    return "default" if resolved.tag is not None or resolved.component.weights else "none"


class Meter:
    """Accumulates one split's evaluation; :class:`~zoo_core.engine.meters.MeanMeter`
    is the default. Keep sums on the device: ``compute`` is called once per epoch."""

    def update(self, values: Mapping[str, Any], count: int) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any], device: Any = None) -> None:
        return None

    def reduce(self, gather: Callable[[Any], list[Any]]) -> None:
        """Several processes (DDP) each measured a shard of the split: make this meter
        hold all of them. ``gather(obj)`` returns every process's ``obj`` in rank order.
        The default adds up every number and tensor of :meth:`state_dict` across the
        processes, which is right for sums and counts (a mean's numerator and
        denominator, a confusion matrix); a meter whose state is not additive (a
        median, a list of scores) overrides this. A meter with no state syncs itself
        (torchmetrics metrics do, in ``compute``)."""
        from zoo_core.engine.distributed import sum_states

        states = gather(self.state_dict())
        if any(states):
            self.load_state_dict(sum_states(states))


class Task:
    """Base class of every task. Override what your task needs; read the module doc."""

    #: the registry name (``[recipe] task = ...``)
    name: ClassVar[str] = "task"
    #: the ``[task]`` section: a strict pydantic model
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: extra or extended recipe sections: ``{"model": Model}`` adds ``[model]``;
    #: a core section name (``train``, ``eval``, ``data``) takes a subclass of it
    sections: ClassVar[dict[str, Any]] = {}
    #: the named models
    roles: ClassVar[dict[str, Role]] = {}
    #: the role ``zoo predict``/``eval``/``export`` use, and regularizers act on
    main_role: ClassVar[str] = "net"
    #: live progress shows these train metrics
    progress_keys: ClassVar[tuple[str, ...]] = ("loss",)
    #: ``{png name: metric names}``: curves over epochs, train and val split both
    curves: ClassVar[dict[str, tuple[str, ...]]] = {"loss.png": ("loss",)}
    #: options of ``zoo predict`` (``--key value`` on the command line)
    PredictOptions: ClassVar[type[BaseModel]] = NoOptions
    #: the data set a plain folder given to ``zoo eval --data`` is read as
    folder_dataset: ClassVar[str] = "images"

    recipe: Any = None

    # -- the recipe ----------------------------------------------------------------
    def setup(self, recipe: Any) -> None:
        self.recipe = recipe

    @property
    def options(self) -> Any:
        return self.recipe.task

    def metrics(self) -> dict[str, Direction]:
        """Every metric this run reports, with its direction (after ``setup``)."""
        return {"loss": "min"}

    def default_monitor(self) -> str | None:
        """What ``train.checkpoint.monitor`` means when the recipe says nothing; None:
        the task has no metric to pick the best epoch by, so the last one is kept."""
        return "val/loss"

    def resolve(self, recipe: Any) -> None:
        """Fill defaults that depend on other keys, after the schema passed; raise
        ValueError for a rule across keys that the recipe breaks."""

    def check_recipe(self, recipe: Any) -> Iterable[Any]:
        """Problems beyond the schema: ``(level, dotted.path, message)`` tuples or
        :class:`zoo_core.recipe.Problem` s."""
        return ()

    def raw_problems(self, raw: Mapping[str, Any]) -> Iterable[Any]:
        """Registry names in the merged raw tables, checked even when the schema fails
        (so every problem shows at once): by default each ``[models.<role>]`` name, its
        weight tag and its cfg keys."""
        from zoo_core.recipe.checks import component_cfg_problems, model_name_problems

        models = raw.get("models")
        for role, entry in (models.items() if isinstance(models, Mapping) else ()):
            spec = self.roles.get(role)
            if spec is None or not isinstance(entry, Mapping):
                continue
            path = f"models.{role}"
            yield from model_name_problems(spec.kind, entry.get("name"), entry.get("weights"),
                                           f"{path}.name", f"{path}.weights")
            yield from component_cfg_problems(spec.kind, entry.get("name"), entry.get("cfg", {}),
                                              f"{path}.cfg", spec.reserved)

    def model_refs(self, recipe: Any) -> dict[str, ModelRef]:
        """What each role loads (validation checks names and weights; ``zoo pull``
        fetches them). Default: ``[models.<role>]`` or the role's default name."""
        refs = {}
        for role, spec in self.roles.items():
            entry = recipe.models.get(role)
            name = entry.name if entry is not None else spec.default
            if name is None:
                continue
            weights = entry.weights if entry is not None else None
            refs[role] = ModelRef(spec.kind, name, default_weights(spec.kind, name, weights),
                                  f"models.{role}")
        return refs

    def describe(self, recipe: Any) -> list[tuple[str, str]]:
        """(label, text) rows for ``zoo validate``, the run log and report.md."""
        rows = []
        for role, ref in self.model_refs(recipe).items():
            rows.append((f"model {role}", f"{ref.name} ({ref.kind}), weights {ref.weights}"))
        return rows

    # -- building --------------------------------------------------------------------
    def build_data(self, ctx: Any) -> TaskData:
        raise NotImplementedError

    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        raise NotImplementedError

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        raise NotImplementedError

    def phases(self) -> list[Phase]:
        """The spans of epochs with fresh optimizers; default: one for the whole run."""
        return [Phase("train", int(self.recipe.train.epochs))]

    def param_groups(self, role: str, model: nn.Module, opt: Mapping[str, Any],
                     phase: Phase) -> list[dict[str, Any]]:
        """Optimizer parameter groups of ``role``: by default weights with weight decay,
        biases and norm scales without (timm's ``filter_bias_and_bn``)."""
        from zoo_core.engine.optim import decay_groups

        return decay_groups(model.parameters(), lr=float(opt["lr"]),
                            weight_decay=float(opt["weight_decay"]))

    # -- training --------------------------------------------------------------------
    def start_phase(self, phase: Phase, ctx: StepContext) -> None:
        """A phase begins (freezing, loaders of cached features...); before its optimizers."""

    def start_epoch(self, epoch: int, ctx: StepContext) -> None:
        """Set train/eval modes for an epoch (default: every model trains)."""
        for model in ctx.models.values():
            model.train()

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def meter(self, split: str) -> Meter:
        from zoo_core.engine.meters import MeanMeter

        return MeanMeter()

    def eval_step(self, batch: dict[str, Any], ctx: StepContext, meter: Meter) -> None:
        raise NotImplementedError

    def artifacts(self, epoch: int, ctx: StepContext, folder: Path) -> list[str]:
        """Write images into ``folder`` (the run's ``artifacts/``) at the end of an epoch;
        return their names relative to it."""
        return []

    def finish(self, ctx: StepContext, folder: Path, split: str, meter: Meter) -> list[str]:
        """After the final evaluation: write tables and plots into the run ``folder``;
        return the markdown lines of the task's section of report.md."""
        return []

    def eval_tables(self, meter: Meter) -> list[tuple[str, list[str], list[list[Any]]]]:
        """Tables (title, header, rows) ``zoo eval`` shows after the metrics."""
        return []

    def card_tags(self) -> list[str]:
        """Tags for the model card (``zoo push``)."""
        return [self.name]

    # -- the task's own state in checkpoints -----------------------------------------------
    def saved_module(self, role: str, model: nn.Module) -> nn.Module:
        """The module written to ``models/<role>/`` (and loaded back there when the best
        epoch is restored): ``model`` itself, or a task's average of its weights (an EMA
        copy of the same architecture) that the task also evaluates with."""
        return model

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None

    # -- inference ---------------------------------------------------------------------------
    def model_inputs(self, role: str, batch: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The tensors of ``batch`` that ``role``'s model is called with (export parity and
        calibration on real data); None when its inputs do not come from the data (a
        generator's noise), so random inputs are used."""
        return None

    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        """``zoo predict``: ``models`` maps role -> :class:`~zoo_core.engine.evaluate.Saved`
        (module, config, data config); return JSON-able results (and write files into
        ``out``)."""
        from zoo_core.errors import ZooError

        raise ZooError(f"Task {self.name!r} has no `zoo predict`.")

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        """Tables (title, header, rows) that show ``results`` in a terminal."""
        return [("", ["result"], [[str(r)] for r in results])]

    # -- speed hints for ``zoo bench RECIPE`` -------------------------------------------------
    def bench_hints(self, row: Mapping[str, Any], ctx: Any) -> list[str]:
        return []


class SupervisedTask(Task):
    """One model (role ``net``), one loss: subclasses write ``forward`` and ``loss``.

    ``targets(batch)`` names what the loss compares against (``batch["label"]``
    by default) and ``step_metrics`` adds per-batch numbers to the loss.
    """

    input_key: ClassVar[str] = "image"
    target_key: ClassVar[str] = "label"

    def model_inputs(self, role: str, batch: Mapping[str, Any]) -> tuple[Any, ...] | None:
        if role == self.main_role and self.input_key in batch:
            return (batch[self.input_key],)
        return None

    def net(self, ctx: StepContext) -> nn.Module:
        """The module a step runs (a task may substitute a view of ``ctx.models['net']``)."""
        return ctx.models[self.main_role]

    def forward(self, net: nn.Module, batch: dict[str, Any]) -> Any:
        return net(batch[self.input_key])

    def loss(self, outputs: Any, batch: dict[str, Any], training: bool) -> torch.Tensor:
        raise NotImplementedError

    def step_metrics(self, outputs: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {}

    def train_step(self, batch: dict[str, Any], ctx: StepContext) -> dict[str, torch.Tensor]:
        with ctx.autocast():
            outputs = self.forward(self.net(ctx), batch)
            loss = self.loss(outputs, batch, True)
        total = ctx.backward(loss, self.main_role)
        ctx.step(self.main_role)
        return {"loss": total.detach(), **self.step_metrics(outputs, batch)}

    def eval_step(self, batch: dict[str, Any], ctx: StepContext, meter: Meter) -> None:
        with ctx.autocast():
            outputs = self.forward(self.net(ctx), batch)
            loss = self.loss(outputs, batch, False)
        self.update_meter(meter, outputs, batch, loss)

    def update_meter(self, meter: Meter, outputs: Any, batch: dict[str, Any],
                     loss: torch.Tensor) -> None:
        from zoo_core.data.dataset import batch_size

        meter.update({"loss": loss.detach(), **self.step_metrics(outputs, batch)},
                     batch_size(batch))
