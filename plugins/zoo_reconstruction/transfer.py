"""Encoder transfer: save a trained autoencoder's encoder as a backbone.

The folder :func:`export_encoder` writes is a saved-model folder in timm's
format (``config.json`` with ``architecture``, ``model_args`` and
``num_classes = 0``, plus ``model.safetensors``), so

* ``zoo_core.weights.load_model(folder)`` rebuilds the backbone with its weights, and
* a recipe starts from it with ``backbone = "<architecture>"``, ``weights = "<folder>"``
  (the encoder has no classifier: the recipe's head starts from random init).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from zoo_core.errors import ZooError


def encoder_config(autoencoder: nn.Module) -> dict[str, Any]:
    """The timm-format ``config.json`` describing the autoencoder's encoder."""
    from zoo_core.plugins import registry

    name = getattr(autoencoder, "encoder_name", None)
    encoder = getattr(autoencoder, "encoder", None)
    if not name or encoder is None:
        raise ZooError("export_encoder needs an autoencoder from zoo_reconstruction.models "
                       "(it records which registry backbone its encoder is).")
    arch = registry().get("backbone", str(name)).component.name  # drops a weight tag
    cfg = getattr(encoder, "pretrained_cfg", None) or {}
    pretrained = {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()
                  if k in ("input_size", "mean", "std", "interpolation", "crop_pct",
                           "crop_mode")}
    pretrained["num_classes"] = 0
    return {"architecture": arch, "num_classes": 0,
            "model_args": dict(getattr(autoencoder, "encoder_cfg", {}) or {}),
            "pretrained_cfg": pretrained}


def export_encoder(autoencoder: nn.Module, folder: str | Path) -> Path:
    """Write the encoder to ``folder`` as a backbone (config.json + model.safetensors)."""
    from zoo_core.weights import save_model

    config = encoder_config(autoencoder)
    folder = Path(folder)
    save_model(folder, autoencoder.encoder, config)  # type: ignore[arg-type]
    return folder
