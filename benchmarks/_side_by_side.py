"""The engine-overhead protocol the ``*_overhead.py`` benchmarks share.

zoo's trainer epoch and a hand-written loop run the same steps on the same
batches in one process. After one warm-up call each (allocator, kernels,
optimizer state), rounds alternate which side goes first, so a busy machine
slows both alike; the figure is engine/plain samples per second as the median
of paired rounds, and best against best.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def interleaved(engine: Callable[[int], object], plain: Callable[[], object], samples: int,
                rounds: int, sync: Callable[[], object] = lambda: None) -> dict[str, Any]:
    """``engine(round)`` and ``plain()`` each process ``samples`` samples per call."""
    engine(0)
    plain()
    engine_sps: list[float] = []
    plain_sps: list[float] = []
    for r in range(rounds):
        for side in (("engine", "plain") if r % 2 == 0 else ("plain", "engine")):
            sync()
            t0 = time.perf_counter()
            if side == "engine":
                engine(r + 1)
            else:
                plain()
            sync()
            (engine_sps if side == "engine" else plain_sps).append(
                samples / (time.perf_counter() - t0))
    ratios = [e / p for e, p in zip(engine_sps, plain_sps, strict=True)]
    return {"samples_per_round": samples, "rounds": rounds,
            "engine_samples_per_s": engine_sps, "plain_samples_per_s": plain_sps,
            "ratio_median": statistics.median(ratios),
            "ratio_best": max(engine_sps) / max(plain_sps)}


def report(title: str, result: dict[str, Any]) -> None:
    engine, plain = result["engine_samples_per_s"], result["plain_samples_per_s"]
    print(title)
    print(f"  plain loop : median {statistics.median(plain):8.3f} samples/s  "
          f"best {max(plain):8.3f}")
    print(f"  zoo engine : median {statistics.median(engine):8.3f} samples/s  "
          f"best {max(engine):8.3f}")
    print(f"  engine / plain: median of paired rounds {result['ratio_median']:.3f}x, "
          f"best vs best {result['ratio_best']:.3f}x (goal >= 0.95x)")
