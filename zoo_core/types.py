"""Small value types shared by the core and plugins. No torch import here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WeightTag:
    """One set of pretrained weights for an architecture, addressed as ``arch.tag``.

    ``source`` is a weights URI: ``hf://org/repo[@rev][/file]``, ``https://...``
    (then ``sha256`` is required), or a local path. ``data_config`` carries the
    preprocessing the weights were trained with (``mean``, ``std``,
    ``input_size`` as (C, H, W), ``interpolation``, ``crop_pct``), so training
    and prediction can build matching transforms.
    """

    tag: str
    source: str
    sha256: str | None = None
    num_classes: int | None = None
    data_config: dict[str, Any] = field(default_factory=dict)
    license: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights URI turned into a verified local file (what a resolver returns)."""

    uri: str
    path: Path
    sha256: str
    revision: str | None = None
    # e.g. config.json next to model.safetensors for a save_pretrained folder
    config: dict[str, Any] = field(default_factory=dict)
