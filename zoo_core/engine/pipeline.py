"""Everything a recipe builds before the first step, and one training step.

:func:`build_pipeline` is what ``zoo run`` trains with and what ``zoo bench
RECIPE`` times: the task, its data and named models (with weights),
regularizer hooks, loaders, device, precision, and per phase the optimizers
and schedules of every role. :meth:`Pipeline.train_step` is one complete
optimizer step of the task on one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zoo_core.data.dataset import BadImagePolicy, Batch
from zoo_core.data.loaders import make_loader
from zoo_core.engine import distributed
from zoo_core.engine.context import StepContext
from zoo_core.engine.devices import Precision, pin_memory_for, prepare_model, resolve_device
from zoo_core.engine.hooks import HookSet
from zoo_core.engine.optim import EpochSchedule, build_optimizer, role_optimizer
from zoo_core.engine.seeding import seed_everything, set_deterministic
from zoo_core.engine.task import ModelSpec, Phase, Task, TaskData
from zoo_core.errors import ZooError


def build_regularizers(recipe: Any) -> HookSet:
    from zoo_core.plugins import registry

    items = []
    for i, spec in enumerate(recipe.train.regularizers):
        comp = registry().get("regularizer", spec.name).component
        try:
            items.append(comp.create(**spec.cfg))
        except TypeError as exc:
            raise ZooError(f"train.regularizers[{i}] ({spec.name}): {exc}. "
                           f"See `zoo info {spec.name}` for its keys.") from exc
    return HookSet(items)


@dataclass
class BuildContext:
    """What a task's ``build_*`` methods are given."""

    recipe: Any
    device: torch.device
    #: evaluating saved models: role -> the saved config.json (else empty)
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)
    warn: Callable[[str], None] = lambda msg: None
    #: the pipeline serves ``zoo eval``: every split, "train" included, is evaluation data
    evaluating: bool = False


@dataclass
class Pipeline:
    recipe: Any
    task: Task
    device: torch.device
    precision: Precision
    data: TaskData
    specs: dict[str, ModelSpec]
    hooks: HookSet
    datasets: dict[str, Any]
    loaders: dict[str, Any]
    policy: BadImagePolicy
    phases: list[Phase]
    ctx: StepContext
    channels_last: bool = False
    phase_index: int = -1
    schedules: dict[str, EpochSchedule] = field(default_factory=dict)
    _compiled: dict[str, nn.Module] = field(default_factory=dict)

    # -- what zoo bench RECIPE and the trainer use --------------------------------------
    @property
    def models(self) -> dict[str, nn.Module]:
        return {role: spec.model for role, spec in self.specs.items()}

    @property
    def model(self) -> nn.Module:
        """The task's main model."""
        return self.specs[self.task.main_role].model

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.ctx.optimizers

    @property
    def train_loader(self) -> Any:
        """What the current phase trains on (the task may have swapped in cached features)."""
        return self.loader("train")

    def loader(self, split: str) -> Any:
        return self.ctx.loader_overrides.get(split, self.loaders.get(split))

    @property
    def training_roles(self) -> list[str]:
        return [r for r in self.specs if self.task.roles.get(r) is None
                or self.task.roles[r].trains]

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One full optimizer step of the task on ``batch`` (no accumulation)."""
        if self.phase_index < 0:
            self.configure_phase(0)
            self.start_epoch(0)
        self.ctx.boundary = True
        values = self.step(batch)
        return values

    def start_epoch(self, epoch: int) -> None:
        self.ctx.epoch = epoch
        self.task.start_epoch(epoch, self.ctx)
        if self.ctx.replicas is not None:
            self.ctx.replicas.refresh()

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The task's step on a host batch (moved to the device, regularizers applied)."""
        b = self.hooks.on_batch(self.to_device(batch))
        with distributed.stepping(self.ctx):
            values = self.task.train_step(b, self.ctx)
        self.ctx.end_batch()
        self.ctx.global_step += 1
        return values

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return self.ctx.to_device(batch, self.channels_last)

    # -- phases ------------------------------------------------------------------------
    def phase_at(self, epoch: int) -> tuple[int, int]:
        """(phase index, epoch within the phase) of 0-based global ``epoch``."""
        start = 0
        for i, phase in enumerate(self.phases):
            if epoch < start + phase.epochs:
                return i, epoch - start
            start += phase.epochs
        return len(self.phases) - 1, epoch - (start - self.phases[-1].epochs)

    def configure_phase(self, index: int) -> None:
        """The task's phase start (freezing...), then fresh optimizers and schedules."""
        phase = self.phases[index]
        self.phase_index = index
        self.ctx.loader_overrides.clear()
        self.task.start_phase(phase, self.ctx)
        self.ctx.optimizers = {}
        self.schedules = {}
        for role in self.training_roles:
            spec = self.task.roles.get(role)
            opt = role_optimizer(self.recipe, role, spec.optimizer if spec else {})
            opt.update(phase.optimizers.get(role, {}))
            groups = self.task.param_groups(role, self.specs[role].model, opt, phase)
            optimizer = build_optimizer(opt, groups)
            self.ctx.optimizers[role] = optimizer
            self.schedules[role] = EpochSchedule(optimizer, opt["schedule"], phase.epochs)
        self.ctx.scaler = self.precision.grad_scaler()
        # after the task's phase start: DDP covers the parameters that train in this phase
        self.ctx.replicas = distributed.replicate(
            {role: spec.model for role, spec in self.specs.items()}, self.training_roles,
            self.device, compile=self.recipe.train.compile)

    def compiled(self, role: str) -> nn.Module:
        """``torch.compile`` of a role's model, made once (train.compile)."""
        if role not in self._compiled:
            self._compiled[role] = torch.compile(self.specs[role].model)  # type: ignore[assignment]
        return self._compiled[role]


