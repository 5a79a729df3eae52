"""Where a saved model lives: a model folder itself, or inside a run folder.

A saved-model folder holds ``config.json`` + ``model.safetensors``. A run
folder keeps one per role in ``models/<role>/``; run folders written before
named roles existed keep their single model in ``model/``. Every command that
takes "a run or a model folder" (``zoo eval``, ``zoo predict``, ``zoo push``,
``zoo export``, weights given as a folder) finds it here, with ``role``
choosing among several.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from zoo_core.errors import WeightsError, suggestion

MODELS_DIR = "models"
LEGACY_DIR = "model"


def is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def roles_in(run: Path) -> list[str]:
    """The roles saved in a run folder (``models/<role>/``), sorted."""
    base = run / MODELS_DIR
    if not base.is_dir():
        return []
    return sorted(d.name for d in base.iterdir() if d.is_dir() and is_model_folder(d))


def main_role(run: Path) -> str | None:
    """The role a run's task names as its main model (config.json ``zoo.main_role``)."""
    for role in roles_in(run):
        try:
            cfg = json.loads((run / MODELS_DIR / role / "config.json").read_text("utf-8"))
        except (OSError, ValueError):
            continue
        zoo = cfg.get("zoo") if isinstance(cfg, dict) else None
        if isinstance(zoo, dict) and zoo.get("main_role"):
            return str(zoo["main_role"])
    return None


def find_model_folder(path: str | os.PathLike[str], role: str | None = None) -> Path:
    """The saved-model folder of ``path``: the folder itself, ``models/<role>/`` of a
    run (the run's main role when ``role`` is None), or a wave-1 run's ``model/``."""
    p = Path(path).expanduser()
    if not p.exists():
        raise WeightsError(f"{p} does not exist. Give a run folder (runs/<recipe>/<time>) or a "
                           "model folder holding config.json and model.safetensors.")
    if is_model_folder(p):
        if role is not None and p.name != role and p.parent.name == MODELS_DIR:
            raise WeightsError(f"{p} is the saved {p.name!r} model; --model {role} asks for "
                               f"another: give the run folder {p.parent.parent}.")
        return p
    roles = roles_in(p)
    if roles:
        if role is None:
            role = main_role(p) if len(roles) > 1 else roles[0]
        if role is None or role not in roles:
            asked = f"no model {role!r}." if role else "several models."
            raise WeightsError(f"The run {p} has {asked}{suggestion(role or '', roles)} Pick "
                               f"one with --model ROLE: {', '.join(roles)}.")
        return p / MODELS_DIR / role
    if (p / "config.json").is_file():
        raise WeightsError(f"{p} has config.json but no model.safetensors: the model folder is "
                           "incomplete (was its run stopped while saving?).")
    if is_model_folder(p / LEGACY_DIR):
        if role is not None:
            raise WeightsError(f"The run {p} has one model (model/), saved before named "
                               f"roles existed; drop --model {role}.")
        return p / LEGACY_DIR
    raise WeightsError(f"{p} holds no saved model: expected config.json + model.safetensors in it, "
                       f"in models/<role>/ or in model/. A run folder has them once its first "
                       "epoch has ended.")


def run_of(folder: Path) -> Path | None:
    """The run folder a saved-model folder belongs to (it holds recipe.toml), if any."""
    for candidate in (folder.parent, folder.parent.parent):
        if (candidate / "recipe.toml").is_file():
            return candidate
    return None


def read_config(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{folder / 'config.json'} cannot be read ({exc}).") from None
