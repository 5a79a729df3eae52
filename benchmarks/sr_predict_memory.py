"""Peak memory of `zoo predict` upscaling a 2000x2000 image x4, tile by tile.

A 2000x2000 photo (a SunHays80 scene resized up, or a generated pattern) is
upscaled x4 to 8000x8000 by a trained SR model through the real
``zoo predict`` path (``zoo_core.engine.evaluate.predict`` -> the ``sr``
task's tiled upscaling). Each measurement runs in a fresh process and reads
its peak resident set size with ``resource.getrusage`` before and after; the
output must be exactly 4x the input. For scale: SRResNet applied to the
whole image at once would hold 8000x8000x64 float32 activations, 16 GiB per
feature map.

    .venv/bin/python benchmarks/sr_predict_memory.py [--model RUN_OR_MODEL_FOLDER]
        [--size 2000] [--tile 192] [--overlap 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUNHAYS = REPO.parent / "shared" / "data" / "sr" / "SunHays80"


def make_input(path: Path, size: int) -> None:
    import numpy as np
    from PIL import Image

    files = sorted(SUNHAYS.glob("*.jpg")) if SUNHAYS.is_dir() else []
    if files:
        with Image.open(files[0]) as img:
            img.convert("RGB").resize((size, size), Image.BICUBIC).save(path)
        return
    yy, xx = np.mgrid[0:size, 0:size]
    base = (np.sin(xx / 17.0) + np.cos(yy / 23.0)) * 60 + 128
    Image.fromarray(np.stack([base, base.T, base[::-1]], -1).astype(np.uint8)).save(path)


def child(model: str, image: str, out: str, tile: int, overlap: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    from zoo_core.engine.evaluate import predict

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    _, results = predict(model, [image], options={"tile": tile, "overlap": overlap},
                         device="cpu", out=out)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mib": before / 1024, "peak_mib": peak / 1024,
                      "seconds": seconds, **results[0]}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/tmp/zoo_sr_bench/srresnet/run",
                    help="a run or saved-model folder of an x4 SR model")
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--tile", type=int, default=192)
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("IMAGE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.model, args.child[0], args.child[1], args.tile, args.overlap, args.threads)
        return 0
    if not Path(args.model).exists():
        print(f"{args.model} does not exist: train one first "
              "(benchmarks/sr_srresnet_sunhays.py) or give --model", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / f"input_{args.size}.png"
        make_input(image, args.size)
        done = subprocess.run(
            [sys.executable, __file__, "--model", args.model, "--tile", str(args.tile),
             "--overlap", str(args.overlap), "--threads", str(args.threads),
             "--child", str(image), str(Path(tmp) / "out")],
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
    w, h = result["output_size"]
    assert (w, h) == (args.size * result["scale"], args.size * result["scale"]), result
    print(f"{args.size}x{args.size} -> {w}x{h} (x{result['scale']}) with {args.model}, "
          f"tile {args.tile} + overlap {args.overlap} LR px, {args.threads} threads")
    print(f"  peak RSS {result['peak_mib']:.0f} MiB (after imports: "
          f"{result['before_mib']:.0f} MiB); {result['seconds']:.0f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
