"""The sweep worker: Optuna study, objective, one run folder per trial.

Every trial is an ordinary ``zoo run`` folder, ``<sweep>/trials/<NNNN>/``,
plus ``sweep_trial.json`` (its state, parameters, value, and why it stopped)
and ``log.txt`` (what ``zoo run`` would have printed). Each epoch's
validation metric goes to Optuna (``trial.report``), so the pruner can stop
a bad trial early; a pruned trial keeps its folder, marked "pruned".

Trials are judged on the validation split only: the recipe of every trial
gets ``eval.split = "val"``, and a run that evaluated anything else (no
validation split, or a test metric) is an error, never a score.

The objective is written as "train the recipe, return a validation score"
(:func:`evaluate_recipe`); with ``--folds K`` that one call becomes K runs over
K folds (:func:`zoo_core.engine.kfold.run_kfold`) and returns their mean.
"""

from __future__ import annotations

import io
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo_core.atomic import atomic_open
from zoo_core.errors import RecipeError, ZooError
from zoo_core.sweep import SweepError
from zoo_core.sweep.slots import (
    Heartbeat,
    holds_slot,
    is_finished_slot,
    reap_stale,
    requeue,
    slots_taken_before,
)
from zoo_core.sweep.spec import SweepSpec, load_trial_recipe
from zoo_core.sweep.view import SweepView, fmt

DEFAULT_HEARTBEAT_S = 5.0
MARKER = "sweep_trial.json"


class TrialFailed(Exception):
    """This trial failed for a reason of its own; it uses up a trial of the budget."""


class NoSlot(Exception):
    """N trials already hold a slot; this one never runs."""


class TakenOver(Exception):
    """Another worker took this trial for dead (its heartbeat was late) and queued a retry."""


class SweepInterrupted(Exception):
    """Ctrl-C: the running trial was stopped and queued to run again."""


@dataclass
class WorkerReport:
    ran: list[int] = field(default_factory=list)
    reaped: list[int] = field(default_factory=list)


# --- the seam for k-fold: one recipe in, one validation score out --------------------------


def evaluate_recipe(recipe: Any, folder: Path, *, metric: str, console: Console,
                    on_epoch_end: Any = None) -> float:
    """Train ``recipe`` into ``folder`` and return its ``metric`` on the validation split.

    The value is the final evaluation ``zoo run`` makes with the weights it keeps (the
    best epoch by the recipe's checkpoint monitor), here forced onto the validation split.
    With ``data.folds = K`` (``zoo sweep --folds K``) it is the mean over K fold runs in
    ``folder/fold_k``; the pruner then sees fold k's epoch e as step (k-1)*epochs + e,
    so a trial is compared with the others at the same fold and epoch.
    """
    if recipe.data.folds and recipe.data.fold is None:
        return _evaluate_folds(recipe, folder, metric=metric, console=console,
                               on_epoch_end=on_epoch_end)
    from zoo_core.engine import run_recipe

    result = run_recipe(recipe, out=folder, progress=False, console=console,
                        on_epoch_end=on_epoch_end)
    final = result.final
    seen = {k.split("/", 1)[0] for row in [*result.fit.history, final] for k in row if "/" in k}
    if "test" in seen or final.get("split") != "val":
        raise SweepError(
            f"The trial in {folder} was evaluated on the {final.get('split')!r} split, not on "
            "validation data: the recipe has no validation split (data.val_fraction = 0 and "
            "the data set publishes none). A search needs one: set data.val_fraction.")
    if metric not in final:
        from zoo_core.errors import suggestion

        measured = sorted(k for k in final if k.startswith("val/"))
        raise SweepError(f"--metric {metric}: the runs do not measure it."
                         f"{suggestion(metric, measured)} They measure: {', '.join(measured)}.")
    return float(final[metric])


def _evaluate_folds(recipe: Any, folder: Path, *, metric: str, console: Console,
                    on_epoch_end: Any = None) -> float:
    from zoo_core.engine.kfold import run_kfold

    epochs = int(recipe.train.epochs)

    def report(metrics: dict[str, Any]) -> None:
        if on_epoch_end is not None:
            on_epoch_end({**metrics, "epoch": (metrics["fold"] - 1) * epochs + metrics["epoch"]})

    result = run_kfold(recipe, out=folder, progress=False, console=console,
                       on_epoch_end=report)
    if metric not in result.mean:
        from zoo_core.errors import suggestion

        measured = sorted(result.mean)
        raise SweepError(f"--metric {metric}: the folds do not all measure it."
                         f"{suggestion(metric, measured)} They measure: {', '.join(measured)}.")
    return float(result.mean[metric])


