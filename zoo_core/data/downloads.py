"""Data sets a library downloads (torchvision's, for instance): where they live and
one clear message when they are neither on disk nor downloadable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo_core.errors import DataError


def dataset_root(name: str) -> Path:
    """``$ZOO_HOME/datasets/<name>``: where a downloadable data set lives when the
    recipe gives no ``data.root``."""
    from zoo_core.paths import zoo_home

    return zoo_home() / "datasets" / name


def fetch_dataset(name: str, folder: Path, download: bool, make: Callable[[str, bool], Any], *,
                  layout: str, source: str, own_data: str) -> Any:
    """``make(folder, download)`` (a torchvision data set class, say): first from disk,
    then, with ``download``, from the network.

    ``layout`` says what the folder must hold, ``source`` what downloads it
    (``"torchvision's datasets.CIFAR10"``), ``own_data`` the alternative for the
    user's own files; all three go into the error a missing data set gets.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return make(str(folder), False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        if not download:
            raise DataError(
                f"Data set {name!r} is not in {folder} and data.download = false. Put "
                f"{layout} there (as {source} downloads it), or set data.download = true "
                "on a machine that is online.") from None
    try:
        return make(str(folder), True)
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise DataError(
            f"Data set {name!r} is not in {folder} and could not be downloaded "
            f"({type(exc).__name__}: {exc}). This machine may be offline: download it on one "
            f"that is online (`zoo run` with the same recipe, or {source}) and copy {layout} "
            f"into {folder}, or point data.root at the copy. {own_data}") from None
