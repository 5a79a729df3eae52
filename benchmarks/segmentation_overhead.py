"""zoo's training loop vs a hand-written PyTorch loop, for a U-Net, in one process.

The same U-Net (same initial weights, from recipes/membrane_unet.toml), the same
batches (random membrane crops drawn once by the recipe's own data pipeline and
held in memory, so data loading is out of both loops), the same optimizer (Adam,
the recipe's learning rate) and loss (the recipe's Dice + BCE). The engine side
is the real :class:`zoo_core.engine.trainer.Trainer` epoch loop running the
segmentation task's ``train_step`` (step context, precision context, regularizer
hooks, accumulation bookkeeping, NaN guard, metric accumulation); the plain side
is ``zero_grad / forward / loss / backward / step``. Rounds alternate between the
two so a busy machine slows both alike; the ratio engine/plain is reported as the
median of paired rounds and best against best.

    .venv/bin/python benchmarks/segmentation_overhead.py [--crop 128] [--batch 4]
        [--steps 6] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from _side_by_side import interleaved, report

REPO = Path(__file__).resolve().parents[1]
MEMBRANE = REPO.parent / "shared" / "data" / "membrane"


class _Sampler:
    def set_epoch(self, epoch: int, start: int = 0) -> None:
        pass


class InMemoryLoader:
    """The engine's loader interface over batches already in memory."""

    def __init__(self, batches: list[Any]):
        self.batches = batches
        self.sampler = _Sampler()

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        return iter(self.batches)


def build(args: argparse.Namespace, work: Path) -> tuple[Any, Any, list[Any]]:
    from rich.console import Console

    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.engine.progress import TrainProgress
    from zoo_core.engine.rundir import RunFolder
    from zoo_core.engine.trainer import Trainer
    from zoo_core.recipe import load_recipe

    if not MEMBRANE.exists():
        raise SystemExit(f"{MEMBRANE} is missing")
    recipe = load_recipe(REPO / "recipes" / "membrane_unet.toml", [
        f"data.root={MEMBRANE}", f"task.crop_size={args.crop}",
        f"train.batch_size={args.batch}", "task.overlays=0"])
    pipe = build_pipeline(recipe, "cpu")
    batches = []
    for batch in pipe.loaders["train"]:
        batches.append(batch)
        if len(batches) == args.steps:
            break
    pipe.configure_phase(0)
    pipe.ctx.loader_overrides["train"] = InMemoryLoader(batches)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    trainer = Trainer(pipe, RunFolder(work / "run"), TrainProgress(quiet, enabled=False))
    return pipe, trainer, batches


def plain_loop(model: torch.nn.Module, opt: torch.optim.Optimizer, loss_fn: Any,
               batches: list[Any]) -> None:
    model.train()
    for batch in batches:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch["image"]), batch["mask"])
        loss.backward()
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1,
                    help="1 is faster than 2 on a shared, busy machine (no straggler waits)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        pipe, trainer, batches = build(args, Path(tmp))
        model = pipe.specs["net"].model
        plain = copy.deepcopy(model)
        lr = pipe.optimizers["net"].param_groups[0]["lr"]
        plain_opt = torch.optim.Adam(plain.parameters(), lr=lr)
        loss_fn = copy.deepcopy(pipe.task.criterion)
        n = sum(int(b["image"].shape[0]) for b in batches)
        timed = interleaved(lambda r: trainer._train_epoch(r, 0, None),
                            lambda: plain_loop(plain, plain_opt, loss_fn, batches), n,
                            args.rounds)
        result = {
            "model": "unet (tf_efficientnet_lite0, recipes/membrane_unet.toml)",
            "threads": torch.get_num_threads(), "crop": args.crop, "batch": args.batch,
            **timed, "load_average": os.getloadavg()[0],
        }
    report(f"U-Net @ {args.crop}px crops, batch {args.batch}, {n} samples/round, "
           f"{args.rounds} rounds, {result['threads']} threads (load average "
           f"{result['load_average']:.1f})", result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
