"""DDP and k-fold cross-validation on the digits quickstart, through the real command line.

1. **DDP against one process.** LeNet-5 on digits with ``data.val_fraction = 0.11``
   (1,240 training digits: an even 2 x 620, so no process pads its shard), the same
   recipe and seed: ``zoo run --nproc 2`` with ``train.batch_size = 16`` per process
   (gloo, one thread each) against ``zoo run`` with 32 in one process, with one thread
   and with two (``OMP_NUM_THREADS``). All see the same global batches. Reported: the
   largest difference between the final weights, the final test metrics side by side,
   the summed per-epoch training time, the throughput and the wall time of the whole
   command (start-up included). ``--repeat R`` runs the three R times, interleaved,
   and reports each one's best.
2. **k-fold.** ``zoo run recipes/digits_lenet5.toml --folds K``: per-fold validation
   metrics and their mean ± std, as the parent report.md writes them.

    .venv/bin/python benchmarks/ddp_kfold_digits.py [--epochs 25] [--folds 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIGITS = str(REPO / "recipes" / "digits_lenet5.toml")


def zoo(*args: str, threads: int = 1) -> tuple[float, str]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "zoo_core", *args], capture_output=True,
                         text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr}")
    return time.perf_counter() - t0, res.stderr


def lines(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def weights_diff(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    wa = load_file(str(a / "models" / "net" / "model.safetensors"))
    wb = load_file(str(b / "models" / "net" / "model.safetensors"))
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


CONFIGS = {  # name: (threads per process, extra arguments)
    "1 process x batch 32, 1 thread": (1, ["--set", "train.batch_size=32"]),
    "1 process x batch 32, 2 threads": (2, ["--set", "train.batch_size=32"]),
    "2 processes x batch 16, 1 thread each": (1, ["--set", "train.batch_size=16",
                                                  "--nproc", "2"]),
}


def ddp(out: Path, epochs: int, repeat: int) -> dict:
    common = ["--set", "data.val_fraction=0.11", "--set", f"train.epochs={epochs}",
              "--device", "cpu", "--no-progress"]
    runs: dict[str, dict] = {}
    for r in range(repeat):
        for i, (name, (threads, extra)) in enumerate(CONFIGS.items()):
            folder = out / f"ddp{i}_{r}"
            wall, _ = zoo("run", DIGITS, *common, *extra, "--out", str(folder),
                          threads=threads)
            rows = lines(folder)
            train_s = sum(row["train/epoch_time_s"] for row in rows[:-1])
            samples = sum(row["train/epoch_time_s"] * row["train/samples_per_s"]
                          for row in rows[:-1])
            best = runs.get(name)
            if best is None or train_s < best["train_s"]:
                runs[name] = {"folder": folder, "wall_s": wall, "train_s": train_s,
                              "samples_per_s": samples / train_s, "final": rows[-1]}
    one, _, two = runs.values()
    print(f"\n## DDP: {epochs} epochs of LeNet-5 on digits (global batch 32, best of "
          f"{repeat})\n")
    print(f"largest weight difference: {weights_diff(one['folder'], two['folder']):.2e}\n")
    keys = [k for k in one["final"] if k.startswith("test/")]
    print("| run | " + " | ".join(keys) + " | training s | samples/s | wall s |")
    print("|---|" + "---|" * (len(keys) + 3))
    for name, r in runs.items():
        print(f"| {name} | " + " | ".join(f"{r['final'][k]:.4f}" for k in keys)
              + f" | {r['train_s']:.1f} | {r['samples_per_s']:.0f} | {r['wall_s']:.1f} |")
    return {name: {k: v for k, v in r.items() if k != "folder"} for name, r in runs.items()}


def kfold(out: Path, folds: int, epochs: int) -> dict:
    folder = out / "kfold"
    wall, _ = zoo("run", DIGITS, "--folds", str(folds), "--set", f"train.epochs={epochs}",
                  "--device", "cpu", "--no-progress", "--out", str(folder))
    rows = lines(folder)
    summary = rows[-1]
    keys = ["val/top1", "val/loss", "val/f1_macro"]
    print(f"\n## {folds}-fold cross-validation, {epochs} epochs per fold ({wall:.0f} s)\n")
    print("| fold | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for r in rows[:-1]:
        print(f"| {r['fold']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    print("| mean ± std | " + " | ".join(
        f"{summary['mean'][k]:.4f} ± {summary['std'][k]:.4f}" for k in keys) + " |")
    return {"folds": rows[:-1], "summary": summary, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-kfold", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_ddp_kfold"))
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    result = {"ddp": ddp(args.out, args.epochs, args.repeat)}
    if not args.skip_kfold:
        result["kfold"] = kfold(args.out, args.folds, args.epochs)
    (args.out / "result.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
