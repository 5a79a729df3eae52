"""The live table of a sweep's trials (rich), or one line per event when the
output is not a terminal (logs, CI)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from zoo_core.sweep.spec import SweepSpec

ROWS = 20  # the table shows the newest trials (and always the best one)
_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan",
          "WAITING": "dim"}


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trial_state(trial: Any) -> str:
    """COMPLETE, PRUNED, RUNNING, WAITING, or FAIL with its zoo reason."""
    name = trial.state.name
    status = trial.user_attrs.get("zoo_status")
    if name == "FAIL" and status:
        return f"FAIL ({status})"
    return name


def duration(trial: Any) -> float | None:
    if trial.datetime_start is None:
        return None
    end = trial.datetime_complete
    if end is None:
        return time.time() - trial.datetime_start.timestamp()
    return (end - trial.datetime_start).total_seconds()


def trials_table(spec: SweepSpec, trials: list[Any], *, title: str) -> Table:
    from zoo_core.sweep.slots import is_finished_slot

    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("#", justify="right")
    table.add_column("state")
    for key in spec.params:
        table.add_column(key.rsplit(".", 1)[-1], justify="right")
    table.add_column(spec.metric, justify="right")
    table.add_column("epochs", justify="right")
    table.add_column("time", justify="right")
    shown = [t for t in trials if t.user_attrs.get("zoo_status") != "surplus"]
    done = [t for t in shown if t.state.name == "COMPLETE" and t.value is not None]
    best = None
    if done:
        pick = max if spec.direction == "max" else min
        best = pick(done, key=lambda t: t.value)
    rows = shown[-ROWS:]
    if best is not None and best not in rows:
        rows = [best, *rows[1:]]
    for t in rows:
        state = trial_state(t)
        style = _STYLE.get(t.state.name, "")
        value = t.value if t.value is not None else (
            t.intermediate_values[t.last_step] if t.last_step is not None else None)
        seconds = duration(t)
        table.add_row(
            str(t.number) + (" *" if t is best else ""), f"[{style}]{state}[/{style}]",
            *(fmt(t.params[k]) if k in t.params else "" for k in spec.params),
            "" if value is None else f"{value:.4f}",
            str(len(t.intermediate_values)) if t.intermediate_values else "",
            "" if seconds is None else f"{seconds:.0f}s",
            style="bold" if t is best else None)
    finished = sum(1 for t in trials if is_finished_slot(t))
    table.caption = f"{finished}/{spec.trials} trials finished" + (
        f"; best #{best.number}: {spec.metric} {best.value:.4f}" if best is not None else "")
    return table


class SweepView:
    """A rich Live table on a terminal; plain event lines otherwise."""

    def __init__(self, console: Console, spec: SweepSpec, *, live: bool | None = None):
        self.console = console
        self.spec = spec
        self.live_enabled = console.is_terminal if live is None else live
        self._live: Live | None = None
        self._last = 0.0

    def __enter__(self) -> SweepView:
        if self.live_enabled:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, study: Any, *, force: bool = False) -> None:
        """Redraw from the storage (at most twice a second unless ``force``)."""
        if self._live is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        trials = study.get_trials(deepcopy=False)
        self._live.update(trials_table(self.spec, trials, title=f"zoo sweep {self.spec.study}"),
                          refresh=True)

    def event(self, text: str) -> None:
        """A line worth keeping in the scroll-back (or the log)."""
        self.console.print(text, highlight=False)
