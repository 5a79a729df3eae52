"""Frozen-feature cache: epoch time with and without it, frozen ResNet-18 on flowers12.

Two ``zoo run`` s of the same ``feature_extract`` recipe (12 species, 720
images, 224x224, no augmentation), one with ``train.feature_cache = false``
(the frozen backbone runs on every batch of every epoch) and one with the
cache (the backbone runs once; the head trains on cached features). Reports
the time of the one-off feature pass, the per-epoch time of each (training
loop and validation pass), the speedup of epochs after the first, and the
accuracy of both (the same within noise).

    .venv/bin/python benchmarks/feature_cache.py [--epochs 3] [--backbone resnet18]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLOWERS = REPO.parent / "shared" / "data" / "flowers12" / "train"


def recipe_text(args: argparse.Namespace, cache: bool) -> str:
    weights = f'weights = "{args.weights}"' if args.weights else 'weights = "none"'
    return f"""
[recipe]
name = "cache_{'on' if cache else 'off'}"
seed = 0

[data]
dataset = "imagefolder"
root = "{FLOWERS}"
val_fraction = 0.2
num_workers = 2

[model]
backbone = "{args.backbone}"
{weights}
mode = "feature_extract"

[train]
epochs = {args.epochs}
batch_size = 32
feature_cache = {str(cache).lower()}

[train.optimizer]
name = "adamw"
lr = 0.003
"""


class EpochClock:
    """Wall time between epoch-end summaries (training loop + validation pass)."""

    def __init__(self) -> None:
        self.marks: list[float] = []

    def write(self, text: str) -> int:
        if text.startswith("epoch "):
            self.marks.append(time.perf_counter())
        return len(text)

    def flush(self) -> None:
        pass


def run(args: argparse.Namespace, cache: bool, work: Path) -> dict:
    from rich.console import Console

    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import load_recipe

    path = work / f"cache_{cache}.toml"
    path.write_text(recipe_text(args, cache), encoding="utf-8")
    recipe = load_recipe(path)
    clock = EpochClock()
    start = time.perf_counter()
    result = run_recipe(recipe, out=work / f"run_{cache}", progress=False,
                        console=Console(file=clock, soft_wrap=True, width=400))
    history = result.fit.history
    import torch

    state = torch.load(result.path / "checkpoints" / "last.pt", weights_only=True)
    notes = state["task"].get("cache_notes") or [{}]  # the classification task's record
    note = notes[0]
    walls = [b - a for a, b in zip(clock.marks, clock.marks[1:], strict=False)]
    return {
        "feature_cache": cache,
        "cache_seconds": note.get("seconds", 0.0) if note.get("used") else 0.0,
        "train_loop_s": [row["train/epoch_time_s"] for row in history],
        "epoch_wall_s": walls,  # epochs 2.. (training + validation), end to end
        "val_top1": [row["val/top1"] for row in history],
        "total_s": time.perf_counter() - start,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--weights", help="weights for the backbone (default: random init; the "
                    "timing does not depend on the values)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not FLOWERS.exists():
        sys.exit(f"{FLOWERS} is missing: this benchmark needs ../shared/data/flowers12")
    with tempfile.TemporaryDirectory() as tmp:
        off = run(args, False, Path(tmp))
        on = run(args, True, Path(tmp))
    after_first_off = statistics.mean(off["epoch_wall_s"])
    after_first_on = statistics.mean(on["epoch_wall_s"])
    result = {"backbone": args.backbone, "threads": os.cpu_count(), "without": off, "with": on,
              "speedup_epochs_after_first": after_first_off / after_first_on,
              "speedup_train_loop": statistics.mean(off["train_loop_s"]) /
              statistics.mean(on["train_loop_s"])}
    print(f"frozen {args.backbone} on flowers12 (576 train / 144 val images, 224px), "
          f"{args.epochs} epochs")
    print(f"  without cache: {after_first_off:8.3f} s per epoch (train loop "
          f"{statistics.mean(off['train_loop_s']):.3f} s), val top1 {off['val_top1'][-1]:.3f}")
    print(f"  with cache   : {after_first_on:8.3f} s per epoch (train loop "
          f"{statistics.mean(on['train_loop_s']):.3f} s), val top1 {on['val_top1'][-1]:.3f}; "
          f"one-off feature pass {on['cache_seconds']:.1f} s")
    print(f"  speedup of epochs after the first: {result['speedup_epochs_after_first']:.0f}x "
          f"(goal >= 10x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
