"""Measuring for zoo bench: clocks, the timed loop, peak memory, FLOP counts and
the matmul peak that MFU is measured against."""

from __future__ import annotations

import math
import platform
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from zoo_core.engine.devices import DTYPES


def make_clock(device: torch.device) -> Callable[[], float]:
    """perf_counter, after a device synchronise where the device is asynchronous."""
    if device.type == "cuda":
        def clock() -> float:
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return clock
    return time.perf_counter


@dataclass
class Timing:
    samples_per_sec: float
    step_times: list[float]  # seconds
    batch_size: int

    @property
    def mean_ms(self) -> float:
        return 1000 * statistics.fmean(self.step_times)

    def pct_ms(self, q: float) -> float:
        return 1000 * percentile(self.step_times, q)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def timed_loop(step: Callable[[], Any], *, batch_size: int, warmup: int, iters: int,
               clock: Callable[[], float], before: Callable[[], Any] | None = None) -> Timing:
    """timm's loop: untimed warm-up, then ``iters`` timed steps; ``before`` runs
    outside the clock (timm's ``zero_grad``)."""
    for _ in range(warmup):
        if before is not None:
            before()
        step()
    deltas: list[float] = []
    t_run = clock()
    for _ in range(iters):
        if before is not None:
            before()
        t0 = clock()
        step()
        deltas.append(clock() - t0)
    elapsed = clock() - t_run
    return Timing(samples_per_sec=batch_size * iters / elapsed, step_times=deltas,
                  batch_size=batch_size)


class MemoryMeter:
    """Peak memory of one phase: CUDA max allocated, or peak RSS of the process.

    On Linux the RSS high-water mark is reset through ``/proc/self/clear_refs``
    so each phase reports its own peak; where that is not possible the basis is
    the process lifetime peak, and :attr:`basis` says so.
    """

    def __init__(self, device: torch.device):
        self.device = device
        if device.type == "cuda":
            self.basis = "cuda_max_allocated"
        elif _can_reset_rss():
            self.basis = "process_rss_peak"
        else:
            self.basis = "process_rss_lifetime_peak"

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.basis == "process_rss_peak":
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        hwm = _vm_hwm_kb()
        if hwm is not None:
            return hwm / 1024
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 1024 if platform.system() != "Darwin" else rss / 2**20


def _vm_hwm_kb() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _can_reset_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _vm_hwm_kb() is not None
    except OSError:
        return False


def count_flops(fn: Callable[[], Any]) -> int | None:
    """FLOPs (multiply and add counted apart) of ``fn()`` as FlopCounterMode sees them."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except (RuntimeError, NotImplementedError, TypeError):
        return None  # an op the counter cannot follow: no figure rather than a wrong one
    return int(counter.get_total_flops())


_PEAKS: dict[tuple[str, str], float] = {}


def matmul_peak(device: torch.device, precision: str,
                sizes: Sequence[int] | None = None, min_time: float = 0.15) -> float:
    """The best FLOP/s of square matmuls in ``precision`` on ``device``, measured
    here and now (cached per process). This is the MFU denominator: what this
    machine, these threads and this library reach on the friendliest kernel."""
    key = (str(device), precision)
    if key in _PEAKS and sizes is None:
        return _PEAKS[key]
    dtype = DTYPES[precision]
    if sizes is None:
        sizes = (4096, 8192) if device.type == "cuda" else (1024, 2048)
    clock = make_clock(device)
    reps = 10 if device.type == "cuda" else 1  # amortise the sync on a GPU
    best = 0.0
    with torch.inference_mode():
        for n in sizes:
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            torch.matmul(a, b)
            spent, rounds = 0.0, 0
            while rounds < 3 or spent < min_time:
                t0 = clock()
                for _ in range(reps):
                    torch.matmul(a, b)
                dt = clock() - t0
                spent += dt
                rounds += 1
                best = max(best, 2 * n**3 * reps / dt)
            del a, b
    _PEAKS[key] = best
    return best


def sig(x: float, digits: int = 4) -> float:
    """Round to significant digits: 0.000417 GMACs of LeNet must not print as 0."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))
