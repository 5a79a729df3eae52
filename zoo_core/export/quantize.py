"""int8 quantization of an exported ONNX file with ONNX Runtime's tools.

* **static**: weights and activations int8. ``quant_pre_process`` (shape
  inference and graph optimization: BatchNorm folding, Conv+ReLU fusion), then
  ``quantize_static`` in QDQ format with per-channel weight scales, calibrated
  on real batches (min/max of every activation over the calibration set).
  This is the path for convolutional networks.
* **dynamic**: weights int8 ahead of time, activations quantized per batch at
  run time (``quantize_dynamic``); only MatMul/Gemm-like operators change, so
  it is for Linear-dominated models (MLPs, transformers, RNNs).

Why ONNX Runtime and not PT2E: on torch 2.14 ``torch.ao.quantization``'s
PT2E entry points are gone (moved to torchao). torchao 0.18's PT2E flow with
the x86 quantizer does run here, but what it converts is a reference graph of
quantize/dequantize operators: saved with ``torch.export.save`` it was larger
than the fp32 program and 4x slower in eager mode (measured on resnet10t; see
docs/deploy.md); any gain would have to come from inductor compiling it at load
time. ORT's QDQ file is smaller and runs on int8 kernels as it is, so it is the
path zoo takes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo_core.atomic import atomic_path
from zoo_core.errors import ZooError

METHODS = ("static", "dynamic")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


class QuantizeError(ZooError):
    """Quantization could not run on this file or with these inputs."""


@dataclass
class QuantizeResult:
    """What a quantization wrote and how."""

    path: Path
    method: str
    source: Path
    calib_batches: int
    calib_samples: int
    calib_inputs: str
    calibration: str | None
    per_channel: bool
    size_before: int
    size_after: int
    seconds: float

    @property
    def compression(self) -> float:
        return self.size_before / self.size_after if self.size_after else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"], d["source"] = str(self.path), str(self.source)
        d["compression"] = self.compression
        return d


def int8_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.int8{p.suffix}")


class _Batches:
    """onnxruntime's CalibrationDataReader protocol over input batches."""

    def __init__(self, input_names: Sequence[str], batches: Sequence[Sequence[torch.Tensor]]):
        self.input_names = list(input_names)
        self.batches = batches
        self._it: Iterator[Sequence[torch.Tensor]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        if batch is None:
            return None
        return {name: x.detach().cpu().contiguous().numpy()
                for name, x in zip(self.input_names, batch, strict=True)}

    def rewind(self) -> None:
        self._it = iter(self.batches)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__)[:300]


def preprocess(src: Path, dst: Path) -> Path:
    """ONNX Runtime's recommended pre-processing before static quantization.
    Symbolic shape inference cannot read every dynamic-shape expression the
    dynamo exporter writes; then it is skipped (ONNX's own shape inference stays)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst))
    except Exception:  # noqa: BLE001 - retry without the symbolic pass
        try:
            quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
        except Exception as exc:  # noqa: BLE001
            raise QuantizeError(f"ONNX Runtime's pre-processing failed on {src}: "
                                f"{_first_line(exc)}.") from None
    return dst


def quantize_onnx(src: str | Path, out: str | Path, *, method: str = "static",
                  batches: Sequence[Sequence[torch.Tensor]] = (), calib_inputs: str = "",
                  calibration: str = "minmax", per_channel: bool = True) -> QuantizeResult:
    """Quantize the fp32 ONNX file ``src`` to int8 at ``out`` (written atomically).

    ``batches`` are the calibration inputs (static only), each a tuple of
    tensors in the model's input order.
    """
    import onnxruntime.quantization as Q

    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    if method not in METHODS:
        raise QuantizeError(f"Unknown quantization method {method!r}; choose one of "
                            f"{', '.join(METHODS)}.")
    if calibration not in CALIBRATION_METHODS:
        raise QuantizeError(f"Unknown calibration {calibration!r}; choose one of "
                            f"{', '.join(CALIBRATION_METHODS)}.")
    import onnx

    input_names = [i.name for i in onnx.load(str(src), load_external_data=False).graph.input]
    with atomic_path(out) as tmp:
        if method == "dynamic":
            pre = tmp.with_name(tmp.name + ".pre.onnx")
            try:
                preprocess(src, pre)
                Q.quantize_dynamic(str(pre), str(tmp), weight_type=Q.QuantType.QInt8,
                                   per_channel=per_channel)
            except QuantizeError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise QuantizeError(f"Dynamic quantization of {src} failed: "
                                    f"{_first_line(exc)}.") from None
            finally:
                pre.unlink(missing_ok=True)
        else:
            if not batches:
                raise QuantizeError("Static quantization needs calibration batches (--calib N "
                                    "with N >= 1).")
            pre = tmp.with_name(tmp.name + ".pre.onnx")
            try:
                preprocess(src, pre)
                reader = _Batches(input_names, batches)
                cal = {"minmax": Q.CalibrationMethod.MinMax,
                       "entropy": Q.CalibrationMethod.Entropy,
                       "percentile": Q.CalibrationMethod.Percentile}[calibration]
                try:
                    Q.quantize_static(
                        str(pre), str(tmp), reader, quant_format=Q.QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=Q.QuantType.QUInt8,
                        weight_type=Q.QuantType.QInt8, calibrate_method=cal)
                except Exception as exc:  # noqa: BLE001
                    raise QuantizeError(f"Static quantization of {src} failed: "
                                        f"{_first_line(exc)}.") from None
            finally:
                pre.unlink(missing_ok=True)
    samples = sum(int(b[0].shape[0]) for b in batches) if method == "static" else 0
    return QuantizeResult(
        path=out, method=method, source=src,
        calib_batches=len(batches) if method == "static" else 0, calib_samples=samples,
        calib_inputs=calib_inputs if method == "static" else "",
        calibration=calibration if method == "static" else None, per_channel=per_channel,
        size_before=src.stat().st_size, size_after=out.stat().st_size,
        seconds=time.perf_counter() - t0)
