"""What ``zoo export`` and ``zoo quantize`` do, as functions the commands (and
scripts) call: load the source, pick inputs, export, check, quantize, measure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo_core.errors import ZooError
from zoo_core.export.export import ExportResult, export_model, update_sidecar
from zoo_core.export.parity import DEFAULT_TOL, ParityReport, check_parity, compare
from zoo_core.export.source import ExportSource, random_inputs

DATA_CONFIG_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")


def export_metadata(src: ExportSource, example: Sequence[torch.Tensor]) -> dict[str, Any]:
    """What an export records about its model: data config, labels, where it came
    from, parameter count and GMACs per sample (for ``zoo bench``'s FLOP columns)."""
    from zoo_core import __version__

    dc = {k: src.data_config[k] for k in DATA_CONFIG_KEYS if k in src.data_config}
    meta: dict[str, Any] = {
        "data_config": dc,
        "label_names": src.label_names,
        "task": src.task,
        "role": src.role,
        "source": str(src.folder),
        "zoo_version": __version__,
        "params": sum(p.numel() for p in src.model.parameters()),
    }
    flops = _count_flops(src.model, tuple(x[:1] for x in example))
    if flops:
        meta["infer_gmacs"] = flops / 2 / 1e9
    return meta


def _count_flops(model: torch.nn.Module, one: tuple[torch.Tensor, ...]) -> int | None:
    from zoo_core.bench.measure import count_flops  # zoo bench's counter, same convention

    with torch.inference_mode():
        return count_flops(lambda: model(*one))


def _has_example_input(src: ExportSource) -> bool:
    """A model that says what its inputs are (a generator's latent vectors) is fed
    those, not the run's images (which are its discriminator's inputs)."""
    return callable(getattr(src.model, "example_input", None))


def _second_size(height: int, width: int) -> tuple[int, int]:
    """Another spatial size for checking a dynamic-size export: taller and wider by
    multiples of 32 (what a 5-level U-Net needs), and not square."""
    return height + 32, width + 64


def parity_batches(src: ExportSource, *, n_batches: int = 8, batch_size: int = 16,
                   sizes: Sequence[tuple[int, int]] = ()) -> tuple[list[tuple[torch.Tensor, ...]],
                                                               str]:
    """Inputs for the parity check and their description.

    With a run folder: up to ``n_batches`` batches of the run's validation split
    (real images through the model's evaluation transform). Without one, or when
    the task feeds the model nothing from the data (a generator's latent
    vectors): random inputs from the model's ``example_input(batch_size)`` or its
    data config. ``sizes`` adds a random batch at each extra (height, width), for
    dynamic-size exports.
    """
    batches: list[tuple[torch.Tensor, ...]] = []
    if src.run_dir is not None:
        from zoo_core.export import rundata

        split = rundata.check_split(src.run_dir)
        batches = rundata.real_batches(src.run_dir, src.data_config, split=split,
                                       n_batches=n_batches, batch_size=batch_size,
                                       role=src.role)
        n = sum(int(b[0].shape[0]) for b in batches)
        what = f"real inputs: {n} images of the {split!r} split of {src.run_dir.name}"
    if not batches:
        batches = [random_inputs(src.model, src.data_config, batch_size, seed=i)
                   for i in range(n_batches)]
        what = ("random inputs from the model's example_input()" if _has_example_input(src)
                else "random inputs (no recipe.toml beside the model)" if src.run_dir is None
                else "random inputs (the task feeds this model nothing from the data)")
    for i, size in enumerate(sizes):
        batches.append(random_inputs(src.model, src.data_config, 2, seed=1000 + i, size=size))
    if sizes:
        what += " + random inputs at " + ", ".join(f"{h}x{w}" for h, w in sizes)
    return batches, what


@dataclass
class ExportOutcome:
    export: ExportResult
    parity: ParityReport | None


def export_source(src: ExportSource, out: str | Path | None = None, *, fmt: str = "onnx",
                  opset: int | None = None, dynamic_batch: bool = True,
                  dynamic_spatial: bool | None = None, check: bool = True,
                  tol: float = DEFAULT_TOL, check_batches: int = 8,
                  check_batch_size: int = 16) -> ExportOutcome:
    """Export ``src`` (default ``<model folder>/model.<fmt>``) and check parity.

    The parity report is written into the JSON beside the export; a failed
    check is returned (``parity.passed`` False) for the caller to act on.
    """
    path = Path(out) if out is not None else src.folder / f"model.{fmt}"
    example = random_inputs(src.model, src.data_config, 2)
    result = export_model(src.model, example, path, fmt=fmt, opset=opset,
                          dynamic_batch=dynamic_batch, dynamic_spatial=dynamic_spatial,
                          metadata=export_metadata(src, example), label=src.name)
    parity = None
    if check:
        sizes: list[tuple[int, int]] = []
        x = example[0]
        spatial_dynamic = any(a in axes for axes in result.dynamic_axes.values() for a in (2, 3))
        if spatial_dynamic and x.ndim == 4:
            sizes.append(_second_size(int(x.shape[-2]), int(x.shape[-1])))
        batches, what = parity_batches(src, n_batches=check_batches,
                                       batch_size=check_batch_size if dynamic_batch
                                       else int(x.shape[0]), sizes=sizes)
        parity = check_parity(src.model, result.path, batches, tol=tol, inputs=what)
        update_sidecar(result.path, parity=parity.to_dict())
    return ExportOutcome(result, parity)


# -- quantization --------------------------------------------------------------------


@dataclass
class QuantizeReport:
    """Everything ``zoo quantize`` reports."""

    fp32: ExportOutcome
    result: Any  # quantize.QuantizeResult
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    eval_split: str | None = None
    agreement: ParityReport | None = None
    latency_rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantization": self.result.to_dict(),
            "fp32_parity": self.fp32.parity.to_dict() if self.fp32.parity else None,
            "eval_split": self.eval_split,
            "metrics_fp32_torch": self.metrics_before,
            "metrics_int8_onnxruntime": self.metrics_after,
            "int8_vs_fp32": self.agreement.to_dict() if self.agreement else None,
            "latency": [{k: r.get(k) for k in (
                "model", "kind", "precision", "compile", "infer_batch_size",
                "infer_step_time_p50", "infer_samples_per_sec", "num_threads", "error")}
                for r in self.latency_rows],
            "notes": self.notes,
        }