def build_pipeline(recipe: Any, device: str | torch.device | None = None, *,
                   warn: Callable[[str], None] | None = None,
                   saved: Mapping[str, Any] | None = None,
                   evaluating: bool | None = None) -> Pipeline:
    """Build everything ``recipe`` describes, ready for the first training step.

    ``saved`` (role -> :class:`~zoo_core.engine.evaluate.Saved`) evaluates saved
    models instead of building them from the recipe's weights; ``evaluating``
    (default: whether ``saved`` is given) tells the task the pipeline only evaluates.
    """
    from zoo_core.recipe import task_of

    seed_everything(recipe.recipe.seed)
    set_deterministic(recipe.train.deterministic)
    dev = device if isinstance(device, torch.device) else resolve_device(
        device or recipe.train.device)
    precision = Precision(recipe.train.precision, dev)
    task: Task = task_of(recipe)
    bctx = BuildContext(recipe, dev, {r: s.config for r, s in (saved or {}).items()},
                        warn or (lambda msg: None),
                        bool(saved) if evaluating is None else evaluating)
    data = task.build_data(bctx)
    if saved:
        specs = {role: ModelSpec(s.model, s.config, s.data_config, s.lock)
                 for role, s in saved.items()}
    else:
        specs = task.build_models(data, bctx)
    hooks = build_regularizers(recipe)
    if task.main_role in specs:
        hooks.on_model_built(specs[task.main_role].model)
    datasets = task.datasets(data, specs, bctx)
    pin = pin_memory_for(recipe.data.pin_memory, dev)
    loaders: dict[str, Any] = {}
    for split, dataset in datasets.items():
        train = split == "train" and not bctx.evaluating
        loaders[split] = make_loader(
            dataset, batch_size=recipe.train.batch_size if train else recipe.eval.batch_size,
            shuffle=train, seed=recipe.recipe.seed, num_workers=recipe.data.num_workers,
            pin_memory=pin, persistent_workers=recipe.data.persistent_workers,
            drop_last=train and getattr(task, "drop_last", False), shard=distributed.shard())
    for spec in specs.values():
        prepare_model(spec.model, dev, channels_last=recipe.train.channels_last)
    policy = BadImagePolicy(recipe.data.bad_images, warn)
    ctx = StepContext(
        models={role: spec.model for role, spec in specs.items()}, device=dev,
        precision=precision, grad_accum=int(recipe.train.grad_accum),
        clip_grad_norm=recipe.train.clip_grad_norm, hooks=hooks,
        penalty_role=task.main_role, seed=int(recipe.recipe.seed))
    pipe = Pipeline(
        recipe=recipe, task=task, device=dev, precision=precision, data=data, specs=specs,
        hooks=hooks, datasets=datasets, loaders=loaders, policy=policy, phases=task.phases(),
        ctx=ctx, channels_last=recipe.train.channels_last)
    ctx.extras.update({"pipeline": pipe, "loaders": loaders, "policy": policy})
    if recipe.train.compile:
        ctx.models = {role: pipe.compiled(role) for role in specs}
    return pipe
