"""SRResNet x4 trained on SunHays80 within a time budget, evaluated on Set5 beside bicubic.

The real ``zoo run`` (task ``sr``): BasicSR's MSRResNet (16 blocks, 64
features, 1.5M parameters), L1 loss, Adam, random aligned 96 px HR crops
with the 8 flips/rotations, LR made on the fly by MATLAB bicubic. Set5 is
the validation folder (``data.val_root``): after every epoch the generator's
EMA is measured on it, which gives the PSNR-vs-time curve. Training stops
before the budget would be exceeded; the best epoch's generator (saved in
the run folder) is then evaluated with ``zoo eval`` on Set5, bicubic beside.

As BasicSR does for DIV2K (``scripts/data_preparation/extract_subimages.py``),
the 80 photos are first cut into overlapping 192 px sub-images, saved as
PNG (the same pixels), so that a training crop decodes a small file instead
of a whole 1024 px JPEG; on 2 cores that decoding would compete with the
network for the CPU.

The EMA decay is 0.99 here, not BasicSR's 0.999: an EMA starts at the
random initialisation and keeps 0.999^n of it after n steps (37% after the
1000 steps a 30-minute CPU run makes); 0.99 keeps 0.99^1000 = 4e-5.

    .venv/bin/python benchmarks/sr_srresnet_sunhays.py [--minutes 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "sr"


class BudgetSpent(Exception):
    """The next epoch would not end within the time budget."""


def extract_subimages(src: Path, dst: Path, size: int = 192, step: int = 160) -> int:
    """Every ``size`` px window of each image (stride ``step``, plus the last row and
    column), as PNG; returns how many were written."""
    from PIL import Image

    dst.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(src.iterdir()):
        with Image.open(path) as img:
            img = img.convert("RGB")
            w, h = img.size
            tops = sorted({*range(0, h - size + 1, step), h - size})
            lefts = sorted({*range(0, w - size + 1, step), w - size})
            for t in tops:
                for left in lefts:
                    img.crop((left, t, left + size, t + size)).save(
                        dst / f"{path.stem}_{t:04d}_{left:04d}.png")
                    count += 1
    return count


RECIPE = """
[recipe]
name = "sr_srresnet_sunhays"
task = "sr"
seed = 0

[data]
dataset = "images"
root = "{root}"
val_root = "{val}"
num_workers = 1

[models.generator]
name = "srresnet"

[optimizers.generator]
name = "adam"
lr = {lr}
betas = [0.9, 0.99]
weight_decay = 0.0

[train]
epochs = {epochs}
batch_size = {batch}
max_steps_per_epoch = {steps}

[train.schedule]
name = "cosine"
min_lr = 1e-6