# --- samplers, pruners, the study ----------------------------------------------------------


def make_sampler(spec: SweepSpec, seed: int | None) -> Any:
    import optuna

    if spec.sampler == "grid":
        # every worker (and every restart) must shuffle the grid the same way: the first
        # trials take grid point number == trial number, which is what keeps workers apart
        return optuna.samplers.GridSampler(spec.grid(), seed=spec.seed or 0)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(spec: SweepSpec) -> Any:
    import optuna

    if spec.pruner == "median":
        return optuna.pruners.MedianPruner()  # 5 finished trials first, from epoch 1 on
    return optuna.pruners.NopPruner()


def open_study(spec: SweepSpec, storage: Any, *, seed: int | None = None) -> Any:
    """Create or load the study and check it holds this very sweep."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # we report trials ourselves
    study = optuna.create_study(
        storage=storage, sampler=make_sampler(spec, seed), pruner=make_pruner(spec),
        study_name=spec.study, load_if_exists=True,
        direction="maximize" if spec.direction == "max" else "minimize")
    if seed is not None and study.trials:
        # a resumed worker must not replay the draws of its first life: the seed moves on
        # with the number of trials the study already holds (0 for a fresh sweep)
        study.sampler = make_sampler(spec, seed + len(study.trials))
    stored = study.user_attrs.get("zoo_sweep")
    if stored is None:
        study.set_user_attr("zoo_sweep", spec.to_dict())
    else:
        diffs = spec.differences(SweepSpec.from_dict(stored))
        if diffs:
            raise SweepError(
                f"Study {spec.study!r} in this storage holds a different sweep ("
                + "; ".join(diffs) + "). Resume it with the command that started it, or give "
                "this sweep its own --study NAME (or --out folder).")
    return study


# --- one trial's folder -------------------------------------------------------------------


class TrialLog(io.StringIO):
    """What ``zoo run`` prints for one trial, kept in ``log.txt`` in its folder."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder

    def save(self) -> None:
        if self.folder.is_dir():
            with atomic_open(self.folder / "log.txt") as fh:
                fh.write(self.getvalue())


