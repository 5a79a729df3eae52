"""Bicubic x2/x3/x4 on Set5 through zoo's SR code, against the published figures.

Every step is the plugin's own: the HR folder source, the evaluation transform
(mod-crop to the scale, MATLAB bicubic downscaling stored as 8 bits), the
``bicubic`` sr model (MATLAB bicubic upscaling), and the meter (8-bit output,
``scale`` pixels of border cropped, Y of BT.601, float64).

Two protocols are printed: BasicSR's (float Y, what ``SRMeter`` computes by
default) and the MATLAB scripts' behind the published tables (Y rounded to
integers, as ``rgb2ycbcr`` of a uint8 image; ``SRMeter(round_y=True)``).

    .venv/bin/python benchmarks/sr_bicubic_set5.py [--root ../shared/data/sr/Set5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

# The SR literature's bicubic Set5 figures (e.g. the VDSR/EDSR/RCAN tables): PSNR dB / SSIM, Y
PUBLISHED = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}


def run(root: Path) -> list[dict[str, float]]:
    from zoo_sr.data import HRFolderSource, PairedEvalTransform, SRPairDataset
    from zoo_sr.metrics import SRMeter

    from zoo_core.api import create

    source = HRFolderSource(root)
    rows = []
    for scale in (2, 3, 4):
        model = create("sr", "bicubic", scale=scale).eval()
        data = SRPairDataset(source, PairedEvalTransform(scale))
        basicsr, matlab = SRMeter(scale=scale), SRMeter(scale=scale, round_y=True)
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(len(data)):
                sample = data[i]
                sr = model(sample["lr"][None])
                basicsr.update(sr, sample["hr"][None])
                matlab.update(sr, sample["hr"][None])
        b, m = basicsr.compute(), matlab.compute()
        rows.append({"scale": scale, "images": len(data), "psnr_y": b["psnr_y"],
                     "ssim_y": b["ssim_y"], "psnr_rgb": b["psnr_rgb"], "ssim_rgb": b["ssim_rgb"],
                     "psnr_y_matlab": m["psnr_y"], "ssim_y_matlab": m["ssim_y"],
                     "seconds": time.perf_counter() - start})
    return rows


def table(rows: list[dict[str, float]]) -> str:
    lines = [
        "| scale | PSNR-Y BasicSR | SSIM-Y BasicSR | PSNR-Y MATLAB Y | SSIM-Y MATLAB Y "
        "| published | PSNR-RGB | SSIM-RGB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        p, s = PUBLISHED[int(r["scale"])]
        lines.append(
            f"| x{r['scale']} | {r['psnr_y']:.2f} ({r['psnr_y'] - p:+.2f}) | "
            f"{r['ssim_y']:.4f} ({r['ssim_y'] - s:+.4f}) | "
            f"{r['psnr_y_matlab']:.2f} ({r['psnr_y_matlab'] - p:+.2f}) | "
            f"{r['ssim_y_matlab']:.4f} ({r['ssim_y_matlab'] - s:+.4f}) | {p:.2f} / {s:.4f} | "
            f"{r['psnr_rgb']:.2f} | {r['ssim_rgb']:.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr" / "Set5"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=default, help="folder of Set5 HR images")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        print(f"{args.root} does not exist: give --root, a folder of the Set5 images",
              file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    print(table(run(args.root)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
