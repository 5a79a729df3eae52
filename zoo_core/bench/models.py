"""Model benchmarks: throughput, latency, memory, FLOPs and MFU.

The protocol follows timm's ``benchmark.py`` so that zoo's numbers line up
with timm's published CSVs:

* the model is built from the registry without weights; eval mode for
  inference, train mode for training;
* the input is a random tensor already on the device (channels_last when asked);
* inference runs under ``torch.inference_mode()``;
* a training step is forward, cross-entropy on random targets, backward and an
  SGD step (lr 1e-4, momentum 0.9, Nesterov, as timm's default ``sgd``);
  ``zero_grad`` happens before the clock starts, target creation after;
* warm-up steps are not timed; the device is synchronised before every clock
  read, so a step time is the time the device needed, not the launch time;
* samples/s is the number of samples over the wall time of the whole timed run
  (timm's ``samples_per_sec``); step time is the mean of the per-step times.

On top of timm: p50/p95 step time, batch-1 latency, peak memory, FLOPs per
sample counted with ``torch.utils.flop_counter.FlopCounterMode``, achieved
TFLOP/s, and MFU against a matmul peak measured in this process in the same
precision (see :func:`matmul_peak`).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from zoo_core.bench.environment import default_precisions, environment, resolve_device
from zoo_core.bench.measure import (
    MemoryMeter,
    Timing,
    count_flops,
    make_clock,
    matmul_peak,
    sig,
    timed_loop,
)
from zoo_core.engine.devices import DTYPES, autocast
from zoo_core.errors import UnknownNameError, ZooError, suggestion

__all__ = [
    "MODEL_KINDS", "MODES", "PRECISIONS", "BenchSettings", "BenchSpec", "Runner", "best_rows",
    "default_precisions", "environment", "expand_sweep", "matmul_peak", "resolve_device",
    "resolve_model", "run_sweep", "Timing",
]

#: precision names zoo bench accepts (the engine's map)
PRECISIONS = tuple(DTYPES)
MODES = ("infer", "train", "both")
#: registry kinds whose components are single networks zoo bench can time
MODEL_KINDS = ("backbone", "segmentation", "sr", "gan", "autoencoder")


# -- what to run ---------------------------------------------------------------


@dataclass(frozen=True)
class BenchSpec:
    """One point of a sweep."""

    model: str
    batch_size: int
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @property
    def label(self) -> str:
        layout = "nhwc" if self.channels_last else "nchw"
        extra = " compile" if self.compile else ""
        return f"{self.model} bs{self.batch_size} {self.precision} {layout}{extra}"


@dataclass
class BenchSettings:
    """What stays the same across a sweep."""

    mode: str = "both"
    device: str = "cpu"
    img_size: int | None = None
    warmup: int = 10
    iters: int = 40
    kind: str | None = None
    latency: bool = True
    #: matrix sizes of the peak probe; None picks per device
    probe_sizes: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ZooError(f"Unknown bench mode {self.mode!r}.{suggestion(self.mode, MODES)} "
                           f"Modes are: {', '.join(MODES)}.")
        if self.iters < 1 or self.warmup < 0:
            raise ZooError(f"--iters must be >= 1 and --warmup >= 0 (got {self.iters}, "
                           f"{self.warmup}).")

    @property
    def phases(self) -> tuple[str, ...]:
        return ("infer", "train") if self.mode == "both" else (self.mode,)


def check_precision(precision: str) -> str:
    p = precision.strip().lower()
    aliases = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
               "amp": "fp16", "amp_bf16": "bf16"}
    p = aliases.get(p, p)
    if p not in PRECISIONS:
        raise ZooError(f"Unknown precision {precision!r}.{suggestion(precision, PRECISIONS)} "
                       f"Choose one of: {', '.join(PRECISIONS)}.")
    return p


def expand_sweep(
    models: Sequence[str],
    batch_sizes: Sequence[int],
    precisions: Sequence[str] = ("fp32",),
    channels_last: Sequence[bool] = (False,),
    compile: Sequence[bool] = (False,),
) -> list[BenchSpec]:
    """models x batch sizes x precisions x layouts x compile, model outermost,
    duplicates dropped, order kept as the user wrote it."""
    if not models:
        raise ZooError("Name at least one model, e.g. `zoo bench resnet18`.")
    bad = [b for b in batch_sizes if b < 1]
    if bad or not batch_sizes:
        raise ZooError(f"Batch sizes must be positive integers (got {list(batch_sizes)}).")
    precs = [check_precision(p) for p in precisions] or ["fp32"]
    out: list[BenchSpec] = []
    seen: set[BenchSpec] = set()
    for combo in itertools.product(models, batch_sizes, precs, channels_last or (False,),
                                   compile or (False,)):
        spec = BenchSpec(*combo)
        if spec not in seen:
            seen.add(spec)
            out.append(spec)
    return out


# -- building a model from the registry ----------------------------------------


@dataclass
class ModelTarget:
    """A registry name resolved to something ``build()`` can instantiate."""

    name: str
    kind: str
    build: Callable[[], nn.Module]
    input_size: tuple[int, ...] | None  # (C, H, W) from the weight tag, if it says


def resolve_model(name: str, kind: str | None = None) -> ModelTarget:
    """Find ``name`` among the model kinds (or in ``kind``); unknown names raise
    :class:`UnknownNameError` with a did-you-mean over every model name."""
    from zoo_core.plugins import registry
    from zoo_core.registry import canonical_kind

    reg = registry()
    kinds = (canonical_kind(kind),) if kind else MODEL_KINDS
    for k in kinds:
        try:
            resolved = reg.get(k, name)
        except UnknownNameError:
            continue
        component, tag = resolved.component, resolved.tag
        input_size = None
        if tag is not None:
            input_size = bench_size(component.weights[tag].data_config)
        return ModelTarget(name=name, kind=k, build=component.create, input_size=input_size)
    pool = [n for k in kinds for n in reg.names(k)]
    arch = name.split(":")[-1].split(".")[0]
    where = f"{kinds[0]}s" if kind else "models (" + ", ".join(kinds) + ")"
    raise UnknownNameError(
        f"Unknown model {name!r}: no {where} by that name.{suggestion(arch, pool)} "
        f"See `zoo list backbone` for the names zoo bench accepts."
    )


def build_module(target: ModelTarget) -> nn.Module:
    model = target.build()
    if not isinstance(model, nn.Module):
        raise ZooError(
            f"{target.kind} {target.name!r} builds a {type(model).__name__}, not one "
            f"nn.Module; zoo bench times a single network."
        )
    return model


def example_input(model: nn.Module, target: ModelTarget, batch_size: int,
                  img_size: int | None, device: torch.device) -> Any:
    """The random input of one batch, on ``device``: a Tensor, or a tuple of
    them that the model is called with as ``model(*inputs)``.

    A model may define ``example_input(batch_size) -> Tensor | tuple`` (latent
    vectors and labels for a conditional generator, say); otherwise the input
    is an image batch shaped as timm's benchmark.py shapes it: the weights'
    test size (``test_input_size``) when they have one, else their
    ``input_size`` (the weight tag's, else the model's ``pretrained_cfg``), or
    ``img_size`` when given.
    """
    make = getattr(model, "example_input", None)
    if callable(make):
        return _each(make(batch_size), lambda t: t.to(device))
    size = target.input_size or bench_size(getattr(model, "pretrained_cfg", None) or {}) \
        or (3, 224, 224)
    if img_size:
        size = (size[0], img_size, img_size)
    return torch.randn((batch_size, *size), device=device)


def bench_size(cfg: dict[str, Any]) -> tuple[int, ...] | None:
    """The input size timm's benchmark uses for a data config: its test size if any."""
    size = cfg.get("test_input_size") or cfg.get("input_size")
    return tuple(int(s) for s in size) if size else None


