"""Transfer beats scratch, end to end and offline, on real flowers (flowers12).

1. Pretrain a small backbone from scratch on 6 of the 12 species (``zoo run``).
2. Its run folder's ``model/`` (config.json + model.safetensors) is the saved
   model; with ``--hub`` it is also pushed to a local Hub stand-in and pulled
   back from there as ``hf://``.
3. Train on the other 6 species with 10 images per class in
   ``feature_extract`` mode, starting from those weights.
4. The same recipe without them, two ways: the same frozen-backbone recipe
   from random weights (``weights = "none"``: what the pretrained weights
   are worth to feature extraction), and ``mode = "scratch"`` (every layer
   trained from random init on the 60 images: the strongest no-transfer
   baseline).
5. Compare test accuracy on held-out images of those 6 species, over seeds.

    .venv/bin/python benchmarks/transfer_vs_scratch.py [--seeds 0 1 2] [--hub]
        [--pretrained RUN_DIR]   # reuse a pretraining run of this script
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


def _recipe(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pretrain_text(classes: list[str], args: argparse.Namespace) -> str:
    return f"""
[recipe]
name = "flowers6_pretrain"
seed = 0

[data]
dataset = "imagefolder"
root = "{FLOWERS}"
classes = {json.dumps(classes)}
val_fraction = 0.15
image_size = {args.image_size}
num_workers = 2

[data.augment]
random_resized_crop = {{ scale = [0.35, 1.0] }}
hflip = 0.5
color_jitter = 0.2

[model]
backbone = "{args.backbone}"
mode = "scratch"

[train]
epochs = {args.pretrain_epochs}
batch_size = 32

[train.optimizer]
name = "adamw"
lr = 0.003
weight_decay = 0.01

[train.schedule]
name = "cosine"
warmup_epochs = 2
"""


def target_text(classes: list[str], args: argparse.Namespace, *, mode: str, weights: str,
                seed: int) -> str:
    weights_line = f'weights = "{weights}"' if mode != "scratch" else ""
    return f"""
[recipe]
name = "flowers6_{mode}_{'random' if weights == 'none' else 'pretrained'}"
seed = {seed}

[data]
dataset = "imagefolder"
root = "{FLOWERS}"
classes = {json.dumps(classes)}
val_fraction = 0.2
test_fraction = 0.3
subset_per_class = {args.shots}
image_size = {args.image_size}
num_workers = 0

[model]
backbone = "{args.backbone}"
mode = "{mode}"
{weights_line}

[train]
epochs = {args.epochs}
batch_size = 16

[train.optimizer]
name = "adamw"
lr = {args.lr}

[train.schedule]
name = "cosine"

[train.checkpoint]
monitor = "val/loss"
"""


def run(path: Path, out: Path) -> dict:
    from rich.console import Console

    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import load_and_validate

    recipe, _ = load_and_validate(path)
    quiet = Console(file=open(os.devnull, "w"), soft_wrap=True)  # noqa: SIM115
    result = run_recipe(recipe, out=out, console=quiet, progress=False)
    return result.final


def push_and_pull(model_dir: Path, work: Path) -> tuple[str, object]:
    """Publish the saved model on a loopback Hub stand-in; return its hf:// URI."""
    sys.path.insert(0, str(REPO))
    from tests._hub_server import FakeHub

    hub = FakeHub(tokens={"hf_bench"}).start()
    os.environ.update({"HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_bench",
                       "HF_HOME": str(work / "hf")})
    from zoo_core.weights.publish import push

    push(model_dir, "bench/flowers6-pretrained")
    return "hf://bench/flowers6-pretrained", hub


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet10t")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--pretrain-epochs", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--shots", type=int, default=10, help="training images per class")
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--split", choices=["interleaved", "halves"], default="interleaved",
                    help="which 6 species pretrain: every other one (alphabetically), or the "
                         "first half")
    ap.add_argument("--hub", action="store_true", help="push/pull through a local Hub stand-in")
    ap.add_argument("--pretrained", type=Path,
                    help="a pretraining run folder of this script to reuse (skips step 1)")
    ap.add_argument("--work", type=Path, help="keep run folders here (default: a temp dir)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    if not FLOWERS.exists():
        sys.exit(f"{FLOWERS} is missing: this benchmark needs ../shared/data/flowers12")
    species = sorted(p.name for p in FLOWERS.iterdir() if p.is_dir())
    if args.split == "halves":
        source, target = species[:6], species[6:]
    else:
        source, target = species[0::2], species[1::2]
    work = args.work or Path(tempfile.mkdtemp(prefix="zoo-transfer-"))
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    pre_dir = args.pretrained or work / "pretrain"
    if args.pretrained is None:
        run(_recipe(work / "pretrain.toml", pretrain_text(source, args)), pre_dir)
    pre = json.loads((pre_dir / "metrics.jsonl").read_text().splitlines()[-1])
    pretrain_s = time.perf_counter() - t0
    weights = str(pre_dir / "models" / "net")
    hub = None
    if args.hub:
        weights, hub = push_and_pull(pre_dir / "models" / "net", work)
    print(f"pretrained {args.backbone} on {', '.join(source)}: val top1 "
          f"{pre['val/top1']:.3f} ({pretrain_s:.0f}s); weights from {weights}", flush=True)

    arms = {"transfer (feature_extract, pretrained)": ("feature_extract", weights),
            "feature_extract, random weights": ("feature_extract", "none"),
            "scratch (all layers)": ("scratch", "none")}
    scores: dict[str, list[float]] = {arm: [] for arm in arms}
    for seed in args.seeds:
        for i, (arm, (mode, w)) in enumerate(arms.items()):
            text = target_text(target, args, mode=mode, weights=w, seed=seed)
            final = run(_recipe(work / f"arm{i}_{seed}.toml", text), work / f"arm{i}_{seed}")
            scores[arm].append(final["test/top1"])
            print(f"seed {seed}  {arm:40s} test top1 {final['test/top1']:.3f}", flush=True)
    if hub is not None:
        hub.stop()
    summary = {
        "backbone": args.backbone, "image_size": args.image_size, "shots": args.shots,
        "split": args.split, "source_species": source, "target_species": target,
        "seeds": args.seeds,
        "pretrain_val_top1": pre["val/top1"], "weights": weights,
        "test_top1": {m: {"mean": statistics.mean(v), "runs": v} for m, v in scores.items()},
    }
    print(f"\n{args.shots} training images per class, {len(target)} new species "
          f"({', '.join(target)}), test top1 over seeds {args.seeds}:")
    for arm, values in scores.items():
        print(f"  {arm:40s} mean {statistics.mean(values):.3f}  runs "
              + " ".join(f"{v:.3f}" for v in values))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