def write_marker(folder: Path, **fields: Any) -> None:
    import json

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MARKER
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
    data.update(fields)
    data["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    with atomic_open(path) as fh:
        json.dump(data, fh, indent=1, default=str)
        fh.write("\n")


# --- the worker ---------------------------------------------------------------------------


class Worker:
    """Runs trials of one sweep until N trials hold finished slots."""

    def __init__(self, spec: SweepSpec, folder: Path, study: Any, *, view: SweepView,
                 heartbeat: float = DEFAULT_HEARTBEAT_S):
        self.spec = spec
        self.folder = folder
        self.study = study
        self.view = view
        self.heartbeat = heartbeat
        self.report = WorkerReport()
        self.current: Any = None

    # -- the loop ------------------------------------------------------------------------
    def run(self, on_trial_done: Any = None) -> WorkerReport:
        from optuna.trial import TrialState

        from zoo_core.engine.trainer import TrainingInterrupted

        waited_for: set[int] = set()
        try:
            while True:
                self.report.reaped += reap_stale(self.study, self.heartbeat, self._reaped)
                trials = self.study.get_trials(deepcopy=False)
                waiting = [t for t in trials if t.state == TrialState.WAITING]
                taken = sum(1 for t in trials if holds_slot(t))
                if not waiting and taken >= self.spec.trials:
                    running = [t for t in trials if t.state == TrialState.RUNNING]
                    if not running:
                        break
                    new = {t.number for t in running} - waited_for
                    if new:
                        waited_for |= new
                        self.view.event(f"waiting for trial(s) {', '.join(map(str, sorted(new)))}"
                                        " running elsewhere (a trial whose worker stopped is "
                                        "retried once its heartbeat is "
                                        f"{self.heartbeat * 6:.0f}s old)")
                    self.view.update(self.study)
                    time.sleep(min(self.heartbeat, 2.0))
                    continue
                try:
                    self.study.optimize(self.objective, n_trials=1,
                                        catch=(TrialFailed, NoSlot, TakenOver),
                                        gc_after_trial=True)
                except ValueError:  # Optuna cannot tell a trial another worker failed
                    if self.current is None or not self._taken_over(self.current):
                        raise
                    self.view.event(f"trial {self.current.number}: another worker took it for "
                                    "dead (a late heartbeat) and queued it again; dropped here")
                    self.current = None
                    continue
                if self.current is not None:
                    self._announce(self.current)
                    self.current = None
                    if on_trial_done is not None:
                        on_trial_done()
                self.view.update(self.study, force=True)
        except (KeyboardInterrupt, TrainingInterrupted) as exc:
            self._requeue_interrupted()
            raise SweepInterrupted(str(exc) or "interrupted") from None
        return self.report

    def _taken_over(self, trial: Any) -> bool:
        frozen = self.study._storage.get_trial(trial._trial_id)
        return frozen.state.name == "FAIL" and frozen.user_attrs.get("zoo_status") == \
            "interrupted"

    def _requeue_interrupted(self) -> None:
        """Ctrl-C: the trial that was running goes back in the queue, same parameters."""
        if self.current is None:
            return
        from optuna.trial import TrialState

        trial = self.study._storage.get_trial(self.current._trial_id)
        # the objective marked it "interrupted" while it was still running (a finished
        # trial takes no more attributes)
        if trial.state == TrialState.FAIL and trial.user_attrs.get("zoo_status") == \
                "interrupted":
            requeue(self.study, trial)
            folder = self.folder / "trials" / f"{trial.number:04d}"
            if folder.is_dir():
                write_marker(folder, state="interrupted",
                             message="Ctrl-C; queued to run again by the same command")

    def _reaped(self, trial: Any, retry: int | None) -> None:
        again = f"; retried as trial {retry}" if retry is not None else ""
        self.view.event(f"trial {trial.number}: its worker stopped (no heartbeat); marked "
                        f"failed{again}")
        run_dir = trial.user_attrs.get("run_dir")
        if run_dir and Path(run_dir).is_dir():
            write_marker(Path(run_dir), state="interrupted",
                         message=f"the worker stopped (killed or lost){again}",
                         retried_as=retry)

    def _announce(self, trial: Any) -> None:
        frozen = self.study._storage.get_trial(trial._trial_id)
        if frozen.user_attrs.get("zoo_status") == "surplus":
            return
        self.report.ran.append(frozen.number)
        params = "  ".join(f"{k.rsplit('.', 1)[-1]}={fmt(v)}" for k, v in frozen.params.items())
        state = frozen.state.name.lower()
        value = frozen.value
        if frozen.state.name == "PRUNED":
            state = f"pruned at epoch {frozen.last_step}"
        elif frozen.state.name == "FAIL":
            state = f"failed ({frozen.user_attrs.get('zoo_status')}): " \
                    f"{frozen.user_attrs.get('zoo_error', '')}".splitlines()[0]
        shown = "" if value is None else f"  {self.spec.metric} {value:.4f}"
        done = sum(1 for t in self.study.get_trials(deepcopy=False) if is_finished_slot(t))
        self.view.event(f"[{done}/{self.spec.trials}] trial {frozen.number} {state}{shown}"
                        f"  {params}")

    # -- one trial -----------------------------------------------------------------------
    def objective(self, trial: Any) -> float:
        import optuna

        self.current = trial
        if slots_taken_before(self.study.get_trials(deepcopy=False), trial.number) \
                >= self.spec.trials:
            trial.set_user_attr("zoo_status", "surplus")
            raise NoSlot(f"trial {trial.number}: all {self.spec.trials} slots are taken")
        values = {key: space.suggest(trial, key) for key, space in self.spec.params.items()}
        folder = self.folder / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("run_dir", str(folder.resolve()))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        base = {"trial": trial.number, "params": values, "metric": self.spec.metric}
        retry_of = trial.user_attrs.get("zoo_retry_of")
        if retry_of is not None:
            base["retry_of"] = retry_of
        with Heartbeat(trial, self.heartbeat):
            try:
                recipe = load_trial_recipe(self.spec, values)
            except RecipeError as exc:
                self._fail(trial, folder, "invalid", "; ".join(exc.problems) or str(exc), base)
            log = TrialLog(folder)
            console = Console(file=log, width=110, no_color=True, highlight=False,
                              soft_wrap=True, force_terminal=False)

            def on_epoch_end(metrics: dict[str, Any]) -> None:
                epoch = int(metrics["epoch"])
                value = metrics.get(self.spec.metric)
                if self._taken_over(trial):
                    raise TakenOver(f"trial {trial.number} was taken over after epoch {epoch}")
                write_marker(folder, **base, state="running", epoch=epoch)
                log.save()
                if isinstance(value, (int, float)) and math.isfinite(value):
                    trial.report(float(value), epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned(
                            f"pruned after epoch {epoch}: {self.spec.metric} {value:.4f} is "
                            "below the median of earlier trials at this epoch")
                self.view.update(self.study)

            try:
                value = evaluate_recipe(recipe, folder, metric=self.spec.metric,
                                        console=console, on_epoch_end=on_epoch_end)
            except optuna.TrialPruned as exc:
                write_marker(folder, **base, state="pruned", message=str(exc))
                log.save()
                raise
            except SweepError:
                trial.set_user_attr("zoo_status", "aborted")
                log.save()
                raise
            except ZooError as exc:  # a diverging loss, a data problem: this trial fails
                log.save()
                self._fail(trial, folder, "error", str(exc), base)
            except BaseException as exc:
                from zoo_core.engine.trainer import TrainingInterrupted

                if isinstance(exc, (KeyboardInterrupt, TrainingInterrupted)):
                    trial.set_user_attr("zoo_status", "interrupted")
                log.save()
                raise
            log.save()
            write_marker(folder, **base, state="complete", value=value)
            return value

    def _fail(self, trial: Any, folder: Path, status: str, message: str,
              base: dict[str, Any]) -> None:
        trial.set_user_attr("zoo_status", status)
        trial.set_user_attr("zoo_error", message[:2000])
        write_marker(folder, **base, state="failed", reason=status, message=message)
        raise TrialFailed(message)


def run_sweep(spec: SweepSpec, folder: Path, storage_url: str, *, console: Console,
              heartbeat: float = DEFAULT_HEARTBEAT_S, worker_seed: int | None = None,
              live: bool | None = None, write_report: bool = True) -> WorkerReport:
    """Run (or resume, or join) the sweep ``spec`` stored at ``storage_url``, then write
    its report into ``folder``."""
    from zoo_core.sweep.report import write_report as write
    from zoo_core.sweep.storage import open_storage

    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(spec, open_storage(storage_url),
                       seed=worker_seed if worker_seed is not None else spec.seed)
    before = sum(1 for t in study.get_trials(deepcopy=False) if is_finished_slot(t))
    if before:
        console.print(f"resuming sweep {spec.study}: {before}/{spec.trials} trials finished")
    with SweepView(console, spec, live=live) as view:
        view.update(study, force=True)
        worker = Worker(spec, folder, study, view=view, heartbeat=heartbeat)

        def refresh_report() -> None:
            if write_report:
                write(study, spec, folder, plots=False)

        report = worker.run(on_trial_done=refresh_report)
        view.update(study, force=True)
    if write_report:
        write(study, spec, folder, plots=True)
    return report


def load_finished_study(spec: SweepSpec, folder: Path, what: str) -> Any:
    """The study of a sweep whose N trials have all finished (for --refine and --final)."""
    import optuna
    from optuna.trial import TrialState

    from zoo_core.sweep.storage import open_storage, url_for

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = url_for(spec.storage, folder)
    try:
        study = optuna.load_study(study_name=spec.study, storage=open_storage(url))
    except KeyError:
        raise SweepError(f"The storage {url} holds no study {spec.study!r}; was the sweep in "
                         f"{folder} started?") from None
    trials = study.get_trials(deepcopy=False)
    finished = sum(1 for t in trials if is_finished_slot(t))
    running = [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    if finished < spec.trials or running:
        raise SweepError(
            f"The sweep in {folder} is not finished ({finished}/{spec.trials} trials"
            + (f"; trial(s) {', '.join(map(str, running))} still running or queued"
               if running else "") + f"), so it cannot be used for {what} yet. Finish it "
            "first: run the command that started it again.")
    return study
