"""PNG plots of a run: loss and accuracy curves, the confusion matrix.

Figures are drawn with matplotlib's object API (no pyplot, no global
backend switch) and saved atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_core.atomic import atomic_path


def _save(fig: Any, path: Path) -> None:
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
    _save(fig, path)
    return True


def confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path, *,
              title: str) -> None:
    """Row-normalised confusion matrix (rows: true class, columns: predicted)."""
    import numpy as np
    from matplotlib.figure import Figure

    cm = np.asarray(matrix, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    size = min(max(4.0, 0.35 * n + 2), 16.0)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if n <= 40:
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(classes, rotation=90, fontsize=7)
        ax.set_yticklabels(classes, fontsize=7)
    if n <= 15:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    _save(fig, path)
