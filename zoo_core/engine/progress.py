"""Progress display: rich bars (epochs and batches, ETA, live metrics) on a
terminal; one summary line per epoch everywhere (logs, CI, pipes)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def format_metrics(metrics: dict[str, Any], keys: tuple[str, ...] | None = None) -> str:
    parts = []
    for key, value in metrics.items():
        if keys is not None and key not in keys:
            continue
        if isinstance(value, float):
            text = f"{value:.2e}" if key.endswith("/lr") else f"{value:.4f}"
        else:
            text = str(value)
        parts.append(f"{key} {text}")
    return "  ".join(parts)


class TrainProgress:
    """Two bars while a run trains: epochs, and the batches of the current epoch."""

    REFRESH_S = 0.25

    def __init__(self, console: Console | None = None, *, enabled: bool | None = None):
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._progress: Progress | None = None
        self._epochs: Any = None
        self._batches: Any = None
        self._last = 0.0

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description:>12}"), BarColumn(bar_width=24),
                MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                console=self.console, transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
            self._progress = None

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, highlight=False)
        else:
            self.console.print(message, highlight=False)

    def start_run(self, total_epochs: int, done: int) -> None:
        if self._progress is not None:
            self._epochs = self._progress.add_task("epochs", total=total_epochs, completed=done,
                                                   metrics="")

    def start_epoch(self, label: str, total: int, done: int = 0) -> None:
        if self._progress is None:
            return
        if self._batches is not None:
            self._progress.remove_task(self._batches)
        self._batches = self._progress.add_task(label, total=total, completed=done, metrics="")
        self._last = 0.0

    def due(self) -> bool:
        """True at most every REFRESH_S seconds (live metrics cost a device sync)."""
        now = time.monotonic()
        if now - self._last >= self.REFRESH_S:
            self._last = now
            return True
        return False

    def advance(self, done: int, metrics: str | None = None) -> None:
        if self._progress is None or self._batches is None:
            return
        if metrics is None:
            self._progress.update(self._batches, completed=done)
        else:
            self._progress.update(self._batches, completed=done, metrics=metrics)

    def end_epoch(self, summary: str, short: str = "") -> None:
        if self._progress is not None and self._epochs is not None:
            self._progress.update(self._epochs, advance=1, metrics=short)
        self.log(summary)
