"""The training loop: epochs, steps, evaluation, callbacks, checkpoints, resume.

Exact resume. Everything random in an epoch is a function of (seed, epoch):
the sample order and each sample's augmentation (see
:mod:`zoo_core.data.loaders`), and the model-side RNG (dropout), reseeded at
the start of every epoch. The checkpoint written after each epoch holds the
rest (weights, optimizer, schedule, scaler, callbacks, history), so a run
killed at any moment and resumed from it ends with the same weights as one
that was never interrupted (on CPU, where kernels are deterministic).

Ctrl-C finishes the current optimizer step, saves a checkpoint that also
records the position inside the epoch (and the RNG state), and stops; a
second Ctrl-C aborts at once. A non-finite loss stops the run without
writing anything, so the last good checkpoint stays as it was.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from zoo_core.engine.callbacks import EarlyStopping, Monitor
from zoo_core.engine.checkpoint import load_checkpoint, save_checkpoint
from zoo_core.engine.devices import eval_mode
from zoo_core.engine.feature_cache import CacheInterrupted
from zoo_core.engine.pipeline import Pipeline
from zoo_core.engine.progress import TrainProgress, format_metrics
from zoo_core.engine.rundir import RunFolder
from zoo_core.engine.seeding import epoch_seed, rng_state, seed_everything, set_rng_state
from zoo_core.errors import ZooError


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
    cache: list[dict[str, Any]] = field(default_factory=list)


class _StopFlag:
    """SIGINT handler: the first Ctrl-C asks to stop; the second aborts."""

    def __init__(self, log: Callable[[str], None]):
        self.requested = False
        self.log = log
        self._previous: Any = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.log("[yellow]Ctrl-C: finishing this step and saving a checkpoint "
                 "(press Ctrl-C again to abort without saving)[/yellow]")


class Trainer:
    """Runs a :class:`Pipeline` for the recipe's epochs, writing into a run folder."""

    def __init__(self, pipe: Pipeline, run: RunFolder, progress: TrainProgress,
                 on_epoch_end: Callable[[dict[str, Any]], None] | None = None):
        self.pipe = pipe
        self.on_epoch_end = on_epoch_end  # see run_recipe; may raise to stop the run
        self.run = run
        self.progress = progress
        r = pipe.recipe
        self.seed = int(r.recipe.seed)
        self.total_epochs = int(r.train.epochs)
        self.best = Monitor(r.train.checkpoint.monitor, r.train.checkpoint.mode or "max")
        es = r.train.early_stopping
        self.early = (EarlyStopping(es.monitor, es.mode or "min", es.patience, es.min_delta)
                      if es.enabled else None)
        self.restore_best = es.restore_best if es.enabled else True
        has_val = "val" in pipe.loaders
        self.plateau_key = "val/loss" if has_val else "train/loss"
        splits = {"train", "val"} if has_val else {"train"}  # what each epoch measures
        for what, key in (("train.checkpoint.monitor", self.best.key),
                          ("train.early_stopping.monitor", es.monitor if es.enabled else None)):
            split = key.split("/", 1)[0] if key else None
            if split is not None and split not in splits:
                progress.log(f"[yellow]warning:[/yellow] {what} = {key!r}, but no {split} "
                             "metrics are measured each epoch; it is ignored.")
        self.history: list[dict[str, Any]] = []
        self.cache_notes: list[dict[str, Any]] = []
        self.stop = _StopFlag(progress.log)
        self._resume: dict[str, Any] | None = None

    # -- resume -----------------------------------------------------------------------
    def load(self, path: Any) -> dict[str, Any]:
        """Load a checkpoint's model, history and callback states (optimizer later,
        once its phase is configured)."""
        state = load_checkpoint(path)
        self.pipe.model.load_state_dict(state["model"])
        self.history = list(state["history"])
        self.best.load_state_dict(state["best"])
        if self.early is not None and state.get("early") is not None:
            self.early.load_state_dict(state["early"])
        self.pipe.hooks.load_state_dict(state.get("hooks", []))
        self.cache_notes = list(state.get("cache_notes", []))
        self._resume = state
        return state

    def _state(self, epoch: int, step: int, meter: Any = None) -> dict[str, Any]:
        p = self.pipe
        assert p.optimizer is not None and p.schedule is not None
        return {
            "epoch": epoch, "step": step, "phase": p.phase_index,
            "total_epochs": self.total_epochs,
            "model": p.model.state_dict(),
            "optimizer": p.optimizer.state_dict(),
            "schedule": p.schedule.state_dict(),
            "scaler": p.scaler.state_dict() if p.scaler is not None else None,
            "rng": rng_state(),
            "history": self.history,
            "best": self.best.state_dict(),
            "early": self.early.state_dict() if self.early is not None else None,
            "hooks": p.hooks.state_dict(),
            "meter": meter.state_dict() if meter is not None and step else None,
            "cache_notes": self.cache_notes,
        }

    # -- the loop ---------------------------------------------------------------------
    def fit(self) -> FitResult:
        p = self.pipe
        start_epoch, start_step = 0, 0
        resume = self._resume
        if resume is not None:
            start_epoch, start_step = int(resume["epoch"]), int(resume["step"])
        stopped_early = False
        with self.stop:
            self.progress.start_run(self.total_epochs, start_epoch)
            epoch = start_epoch
            configured = None
            while epoch < self.total_epochs:
                phase_index, in_phase = p.phase_at(epoch)
                if phase_index != configured:
                    p.configure_phase(phase_index)
                    configured = phase_index
                    if resume is not None and int(resume["phase"]) == phase_index:
                        p.optimizer.load_state_dict(resume["optimizer"])  # type: ignore[union-attr]
                        p.schedule.load_state_dict(resume["schedule"])  # type: ignore[union-attr]
                        if p.scaler is not None and resume.get("scaler"):
                            p.scaler.load_state_dict(resume["scaler"])
                    self._start_phase(phase_index)
                p.set_frozen(p.frozen_at(epoch))
                p.schedule.set_epoch(in_phase)  # type: ignore[union-attr]
                if start_step and resume is not None:
                    set_rng_state(resume["rng"])
                else:
                    seed_everything(epoch_seed(self.seed, epoch))
                meter_state = resume.get("meter") if (resume and start_step) else None
                train_metrics, seconds, samples = self._train_epoch(epoch, start_step,
                                                                   meter_state)
                start_step, resume = 0, None
                metrics = self._epoch_metrics(epoch, train_metrics, seconds, samples)
                if "val" in p.loaders:
                    metrics.update({f"val/{k}": v for k, v in
                                    self.evaluate("val").compute().items()})
                stop = self._end_epoch(epoch, metrics)
                epoch += 1
                if self.stop.requested:
                    raise TrainingInterrupted(
                        f"Interrupted after epoch {epoch}; checkpoint saved.", saved=True)
                if stop:
                    stopped_early = True
                    break
        return FitResult(self.history, self.best.best_epoch, self.best.best, stopped_early,
                         self.cache_notes)

    def _start_phase(self, index: int) -> None:
        p = self.pipe
        phase = p.phases[index]
        if len(p.phases) > 1:
            self.progress.log(f"[bold]phase {phase.name}[/bold]: mode {phase.mode}, "
                              f"{phase.epochs} epochs, lr {phase.optimizer['lr']:g}")
        self.progress.start_epoch("features", sum(len(ld) for ld in p.loaders.values()))
        done = [0]

        def tick(split: str, i: int) -> None:
            done[0] += 1
            if self.progress.due():
                self.progress.advance(done[0], f"caching {split} features")

        try:
            report = p.enable_feature_cache(lambda: self.stop.requested, tick)
        except CacheInterrupted:
            raise TrainingInterrupted("Interrupted while caching features; nothing new to "
                                      "save.", saved=False) from None
        note = {"phase": phase.name, "used": report.used, "reason": report.reason,
                "seconds": round(report.seconds, 3), "samples": report.samples}
        if report.used:
            self.progress.log(f"feature cache: {report.samples} samples through the frozen "
                              f"backbone once, in {report.seconds:.1f}s; the head trains on "
                              "them from now on")
        elif phase.mode == "feature_extract" or p.recipe.train.feature_cache is True:
            self.progress.log(f"feature cache off: {report.reason}")
        relevant = phase.mode == "feature_extract" or p.recipe.train.feature_cache is True
        if relevant and not any(n["phase"] == phase.name for n in self.cache_notes):
            self.cache_notes.append(note)

    def _train_epoch(self, epoch: int, start_step: int, meter_state: dict[str, Any] | None
                     ) -> tuple[dict[str, float], float, int]:
        p = self.pipe
        r = p.recipe
        loader = p.train_loader
        batch_size = r.train.batch_size
        loader.sampler.set_epoch(epoch, start=start_step * batch_size)
        total = start_step + len(loader)
        if r.train.max_steps_per_epoch:
            total = min(total, int(r.train.max_steps_per_epoch))
        meter = p.task.meter("train", p.data, r)
        if meter_state is not None:
            meter.load_state_dict(meter_state, p.device)
        accum = int(r.train.grad_accum)
        check_each_step = p.device.type == "cpu"
        nonfinite = torch.zeros((), dtype=torch.bool, device=p.device)
        p.set_train_mode()
        assert p.optimizer is not None
        p.optimizer.zero_grad(set_to_none=True)
        self.progress.start_epoch(f"epoch {epoch + 1}/{self.total_epochs}", total, start_step)
        step = start_step
        samples = 0
        t0 = time.perf_counter()
        for batch in loader:
            p.policy.check(batch.skipped)
            if batch.inputs is not None:
                out, loss = p.forward(batch)
                p.backward(loss, divide=accum)
                if check_each_step and not bool(torch.isfinite(loss)):
                    self._nonfinite(epoch, step, loss)
                nonfinite |= ~torch.isfinite(loss.detach())
                meter.update(out)
                samples += out.count
            step += 1
            boundary = step % accum == 0 or step == total
            if boundary:
                p.optimizer_step()
            if self.progress.enabled and self.progress.due():
                if bool(nonfinite):
                    self._nonfinite(epoch, step - 1, None)
                live = meter.compute()
                self.progress.advance(step, "  ".join(
                    f"{k} {live[k]:.4f}" for k in ("loss", "top1") if k in live))
            if self.stop.requested and boundary and step < total:
                save_checkpoint(self.run.checkpoint, self._state(epoch, step, meter))
                raise TrainingInterrupted(
                    f"Interrupted in epoch {epoch + 1} at batch {step}/{total}; checkpoint "
                    "saved.", saved=True)
            if step >= total:
                break
        if bool(nonfinite):
            self._nonfinite(epoch, step - 1, None)
        self.progress.advance(step)
        return meter.compute(), time.perf_counter() - t0, samples

    def _nonfinite(self, epoch: int, step: int, loss: torch.Tensor | None) -> None:
        what = f"{float(loss.detach()):g}" if loss is not None else "NaN or infinite"
        last = self.history[-1]["epoch"] if self.history else None
        kept = (f"The last good checkpoint (end of epoch {last}) is kept in "
                f"{self.run.checkpoint}, and the best model so far in {self.run.model_dir}."
                if last else "No epoch had finished, so no checkpoint was written.")
        raise NonFiniteLoss(
            f"The training loss became {what} in epoch {epoch + 1} (around batch {step + 1}); "
            f"training stopped. {kept} Lower train.optimizer.lr, set train.clip_grad_norm, or "
            "use precision = \"fp32\", then start again."
        )

    def evaluate(self, split: str) -> Any:
        p = self.pipe
        meter = p.task.meter("eval" if split == "train" else split, p.data, p.recipe)
        loader = p.eval_loader(split)
        sampler = getattr(loader, "sampler", None)
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(0)
        net = p.eval_net
        assert net is not None
        with torch.no_grad(), eval_mode(p.model):
            if net is not p.model:
                net.eval()
            for batch in loader:
                p.policy.check(batch.skipped)
                if batch.inputs is None:
                    continue
                b = p.to_device(batch)
                with p.precision.autocast():
                    out = p.task.forward_loss(net, b)
                meter.update(out)
        return meter

    def _epoch_metrics(self, epoch: int, train: dict[str, float], seconds: float,
                       samples: int) -> dict[str, Any]:
        p = self.pipe
        assert p.optimizer is not None
        metrics: dict[str, Any] = {"epoch": epoch + 1, "phase": p.phases[p.phase_index].name}
        metrics.update({f"train/{k}": v for k, v in train.items()})
        metrics["train/lr"] = max(g["lr"] for g in p.optimizer.param_groups)
        metrics["train/epoch_time_s"] = round(seconds, 4)
        metrics["train/samples_per_s"] = round(samples / seconds, 2) if seconds > 0 else None
        return metrics

    def _end_epoch(self, epoch: int, metrics: dict[str, Any]) -> bool:
        p = self.pipe
        p.hooks.on_epoch_end(epoch + 1, metrics)
        assert p.schedule is not None
        mode = "min" if self.plateau_key.endswith("loss") else "max"
        if p.schedule.observe(metrics.get(self.plateau_key), mode):
            self.progress.log(f"reduce-LR-on-plateau: {self.plateau_key} did not improve for "
                              f"{p.schedule.patience + 1} epochs; learning rate "
                              f"x{p.schedule.factor:g}")
        improved = self.best.update(epoch + 1, metrics)
        if improved or self.best.value(metrics) is None:
            self.save_model()
        stop = self.early.step(epoch + 1, metrics) if self.early is not None else False
        self.history.append(metrics)
        save_checkpoint(self.run.checkpoint, self._state(epoch + 1, 0))
        self.run.write_metrics(self.history)
        summary = f"epoch {epoch + 1}/{self.total_epochs}  " + format_metrics(
            metrics, ("train/loss", "train/top1", "val/loss", "val/top1", "train/lr"))
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

    def save_model(self) -> None:
        from zoo_core.weights import save_model

        save_model(self.run.model_dir, self.pipe.model, self.pipe.spec.save_config)

    def finish_weights(self) -> str:
        """Leave the final weights in memory and in model/: the best epoch's (default)
        or, with early_stopping.restore_best = false, the last epoch's."""
        from zoo_core.weights_files import load_state_dict

        if not self.restore_best:
            self.save_model()
            return "last epoch"
        if self.best.best_epoch is None or not (self.run.model_dir / "model.safetensors").exists():
            self.save_model()
            return "last epoch"
        state = load_state_dict(self.run.model_dir / "model.safetensors")
        self.pipe.model.load_state_dict(state)
        return f"best epoch ({self.best.key} = {self.best.best:.4f} at epoch " \
               f"{self.best.best_epoch})"


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
