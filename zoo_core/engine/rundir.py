"""The run folder: what a finished (or interrupted) run leaves behind.

::

    runs/<recipe>/<YYYYmmdd-HHMMSS>/     (or --out DIR)
      recipe.toml            the fully resolved recipe (every key, every default)
      weights.lock.json      each weights source: uri, revision, sha256
      metrics.jsonl          one line per epoch; the last line is the final evaluation
      metrics.csv            the same, as a table
      models/<role>/         the best epoch's models: config.json + model.safetensors each
      artifacts/             images the task writes at epoch end (sample grids...)
      checkpoints/last.pt    the training state `zoo run --resume` continues from
      *.png, *.csv           curves, and the task's own tables and plots
      report.md

Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo_core.atomic import atomic_open
from zoo_core.errors import ZooError

LOCK_KEYS = ("uri", "revision", "sha256")


def new_run_dir(recipe_name: str, out: str | os.PathLike[str] | None = None,
                base: str | os.PathLike[str] = "runs") -> Path:
    """``out``, or a fresh ``runs/<recipe>/<timestamp>`` (suffixed if taken)."""
    if out is not None:
        path = Path(out).expanduser()
        if path.exists() and any(path.iterdir()):
            if (path / "checkpoints" / "last.pt").exists():
                raise ZooError(f"--out {path} already holds a run. Continue it with "
                               f"`zoo run --resume {path}`, or pick another folder.")
            raise ZooError(f"--out {path} exists and is not empty; pick an empty or new folder.")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = Path(base) / recipe_name
    path = root / stamp
    n = 1
    while path.exists():
        n += 1
        path = root / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def model_folder(path: str | os.PathLike[str], role: str | None = None) -> Path:
    """The saved-model folder of a run (``models/<role>/``, or wave 1's ``model/``) or
    ``path`` itself; see :func:`zoo_core.weights.saved.find_model_folder`."""
    from zoo_core.weights.saved import find_model_folder

    return find_model_folder(path, role)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunFolder:
    """Paths and writers of one run folder."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    recipe_file = property(lambda self: self.path / "recipe.toml")
    lock_file = property(lambda self: self.path / "weights.lock.json")
    metrics_jsonl = property(lambda self: self.path / "metrics.jsonl")
    metrics_csv = property(lambda self: self.path / "metrics.csv")
    models_dir = property(lambda self: self.path / "models")
    artifacts = property(lambda self: self.path / "artifacts")
    checkpoint = property(lambda self: self.path / "checkpoints" / "last.pt")
    report = property(lambda self: self.path / "report.md")

    def model_dir(self, role: str) -> Path:
        return self.models_dir / role

    def write_recipe(self, toml_text: str) -> None:
        with atomic_open(self.recipe_file) as fh:
            fh.write(toml_text)

    def write_lock(self, lock: Sequence[dict[str, Any]]) -> None:
        entries = [{k: entry.get(k) for k in LOCK_KEYS} for entry in lock]
        with atomic_open(self.lock_file) as fh:
            json.dump({"weights": entries}, fh, indent=2)
            fh.write("\n")

    def read_lock(self) -> list[dict[str, Any]]:
        if not self.lock_file.exists():
            return []
        return list(json.loads(self.lock_file.read_text(encoding="utf-8")).get("weights", []))

    def write_metrics(self, history: Sequence[dict[str, Any]],
                      final: dict[str, Any] | None = None) -> None:
        """Rewrite metrics.jsonl and metrics.csv from the whole history (cheap, and a
        resumed run never duplicates or loses a line)."""
        rows = [dict(r) for r in history] + ([dict(final)] if final else [])
        with atomic_open(self.metrics_jsonl) as fh:
            for row in rows:
                fh.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")
        columns: list[str] = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if _clean(v) is None else v) for k, v in row.items()})
        with atomic_open(self.metrics_csv) as fh:
            fh.write(buf.getvalue())

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_jsonl.exists():
            return []
        lines = self.metrics_jsonl.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def write_table(self, name: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(rows)
        with atomic_open(self.path / name) as fh:
            fh.write(buf.getvalue())
