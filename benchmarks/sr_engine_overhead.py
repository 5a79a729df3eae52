"""zoo's SRResNet training step against a hand-written loop, side by side in one process.

Same network (the same initial weights), the same batches (LR/HR crops of
SunHays80 made once by the task's own transform and held in memory), the
same optimizer (Adam, lr 2e-4, betas (0.9, 0.99)), L1 loss and the
generator EMA update after each step (BasicSR's loop has it too). The engine
side is the real :class:`zoo_core.engine.trainer.Trainer` epoch loop over
the ``sr`` task's ``train_step`` (step context, regularizer hooks, precision
context, accumulation bookkeeping, NaN guard, metric accumulation, progress
bookkeeping); the plain side is the dozen lines a BasicSR-style script
writes. Rounds alternate between the two so that a busy machine slows both
alike; the ratio is reported for the median of paired rounds and for the
best round of each.

    .venv/bin/python benchmarks/sr_engine_overhead.py [--batch 16] [--gt-size 96]
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

from _side_by_side import interleaved, report

REPO = Path(__file__).resolve().parents[1]
SUNHAYS = REPO.parent / "shared" / "data" / "sr" / "SunHays80"


class MemoryLoader:
    """Batches held in memory, in the interface the trainer's epoch loop reads."""

    class _Sampler:
        def set_epoch(self, epoch: int, start: int = 0) -> None:
            return None

    def __init__(self, batches: list) -> None:
        self.batches = batches
        self.sampler = self._Sampler()

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def build(args: argparse.Namespace, work: Path):
    import tomllib
    from rich.console import Console

    from zoo_core.data.dataset import collate
    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.engine.progress import TrainProgress
    from zoo_core.engine.rundir import RunFolder
    from zoo_core.engine.trainer import Trainer
    from zoo_core.recipe import recipe_from_dict

    root = SUNHAYS
    if not root.exists():  # generated images keep the script runnable without shared data
        sys.path.insert(0, str(REPO))
        from tests._engine_helpers import make_image_folder

        root = make_image_folder(work / "images", classes=1, per_class=32, size=192)
    recipe = recipe_from_dict(tomllib.loads(f"""
[recipe]
name = "sr_overhead"
task = "sr"
[data]
dataset = "images"
root = "{root}"
val_fraction = 0.0
num_workers = 0
[models.generator]
name = "srresnet"
[optimizers.generator]
name = "adam"
lr = 2e-4
betas = [0.9, 0.99]
weight_decay = 0.0
[train]
batch_size = {args.batch}
epochs = 1
[task]
gt_size = {args.gt_size}
ema_decay = 0.999
artifact_images = 0
"""))
    pipe = build_pipeline(recipe, "cpu")
    ds = pipe.datasets["train"]
    batches = [collate([ds[((i * args.batch + j) % len(ds), 0)] for j in range(args.batch)])
               for i in range(args.steps)]
    pipe.configure_phase(0)
    pipe.ctx.loader_overrides["train"] = MemoryLoader(batches)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    trainer = Trainer(pipe, RunFolder(work / "run"), TrainProgress(quiet, enabled=False))
    return pipe, trainer, batches


def plain_loop(model, ema, opt, batches) -> None:
    import torch
    import torch.nn.functional as F

    model.train()
    ema_params = list(ema.parameters())
    for batch in batches:
        lr, hr = batch["lr"], batch["hr"]
        loss = F.l1_loss(model(lr), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1e-3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--gt-size", type=int, default=96)
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        pipe, trainer, batches = build(args, Path(tmp))
        model = pipe.specs["generator"].model
        plain = copy.deepcopy(model)
        plain_ema = copy.deepcopy(model).eval().requires_grad_(False)
        plain_opt = torch.optim.Adam(plain.parameters(), lr=2e-4, betas=(0.9, 0.99))
        n = args.steps * args.batch
        timed = interleaved(lambda r: trainer._train_epoch(r, 0, None),
                            lambda: plain_loop(plain, plain_ema, plain_opt, batches), n,
                            args.rounds)
        result = {"device": "cpu", "threads": torch.get_num_threads(), "model": "srresnet",
                  "gt_size": args.gt_size, "batch": args.batch, **timed}
    report(f"srresnet x4, {args.gt_size} px HR crops, batch {args.batch}, {n} samples/round, "
           f"{args.rounds} rounds on cpu ({result['threads']} threads)", result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
