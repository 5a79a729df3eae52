"""Training checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint holds everything an uninterrupted run would still have in
memory: every role's model, optimizer and schedule states, the gradient
scaler, RNG states, the position (epoch, and batch for a Ctrl-C mid-epoch),
the metric history, the callbacks' bookkeeping and the task's own state. It
only ever replaces the previous one once it is completely on disk, so a kill
at any moment leaves the last good one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from zoo_core.atomic import atomic_path
from zoo_core.errors import ZooError

FORMAT = 2
#: format 1 (one model) is read as format 2 with that model in the main role
_READS = (1, 2)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: str | os.PathLike[str], main_role: str = "model") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ZooError(f"No training checkpoint at {path}: the run stopped before its first "
                       "epoch ended, so there is nothing to resume. Start it again.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ZooError(f"The checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). "
                       "It was not written by this version of zoo or is damaged.") from exc
    if not isinstance(state, dict) or state.get("format") not in _READS:
        raise ZooError(f"{path} is not a zoo training checkpoint (format {FORMAT}).")
    if state["format"] == 1:
        role = main_role
        state = {**state, "format": FORMAT, "models": {role: state.pop("model")},
                 "optimizers": {role: state.pop("optimizer")},
                 "schedules": {role: state.pop("schedule")}}
    return state
