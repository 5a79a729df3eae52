"""Helpers for the engine, data, classification and run tests: small real image
folders, recipes written to disk, and the CLI run in-process."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
SHARED_DATA = REPO.parent / "shared" / "data"
ZOO = str(REPO / ".venv" / "bin" / "zoo")

# a tiny, real timm ResNet (~470k parameters) that trains in seconds at 32x32
TINY_BACKBONE = "test_resnet"


def make_image_folder(root: Path, *, classes: int = 3, per_class: int = 8, size: int = 32,
                      layout: str = "flat", seed: int = 0) -> Path:
    """PNG images whose class is visible (a per-class color and stripe), in
    ``root/<class>/`` (flat) or ``root/{train,validation,test}/<class>/`` (split)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    names = [f"class_{chr(ord('a') + i)}" for i in range(classes)]
    splits = {"": per_class} if layout == "flat" else {
        "train": per_class, "validation": max(per_class // 2, 2), "test": max(per_class // 2, 2)}
    for split, count in splits.items():
        for c, name in enumerate(names):
            folder = root / split / name if split else root / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
                img[..., c % 3] += 120
                stripe = (c * size) // classes
                img[:, stripe:stripe + max(size // (2 * classes), 1), :] = 250
                Image.fromarray(img).save(folder / f"img_{i:03d}.png")
    return root


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def tiny_recipe(path: Path, data_root: Path, *, extra: str = "", epochs: int = 2,
                mode: str = "scratch", name: str = "tiny") -> Path:
    """A recipe over an image folder with the tiny backbone at 32x32 (no network)."""
    weights = "" if mode == "scratch" else 'weights = "none"\n'
    return write_recipe(path, f"""
        [recipe]
        name = "{name}"
        seed = 0

        [data]
        dataset = "imagefolder"
        root = "{data_root}"
        image_size = 32
        num_workers = 0
        val_fraction = 0.25

        [model]
        backbone = "{TINY_BACKBONE}"
        mode = "{mode}"
        {weights}
        [train]
        epochs = {epochs}
        batch_size = 8

        [train.optimizer]
        name = "adamw"
        lr = 0.01
        """ + textwrap.dedent(extra))


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    """Run the zoo CLI in this process (real code paths, captured output)."""
    from zoo_core.cli import cli as zoo_cli

    runner = CliRunner()
    return runner.invoke(zoo_cli, list(args), env=env, catch_exceptions=False)


def load_run_weights(run_dir: Path, role: str = "net") -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(run_dir / "models" / role / "model.safetensors"))


def checkpoint_state(run_dir: Path) -> dict[str, Any]:
    import torch

    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def earlier_run_models(tables: dict, tmp_path: Path) -> list[str]:
    """A recipe that starts from an earlier run's saved model names a folder of the user's
    (``weights = "./runs/.../models/generator"``): save such a model and point at it."""
    from zoo_core.api import create
    from zoo_core.plugins import registry
    from zoo_core.weights import save_model
    from zoo_core.weights.uris import is_uri

    models = tables.get("models") or {}
    if not models:
        return []
    task = registry().get("task", tables["recipe"]["task"]).component.create()
    sets = []
    for role, entry in models.items():
        weights = entry.get("weights")
        if not weights or not is_uri(weights) or "://" in weights or Path(weights).exists():
            continue
        kind = task.roles[role].kind
        folder = tmp_path / "earlier" / role
        save_model(folder, create(kind, entry["name"]),
                   {"zoo": {"builder": {"kind": kind, "name": entry["name"]}, "model": {}}})
        sets += ["--set", f'models.{role}.weights="{folder}"']
    return sets
