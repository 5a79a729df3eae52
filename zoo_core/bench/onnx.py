"""``zoo bench model.onnx``: onnxruntime timed under zoo bench's protocol, in
zoo bench's columns, so one table compares torch eager, torch.compile, ORT fp32
and ORT int8.

The protocol is the one :mod:`zoo_core.bench.models` follows (timm's): the input is a
random batch created once (numpy, as ORT takes it), warm-up runs are not timed,
then ``iters`` timed ``session.run`` calls; samples/s is over the wall time of
the whole timed run, step time is the mean of the per-step times, p50/p95 come
from the same times, and the batch-1 latency is the median of batch-1 runs.
The intra-op thread count defaults to torch's, so both runtimes get the same
cores; it and the execution provider are recorded in every row and in the
environment block.

FLOPs come from the export's metadata (``zoo export`` counts them on the torch
model at batch 1); MFU is given for fp32 files only, against the same fp32
matmul peak zoo bench measures (an int8 file has no int8 peak to compare with).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_core.bench.environment import environment
from zoo_core.bench.measure import MemoryMeter, matmul_peak, sig, timed_loop
from zoo_core.bench.report import empty_row
from zoo_core.errors import ZooError

PROVIDER = "CPUExecutionProvider"
#: ONNX operators that only a quantized graph contains
INT8_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
            "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QGemm", "QLinearAdd"}
_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
             "tensor(bool)": np.bool_}




def is_onnx(target: str) -> bool:
    return str(target).lower().endswith(".onnx")


def graph_facts(path: str | Path) -> dict[str, Any]:
    """precision (fp32 / int8), parameter count and zoo metadata of an ONNX file."""
    import onnx

    from zoo_core.export.export import read_metadata

    p = Path(path)
    if not p.is_file():
        raise ZooError(f"{p} does not exist (zoo bench takes model names, a RECIPE.toml, "
                       "or .onnx files).")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - not an ONNX file is the user's to fix
        raise ZooError(f"{p} is not a readable ONNX file ({type(exc).__name__}).") from None
    ops = {n.op_type for n in model.graph.node}
    params = 0
    for init in model.graph.initializer:
        n = 1
        for d in init.dims:
            n *= int(d)
        params += n if len(init.dims) > 0 else 0
    meta = read_metadata(p)
    precision = "int8" if ops & INT8_OPS else "fp32"
    return {"precision": precision, "params": int(meta.get("params") or params),
            "metadata": meta}


def ort_environment(threads: int, provider: str = PROVIDER) -> dict[str, Any]:
    """zoo bench's environment block plus what says how ORT ran."""
    import onnxruntime as ort

    env = dict(environment(torch.device("cpu")))
    env.update(onnxruntime_version=ort.__version__, ort_execution_provider=provider,
               ort_intra_op_threads=threads, ort_graph_optimization="ORT_ENABLE_ALL")
    return env


