"""The confusion-matrix plot of a classification run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo_core.api import save_plot as save


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
    save(fig, path)