def _each(x: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``fn`` on a Tensor input, or on every Tensor of a tuple input."""
    return tuple(fn(t) for t in x) if isinstance(x, tuple) else fn(x)


def _call(model: Callable[..., Any], x: Any) -> Any:
    return model(*x) if isinstance(x, tuple) else model(x)


# -- one benchmark ---------------------------------------------------------


def is_oom(exc: BaseException) -> bool:
    """Out of memory on any device: retry with a smaller batch."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def _primary(output: Any) -> torch.Tensor:
    """The tensor a loss is computed on: a tuple's first item, a dict's first value."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)) and output:
        return _primary(output[0])
    raise ZooError(f"zoo bench cannot train on a model output of type {type(output).__name__}.")


def _loss(output: Any) -> torch.Tensor:
    """timm's loss: cross-entropy on random class targets for (N, classes) logits;
    any other output shape gets MSE against a random tensor of its shape."""
    out = _primary(output)
    if out.ndim == 2:
        target = torch.empty(out.shape[0], device=out.device, dtype=torch.long)
        target.random_(out.shape[1])
        return nn.functional.cross_entropy(out, target)
    return nn.functional.mse_loss(out, torch.randn_like(out))


@dataclass
class PhaseResult:
    """One phase (infer or train) of one spec, at the batch size that fitted."""

    timing: Timing
    peak_mem_mb: float
    flops_per_sample: int | None
    requested_batch_size: int
    img_size: int | None = None
    tried: list[int] = field(default_factory=list)  # batch sizes that ran out of memory
    latency_ms: float | None = None


class Runner:
    """Runs specs under one set of :class:`BenchSettings`, caching what does not
    change between them (resolved names, FLOP counts, latency, peaks)."""

    def __init__(self, settings: BenchSettings):
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.clock = make_clock(self.device)
        self.memory = MemoryMeter(self.device)
        self._targets: dict[str, ModelTarget] = {}
        self._flops: dict[tuple[str, str], int | None] = {}
        self._latency: dict[tuple[str, str, bool, bool], float | None] = {}
        self._params: dict[str, int] = {}
        self._env: dict[str, Any] | None = None

    @property
    def env(self) -> dict[str, Any]:
        if self._env is None:
            self._env = environment(self.device)
        return self._env

    def target(self, name: str) -> ModelTarget:
        if name not in self._targets:
            self._targets[name] = resolve_model(name, self.settings.kind)
        return self._targets[name]

    def peak(self, precision: str) -> float:
        return matmul_peak(self.device, precision, self.settings.probe_sizes)

    # -- phases ------------------------------------------------------------
    def _prepare(self, spec: BenchSpec, batch_size: int, train: bool
                 ) -> tuple[nn.Module, Callable[..., Any], Any, ModelTarget]:
        target = self.target(spec.model)
        model = build_module(target)
        if spec.model not in self._params:
            from zoo_core.nn.modules import count_params

            self._params[spec.model] = count_params(model)
        model.train(train)
        model.to(self.device)
        if spec.channels_last:
            model.to(memory_format=torch.channels_last)
        x = example_input(model, target, batch_size, self.settings.img_size, self.device)
        if spec.channels_last:
            x = _each(x, lambda t: t.contiguous(memory_format=torch.channels_last)
                      if t.ndim == 4 else t)
        run: Callable[..., Any] = torch.compile(model) if spec.compile else model
        return model, run, x, target

    def _flops_key(self, spec: BenchSpec, phase: str) -> tuple[str, str]:
        return (spec.model, phase)

    def run_infer(self, spec: BenchSpec, batch_size: int) -> PhaseResult:
        s = self.settings
        self.memory.reset()
        model, run, x, target = self._prepare(spec, batch_size, train=False)
        key = self._flops_key(spec, "infer")
        if key not in self._flops:
            one = _each(x, lambda t: t[:1])
            with torch.inference_mode():
                self._flops[key] = count_flops(lambda: _call(model, one))
        amp = autocast(self.device, spec.precision)

        def step(inp: Any = x) -> None:
            with amp:
                _call(run, inp)

        with torch.inference_mode():
            timing = timed_loop(step, batch_size=batch_size, warmup=s.warmup, iters=s.iters,
                                clock=self.clock)
            peak_mem = self.memory.peak_mb()
            latency = None
            if s.latency:
                lkey = (spec.model, spec.precision, spec.channels_last, spec.compile)
                if batch_size == 1:
                    latency = timing.pct_ms(50)
                elif lkey in self._latency:
                    latency = self._latency[lkey]
                else:
                    one = _each(x, lambda t: t[:1].clone())
                    lat = timed_loop(lambda: step(one), batch_size=1, warmup=s.warmup,
                                     iters=s.iters, clock=self.clock)
                    latency = lat.pct_ms(50)
                self._latency.setdefault(lkey, latency)
        img = _img_size(x)
        return PhaseResult(timing, peak_mem, self._flops[key], batch_size, img_size=img,
                           latency_ms=latency)

    def run_train(self, spec: BenchSpec, batch_size: int) -> PhaseResult:
        s = self.settings
        self.memory.reset()
        model, run, x, target = self._prepare(spec, batch_size, train=True)
        key = self._flops_key(spec, "train")
        if key not in self._flops:
            # batch 2: batch norm in train mode needs more than one value per channel
            two = _each(x, lambda t: torch.cat([t[:1], t[:1]]) if batch_size == 1 else t[:2])
            flops = count_flops(lambda: _loss(_call(model, two)).backward())
            self._flops[key] = None if flops is None else flops // 2
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
        amp = autocast(self.device, spec.precision)

        def step() -> None:
            with amp:
                loss = _loss(_call(run, x))
            loss.backward()
            optimizer.step()

        timing = timed_loop(step, batch_size=batch_size, warmup=s.warmup, iters=s.iters,
                            clock=self.clock, before=optimizer.zero_grad)
        peak_mem = self.memory.peak_mb()
        img = _img_size(x)
        return PhaseResult(timing, peak_mem, self._flops[key], batch_size, img_size=img)

    def run_phase(self, spec: BenchSpec, phase: str) -> PhaseResult:
        """Run one phase, halving the batch on out-of-memory until it fits."""
        fn = self.run_infer if phase == "infer" else self.run_train
        batch, tried = spec.batch_size, []
        while True:
            try:
                result = fn(spec, batch)
            except Exception as exc:  # noqa: BLE001 - anything else is re-raised below
                if not is_oom(exc):
                    raise
                tried.append(batch)
                _free(self.device)
                if batch == 1:
                    raise
                batch = max(1, batch // 2)
                continue
            result.requested_batch_size = spec.batch_size
            result.tried = tried
            return result

    def _trains(self, target: ModelTarget) -> bool:
        return any(p.requires_grad for p in build_module(target).parameters())

    # -- a whole row -------------------------------------------------------
    def run(self, spec: BenchSpec) -> dict[str, Any]:
        """One report row for ``spec``; errors are recorded in it, never raised
        (a ZooError for an unknown name is raised before any sweep starts)."""
        row = base_row(spec, self.settings, self.env)
        try:
            target = self.target(spec.model)
            row["kind"] = target.kind
            with _cudnn_autotune(self.device):
                for phase in self.settings.phases:
                    if phase == "train" and not self._trains(target):
                        _note(row, "no trainable parameters: nothing to time in training")
                        continue
                    result = self.run_phase(spec, phase)
                    fill_phase(row, phase, result, self.peak(spec.precision))
        except Exception as exc:  # noqa: BLE001 - a failing model must not stop the sweep
            row["error"] = _describe(exc)
        finally:
            _free(self.device)
        if spec.model in self._params:
            n = self._params[spec.model]
            row["params"] = n
            row["param_count"] = round(n / 1e6, 2)  # timm's unit: millions
        return row


def _note(row: dict[str, Any], text: str) -> None:
    row["notes"] = "; ".join(n for n in (row.get("notes"), text) if n)


@contextlib.contextmanager
def _cudnn_autotune(device: torch.device) -> Iterator[None]:
    """cuDNN picks the fastest kernels for the fixed input shape, as timm sets it;
    restored afterwards so a library caller's setting survives."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if is_oom(exc):
        return f"out of memory even at batch 1: {type(exc).__name__}: {text}"[:300]
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]


