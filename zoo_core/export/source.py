"""What ``zoo export RUN_OR_MODEL`` means: a saved-model folder, or a run folder
holding one model per role (``--model ROLE`` picks one; the default is the
task's main role), found by :func:`zoo_core.weights.saved.find_model_folder`
as every command does; and inputs for a model when there is no data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.weights.saved import MODELS_DIR, find_model_folder, read_config, run_of

if TYPE_CHECKING:
    import torch
    from torch import nn

def role_of(folder: Path, config: dict[str, Any]) -> str | None:
    """The role a saved model plays: its folder under ``models/``, else what its
    config.json records (a wave-1 ``model/`` folder records none)."""
    if folder.parent.name == MODELS_DIR:
        return folder.name
    zoo = config.get("zoo") if isinstance(config.get("zoo"), dict) else {}
    role = zoo.get("role") if zoo else None
    return str(role) if role else None


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
    config = read_config(folder)
    model = loaded.model.eval()
    return ExportSource(folder=folder, run_dir=run_of(folder), role=role_of(folder, config),
                        model=model, data_config=dict(loaded.data_config), config=config)


def random_inputs(model: nn.Module, data_config: dict[str, Any] | None, batch_size: int, *,
                  seed: int = 0, size: tuple[int, int] | None = None
                  ) -> tuple[torch.Tensor, ...]:
    """Inputs for one batch when there is no real data: the model's
    ``example_input(batch_size)`` if it has one, else a normal image batch shaped
    by the data config. ``size`` overrides the height and width of an image batch
    (an example image is resized to it, so its values keep their range)."""
    import torch

    make = getattr(model, "example_input", None)
    if callable(make):
        torch.manual_seed(seed)
        out = make(batch_size)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if size is not None and len(out) == 1 and out[0].ndim == 4 \
                and tuple(out[0].shape[-2:]) != tuple(size):
            out = (torch.nn.functional.interpolate(out[0], size=tuple(size), mode="bilinear",
                                                   align_corners=False),)
        return out
    cfg = data_config or {}
    chans, height, width = tuple(cfg.get("input_size") or (3, 224, 224))
    if size is not None:
        height, width = size
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch_size, chans, height, width, generator=gen),)
