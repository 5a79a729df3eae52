"""zoo's training loop vs a plain hand-written PyTorch loop, side by side in one process.

Two tasks, each against the loop a person would write by hand:

* ``--task classification``: ResNet-50 (``--model``) on flowers12 images with
  cross-entropy and AdamW, against the five lines of the seed's ResNet-50 example;
* ``--task gan``: the DCGAN tutorial's networks on digits (``--image-size`` 32 or
  64) with BCE on logits and Adam (2e-4, betas 0.5/0.999), against the tutorial's
  training loop (D on real, D on detached fakes, step; G on fakes, step).

Same models (same initial weights), same data (decoded once and held in memory;
the engine draws it through its own loader interface in its seeded per-epoch
order), same batch size, same optimizers and losses. The engine side is the real
:class:`zoo_core.engine.trainer.Trainer` epoch loop around the task's
``train_step`` (step context, precision context, per-role optimizers, gradient
bookkeeping, NaN guard, metric accumulation, progress bookkeeping). Rounds
alternate between the two so that a busy machine slows both alike; the ratio is
reported for the median of paired rounds and for the best round.

    .venv/bin/python benchmarks/engine_overhead.py --task gan [--batch 64] [--rounds 7]
    .venv/bin/python benchmarks/engine_overhead.py --task classification [--model resnet50]
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
FLOWERS = REPO.parent / "shared" / "data" / "flowers12" / "train"


class MemoryLoader:
    """The engine's loader interface over tensors in memory: an EpochSampler's seeded
    order, batches of dicts (what the data layer's collate makes)."""

    def __init__(self, tensors: dict[str, torch.Tensor], batch: int, seed: int = 0):
        from zoo_core.data.loaders import EpochSampler

        self.tensors = tensors
        self.batch = batch
        n = len(next(iter(tensors.values())))
        self.sampler = EpochSampler(n, shuffle=True, seed=seed)

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch)

    def __iter__(self) -> Any:
        from zoo_core.data.dataset import Batch

        order = torch.tensor(self.sampler.order()[self.sampler.start:])
        for i in range(0, len(order), self.batch):
            idx = order[i:i + self.batch]
            yield Batch({k: v[idx] for k, v in self.tensors.items()})


def recipe_text(args: argparse.Namespace, work: Path) -> str:
    if args.task == "gan":
        return f"""
[recipe]
name = "overhead_gan"
task = "gan"
[data]
dataset = "digits"
image_size = {args.image_size}
val_fraction = 0.0
num_workers = 0
[models.generator]
name = "dcgan_generator"
[models.discriminator]
name = "dcgan_discriminator"
[train]
batch_size = {args.batch}
epochs = 1
[task]
sample_every = 0
fid = {{ n_samples = 0 }}
"""
    root = FLOWERS
    if not root.exists():  # generated images keep the script runnable without shared data
        sys.path.insert(0, str(REPO))
        from tests._engine_helpers import make_image_folder

        root = make_image_folder(work / "images", classes=4, per_class=40, size=args.image_size)
    return f"""
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
"""


def build(args: argparse.Namespace, work: Path) -> tuple[Any, Any, dict[str, torch.Tensor]]:
    from rich.console import Console

    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.engine.progress import TrainProgress
    from zoo_core.engine.rundir import RunFolder
    from zoo_core.engine.trainer import Trainer
    from zoo_core.recipe import load_recipe

    path = work / "overhead.toml"
    path.write_text(recipe_text(args, work), encoding="utf-8")
    pipe = build_pipeline(load_recipe(path), "cpu" if args.cpu else None)
    # materialize exactly steps * batch samples once: data loading is out of both loops
    parts: dict[str, list[torch.Tensor]] = {}
    for batch in pipe.loaders["train"]:
        for key, value in batch.items():
            parts.setdefault(key, []).append(value)
        if sum(len(v) for v in parts["image"]) >= args.steps * args.batch:
            break
    tensors = {k: torch.cat(v)[: args.steps * args.batch].to(pipe.device)
               for k, v in parts.items()}
    pipe.configure_phase(0)
    pipe.ctx.loader_overrides["train"] = MemoryLoader(tensors, args.batch)
    quiet = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    trainer = Trainer(pipe, RunFolder(work / "run"), TrainProgress(quiet, enabled=False))
    return pipe, trainer, tensors


def classification_loop(models: dict[str, Any], opts: dict[str, Any],
                        tensors: dict[str, torch.Tensor], batch: int) -> None:
    import torch.nn.functional as F

    model, opt = models["net"], opts["net"]
    images, labels = tensors["image"], tensors["label"]
    model.train()
    for i in range(0, images.shape[0], batch):
        x, y = images[i:i + batch], labels[i:i + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()


def gan_loop(models: dict[str, Any], opts: dict[str, Any], tensors: dict[str, torch.Tensor],
             batch: int) -> None:
    """The PyTorch DCGAN tutorial's loop (with BCE on logits: the same networks)."""
    import torch.nn.functional as F

    g, d = models["generator"], models["discriminator"]
    opt_g, opt_d = opts["generator"], opts["discriminator"]
    images = tensors["image"]
    g.train()
    d.train()
    for i in range(0, images.shape[0], batch):
        real = images[i:i + batch]
        n = real.shape[0]
        ones = torch.ones(n, device=real.device)
        zeros = torch.zeros(n, device=real.device)
        d.zero_grad()
        err_real = F.binary_cross_entropy_with_logits(d(real), ones)
        err_real.backward()
        fake = g(torch.randn(n, g.nz, device=real.device))
        err_fake = F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
        err_fake.backward()
        opt_d.step()
        g.zero_grad()
        err_g = F.binary_cross_entropy_with_logits(d(fake), ones)
        err_g.backward()
        opt_g.step()


def plain_optimizers(task: str, models: dict[str, Any]) -> dict[str, Any]:
    if task == "gan":
        return {role: torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999))
                for role, m in models.items()}
    return {"net": torch.optim.AdamW(models["net"].parameters(), lr=1e-4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=("classification", "gan"), default="classification")
    ap.add_argument("--model", default="resnet50", help="classification: the backbone")
    ap.add_argument("--image-size", type=int, default=None, help="default 128, GAN 32")
    ap.add_argument("--batch", type=int, default=None, help="default 16, GAN 64")
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cpu", action="store_true", help="force the CPU even with a GPU")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    gan = args.task == "gan"
    args.image_size = args.image_size or (32 if gan else 128)
    args.batch = args.batch or (64 if gan else 16)
    if args.threads:
        torch.set_num_threads(args.threads)
    loop = gan_loop if gan else classification_loop

    with tempfile.TemporaryDirectory() as tmp:
        pipe, trainer, tensors = build(args, Path(tmp))
        plain = {role: copy.deepcopy(spec.model) for role, spec in pipe.specs.items()}
        plain_opts = plain_optimizers(args.task, plain)
        n = len(tensors["image"])

        def sync() -> None:
            if pipe.device.type == "cuda":
                torch.cuda.synchronize()

        timed = interleaved(lambda r: trainer._train_epoch(r, 0, None),
                            lambda: loop(plain, plain_opts, tensors, args.batch), n,
                            args.rounds, sync)
        name = f"DCGAN {args.image_size}px" if gan else f"{args.model} @ {args.image_size}px"
        result = {"task": args.task, "device": str(pipe.device),
                  "threads": torch.get_num_threads(), "model": name, "batch": args.batch,
                  **timed}
    report(f"{name}, batch {args.batch}, {n} samples/round, {args.rounds} rounds on "
           f"{result['device']} ({result['threads']} threads)", result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
