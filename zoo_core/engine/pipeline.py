"""Everything a recipe builds before the first step, and one training step.

:func:`build_pipeline` is what ``zoo run`` trains with and what ``zoo bench
RECIPE`` times (contract C): data (through the task), model with weights,
regularizer hooks, loaders, device, precision, then per phase the freezing,
optimizer and schedule. :meth:`Pipeline.train_step` is one complete
optimizer step on one batch.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zoo_core.data.dataset import BadImagePolicy
from zoo_core.data.loaders import make_loader
from zoo_core.engine.devices import (
    Precision,
    pin_memory_for,
    prepare_model,
    resolve_device,
    to_device,
)
from zoo_core.engine.feature_cache import FeatureLoader, FeatureSet, compute_features
from zoo_core.engine.hooks import HookSet
from zoo_core.engine.optim import EpochSchedule, build_optimizer, param_groups
from zoo_core.engine.seeding import seed_everything, set_deterministic
from zoo_core.engine.task import ModelSpec, StepOutput, TaskData
from zoo_core.engine.transfer import (
    CachedHeadNet,
    FrozenBackboneNet,
    ModelParts,
    StageMap,
    apply_freeze,
    frozen_path_matches,
    frozen_stage_count,
    set_train_mode,
)
from zoo_core.errors import ZooError


@dataclass
class Phase:
    """A span of epochs with one mode and one optimizer ([[stages]] or the whole run)."""

    name: str
    epochs: int
    mode: str
    freeze_stages: int
    unfreeze_at: dict[int, int]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    stage_lr_mult: list[float]
    head_lr_mult: float


def phases_of(recipe: Any) -> list[Phase]:
    model, train = recipe.model, recipe.train
    base_opt = train.optimizer.model_dump()
    unfreeze = {int(k): int(v) for k, v in (model.unfreeze_at or {}).items()}
    common = dict(optimizer=base_opt, schedule=train.schedule.model_dump())
    if not recipe.stages:
        return [Phase("train", train.epochs, model.mode, model.freeze_stages, unfreeze,
                      stage_lr_mult=list(model.stage_lr_mult), head_lr_mult=model.head_lr_mult,
                      **common)]
    phases = []
    for i, st in enumerate(recipe.stages):
        opt = dict(base_opt)
        if st.lr is not None:
            opt["lr"] = st.lr
        if st.weight_decay is not None:
            opt["weight_decay"] = st.weight_decay
        phases.append(Phase(
            name=st.name or f"stage{i + 1}", epochs=st.epochs, mode=st.mode or model.mode,
            freeze_stages=st.freeze_stages if st.freeze_stages is not None
            else model.freeze_stages,
            unfreeze_at=unfreeze,
            optimizer=opt, schedule=train.schedule.model_dump(),
            stage_lr_mult=list(st.stage_lr_mult if st.stage_lr_mult is not None
                               else model.stage_lr_mult),
            head_lr_mult=st.head_lr_mult if st.head_lr_mult is not None else model.head_lr_mult,
        ))
    return phases


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
class CacheReport:
    """What the feature cache did in a phase (shown in the report)."""

    used: bool
    reason: str
    seconds: float = 0.0
    samples: int = 0


@dataclass
class Pipeline:
    recipe: Any
    task: Any
    device: torch.device
    precision: Precision
    data: Any
    spec: ModelSpec
    parts: ModelParts | None
    stages: StageMap | None
    hooks: HookSet
    task_data: TaskData
    loaders: dict[str, Any]
    policy: BadImagePolicy
    phases: list[Phase]
    channels_last: bool = False
    frozen_path_ok: bool = False
    phase_index: int = -1
    frozen: int = 0
    optimizer: torch.optim.Optimizer | None = None
    schedule: EpochSchedule | None = None
    scaler: Any = None
    net: nn.Module | None = None
    eval_net: nn.Module | None = None
    cached: dict[str, FeatureSet] = field(default_factory=dict)
    cache_report: CacheReport | None = None
    _compiled: nn.Module | None = None

    # -- contract C ----------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        return self.spec.model

    @property
    def train_loader(self) -> Any:
        """What the current phase trains on: images, or cached features."""
        if "train" in self.cached:
            return self._feature_loader("train", shuffle=True)
        return self.loaders["train"]

    @property
    def val_loader(self) -> Any:
        return self.loaders.get("val")

    @property
    def test_loader(self) -> Any:
        return self.loaders.get("test")

    def train_step(self, batch: Any) -> torch.Tensor:
        """One full optimizer step on ``batch`` (no accumulation); returns the loss."""
        if self.optimizer is None:
            self.configure_phase(0)
        out, loss = self.forward(batch)
        self.backward(loss)
        self.optimizer_step()
        return loss.detach()

    # -- phases --------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.phases[max(self.phase_index, 0)].mode

    def phase_at(self, epoch: int) -> tuple[int, int]:
        """(phase index, epoch within the phase) of 0-based global ``epoch``."""
        start = 0
        for i, phase in enumerate(self.phases):
            if epoch < start + phase.epochs:
                return i, epoch - start
            start += phase.epochs
        return len(self.phases) - 1, epoch - (start - self.phases[-1].epochs)

    def frozen_at(self, epoch: int) -> int:
        """Frozen stage count at 0-based global ``epoch`` (unfreeze_at counts from 1)."""
        phase = self.phases[self.phase_index]
        if self.stages is None:
            return 0
        n = frozen_stage_count(phase.mode, phase.freeze_stages, self.stages.num_stages)
        if phase.mode == "partial":
            for at, frozen in sorted(phase.unfreeze_at.items()):
                if epoch + 1 >= at:
                    n = min(frozen, self.stages.num_stages)
        return n

    def configure_phase(self, index: int) -> None:
        """Freezing, optimizer and schedule for phase ``index`` (a fresh optimizer)."""
        phase = self.phases[index]
        self.phase_index = index
        if self.stages is None and phase.mode in {"feature_extract", "partial"}:
            raise ZooError(f"Mode {phase.mode!r} needs a model with a backbone and a head; "
                           f"task {self.task.name!r} did not split this model.")
        self.cached.clear()
        self.cache_report = None
        self.set_frozen(frozen_stage_count(phase.mode, phase.freeze_stages,
                                           self.stages.num_stages) if self.stages else 0)
        if self.stages is not None:
            groups = param_groups(self.stages, lr=phase.optimizer["lr"],
                                  weight_decay=phase.optimizer["weight_decay"],
                                  stage_lr_mult=phase.stage_lr_mult,
                                  head_lr_mult=phase.head_lr_mult)
        else:
            groups = [{"params": [p for p in self.model.parameters()],
                       "lr": phase.optimizer["lr"], "base_lr": phase.optimizer["lr"],
                       "weight_decay": phase.optimizer["weight_decay"], "name": "all"}]
        self.optimizer = build_optimizer(phase.optimizer, groups)
        self.schedule = EpochSchedule(self.optimizer, phase.schedule, phase.epochs)
        self.scaler = self.precision.grad_scaler()
        self._choose_nets()

    def set_frozen(self, frozen: int) -> None:
        self.frozen = frozen
        if self.stages is not None and self.parts is not None:
            apply_freeze(self.parts, self.stages, frozen)

    def set_train_mode(self) -> None:
        if self.parts is not None and self.stages is not None:
            set_train_mode(self.parts, self.stages, self.mode, self.frozen)
        else:
            self.model.train()

    def _choose_nets(self) -> None:
        full: nn.Module = self.model
        if self.recipe.train.compile:
            if self._compiled is None:
                self._compiled = torch.compile(self.model)  # type: ignore[assignment]
            full = self._compiled  # type: ignore[assignment]
        if self.mode == "feature_extract" and self.frozen_path_ok and self.parts is not None:
            self.net = FrozenBackboneNet(self.parts)
        else:
            self.net = full
        self.eval_net = full

    # -- the feature cache ---------------------------------------------------------------
    def cache_decision(self) -> tuple[bool, str]:
        """Whether this phase can train on cached features, and why (not)."""
        setting = self.recipe.train.feature_cache
        if setting is False:
            return False, "train.feature_cache = false"
        if self.mode != "feature_extract":
            return False, f"mode {self.mode!r} trains the backbone"
        if not self.frozen_path_ok:
            return False, "this model's head(pooled features) does not reproduce its output"
        if not self.task_data.train_deterministic:
            return False, "training transforms are random ([data.augment])"
        if self.hooks.modifies_inputs:
            return False, "a regularizer changes the inputs every step"
        return True, "backbone frozen and training inputs deterministic"

    def enable_feature_cache(self, should_stop: Callable[[], bool] = lambda: False,
                             on_batch: Callable[[str, int], None] | None = None) -> CacheReport:
        ok, reason = self.cache_decision()
        if not ok:
            if self.recipe.train.feature_cache is True:
                reason = f"feature_cache = true, but not possible: {reason}"
            self.cache_report = CacheReport(False, reason)
            return self.cache_report
        assert self.parts is not None
        t0 = time.perf_counter()
        samples = 0
        for split in self.loaders:
            tick = functools.partial(on_batch, split) if on_batch is not None else None
            fs = compute_features(
                self.parts, self._ordered(split), device=self.device, precision=self.precision,
                channels_last=self.channels_last, policy=self.policy, should_stop=should_stop,
                on_batch=tick)
            self.cached[split] = fs
            samples += len(fs)
        self.net = CachedHeadNet(self.parts)
        self.eval_net = self.net
        self.cache_report = CacheReport(True, reason, time.perf_counter() - t0, samples)
        return self.cache_report

    def _ordered(self, split: str) -> Any:
        """A non-shuffled loader over ``split`` with the evaluation transform."""
        if split == "train":
            loader = self.loaders["train"]
            return make_loader(loader.dataset, batch_size=self.recipe.eval.batch_size,
                               shuffle=False, num_workers=loader.num_workers,
                               pin_memory=loader.pin_memory)
        return self.loaders[split]

    def _feature_loader(self, split: str, *, shuffle: bool) -> FeatureLoader:
        batch = self.recipe.train.batch_size if split == "train" else self.recipe.eval.batch_size
        return FeatureLoader(self.cached[split], batch_size=batch, shuffle=shuffle,
                             seed=self.recipe.recipe.seed)

    def eval_loader(self, split: str) -> Any:
        if split in self.cached:
            return self._feature_loader(split, shuffle=False)
        return self.loaders[split]

    # -- one step, in pieces the trainer reuses -------------------------------------------
    def to_device(self, batch: Any) -> Any:
        return to_device(batch, self.device, channels_last=self.channels_last)

    def forward(self, batch: Any) -> tuple[StepOutput, torch.Tensor]:
        """Forward pass and loss (task loss plus regularizer terms) on a device batch."""
        batch = self.hooks.on_batch(self.to_device(batch))
        assert self.net is not None
        with self.precision.autocast():
            out = self.task.forward_loss(self.net, batch)
            loss = out.loss
            extra = self.hooks.loss_terms(self.model)
            if extra is not None:
                loss = loss + extra
        return out, loss

    def backward(self, loss: torch.Tensor, divide: int = 1) -> None:
        scaled = loss / divide if divide > 1 else loss
        if self.scaler is not None:
            scaled = self.scaler.scale(scaled)
        scaled.backward()

    def optimizer_step(self) -> None:
        assert self.optimizer is not None
        clip = self.recipe.train.clip_grad_norm
        if clip:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.grad is not None], clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def build_pipeline(recipe: Any, device: str | torch.device | None = None, *,
                   warn: Callable[[str], None] | None = None) -> Pipeline:
    """Build everything ``recipe`` describes, ready for the first training step."""
    from zoo_core.plugins import registry

    seed_everything(recipe.recipe.seed)
    set_deterministic(recipe.train.deterministic)
    dev = device if isinstance(device, torch.device) else resolve_device(
        device or recipe.train.device)
    precision = Precision(recipe.train.precision, dev)
    task = registry().get("task", recipe.recipe.task).component.create()
    data = task.build_data(recipe)
    spec: ModelSpec = task.create_model(recipe, data)
    model = spec.model
    parts = task.parts(model)
    hooks = build_regularizers(recipe)
    hooks.on_model_built(model, parts)
    task_data = task.datasets(recipe, data, spec.data_config)
    pin = pin_memory_for(recipe.data.pin_memory, dev)
    loaders: dict[str, Any] = {}
    for split, dataset in task_data.datasets.items():
        train = split == "train"
        loaders[split] = make_loader(
            dataset, batch_size=recipe.train.batch_size if train else recipe.eval.batch_size,
            shuffle=train, seed=recipe.recipe.seed, num_workers=recipe.data.num_workers,
            pin_memory=pin, persistent_workers=recipe.data.persistent_workers)
    frozen_ok = False
    stages = StageMap(parts) if parts is not None else None
    if parts is not None and parts.features is not None:
        frozen_ok = frozen_path_matches(parts, _example_input(spec.data_config))
    prepare_model(model, dev, channels_last=recipe.train.channels_last)
    pipe = Pipeline(
        recipe=recipe, task=task, device=dev, precision=precision, data=data, spec=spec,
        parts=parts, stages=stages, hooks=hooks, task_data=task_data, loaders=loaders,
        policy=BadImagePolicy(recipe.data.bad_images, warn), phases=phases_of(recipe),
        channels_last=recipe.train.channels_last, frozen_path_ok=frozen_ok,
    )
    pipe.configure_phase(0)
    return pipe


def _example_input(data_config: dict[str, Any]) -> torch.Tensor:
    c, h, w = data_config["input_size"]
    gen = torch.Generator().manual_seed(0)
    return torch.randn(2, c, h, w, generator=gen)
