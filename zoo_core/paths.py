"""Where zoo keeps files. Everything lives under ``ZOO_HOME`` (default
``~/.cache/zoo``); Hub downloads stay in the Hugging Face cache (``HF_HOME``)
so they are shared with timm and transformers."""

from __future__ import annotations

import os
from pathlib import Path


def zoo_home() -> Path:
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo").expanduser()


def cache_dir(*parts: str) -> Path:
    """A folder under ``ZOO_HOME``, created on demand."""
    path = zoo_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
