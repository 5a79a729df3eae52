"""The training loop: epochs, steps, evaluation, callbacks, checkpoints, resume.

The same for every task: the task's ``train_step`` runs inside it, with
whatever models and optimizers the task has.

Exact resume. Everything random in an epoch is a function of (seed, epoch):
the sample order and each sample's augmentation (see
:mod:`zoo_core.data.loaders`), and the model-side RNG (dropout, a GAN's
noise), reseeded at the start of every epoch. The checkpoint written after
each epoch holds the rest (every role's weights, optimizer and schedule, the
gradient scaler, callbacks, history, the task's own state), so a run killed
at any moment and resumed from it ends with the same weights as one that was
never interrupted (on CPU, where kernels are deterministic).

Ctrl-C finishes the current optimizer step, saves a checkpoint that also
records the position inside the epoch (and the RNG state), and stops; a
second Ctrl-C aborts at once. A non-finite value from a step stops the run
without writing anything, so the last good checkpoint stays as it was.

With several processes (DDP, :mod:`zoo_core.engine.distributed`) every
process runs this loop on its shard of the data: metrics are reduced across
processes before anyone looks at them, Ctrl-C and non-finite values are
agreed on at fixed steps so that all processes stop after the same one, and
only rank 0 writes the run folder.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from zoo_core.data.dataset import batch_size
from zoo_core.engine import distributed
from zoo_core.engine.callbacks import EarlyStopping, Monitor
from zoo_core.engine.checkpoint import load_checkpoint, save_checkpoint
from zoo_core.engine.context import StopRequested
from zoo_core.engine.meters import MeanMeter
from zoo_core.engine.pipeline import Pipeline
from zoo_core.engine.progress import TrainProgress, format_metrics
from zoo_core.engine.pruning import attach as attach_pruning
from zoo_core.engine.rundir import RunFolder
from zoo_core.engine.seeding import epoch_seed, rng_state, seed_everything, set_rng_state
from zoo_core.errors import ZooError

#: with several processes on a GPU, how many steps apart they agree on Ctrl-C and NaN
#: (each agreement is a device sync; on the CPU they agree after every step)
AGREE_EVERY = 20


class NonFiniteLoss(ZooError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(Exception):
    """Ctrl-C: the state was saved (``saved``) and the run can be resumed."""

    def __init__(self, message: str, saved: bool):
        super().__init__(message)
        self.saved = saved


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_value: float | None
    stopped_early: bool


class _StopFlag:
    """SIGINT handler: the first Ctrl-C asks to stop; the second aborts."""

    def __init__(self, log: Callable[[str], None]):
        self.requested = False
        self.log = log
        self._previous: Any = None
        self._at = 0.0

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            # torchrun versions that leave workers in the terminal's process group hand
            # them the same Ctrl-C a second time, a moment later: that one is not a second
            if distributed.launched() and time.monotonic() - self._at < 1.0:
                return
            raise KeyboardInterrupt
        self.requested = True
        self._at = time.monotonic()
        self.log("[yellow]Ctrl-C: finishing this step and saving a checkpoint "
                 "(press Ctrl-C again to abort without saving)[/yellow]")


class Trainer:
    """Runs a :class:`Pipeline` for the recipe's epochs, writing into a run folder.

    ``on_epoch_end(metrics)`` is called after each epoch is recorded (a sweep
    reports to its pruner there; an exception raised in it ends the run, the
    epoch's checkpoint already written).
    """

    def __init__(self, pipe: Pipeline, run: RunFolder, progress: TrainProgress,
                 on_epoch_end: Callable[[dict[str, Any]], None] | None = None):
        self.pipe = pipe
        self.on_epoch_end = on_epoch_end  # see run_recipe; may raise to stop the run
        self.run = run
        self.progress = progress
        self.on_epoch_end = on_epoch_end
        r = pipe.recipe
        self.seed = int(r.recipe.seed)
        self.total_epochs = int(r.train.epochs)
        cp, es = r.train.checkpoint, r.train.early_stopping
        self.best = Monitor(cp.monitor, cp.mode or "max")
        self.early = (EarlyStopping(es.monitor, es.mode or "min", es.patience, es.min_delta)
                      if es.enabled else None)
        self.restore_best = es.restore_best if es.enabled else True
        has_val = "val" in pipe.loaders
        metrics = pipe.task.metrics()
        self.plateau_key = (("val/loss" if has_val else "train/loss") if "loss" in metrics
                            else self.best.key)
        self.plateau_mode = metrics.get((self.plateau_key or "/").split("/", 1)[1], "min")
        splits = {"train", "val"} if has_val else {"train"}  # what each epoch measures
        for what, key in (("train.checkpoint.monitor", self.best.key),
                          ("train.early_stopping.monitor", es.monitor if es.enabled else None)):
            split = key.split("/", 1)[0] if key else None
            if split is not None and split not in splits:
                progress.log(f"[yellow]warning:[/yellow] {what} = {key!r}, but no {split} "
                             "metrics are measured each epoch; it is ignored.")
        keys = pipe.task.progress_keys
        self.summary_keys = tuple(dict.fromkeys((
            *(f"train/{k}" for k in keys), *(f"val/{k}" for k in keys),
            *((self.best.key,) if self.best.key else ()), "train/lr")))
        self.history: list[dict[str, Any]] = []
        self.stop = _StopFlag(progress.log)
        self._resume: dict[str, Any] | None = None
        ctx = pipe.ctx
        ctx.log = progress.log
        ctx.should_stop = lambda: self.stop.requested
        ctx.report_progress = self._setup_progress
        self.pruning = attach_pruning(self)  # [prune]; None without it

    def _setup_progress(self, label: str, done: int, total: int) -> None:
        if done == 0:
            self.progress.start_epoch(label, total)
        elif self.progress.due() or done == total:
            self.progress.advance(done)

    # -- resume -----------------------------------------------------------------------
    def load(self, path: Any) -> dict[str, Any]:
        """Load a checkpoint's models, history and callback states (optimizers later,
        once their phase is configured)."""
        state = load_checkpoint(path, self.pipe.task.main_role)
        saved_world = int(state.get("world_size", 1))
        if state["step"] and saved_world != distributed.world_size():
            raise ZooError(
                f"The checkpoint in {path} was written in the middle of an epoch by "
                f"{saved_world} process(es); resume it with {saved_world} (--nproc "
                f"{saved_world}). A checkpoint from the end of an epoch resumes with any "
                "number of processes.")
        for role, weights in state["models"].items():
            self.pipe.specs[role].model.load_state_dict(weights)
        self.history = list(state["history"])
        self.best.load_state_dict(state["best"])
        if self.early is not None and state.get("early") is not None:
            self.early.load_state_dict(state["early"])
        self.pipe.hooks.load_state_dict(state.get("hooks", []))
        self.pipe.task.load_state_dict(state.get("task") or {})
        self._resume = state
        return state

    def _state(self, epoch: int, step: int, meter: MeanMeter | None = None) -> dict[str, Any]:
        """What a checkpoint holds. In the middle of an epoch with several processes this
        is collective: each process's RNG state is kept (``rng_ranks``)."""
        p = self.pipe
        state: dict[str, Any] = {
            "epoch": epoch, "step": step, "phase": p.phase_index,
            "total_epochs": self.total_epochs,
            "models": {role: spec.model.state_dict() for role, spec in p.specs.items()},
            "optimizers": {role: opt.state_dict() for role, opt in p.optimizers.items()},
            "schedules": {role: s.state_dict() for role, s in p.schedules.items()},
            "scaler": p.ctx.scaler.state_dict() if p.ctx.scaler is not None else None,
            "rng": rng_state(),
            "history": self.history,
            "best": self.best.state_dict(),
            "early": self.early.state_dict() if self.early is not None else None,
            "hooks": p.hooks.state_dict(),
            "task": p.task.state_dict(),
            "meter": meter.state_dict() if meter is not None and step else None,
            "global_step": p.ctx.global_step,
            "world_size": distributed.world_size(),
        }
        if step and distributed.active():
            state["rng_ranks"] = distributed.gather(rng_state())
        return state

    # -- the loop ---------------------------------------------------------------------
    def fit(self) -> FitResult:
        p = self.pipe
        start_epoch, start_step = 0, 0
        resume = self._resume
        if resume is not None:
            start_epoch, start_step = int(resume["epoch"]), int(resume["step"])
            p.ctx.global_step = int(resume.get("global_step", 0))
        stopped_early = False
        with self.stop:
            self.progress.start_run(self.total_epochs, start_epoch)
            epoch = start_epoch
            configured = None
            while epoch < self.total_epochs:
                phase_index, in_phase = p.phase_at(epoch)
                if phase_index != configured:
                    self._start_phase(phase_index)
                    configured = phase_index
                    if resume is not None and int(resume["phase"]) == phase_index:
                        self._restore_optimizers(resume)
                for schedule in p.schedules.values():
                    schedule.set_epoch(in_phase)
                if self.pruning is not None and not (start_step and resume is not None):
                    self.pruning.epoch_start(epoch)
                if start_step and resume is not None:
                    ranks = resume.get("rng_ranks")
                    set_rng_state(ranks[distributed.rank()] if ranks else resume["rng"])
                else:
                    # each process draws its own model-side noise (a GAN's z)
                    seed_everything(epoch_seed(self.seed, epoch) + distributed.rank())
                # a mid-epoch checkpoint holds every process's partial sums: load them once
                meter_state = resume.get("meter") if (resume and start_step
                                                      and distributed.is_main()) else None
                train_metrics, seconds, samples = self._train_epoch(epoch, start_step,
                                                                   meter_state)
                start_step, resume = 0, None
                metrics = self._epoch_metrics(epoch, train_metrics, seconds, samples)
                if "val" in p.loaders:
                    metrics.update({f"val/{k}": v for k, v in
                                    self.evaluate("val").compute().items()})
                stop = self._end_epoch(epoch, metrics)
                epoch += 1
                if distributed.any_rank(self.stop.requested)[0]:
                    raise TrainingInterrupted(
                        f"Interrupted after epoch {epoch}; checkpoint saved.", saved=True)
                if stop:
                    stopped_early = True
                    break
        return FitResult(self.history, self.best.best_epoch, self.best.best, stopped_early)

    def _restore_optimizers(self, resume: dict[str, Any]) -> None:
        p = self.pipe
        for role, opt in p.optimizers.items():
            opt.load_state_dict(resume["optimizers"][role])
        for role, schedule in p.schedules.items():
            schedule.load_state_dict(resume["schedules"][role])
        if p.ctx.scaler is not None and resume.get("scaler"):
            p.ctx.scaler.load_state_dict(resume["scaler"])

    def _start_phase(self, index: int) -> None:
        p = self.pipe
        phase = p.phases[index]
        if len(p.phases) > 1:
            detail = phase.info.get("summary")
            self.progress.log(f"[bold]phase {phase.name}[/bold]: {phase.epochs} epochs"
                              + (f", {detail}" if detail else ""))
        try:
            p.configure_phase(index)
        except StopRequested:
            raise TrainingInterrupted("Interrupted while the phase was being set up; nothing "
                                      "new to save.", saved=False) from None

    def _train_epoch(self, epoch: int, start_step: int, meter_state: dict[str, Any] | None
                     ) -> tuple[dict[str, float], float, int]:
        p = self.pipe
        r = p.recipe
        ctx = p.ctx
        loader = p.train_loader
        loader.sampler.set_epoch(epoch, start=start_step * r.train.batch_size)
        total = start_step + len(loader)
        if r.train.max_steps_per_epoch:
            total = min(total, int(r.train.max_steps_per_epoch))
        meter = MeanMeter()
        if meter_state is not None:
            meter.load_state_dict(meter_state, p.device)
        accum = int(r.train.grad_accum)
        check_each_step = p.device.type == "cpu"
        agree_every = 1 if check_each_step else AGREE_EVERY
        nonfinite = torch.zeros((), dtype=torch.bool, device=p.device)
        p.start_epoch(epoch)
        ctx.zero_grad()
        self.progress.start_epoch(f"epoch {epoch + 1}/{self.total_epochs}", total, start_step)
        step = start_step
        samples = 0
        t0 = time.perf_counter()
        for batch in loader:
            p.policy.check(batch.skipped)
            ctx.boundary = (step + 1) % accum == 0 or step + 1 == total
            if batch:
                values = p.step(batch)
                finite = torch.stack([v.detach().float().reshape(()) for v in values.values()])
                if check_each_step and not distributed.active() \
                        and not bool(torch.isfinite(finite).all()):
                    self._nonfinite(epoch, step, values)
                nonfinite |= ~torch.isfinite(finite).all()
                n = batch_size(batch)
                meter.update(values, n)
                samples += n
            elif ctx.boundary:  # every sample of the batch was unreadable
                for role in ctx.optimizers:
                    if any(prm.grad is not None for prm in ctx.trainable(role)):
                        ctx.step(role)
                ctx.end_batch()
            step += 1
            if self.progress.enabled and self.progress.due():
                if not distributed.active() and bool(nonfinite):
                    self._nonfinite(epoch, step - 1, None)
                live = meter.compute()
                self.progress.advance(step, "  ".join(
                    f"{k} {live[k]:.4f}" for k in p.task.progress_keys if k in live))
            halt = self._halt(epoch, step, total, agree_every, nonfinite)
            if halt and ctx.boundary and step < total:
                state = self._state(epoch, step, distributed.reduce_meter(meter))
                if distributed.is_main():
                    save_checkpoint(self.run.checkpoint, state)
                raise TrainingInterrupted(
                    f"Interrupted in epoch {epoch + 1} at batch {step}/{total}; checkpoint "
                    "saved.", saved=True)
            if step >= total:
                break
        if distributed.any_rank(nonfinite)[0]:
            self._nonfinite(epoch, step - 1, None)
        self.progress.advance(step)
        seconds = time.perf_counter() - t0
        # rank 0's buffers (BatchNorm statistics) for evaluation and saving
        distributed.broadcast_modules(p.models.values(), buffers_only=True)
        samples = int(distributed.all_sum(samples))
        return distributed.reduce_meter(meter).compute(), seconds, samples

    def _halt(self, epoch: int, step: int, total: int, every: int,
              nonfinite: torch.Tensor) -> bool:
        """True when Ctrl-C asked to stop. With several processes they agree, at an
        accumulation boundary every ``every`` steps (and the last), so all stop after
        the same step; a non-finite value on any of them stops them all."""
        if not distributed.active():
            return self.stop.requested
        if not self.pipe.ctx.boundary or (step % every and step < total):
            return False
        stop, bad = distributed.any_rank(self.stop.requested, nonfinite)
        if bad:
            self._nonfinite(epoch, step - 1, None)
        return stop

    def _nonfinite(self, epoch: int, step: int, values: dict[str, torch.Tensor] | None) -> None:
        if values is not None:
            bad = [f"{k} = {float(v):g}" for k, v in values.items()
                   if not math.isfinite(float(v))]
            what = ", ".join(bad) or "NaN or infinite"
        else:
            what = "NaN or infinite"
        last = self.history[-1]["epoch"] if self.history else None
        kept = (f"The last good checkpoint (end of epoch {last}) is kept in "
                f"{self.run.checkpoint}, and the best models so far in {self.run.models_dir}."
                if last else "No epoch had finished, so no checkpoint was written.")
        raise NonFiniteLoss(
            f"Training became {what} in epoch {epoch + 1} (around batch {step + 1}); "
            f"training stopped. {kept} Lower the learning rate, set train.clip_grad_norm, or "
            "use precision = \"fp32\", then start again."
        )

    def evaluate(self, split: str) -> Any:
        return evaluate_split(self.pipe, split)

    def _epoch_metrics(self, epoch: int, train: dict[str, float], seconds: float,
                       samples: int) -> dict[str, Any]:
        p = self.pipe
        metrics: dict[str, Any] = {"epoch": epoch + 1, "phase": p.phases[p.phase_index].name}
        metrics.update({f"train/{k}": v for k, v in train.items()})
        if p.optimizers:
            main = p.task.main_role if p.task.main_role in p.optimizers else next(
                iter(p.optimizers))
            metrics["train/lr"] = p.ctx.lr(main)
            if len(p.optimizers) > 1:
                metrics.update({f"train/lr_{role}": p.ctx.lr(role) for role in p.optimizers})
        metrics["train/epoch_time_s"] = round(seconds, 4)
        metrics["train/samples_per_s"] = round(samples / seconds, 2) if seconds > 0 else None
        return metrics

    def _end_epoch(self, epoch: int, metrics: dict[str, Any]) -> bool:
        p = self.pipe
        p.hooks.on_epoch_end(epoch + 1, metrics)
        for role, schedule in p.schedules.items():
            value = metrics.get(self.plateau_key) if self.plateau_key else None
            if schedule.observe(value, self.plateau_mode):
                self.progress.log(f"reduce-LR-on-plateau ({role}): {self.plateau_key} did not "
                                  f"improve for {schedule.patience + 1} epochs; learning rate "
                                  f"x{schedule.factor:g}")
        improved = self.best.update(epoch + 1, metrics)
        if improved or self.best.best is None:  # never measured yet: keep the latest
            self.save_models()
        stop = self.early.step(epoch + 1, metrics) if self.early is not None else False
        made = p.task.artifacts(epoch + 1, p.ctx, self.run.artifacts) \
            if distributed.is_main() else []
        if made:
            metrics["artifacts"] = [f"artifacts/{name}" for name in made]
        self.history.append(metrics)
        if distributed.is_main():
            save_checkpoint(self.run.checkpoint, self._state(epoch + 1, 0))
            self.run.write_metrics(self.history)
        summary = f"epoch {epoch + 1}/{self.total_epochs}  " + format_metrics(
            metrics, self.summary_keys)
        summary += f"  {metrics['train/epoch_time_s']:.1f}s" + ("  *" if improved else "")
        best = self.best.best
        self.progress.end_epoch(summary, "" if best is None else f"best {self.best.key} {best:.4f}")
        if stop:
            assert self.early is not None
            self.progress.log(
                f"early stopping: {self.early.monitor.key} has not improved for "
                f"{self.early.bad_epochs} epochs (best {self.early.monitor.best:.4f} at epoch "
                f"{self.early.monitor.best_epoch})")
        if self.on_epoch_end is not None:  # after the checkpoint: a stop here loses nothing
            self.on_epoch_end(dict(metrics))
        return stop

    def save_models(self) -> None:
        from zoo_core.weights import save_model

        if not distributed.is_main():
            return
        task = self.pipe.task
        for role, spec in self.pipe.specs.items():
            if spec.save:
                save_model(self.run.model_dir(role), task.saved_module(role, spec.model),
                           spec.save_config)

    def finish_weights(self) -> str:
        """Leave the final weights in memory and in models/: the best epoch's (default)
        or, with early_stopping.restore_best = false, the last epoch's (rank 0 decides
        and reads them; every other process gets them from it)."""
        how = self._finish_weights() if distributed.is_main() else ""
        if distributed.active():
            how = distributed.broadcast_object(how)
            distributed.broadcast_modules(spec.model for spec in self.pipe.specs.values())
        return str(how)

    def _finish_weights(self) -> str:
        from zoo_core.weights.files import load_state_dict

        if self.pruning is not None:  # plain weights from here on, as models/ holds them
            self.pruning.finish()
        saved = [role for role, spec in self.pipe.specs.items() if spec.save]
        on_disk = all((self.run.model_dir(r) / "model.safetensors").exists() for r in saved)
        if not self.restore_best or self.best.best_epoch is None or not on_disk:
            self.save_models()
            return "last epoch"
        for role in saved:
            state = load_state_dict(self.run.model_dir(role) / "model.safetensors")
            self.pipe.task.saved_module(role, self.pipe.specs[role].model).load_state_dict(state)
        return f"best epoch ({self.best.key} = {self.best.best:.4f} at epoch " \
               f"{self.best.best_epoch})"


def evaluate_split(pipe: Pipeline, split: str, meter_split: str | None = None) -> Any:
    """The task's meter over one split, every model in eval mode, no gradients."""
    meter = pipe.task.meter(meter_split or split)
    loader = pipe.loader(split)
    sampler = getattr(loader, "sampler", None)
    if sampler is not None and hasattr(sampler, "set_epoch"):
        sampler.set_epoch(0)
    with pipe.ctx.evaluating():
        for batch in loader:
            pipe.policy.check(batch.skipped)
            if not batch:
                continue
            pipe.task.eval_step(pipe.to_device(batch), pipe.ctx, meter)
    return distributed.reduce_meter(meter)  # every process's shard of the split


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