[task]
scale = 4
gt_size = {gt}
ema_decay = {ema}
artifact_images = 3
"""


def plot(points: list[dict[str, float]], bicubic: float, path: Path, threads: int) -> None:
    from matplotlib.figure import Figure

    from zoo_core.engine.plots import save

    fig = Figure(figsize=(6, 3.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([p["minutes"] for p in points], [p["psnr_y"] for p in points], marker="o",
            label="SRResNet (EMA), Set5")
    ax.axhline(bicubic, color="gray", linestyle="--", label=f"bicubic {bicubic:.2f} dB")
    ax.axhline(bicubic + 1.0, color="green", linestyle=":", label="bicubic + 1 dB")
    ax.set_xlabel(f"wall-clock minutes ({threads} thread{'s' if threads > 1 else ''} on 2 "
                  "shared CPU cores; training + per-epoch evaluation)")
    ax.set_ylabel("Set5 x4 PSNR-Y (dB)")
    ax.set_title("SRResNet x4 trained on SunHays80")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save(fig, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    ap.add_argument("--out", type=Path, default=Path("/tmp/zoo_sr_bench/srresnet"))
    ap.add_argument("--png", type=Path, default=REPO / "docs" / "img" /
                    "sr_srresnet_psnr_vs_time.png")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--gt-size", type=int, default=96)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch (a curve point)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    train_src, set5 = SHARED / "SunHays80", SHARED / "Set5"
    if not train_src.is_dir() or not set5.is_dir():
        print(f"{SHARED} lacks SunHays80/ or Set5/", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    from rich.console import Console

    from zoo_core.engine.evaluate import evaluate_saved
    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import recipe_from_dict

    args.out.mkdir(parents=True, exist_ok=True)
    subs = args.out / "sunhays80_sub192"
    if not subs.is_dir():
        n = extract_subimages(train_src, subs)
        print(f"{n} sub-images of SunHays80 in {subs}")
    import tomllib

    # epochs: more than the budget can hold; the budget stops the run
    text = RECIPE.format(root=subs, val=set5, lr=args.lr, epochs=200, batch=args.batch,
                         steps=args.steps, gt=args.gt_size, ema=args.ema)
    recipe = recipe_from_dict(tomllib.loads(text))
    budget = args.minutes * 60.0
    points: list[dict[str, float]] = []
    t0 = time.perf_counter()
    last = [t0]

    def on_epoch_end(metrics: dict) -> None:
        now = time.perf_counter()
        points.append({"epoch": metrics["epoch"], "minutes": (now - t0) / 60.0,
                       "steps": metrics["epoch"] * args.steps,
                       "psnr_y": metrics["val/psnr_y"], "ssim_y": metrics["val/ssim_y"],
                       "train_loss": metrics["train/loss"]})
        print(f"  {points[-1]['minutes']:5.1f} min  epoch {metrics['epoch']:3d}  "
              f"Set5 PSNR-Y {metrics['val/psnr_y']:.3f}  SSIM-Y {metrics['val/ssim_y']:.4f}",
              flush=True)
        epoch_s = now - last[0]
        last[0] = now
        if now - t0 + epoch_s > budget:
            raise BudgetSpent

    run_dir = args.out / "run"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    try:
        run_recipe(recipe, out=run_dir, device="cpu", progress=False,
                   console=Console(stderr=True, quiet=True), on_epoch_end=on_epoch_end)
    except BudgetSpent:
        pass
    trained = time.perf_counter() - t0
    result = evaluate_saved(run_dir, data=str(set5), device="cpu")
    matlab = evaluate_saved(run_dir, data=str(set5), device="cpu",
                            overrides=["task.round_y=true"])
    rows = {r[0]: r[1:] for r in result["tables"][0][2]}
    bicubic_y = rows["bicubic"][0]
    summary = {
        "budget_minutes": args.minutes, "trained_minutes": trained / 60.0,
        "epochs": len(points), "steps": len(points) * args.steps, "batch": args.batch,
        "gt_size": args.gt_size, "lr": args.lr, "ema": args.ema,
        "threads": torch.get_num_threads(),
        "set5": result["metrics"], "set5_matlab_y": matlab["metrics"],
        "bicubic": dict(zip(("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"), rows["bicubic"],
                            strict=True)),
        "gain_psnr_y": rows["gain"][0], "curve": points, "run": str(run_dir),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    args.png.parent.mkdir(parents=True, exist_ok=True)
    plot(points, bicubic_y, args.png, torch.get_num_threads())
    print(f"\ntrained {trained / 60:.1f} min ({summary['steps']} steps of batch {args.batch}, "
          f"{args.gt_size} px crops) on {torch.get_num_threads()} threads")
    print("| minutes | steps | Set5 PSNR-Y | SSIM-Y |\n|---|---|---|---|")
    for p in points:
        print(f"| {p['minutes']:.1f} | {p['steps']} | {p['psnr_y']:.2f} | {p['ssim_y']:.4f} |")
    print("\n| Set5 x4 | PSNR-Y | SSIM-Y | PSNR-RGB | SSIM-RGB |\n|---|---|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{v:+.2f}" if name == "gain" and i % 2 == 0 else
                                         f"{v:+.4f}" if name == "gain" else
                                         f"{v:.2f}" if i % 2 == 0 else f"{v:.4f}"
                                         for i, v in enumerate(values)) + " |")
    m = matlab["metrics"]
    print(f"MATLAB Y protocol (round_y): PSNR-Y {m['eval/psnr_y']:.2f}, "
          f"SSIM-Y {m['eval/ssim_y']:.4f}")
    print(f"gain over bicubic: {rows['gain'][0]:+.2f} dB (goal >= +1.0)")
    print(f"curve: {args.png}; summary: {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