def _feed(session: Any, batch_size: int, img_size: int | None, meta: dict[str, Any],
          seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs shaped by the session's inputs: the batch axis set, other
    symbolic axes from ``img_size`` or the export's example shape."""
    rng = np.random.default_rng(seed)
    shapes = meta.get("inputs") or {}
    feed: dict[str, np.ndarray] = {}
    for inp in session.get_inputs():
        example = shapes.get(inp.name) or []
        dims: list[int] = []
        for axis, d in enumerate(inp.shape):
            if isinstance(d, int) and d > 0:
                dims.append(d)
            elif axis == 0:
                dims.append(batch_size)
            elif img_size and axis >= len(inp.shape) - 2:
                dims.append(img_size)
            elif axis < len(example) and isinstance(example[axis], int):
                dims.append(int(example[axis]))
            else:
                raise ZooError(f"Cannot tell the size of axis {axis} ({d}) of input "
                               f"{inp.name!r}; give --img-size.")
        if axis_zero_static(inp.shape) and dims and dims[0] != batch_size:
            raise ZooError(f"{inp.name!r} has a fixed batch of {dims[0]}; this file was "
                           f"exported with --static, so it cannot run batch {batch_size}.")
        dtype = _NP_TYPES.get(inp.type, np.float32)
        if np.issubdtype(dtype, np.floating):
            feed[inp.name] = rng.standard_normal(dims).astype(dtype)
        else:
            feed[inp.name] = rng.integers(0, 2, size=dims).astype(dtype)
    return feed


def axis_zero_static(shape: Sequence[Any]) -> bool:
    return bool(shape) and isinstance(shape[0], int) and shape[0] > 0


def bench_onnx(path: str | Path, batch_size: int, *, warmup: int = 10, iters: int = 40,
               latency: bool = True, threads: int | None = None, img_size: int | None = None,
               label: str | None = None, env: dict[str, Any] | None = None) -> dict[str, Any]:
    """One zoo bench row (inference) for the ONNX file at ``path``; a failure is
    recorded in the row's ``error`` column, as zoo bench does for models."""
    from zoo_core.export.parity import ort_session

    threads = int(threads or torch.get_num_threads())
    env = env or ort_environment(threads)
    facts = graph_facts(path)
    row = empty_row()
    row.update(model=label or str(path), kind="onnx", requested_batch_size=batch_size,
               precision=facts["precision"], channels_last=False, compile=False,
               device="cpu", device_name=env.get("device_name"), cpu_model=env.get("cpu_model"),
               num_threads=threads, torch_version=env.get("torch_version"), warmup=warmup,
               iters=iters, params=facts["params"],
               param_count=round(facts["params"] / 1e6, 2),
               notes=f"onnxruntime {env.get('onnxruntime_version')} {PROVIDER}, "
                     f"{threads} intra-op threads")
    meter = MemoryMeter(torch.device("cpu"))
    clock: Callable[[], float] = __import__("time").perf_counter
    try:
        session = ort_session(path, threads)
        meta = facts["metadata"]
        meter.reset()
        feed = _feed(session, batch_size, img_size, meta)

        def step(f: dict[str, np.ndarray] = feed) -> None:
            session.run(None, f)

        timing = timed_loop(step, batch_size=batch_size, warmup=warmup, iters=iters,
                                  clock=clock)
        row["infer_peak_mem_mb"] = round(meter.peak_mb(), 1)
        row["infer_samples_per_sec"] = round(timing.samples_per_sec, 2)
        row["infer_step_time"] = round(timing.mean_ms, 3)
        row["infer_step_time_p50"] = round(timing.pct_ms(50), 3)
        row["infer_step_time_p95"] = round(timing.pct_ms(95), 3)
        row["infer_batch_size"] = batch_size
        first = next(iter(feed.values()))
        row["infer_img_size"] = int(first.shape[-1]) if first.ndim == 4 else None
        if latency:
            if batch_size == 1:
                row["infer_latency_ms"] = row["infer_step_time_p50"]
            else:
                one = _feed(session, 1, img_size, meta)
                lat = timed_loop(lambda: step(one), batch_size=1, warmup=warmup,
                                       iters=iters, clock=clock)
                row["infer_latency_ms"] = round(lat.pct_ms(50), 3)
        gmacs = meta.get("infer_gmacs")
        if gmacs and row["infer_img_size"] in (None, _example_side(meta)):
            row["infer_gmacs"] = sig(float(gmacs))
            achieved = 2 * float(gmacs) * 1e9 * timing.samples_per_sec
            row["infer_tflops"] = sig(achieved / 1e12)
            if facts["precision"] == "fp32":
                peak = matmul_peak(torch.device("cpu"), "fp32")
                row["peak_tflops"] = sig(peak / 1e12)
                row["infer_mfu"] = sig(achieved / peak) if peak else None
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing file must not stop the sweep
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        row["error"] = f"{type(exc).__name__}: {text}"[:300]
    return row


def _example_side(meta: dict[str, Any]) -> int | None:
    shapes = meta.get("inputs") or {}
    first = next(iter(shapes.values()), None)
    if first and len(first) == 4 and isinstance(first[-1], int):
        return int(first[-1])
    dc = meta.get("data_config") or {}
    size = dc.get("input_size")
    return int(size[-1]) if size else None


def onnx_rows(paths: Sequence[str], batch_sizes: Sequence[int], *, warmup: int = 10,
              iters: int = 40, latency: bool = True, threads: int | None = None,
              img_size: int | None = None,
              on_start: Callable[[str], None] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows for every file x batch size, and the environment block."""
    threads = int(threads or torch.get_num_threads())
    for p in paths:
        graph_facts(p)  # a missing or unreadable file stops before any timing
    env = ort_environment(threads)
    rows = []
    for p in dict.fromkeys(paths):
        for bs in batch_sizes:
            if on_start is not None:
                on_start(f"{p} bs{bs} onnxruntime")
            row = bench_onnx(p, bs, warmup=warmup, iters=iters, latency=latency,
                             threads=threads, img_size=img_size, env=env)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows, env


def torch_rows(model: torch.nn.Module, name: str, batch_sizes: Sequence[int], *,
               input_size: Sequence[int] | None = None, compile: bool = False,
               warmup: int = 10, iters: int = 40, latency: bool = True
               ) -> list[dict[str, Any]]:
    """zoo bench rows (inference, fp32, CPU) for an already built ``model`` - a
    fine-tuned one that is not a registry name - through zoo bench's own Runner."""
    from zoo_core.bench import models as B

    settings = B.BenchSettings(mode="infer", device="cpu", warmup=warmup, iters=iters,
                               latency=latency)
    runner = B.Runner(settings)
    target = B.ModelTarget(name=name, kind="model", build=lambda: model,
                           input_size=tuple(input_size) if input_size else None)
    runner._targets[name] = target  # a built module stands in for a registry name
    specs = B.expand_sweep([name], list(batch_sizes), ["fp32"], [False], [compile])
    return [runner.run(spec) for spec in specs]
