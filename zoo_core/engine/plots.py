"""PNG plots of a run: metric curves over epochs (tasks draw their own figures
with :func:`save` too).

Figures are drawn with matplotlib's object API (no pyplot, no global
backend switch) and saved atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_core.atomic import atomic_path


def save(fig: Any, path: Path) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def curves(history: Sequence[dict[str, Any]], keys: Sequence[str], path: Path, *,
           title: str, ylabel: str) -> bool:
    """One line per metric key over epochs; False when there is nothing to draw."""
    from matplotlib.figure import Figure

    series = []
    for key in keys:
        points = [(row["epoch"], row[key]) for row in history
                  if isinstance(row.get(key), (int, float)) and "epoch" in row]
        if points:
            series.append((key, points))
    if not series:
        return False
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for key, points in series:
        xs, ys = zip(*points, strict=False)
        ax.plot(xs, ys, marker="o", markersize=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)
    return True
