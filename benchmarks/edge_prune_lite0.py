"""EfficientNet-Lite0 on flowers12: 50% global unstructured pruning plus 3 epochs
of fine-tuning, against the same run without pruning.

Both runs are ``zoo run recipes/flowers_efficientnet_lite0.toml`` with the
ImageNet weights (converted as in ``edge_efficientnet_lite0.py``) and the
stages ``feature_extract`` (8 epochs on cached features, lr 3e-3) then
``fine_tune`` (3 epochs, lr 1e-4). The pruned run adds

    [prune]
    amount = 0.5        # global L1 over every Conv2d and Linear but the classifier
    start_epoch = 9     # at the start of the fine-tuning stage, in one step

so its ``before`` is the model after the feature-extraction stage, measured on
the validation split by the run itself just before pruning, ``pruned`` the
same split right after pruning, and its final figure the best of the three
fine-tuning epochs (the best-model monitor restarts at the pruning step). The
control gives what the 3 fine-tuning epochs do without pruning.

    python benchmarks/edge_prune_lite0.py            # both runs, ~1 h on 2 busy cores
    python benchmarks/edge_prune_lite0.py --reuse    # re-read finished runs

Writes WORK/prune_table.md and WORK/prune_results.json (WORK: runs/edge_prune_lite0).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FLOWERS = REPO.parent / "shared" / "data" / "flowers12" / "train"
STAGES = ('stages=[{name="feature_extract", epochs=8, mode="feature_extract", lr=0.003}, '
          '{name="fine_tune", epochs=3, mode="fine_tune", lr=0.0001}]')
PRUNE = "prune={amount=0.5, start_epoch=9, method=\"global_l1\"}"


def run(work: Path, name: str, weights: Path, extra: list[str], reuse: bool) -> tuple[Path, float]:
    out = work / name
    if reuse and (out / "report.md").exists():
        return out, 0.0
    cmd = [sys.executable, "-m", "zoo_core.cli", "run",
           str(REPO / "recipes" / "flowers_efficientnet_lite0.toml"), "--out", str(out),
           "--no-progress", "--set", f'data.root="{FLOWERS}"',
           "--set", f'model.weights="{weights}"', "--set", STAGES, *extra]
    print("$", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return out, time.perf_counter() - t0


def rows(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    return lines[:-1], lines[-1]


def gzip_mib(path: Path) -> float:
    return len(gzip.compress(path.read_bytes(), 6)) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "edge_prune_lite0")
    ap.add_argument("--reuse", action="store_true", help="reuse finished runs in WORK")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from edge_efficientnet_lite0 import convert_weights

    work: Path = args.work
    weights = work / "tf_efficientnet_lite0.in1k.safetensors"
    if not weights.exists():
        convert_weights(weights)
    pruned, t_pruned = run(work, "pruned", weights, ["--set", PRUNE], args.reuse)
    dense, t_dense = run(work, "dense", weights, [], args.reuse)

    p_epochs, p_final = rows(pruned)
    d_epochs, d_final = rows(dense)
    before = p_final["prune/before/val/top1"]
    just = p_final["prune/pruned/val/top1"]
    after = p_final["val/top1"]
    d_ft = [r for r in d_epochs if r["phase"] == "fine_tune"]
    d_best_ft = max(r["val/top1"] for r in d_ft)
    files = {name: folder / "models" / "net" / "model.safetensors"
             for name, folder in (("pruned", pruned), ("dense", dense))}
    sizes = {name: (f.stat().st_size / 2**20, gzip_mib(f)) for name, f in files.items()}
    n_val = 144
    lines = [
        "| model (val, 144 images) | top-1 | vs before pruning | sparsity (pruned layers) "
        "| safetensors MiB | gzip MiB |",
        "|---|---|---|---|---|---|",
        f"| after feature extraction, dense (before pruning) | {100 * before:.2f}% | - | 0% | "
        f"{sizes['dense'][0]:.2f} | - |",
        f"| 50% global L1, not fine-tuned | {100 * just:.2f}% | {100 * (just - before):+.2f} "
        f"| {100 * p_final['prune/sparsity']:.1f}% | - | - |",
        f"| **50% global L1 + 3 fine-tuning epochs** | **{100 * after:.2f}%** | "
        f"**{100 * (after - before):+.2f}** | {100 * p_final['prune/sparsity']:.1f}% | "
        f"{sizes['pruned'][0]:.2f} | {sizes['pruned'][1]:.2f} |",
        f"| control: dense + the same 3 fine-tuning epochs (best) | {100 * d_best_ft:.2f}% | "
        f"{100 * (d_best_ft - before):+.2f} | 0% | {sizes['dense'][0]:.2f} | "
        f"{sizes['dense'][1]:.2f} |",
        "",
        f"- one validation image is {100 / n_val:.2f} points; pruned run "
        f"{p_final['prune/zeros']:,} of {p_final['prune/weights']:,} weights zero; per epoch "
        "val/top1, pruned: " + ", ".join(f"{r['epoch']}:{r['val/top1']:.3f}" for r in p_epochs)
        + "; dense: " + ", ".join(f"{r['epoch']}:{r['val/top1']:.3f}" for r in d_epochs),
        f"- wall time: pruned run {t_pruned / 60:.1f} min, dense run {t_dense / 60:.1f} min "
        "(0 when reused)",
    ]
    table = "\n".join(lines)
    print("\n" + table)
    (work / "prune_table.md").write_text(table + "\n")
    layers = p_final["prune/layers"]
    (work / "prune_results.json").write_text(json.dumps({
        "before": before, "pruned_not_finetuned": just, "after": after,
        "dense_control_best_finetune": d_best_ft, "sparsity": p_final["prune/sparsity"],
        "per_layer": layers, "sizes_mib": sizes, "pruned_final": p_final,
        "dense_final": d_final}, indent=2) + "\n")


if __name__ == "__main__":
    main()
