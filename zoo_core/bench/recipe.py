"""``zoo bench RECIPE.toml``: time a recipe's real training pipeline.

The recipe is built exactly as ``zoo run`` builds it (contract C,
:func:`zoo_core.engine.build_pipeline`): its model with its head, its data
loader with its transforms and workers, its precision and memory format. Then,
for a fixed number of steps:

1. **end to end**: wait for the next batch (data time), then one
   ``Pipeline.train_step`` (compute time: host-to-device copy, forward, loss,
   backward, optimizer step), the device synchronised before each clock read;
2. **data only**: the loader alone, as fast as it can hand out batches;
3. **compute only**: ``train_step`` on one batch already fetched.

Whichever of data and compute takes more of the end-to-end time is the
bottleneck, and the report says what would move it.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from typing import Any

import torch

from zoo_core.bench.environment import environment
from zoo_core.bench.measure import make_clock, sig
from zoo_core.errors import ZooError


def _batch_len(batch: Any) -> int:
    """Samples in a batch: the leading size of its first tensor."""
    from zoo_core.data.dataset import batch_size

    n = batch_size(batch)
    if n <= 0:
        raise ZooError("zoo bench cannot count the samples in a batch of the recipe's loader.")
    return n


def _cycle(loader: Any) -> Iterator[Any]:
    """Batches forever: a loader shorter than the bench starts over (a new epoch)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ZooError("The recipe's training loader yields no batches; check [data].")


def bench_recipe(path: str, *, overrides: list[str] | None = None, steps: int = 20,
                 warmup: int = 3, device: str | None = None) -> dict[str, Any]:
    """Build ``path``'s pipeline and time ``steps`` training steps three ways."""
    from zoo_core.engine import build_pipeline
    from zoo_core.recipe import load_recipe

    if steps < 1 or warmup < 0:
        raise ZooError(f"--steps must be >= 1 and --warmup >= 0 (got {steps}, {warmup}).")
    recipe = load_recipe(path, overrides or [])
    t0 = time.perf_counter()
    pipe = build_pipeline(recipe, device=device)
    build_s = time.perf_counter() - t0
    dev = pipe.device
    clock = make_clock(dev)
    pipe.configure_phase(0)
    pipe.start_epoch(0)

    batches = _cycle(pipe.train_loader)
    t0 = clock()
    first = next(batches)  # includes starting the worker processes
    first_batch_s = clock() - t0
    for i in range(warmup):
        pipe.train_step(first if i == 0 else next(batches))

    # 1. end to end
    data_t: list[float] = []
    comp_t: list[float] = []
    samples = 0
    t_run = clock()
    for _ in range(steps):
        t0 = clock()
        batch = next(batches)
        t1 = clock()
        pipe.train_step(batch)
        t2 = clock()
        data_t.append(t1 - t0)
        comp_t.append(t2 - t1)
        samples += _batch_len(batch)
    total = clock() - t_run

    # 2. data only
    t0 = clock()
    data_samples = sum(_batch_len(next(batches)) for _ in range(steps))
    data_only = data_samples / (clock() - t0)

    # 3. compute only, on one fetched batch
    fixed = next(batches)
    t0 = clock()
    for _ in range(steps):
        pipe.train_step(fixed)
    compute_only = steps * _batch_len(fixed) / (clock() - t0)

    data_s, comp_s = sum(data_t), sum(comp_t)
    bottleneck = "data loading" if data_s > comp_s else "compute"
    r, t = recipe, recipe.train
    models = "; ".join(text for _, text in pipe.task.describe(recipe)[:1]) or ", ".join(
        pipe.specs)
    row: dict[str, Any] = {
        "recipe": str(path),
        "task": pipe.task.name,
        "model": models,
        "dataset": r.data.dataset,
        "device": str(dev),
        "precision": t.precision,
        "channels_last": t.channels_last,
        "compile": t.compile,
        "batch_size": t.batch_size,
        "num_workers": r.data.num_workers,
        "steps": steps,
        "samples_per_sec": round(samples / total, 2),
        "step_time_ms": round(1000 * total / steps, 3),
        "data_time_ms": round(1000 * statistics.fmean(data_t), 3),
        "compute_time_ms": round(1000 * statistics.fmean(comp_t), 3),
        "data_fraction": sig(data_s / (data_s + comp_s)) if data_s + comp_s else None,
        "data_only_samples_per_sec": round(data_only, 2),
        "compute_only_samples_per_sec": round(compute_only, 2),
        "first_batch_s": round(first_batch_s, 3),
        "build_s": round(build_s, 3),
        "bottleneck": bottleneck,
    }
    hint = make_hint(row, recipe, task_tips=pipe.task.bench_hints(row, pipe.ctx), device=dev)
    row["hint"] = hint
    env = environment(dev)
    settings = {"steps": steps, "warmup": warmup, "overrides": list(overrides or []),
                "precision": t.precision, "compile": t.compile}
    return {"row": row, "bottleneck": bottleneck, "hint": hint, "environment": env,
            "settings": settings}


