"""zoo's training loop vs a plain hand-written PyTorch loop, side by side in one process.

Same model (same initial weights), same data (the same images, decoded once and
held in memory; the engine draws them in its seeded per-epoch order), same
batch size, same optimizer (AdamW) and loss. The
engine side is the real :class:`zoo_core.engine.trainer.Trainer` epoch loop
(task forward/loss, regularizer hooks, precision context, gradient-accumulation
bookkeeping, NaN guard, metric accumulation, progress bookkeeping); the plain
side is the five lines of the seed's ResNet-50 example. Rounds alternate
between the two so that a busy machine slows both alike; the ratio is
reported for the median and for the best round.

    .venv/bin/python benchmarks/engine_overhead.py [--model resnet50] [--image-size 128]
        [--batch 16] [--steps 8] [--rounds 5]
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


def build(args: argparse.Namespace, work: Path):
    from rich.console import Console

    from zoo_core.engine.feature_cache import FeatureSet
    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.engine.progress import TrainProgress
    from zoo_core.engine.rundir import RunFolder
    from zoo_core.engine.trainer import Trainer
    from zoo_core.recipe import load_recipe

    root = FLOWERS
    if not root.exists():  # generated images keep the script runnable without shared data
        sys.path.insert(0, str(REPO))
        from tests._engine_helpers import make_image_folder

        root = make_image_folder(work / "images", classes=4, per_class=40, size=args.image_size)
    recipe_path = work / "overhead.toml"
    recipe_path.write_text(f"""
[recipe]
name = "overhead"
[data]
dataset = "imagefolder"
root = "{root}"
val_fraction = 0.0
image_size = {args.image_size}
num_workers = 0
[model]
backbone = "{args.model}"
mode = "scratch"
[train]
batch_size = {args.batch}
epochs = 1
[train.optimizer]
name = "adamw"
lr = 0.0001
""", encoding="utf-8")
    recipe = load_recipe(recipe_path)
    pipe = build_pipeline(recipe, "cpu" if args.cpu else None)
    # materialize exactly steps * batch images once, so data loading is out of both loops
    xs, ys = [], []
    for batch in pipe.loaders["train"]:
        xs.append(batch.inputs)
        ys.append(batch.targets)
        if sum(len(y) for y in ys) >= args.steps * args.batch:
            break
    import torch

    images = torch.cat(xs)[: args.steps * args.batch].to(pipe.device)
    labels = torch.cat(ys)[: args.steps * args.batch].to(pipe.device)
    # the engine trains on these tensors through its own loop (an in-memory loader)
    pipe.cached["train"] = FeatureSet(images, labels)
    pipe.net = pipe.model
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    trainer = Trainer(pipe, RunFolder(work / "run"), TrainProgress(quiet, enabled=False))
    return pipe, trainer, images, labels


def plain_loop(model, opt, images, labels, batch: int) -> None:
    import torch.nn.functional as F

    model.train()
    for i in range(0, images.shape[0], batch):
        x, y = images[i:i + batch], labels[i:i + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="force the CPU even with a GPU")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    import copy

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        pipe, trainer, images, labels = build(args, Path(tmp))
        plain = copy.deepcopy(pipe.model)
        plain_opt = torch.optim.AdamW(plain.parameters(), lr=1e-4)
        n = images.shape[0]

        def sync() -> None:
            if pipe.device.type == "cuda":
                torch.cuda.synchronize()

        # warm-up both (allocator, kernels, optimizer state)
        trainer._train_epoch(0, 0, None)
        plain_loop(plain, plain_opt, images, labels, args.batch)
        engine_sps, plain_sps = [], []
        for r in range(args.rounds):
            for side in (("engine", "plain") if r % 2 == 0 else ("plain", "engine")):
                sync()
                t0 = time.perf_counter()
                if side == "engine":
                    trainer._train_epoch(r + 1, 0, None)
                else:
                    plain_loop(plain, plain_opt, images, labels, args.batch)
                sync()
                (engine_sps if side == "engine" else plain_sps).append(
                    n / (time.perf_counter() - t0))
        ratios = [e / p for e, p in zip(engine_sps, plain_sps, strict=True)]
        result = {
            "device": str(pipe.device), "threads": torch.get_num_threads(),
            "model": args.model, "image_size": args.image_size, "batch": args.batch,
            "samples_per_round": n, "rounds": args.rounds,
            "engine_samples_per_s": engine_sps, "plain_samples_per_s": plain_sps,
            "ratio_median": statistics.median(ratios),
            "ratio_best": max(engine_sps) / max(plain_sps),
        }
    print(f"{args.model} @ {args.image_size}px, batch {args.batch}, {n} samples/round, "
          f"{args.rounds} rounds on {result['device']} ({result['threads']} threads)")
    print(f"  plain loop : median {statistics.median(plain_sps):8.2f} samples/s  "
          f"best {max(plain_sps):8.2f}")
    print(f"  zoo engine : median {statistics.median(engine_sps):8.2f} samples/s  "
          f"best {max(engine_sps):8.2f}")
    print(f"  engine / plain: median of paired rounds {result['ratio_median']:.3f}x, "
          f"best vs best {result['ratio_best']:.3f}x (goal >= 0.95x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
