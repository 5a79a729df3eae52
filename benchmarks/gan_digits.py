"""The GAN figures of issue 8, on the offline digits: conditional accuracy of a cGAN judged
by a zoo-trained LeNet-5, and the FID of a DCGAN, with their sample grids.

1. trains the LeNet-5 classifier with ``recipes/digits_lenet5.toml`` (or takes
   ``--classifier RUN``);
2. trains ``recipes/digits_cgan.toml`` with ``task.classifier`` set to it:
   ``cond_acc`` is the share of generated digits the classifier reads as the digit
   that was asked for (each validation epoch and at the end);
3. trains ``recipes/digits_dcgan.toml``: FID/KID against the validation digits on
   the feature network zoo names in the key.

    .venv/bin/python benchmarks/gan_digits.py [--epochs 20] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"


def run(recipe: Path, out: Path, overrides: list[str]) -> dict:
    from rich.console import Console

    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import load_and_validate

    loaded, _ = load_and_validate(recipe, overrides)
    t0 = time.perf_counter()
    result = run_recipe(loaded, out=out, progress=False, console=Console(stderr=True))
    return {"run": str(result.path), "seconds": round(time.perf_counter() - t0, 1),
            "history": result.fit.history, "final": result.final}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench_gan_digits"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--classifier", type=Path, help="a finished digits_lenet5 run to reuse")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--skip-dcgan", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = args.out / stamp
    report: dict = {"threads": torch.get_num_threads()}
    classifier = args.classifier
    if classifier is None:
        lenet = run(RECIPES / "digits_lenet5.toml", base / "lenet5", [])
        classifier = Path(lenet["run"])
        report["classifier"] = {"run": lenet["run"], "test_top1": lenet["final"]["test/top1"],
                                "seconds": lenet["seconds"]}
    cgan = run(RECIPES / "digits_cgan.toml", base / "cgan",
               [f"train.epochs={args.epochs}", f'task.classifier="{classifier}"'])
    curve = [(row["epoch"], row.get("val/cond_acc")) for row in cgan["history"]]
    report["cgan"] = {"run": cgan["run"], "seconds": cgan["seconds"],
                      "final": {k: v for k, v in cgan["final"].items() if "/" in k},
                      "cond_acc_by_epoch": curve}
    print(f"cGAN: conditional accuracy {cgan['final'].get('val/cond_acc')} after "
          f"{args.epochs} epochs ({cgan['seconds']:.0f} s); by epoch {curve}")
    if not args.skip_dcgan:
        dcgan = run(RECIPES / "digits_dcgan.toml", base / "dcgan", [f"train.epochs={args.epochs}"])
        fid = {k: v for k, v in dcgan["final"].items() if k.startswith("val/fid")}
        report["dcgan"] = {"run": dcgan["run"], "seconds": dcgan["seconds"],
                           "final": {k: v for k, v in dcgan["final"].items() if "/" in k},
                           "fid_by_epoch": [(row["epoch"], {k: v for k, v in row.items()
                                                            if k.startswith("val/fid")})
                                            for row in dcgan["history"]]}
        print(f"DCGAN: {fid} after {args.epochs} epochs ({dcgan['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
