"""Training checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds everything an uninterrupted run would still have in
memory: model, optimizer, schedule and gradient-scaler states, RNG states,
the position (epoch, and batch for a Ctrl-C mid-epoch), the metric history
and the callbacks' bookkeeping. It only ever replaces the previous one once
it is completely on disk, so a kill at any moment leaves the last good one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from zoo_core.atomic import atomic_path
from zoo_core.errors import ZooError

FORMAT = 1


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ZooError(f"No training checkpoint at {path}: the run stopped before its first "
                       "epoch ended, so there is nothing to resume. Start it again.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ZooError(f"The checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). "
                       "It was not written by this version of zoo or is damaged.") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ZooError(f"{path} is not a zoo training checkpoint (format {FORMAT}).")
    return state