def make_hint(row: dict[str, Any], recipe: Any, *, task_tips: list[str],
              device: torch.device) -> str:
    """What to change first, given the bottleneck, the recipe's settings and the task's
    own advice (``Task.bench_hints``)."""
    tips: list[str] = []
    cpus = os.cpu_count() or 1
    if row["bottleneck"] == "data loading":
        workers = recipe.data.num_workers
        if workers == 0:
            tips.append(f"data.num_workers = 0 loads batches in the training process; "
                        f"data.num_workers = {min(4, cpus)} overlaps loading with compute")
        elif workers < cpus:
            tips.append(f"raise data.num_workers (now {workers}; this machine has {cpus} CPUs)")
        tips += task_tips
        if device.type == "cuda" and not row.get("pin_memory", True):
            tips.append("data.pin_memory = true speeds host-to-GPU copies")
    else:
        if not recipe.train.channels_last:
            tips.append("try train.channels_last = true (NHWC is faster for convolutions on "
                        "recent CPUs and GPUs)")
        if recipe.train.precision == "fp32":
            tips.append("try train.precision = \"bf16\" where the hardware has it "
                        "(`zoo bench MODEL --best` shows the gain)")
        tips += task_tips
        if not recipe.train.compile:
            tips.append("train.compile = true can fuse small ops")
    return ("Hint: " + "; ".join(tips[:3]) + ".") if tips else ""


def recipe_table_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs for the terminal."""
    r = report["row"]
    total = r["data_time_ms"] + r["compute_time_ms"]
    share = f" ({100 * r['data_fraction']:.0f}% of the step)" if r["data_fraction"] else ""
    return [
        ("recipe", r["recipe"]),
        ("task / models", f"{r['task']} / {r['model']}"),
        ("data set / workers", f"{r['dataset']} / {r['num_workers']}"),
        ("device / precision", f"{r['device']} / {r['precision']}"
                               f"{' / channels_last' if r['channels_last'] else ''}"
                               f"{' / compile' if r['compile'] else ''}"),
        ("batch size / steps", f"{r['batch_size']} / {r['steps']}"),
        ("end-to-end samples/s", f"{r['samples_per_sec']:,.1f}"),
        ("step time ms", f"{r['step_time_ms']:.1f}"),
        ("  waiting for data ms", f"{r['data_time_ms']:.1f}{share}"),
        ("  compute ms", f"{r['compute_time_ms']:.1f} ({total:.1f} in all)"),
        ("data loader alone samples/s", f"{r['data_only_samples_per_sec']:,.1f}"),
        ("compute alone samples/s", f"{r['compute_only_samples_per_sec']:,.1f}"),
        ("first batch s (worker start-up)", f"{r['first_batch_s']:.2f}"),
        ("pipeline build s", f"{r['build_s']:.2f}"),
    ]