def calibration_batches(src: ExportSource, n_batches: int, batch_size: int
                        ) -> tuple[list[tuple[torch.Tensor, ...]], str]:
    """``n_batches`` of the run's training data (evaluation transform, seeded
    shuffled order), or random inputs when there is no recipe."""
    if n_batches < 1:
        raise ZooError(f"--calib must be at least 1 batch (got {n_batches}).")
    if src.run_dir is not None:
        from zoo_core.export import rundata

        batches = rundata.real_batches(src.run_dir, src.data_config, split="train",
                                       n_batches=n_batches, batch_size=batch_size,
                                       shuffle=True, role=src.role)
        if batches:
            n = sum(int(b[0].shape[0]) for b in batches)
            return batches, (f"{n} training images of {src.run_dir.name} in "
                             f"{len(batches)} batches")
    batches = [random_inputs(src.model, src.data_config, batch_size, seed=i)
               for i in range(n_batches)]
    return batches, "random inputs (no data for this model): int8 accuracy is not meaningful"


def quantize_source(src: ExportSource, *, method: str = "static", fmt: str = "onnx",
                    out: str | Path | None = None, calib: int = 10, calib_batch_size: int = 16,
                    calibration: str = "minmax", per_channel: bool = True, check: bool = True,
                    evaluate: bool = True, bench: bool = True,
                    bench_batch_sizes: Sequence[int] = (1, 32), bench_warmup: int = 10,
                    bench_iters: int = 40, tol: float = DEFAULT_TOL) -> QuantizeReport:
    """Export ``src`` to fp32 ONNX (parity-checked), quantize it to int8, and measure
    the task's metric before/after, file sizes and batch-1/32 latency."""
    from zoo_core.export.parity import OrtModule, raise_if_failed
    from zoo_core.export.quantize import int8_path, quantize_onnx

    if fmt != "onnx":
        raise ZooError(
            "zoo quantize writes int8 ONNX files only: on torch 2.14 the PT2E path "
            "(torchao's x86 quantizer) produces a reference graph that is neither smaller "
            "nor faster without inductor (docs/deploy.md). Use --format onnx.")
    fp32_path = src.folder / "model.onnx"
    if out is not None:
        fp32_path = Path(out).with_name(Path(out).name.replace(".int8", "")
                                        if ".int8" in Path(out).name
                                        else f"{Path(out).stem}.fp32.onnx")
    fp32 = export_source(src, fp32_path, fmt="onnx", check=check, tol=tol)
    if fp32.parity is not None:
        raise_if_failed(fp32.parity, fp32.export.path)
    target = Path(out) if out is not None else int8_path(fp32.export.path)
    if method == "static":
        batches, what = calibration_batches(src, calib, calib_batch_size)
    else:
        batches, what = [], ""
    result = quantize_onnx(fp32.export.path, target, method=method, batches=batches,
                           calib_inputs=what, calibration=calibration, per_channel=per_channel)
    report = QuantizeReport(fp32=fp32, result=result)
    update_sidecar(target, **{**fp32.export.metadata, "file": target.name,
                              "precision": "int8"})
    if method == "dynamic" and result.compression < 1.5:
        report.notes.append(
            f"dynamic int8 shrank the file only {result.compression:.2f}x: it quantizes "
            "MatMul/Gemm weights, and this model's weights are mostly elsewhere "
            "(convolutions); use --method static for convolutional networks.")
    if src.run_dir is None and method == "static":
        report.notes.append("no recipe.toml beside the model: calibrated on random inputs, "
                            "so the int8 model's accuracy is not meaningful.")
    int8 = OrtModule(target)
    # int8 against fp32 torch on the same inputs the fp32 parity check used
    batches_eval, what_eval = parity_batches(src, n_batches=8, batch_size=16)
    report.agreement = compare(src.model, int8, batches_eval, tol=math.inf, inputs=what_eval)
    if evaluate and src.run_dir is not None:
        from zoo_core.export import rundata

        split = rundata.eval_split(src.run_dir)
        report.eval_split = split
        report.metrics_before = rundata.evaluate(src.run_dir, src.model, src.data_config,
                                                 split=split, role=src.role)
        report.metrics_after = rundata.evaluate(src.run_dir, int8, src.data_config,
                                                split=split, role=src.role)
    if bench:
        from zoo_core.bench.onnx import onnx_rows, torch_rows

        size = src.data_config.get("input_size")
        report.latency_rows = torch_rows(src.model, f"{src.name} (torch eager)",
                                         bench_batch_sizes, input_size=size,
                                         warmup=bench_warmup, iters=bench_iters,
                                         latency=False)
        rows, _ = onnx_rows([str(fp32.export.path), str(target)], bench_batch_sizes,
                            warmup=bench_warmup, iters=bench_iters, latency=False)
        report.latency_rows += rows
    update_sidecar(target, **report.to_dict())
    return report
