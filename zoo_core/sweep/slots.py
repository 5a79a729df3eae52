"""Exactly N trials, whatever the number of workers, kills and restarts.

**Slots.** A trial *holds a slot* while it is waiting, running, complete,
pruned, or failed for a reason of its own (an invalid draw, a diverging loss:
``zoo_status`` "invalid" or "error"). A trial of a killed worker, and one
that found no slot free ("surplus"), hold none. Storage gives every trial a
unique number in creation order, so the rule "a new trial runs only if fewer
than N trials with smaller numbers hold a slot" admits at most N, even when
two workers ask at the same instant; the worker loop keeps asking until N
slots are finished, so it also admits at least N.

**Liveness.** A worker stamps its running trial every ``interval`` seconds
(the user attribute ``zoo_beat``, wall-clock seconds). A running trial whose
stamp is older than ``STALE_BEATS`` intervals belongs to a dead worker
(``kill -9``, a lost machine): any worker marks it failed and enqueues a retry
with the same parameters. Optuna's own heartbeat does the same for its SQL
storages only; this stamp works on every storage, the journal file included.
Workers on several machines need clocks that agree to within a few intervals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

STALE_BEATS = 6  # missed stamps before a running trial counts as dead
COUNTED_FAILURES = ("invalid", "error")  # failures that use up a trial of the budget


def holds_slot(trial: Any) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                       TrialState.WAITING):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("zoo_status") \
        in COUNTED_FAILURES


def is_finished_slot(trial: Any) -> bool:
    return holds_slot(trial) and trial.state.is_finished()


def slots_taken_before(trials: list[Any], number: int) -> int:
    """How many trials numbered below ``number`` hold a slot."""
    return sum(1 for t in trials if t.number < number and holds_slot(t))


def last_beat(trial: Any) -> float:
    beat = trial.user_attrs.get("zoo_beat")
    if isinstance(beat, (int, float)):
        return float(beat)
    start = trial.datetime_start
    return start.timestamp() if start is not None else time.time()


def reap_stale(study: Any, interval: float,
               on_reaped: Callable[[Any, int | None], None] | None = None) -> list[int]:
    """Fail the running trials of dead workers and enqueue a retry of each.

    Returns the numbers of the trials this worker failed (another worker that raced it
    to the same trial gets an error from the storage and leaves it alone).
    """
    import optuna
    from optuna.trial import TrialState

    grace = STALE_BEATS * interval
    now = time.time()
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if now - last_beat(trial) <= grace:
            continue
        try:
            # the storage call Optuna's own fail_stale_trials makes; Study.tell would run
            # the sampler's after_trial, which may stop a study outside optimize()
            study._storage.set_trial_user_attr(trial._trial_id, "zoo_status", "interrupted")
            ok = study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # it finished, or another worker failed it first
        if not ok:
            continue
        reaped.append(trial.number)
        retry = requeue(study, study._storage.get_trial(trial._trial_id))
        if on_reaped is not None:
            on_reaped(trial, retry)
    return reaped


def requeue(study: Any, trial: Any) -> int | None:
    """Queue ``trial`` to run again with the same parameters; returns the new number.

    As Optuna's ``RetryHeartbeatStaleTrialCallback`` does: a waiting trial that already
    holds the parameters (Optuna does not sample a parameter a trial has) and the grid
    sampler's grid point, so a grid stays complete.
    """
    import optuna
    from optuna.trial import TrialState

    if not trial.params:
        return None
    system = {k: trial.system_attrs[k] for k in ("grid_id", "search_space")
              if k in trial.system_attrs}
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, params=dict(trial.params),
        distributions=dict(trial.distributions), user_attrs={"zoo_retry_of": trial.number},
        system_attrs=system))
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return max((t.number for t in waiting if t.user_attrs.get("zoo_retry_of") == trial.number),
               default=None)


class Heartbeat:
    """Stamp a running trial every ``interval`` seconds from a background thread."""

    def __init__(self, trial: Any, interval: float):
        self.trial = trial
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="zoo-sweep-heartbeat",
                                        daemon=True)

    def beat(self) -> None:
        self.trial.storage.set_trial_user_attr(self.trial._trial_id, "zoo_beat", time.time())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # a busy database: the next beat will do; never kill the trial
                pass

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
