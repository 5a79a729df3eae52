"""Denoising autoencoder on the digits, and what its encoder is worth with 10 labels a class.

1. ``recipes/digits_dae.toml`` through ``zoo run`` (Gaussian noise, sigma 0.3):
   PSNR of the reconstruction and of the noisy input on the held-out test
   digits, and the gain.
2. ``recipes/digits_dae_transfer.toml`` (a classifier fine-tuned from 10
   labelled digits per class) starting from that run's encoder, against the
   same recipe with a random encoder (``model.weights = "none"``), for several
   seeds: test top-1 of each, and the means.

The autoencoder and the classifiers share the split (split_seed 0): the
autoencoder trains on the training digits without their labels and never sees
the test digits.

    .venv/bin/python benchmarks/dae_digits.py [--seeds 0 1 2] [--encoder RUN/models/encoder]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def run(recipe: str, overrides: list[str], out: Path) -> tuple[dict, float]:
    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import load_recipe

    t0 = time.perf_counter()
    result = run_recipe(load_recipe(REPO / "recipes" / recipe, overrides), out=out,
                        progress=False)
    return result.final, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--encoder", type=Path, help="reuse this encoder folder (skip step 1)")
    ap.add_argument("--threads", type=int, default=1,
                    help="1 is faster than 2 on a shared, busy machine (no straggler waits)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="dae-digits-"))
    result: dict = {"threads": torch.get_num_threads()}
    encoder = args.encoder
    if encoder is None:
        final, seconds = run("digits_dae.toml", [], work / "dae")
        split = final["split"]
        result["dae"] = {k: round(final[f"{split}/{k}"], 3) for k in
                         ("psnr", "noisy_psnr", "psnr_gain", "mse", "noisy_mse")}
        result["dae"].update(split=split, seconds=round(seconds, 1))
        print(f"digits_dae ({split}): PSNR {final[f'{split}/psnr']:.2f} dB vs noisy "
              f"{final[f'{split}/noisy_psnr']:.2f} dB: gain {final[f'{split}/psnr_gain']:+.2f} "
              f"dB ({seconds:.0f} s)", flush=True)
        encoder = work / "dae" / "models" / "encoder"
    runs: dict[str, list[float]] = {"transferred": [], "random": []}
    for seed in args.seeds:
        for name, weights in (("transferred", "default"), ("random", "none")):
            final, seconds = run("digits_dae_transfer.toml",
                                 [f"recipe.seed={seed}", f"model.backbone={encoder}",
                                  f"model.weights={weights}"],
                                 work / f"{name}_{seed}")
            runs[name].append(final["test/top1"])
            print(f"  seed {seed} {name:11s}: test top-1 {final['test/top1']:.4f} "
                  f"({seconds:.0f} s)", flush=True)
    for name, accs in runs.items():
        result[name] = {"test_top1": accs, "mean": statistics.mean(accs),
                        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0}
        print(f"{name:11s}: mean test top-1 {result[name]['mean']:.4f} "
              f"(sd {result[name]['std']:.4f}) over seeds {args.seeds}")
    result["seeds"] = args.seeds
    result["transfer_wins"] = result["transferred"]["mean"] > result["random"]["mean"]
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
