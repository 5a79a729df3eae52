"""timm's architectures, registered without importing timm.

Importing timm (and so torch) costs seconds; listing must not. The names and
their weight tags are read from timm once per installed timm version and
cached as JSON under ZOO_HOME.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from collections.abc import Callable
from typing import Any

from zoo_core.atomic import atomic_open
from zoo_core.paths import cache_dir
from zoo_core.types import WeightTag


def _cache_file():
    try:
        version = md.version("timm")
    except md.PackageNotFoundError:
        return None
    return cache_dir("registry") / f"timm-{version}.json"


def load() -> dict[str, list[str]]:
    """arch -> weight tags (default first), from the cache or from timm."""
    path = _cache_file()
    if path is None:
        return {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
            return {k: list(v) for k, v in data["archs"].items()}
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt below
    archs = _read_timm()
    with atomic_open(path) as fh:
        json.dump({"archs": archs}, fh)
    return archs


def _read_timm() -> dict[str, list[str]]:
    import timm
    from timm.models import get_pretrained_cfg

    tags: dict[str, list[str]] = {arch: [] for arch in timm.list_models()}
    for full in timm.list_pretrained():
        arch, _, tag = full.partition(".")
        if arch in tags and tag:
            tags[arch].append(tag)
    for arch, arch_tags in tags.items():
        default = get_pretrained_cfg(arch)
        if default is not None and default.tag in arch_tags:
            arch_tags.remove(default.tag)
            arch_tags.insert(0, default.tag)
    return tags


def factory(arch: str) -> Callable[..., Any]:
    def build(**cfg: Any):
        import timm

        cfg.pop("pretrained", None)  # weights come through zoo's own loader
        return timm.create_model(arch, pretrained=False, **cfg)

    build.__name__ = f"build_{arch}"
    return build


def weights_provider(arch: str) -> Callable[[], dict[str, WeightTag]]:
    def provide() -> dict[str, WeightTag]:
        import timm
        from timm.models import get_pretrained_cfg

        out: dict[str, WeightTag] = {}
        for full in timm.list_pretrained(f"{arch}.*"):
            cfg = get_pretrained_cfg(full)
            if cfg is None:
                continue
            source = f"hf://{cfg.hf_hub_id}" if cfg.hf_hub_id else (cfg.url or "")
            if not source:
                continue
            tag = full.split(".", 1)[1]
            out[tag] = WeightTag(
                tag=tag, source=source, num_classes=cfg.num_classes,
                data_config={"input_size": tuple(cfg.input_size), "mean": tuple(cfg.mean),
                             "std": tuple(cfg.std), "interpolation": cfg.interpolation,
                             "crop_pct": cfg.crop_pct, "crop_mode": cfg.crop_mode},
                license=cfg.license, description=cfg.description or "",
            )
        return out

    return provide