def _img_size(x: Any) -> int | None:
    x = x[0] if isinstance(x, tuple) else x
    return int(x.shape[-1]) if x.ndim == 4 else None


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# -- rows ----------------------------------------------------------------------


def base_row(spec: BenchSpec, settings: BenchSettings, env: dict[str, Any]) -> dict[str, Any]:
    from zoo_core.bench.report import empty_row

    row = empty_row()
    row.update(
        model=spec.model,
        requested_batch_size=spec.batch_size,
        precision=spec.precision,
        channels_last=spec.channels_last,
        compile=spec.compile,
        device=env["device"],
        device_name=env["device_name"],
        cpu_model=env["cpu_model"],
        num_threads=env["num_threads"],
        torch_version=env["torch_version"],
        warmup=settings.warmup,
        iters=settings.iters,
    )
    return row


def fill_phase(row: dict[str, Any], phase: str, result: PhaseResult, peak_flops: float) -> None:
    t = result.timing
    p = phase
    row[f"{p}_samples_per_sec"] = round(t.samples_per_sec, 2)
    row[f"{p}_step_time"] = round(t.mean_ms, 3)
    row[f"{p}_step_time_p50"] = round(t.pct_ms(50), 3)
    row[f"{p}_step_time_p95"] = round(t.pct_ms(95), 3)
    row[f"{p}_batch_size"] = t.batch_size
    row[f"{p}_peak_mem_mb"] = round(result.peak_mem_mb, 1)
    if result.tried:
        note = f"{p}: out of memory at batch {', '.join(map(str, result.tried))}; " \
               f"ran at {t.batch_size}"
        _note(row, note)
    row["peak_tflops"] = sig(peak_flops / 1e12)
    if result.flops_per_sample is not None:
        flops = result.flops_per_sample
        achieved = flops * t.samples_per_sec
        row[f"{p}_tflops"] = sig(achieved / 1e12)
        row[f"{p}_mfu"] = sig(achieved / peak_flops) if peak_flops else None
        if p == "infer":
            row["infer_gmacs"] = sig(flops / 2 / 1e9)
        else:
            row["train_gflops"] = sig(flops / 1e9)
    if p == "infer":
        row["infer_latency_ms"] = None if result.latency_ms is None \
            else round(result.latency_ms, 3)
    row[f"{p}_img_size"] = result.img_size


def run_sweep(specs: Iterable[BenchSpec], settings: BenchSettings,
              on_start: Callable[[BenchSpec], None] | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              runner: Runner | None = None) -> list[dict[str, Any]]:
    """Run every spec in order; unknown model names fail before anything runs."""
    specs = list(specs)
    runner = runner or Runner(settings)
    for name in dict.fromkeys(s.model for s in specs):
        runner.target(name)  # raises UnknownNameError with did-you-mean
    rows = []
    for spec in specs:
        if on_start is not None:
            on_start(spec)
        row = runner.run(spec)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def primary_metric(mode: str) -> str:
    return "train_samples_per_sec" if mode == "train" else "infer_samples_per_sec"


def best_rows(rows: Sequence[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """The fastest configuration per model (by inference throughput unless the
    mode is train-only); a model whose every row failed keeps its first row."""
    metric = primary_metric(mode)
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        cur = best.get(row["model"])
        if cur is None or (row.get(metric) or -1) > (cur.get(metric) or -1):
            best[row["model"]] = row
    return list(best.values())
