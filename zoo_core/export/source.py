"""What ``zoo export RUN_OR_MODEL`` means: a saved-model folder, or a run folder
holding one model per role.

Two run layouts are understood:

* today's ``RUN/model/`` (one model; its role is called ``net``, the role the
  classification sugar ``[model]`` maps to in the task contract);
* the task contract's ``RUN/models/<role>/`` (``--model ROLE`` picks one; the
  default is the only one, or the task's ``main_role`` when it declares one).

A saved-model folder is ``config.json`` + ``model.safetensors``
(:func:`zoo_core.weights.save_model`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import UnknownNameError, ZooError, suggestion

if TYPE_CHECKING:
    import torch
    from torch import nn

#: the role today's single-model run folder (``RUN/model/``) stands for
LEGACY_ROLE = "net"


def is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


def model_roles(run_dir: str | Path) -> dict[str, Path]:
    """role -> saved-model folder of a run folder, for either layout (sorted by role)."""
    run = Path(run_dir)
    roles: dict[str, Path] = {}
    models = run / "models"
    if models.is_dir():
        for sub in sorted(models.iterdir()):
            if sub.is_dir() and is_model_folder(sub):
                roles[sub.name] = sub
    if not roles and is_model_folder(run / "model"):
        roles[LEGACY_ROLE] = run / "model"
    return roles


def _declared_main_role(run_dir: Path) -> str | None:
    """The run's task's ``main_role`` attribute, if the task declares one."""
    recipe = run_dir / "recipe.toml"
    if not recipe.is_file():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        task_name = tomllib.loads(recipe.read_text(encoding="utf-8"))["recipe"]["task"]
        from zoo_core.plugins import registry

        task = registry().get("task", str(task_name)).component.create()
    except Exception:  # noqa: BLE001 - no declared main role is an answer, not an error
        return None
    role = getattr(task, "main_role", None)
    return str(role) if role else None


def find_model_folder(path: str | Path, role: str | None = None) -> Path:
    """The saved-model folder that ``path`` (a model or run folder) and ``role`` name.

    Raises a :class:`ZooError` (exit code 2) that says what was expected when
    ``path`` holds no model, and lists the roles when ``role`` is unknown or
    needed to choose.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ZooError(f"{p} does not exist. Give a run folder (runs/<recipe>/<time>) or a "
                       "saved-model folder holding config.json and model.safetensors.")
    if not p.is_dir():
        raise ZooError(f"{p} is a file, not a model folder. Give a run folder or a saved-model "
                       "folder (config.json + model.safetensors); `zoo bench` takes .onnx files.")
    if is_model_folder(p):
        if role is not None and not (p / "models").is_dir():
            raise ZooError(f"--model {role}: {p} is a single saved model, not a run folder "
                           "with roles; drop --model.")
        folder = p
    else:
        roles = model_roles(p)
        if not roles:
            raise ZooError(
                f"{p} is not a model folder: it has no config.json, and no model/ or "
                "models/<role>/ folder holding one. Give a saved-model folder (config.json + "
                "model.safetensors) or a run folder whose first epoch has ended.")
        if role is not None:
            if role not in roles:
                raise UnknownNameError(
                    f"Run {p} has no model with role {role!r}.{suggestion(role, roles)} "
                    f"Its roles: {', '.join(roles)}.")
            folder = roles[role]
        elif len(roles) == 1:
            folder = next(iter(roles.values()))
        else:
            main = _declared_main_role(p)
            if main is None or main not in roles:
                raise ZooError(
                    f"Run {p} holds {len(roles)} models ({', '.join(roles)}); choose one with "
                    f"--model ROLE, e.g. --model {next(iter(roles))}.")
            folder = roles[main]
    if not (folder / "model.safetensors").is_file():
        raise ZooError(f"{folder} has config.json but no model.safetensors; the model folder "
                       "is incomplete (was the run stopped while saving?).")
    return folder


def run_dir_of(folder: Path) -> Path | None:
    """The run folder a saved-model folder belongs to (it has ``recipe.toml``), if any."""
    for parent in (folder.parent, folder.parent.parent):
        if (parent / "recipe.toml").is_file():
            return parent
    return None


def role_of(folder: Path, run_dir: Path | None) -> str | None:
    if run_dir is None:
        return None
    if folder.parent.name == "models":
        return folder.name
    return LEGACY_ROLE


@dataclass
class ExportSource:
    """A loaded model and where it came from."""

    folder: Path
    run_dir: Path | None
    role: str | None
    model: nn.Module
    data_config: dict[str, Any]
    config: dict[str, Any]

    @property
    def label_names(self) -> list[str] | None:
        names = self.config.get("label_names")
        return [str(n) for n in names] if names else None

    @property
    def task(self) -> str | None:
        zoo = self.config.get("zoo") or {}
        return zoo.get("task") if isinstance(zoo, dict) else None

    @property
    def name(self) -> str:
        """A short label for tables: ``<run>/<role>`` or the folder's name."""
        if self.run_dir is not None:
            return f"{self.run_dir.name}/{self.role}"
        return self.folder.name


def open_source(path: str | Path, role: str | None = None) -> ExportSource:
    """Find and load the model ``path``/``role`` names, in eval mode on the CPU."""
    from zoo_core.weights import load_model

    folder = find_model_folder(path, role)
    loaded = load_model(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    run_dir = run_dir_of(folder)
    model = loaded.model.eval()
    return ExportSource(folder=folder, run_dir=run_dir, role=role_of(folder, run_dir),
                        model=model, data_config=dict(loaded.data_config), config=config)


def random_inputs(model: nn.Module, data_config: dict[str, Any] | None, batch_size: int, *,
                  seed: int = 0, size: tuple[int, int] | None = None
                  ) -> tuple[torch.Tensor, ...]:
    """Inputs for one batch when there is no real data: the model's
    ``example_input(batch_size)`` if it has one, else a normal image batch shaped
    by the data config (``size`` overrides its height and width)."""
    import torch

    make = getattr(model, "example_input", None)
    if callable(make):
        torch.manual_seed(seed)
        out = make(batch_size)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)
    cfg = data_config or {}
    chans, height, width = tuple(cfg.get("input_size") or (3, 224, 224))
    if size is not None:
        height, width = size
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch_size, chans, height, width, generator=gen),)
