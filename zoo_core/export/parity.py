"""Does the exported file compute what the torch model computes?

The exported model (ONNX through onnxruntime, or a PT2 archive loaded back)
and the eager torch model run the same input batches; the report gives the
largest absolute difference over every output element and, for class
outputs (``(N, classes)`` logits), how often the two agree on the top-1 class.
An fp32 export passes when the largest difference is at most ``tol``
(1e-4 by default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zoo_core.errors import ZooError

DEFAULT_TOL = 1e-4


class ParityError(ZooError):
    """An export whose outputs differ from the torch model's beyond the tolerance."""


def ort_session(path: str | Path, threads: int | None = None,
                provider: str = "CPUExecutionProvider") -> Any:
    """An onnxruntime session with every graph optimization on and ``threads``
    intra-op threads (default: torch's thread count, so the two compare fairly)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: no per-node warnings on the console
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=[provider])
    except Exception as exc:  # noqa: BLE001 - a broken or foreign file is the user's to fix
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ZooError(f"onnxruntime cannot load {path}: {first[:300]}. Is it an ONNX file "
                       "written by `zoo export` (or another exporter) and complete?") from None


class OrtModule(nn.Module):
    """An onnxruntime session behind an ``nn.Module`` call, so code written for
    the torch model (a task's evaluation step) runs the exported file unchanged."""

    def __init__(self, path: str | Path, threads: int | None = None,
                 provider: str = "CPUExecutionProvider"):
        super().__init__()
        self.path = Path(path)
        self.session = ort_session(path, threads, provider)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def forward(self, *inputs: torch.Tensor) -> Any:
        feed = {name: x.detach().cpu().contiguous().numpy()
                for name, x in zip(self.input_names, inputs, strict=True)}
        outs = [torch.from_numpy(o) for o in self.session.run(None, feed)]
        return outs[0] if len(outs) == 1 else tuple(outs)


@dataclass
class ParityReport:
    """Torch vs the exported file on the same inputs."""

    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float | None
    samples: int
    batches: int
    inputs: str
    shapes: list[list[int]] = field(default_factory=list)
    tol: float = DEFAULT_TOL
    passed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        agree = ("" if self.top1_agreement is None
                 else f", top-1 agreement {100 * self.top1_agreement:.2f}%")
        return (f"max abs diff {self.max_abs_diff:.3g} (tolerance {self.tol:g}){agree} over "
                f"{self.samples} samples, {self.inputs}")


def _flat(output: Any) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _flat(item)]
    return []


def compare(reference: Callable[..., Any], candidate: Callable[..., Any],
            batches: Iterable[Sequence[torch.Tensor]], *, tol: float = DEFAULT_TOL,
            inputs: str = "random inputs") -> ParityReport:
    """Run both callables on every batch and measure how far apart they are."""
    worst = 0.0
    total, count = 0.0, 0
    agree, classified = 0, 0
    samples = n_batches = 0
    shapes: list[list[int]] = []
    with torch.inference_mode():
        for batch in batches:
            batch = tuple(batch)
            ref = [t.float() for t in _flat(reference(*batch))]
            got = [t.float() for t in _flat(candidate(*batch))]
            if len(ref) != len(got):
                raise ParityError(f"The export returns {len(got)} outputs where the torch model "
                                  f"returns {len(ref)}.")
            for r, g in zip(ref, got, strict=True):
                if tuple(r.shape) != tuple(g.shape):
                    raise ParityError(
                        f"The export's output has shape {tuple(g.shape)} where the torch "
                        f"model's has {tuple(r.shape)} (input {[tuple(x.shape) for x in batch]})."
                    )
                diff = (r - g).abs()
                d = float(diff.max()) if diff.numel() else 0.0
                worst = d if math.isnan(d) else max(worst, d)
                total += float(diff.sum())
                count += diff.numel()
            if ref and ref[0].ndim == 2 and ref[0].shape[1] > 1:
                agree += int((ref[0].argmax(1) == got[0].argmax(1)).sum())
                classified += int(ref[0].shape[0])
            samples += int(batch[0].shape[0])
            n_batches += 1
            shape = [int(s) for s in batch[0].shape]
            if shape not in shapes:
                shapes.append(shape)
    if not n_batches:
        raise ZooError("The parity check got no input batches.")
    finite = math.isfinite(worst)
    return ParityReport(
        max_abs_diff=worst, mean_abs_diff=total / max(count, 1),
        top1_agreement=agree / classified if classified else None, samples=samples,
        batches=n_batches, inputs=inputs, shapes=shapes, tol=tol,
        passed=finite and worst <= tol)


def load_pt2(path: str | Path) -> nn.Module:
    """A PT2 archive loaded back as a callable module (no code is unpickled)."""
    return torch.export.load(str(path)).module()


def check_parity(model: nn.Module, path: str | Path, batches: Iterable[Sequence[torch.Tensor]],
                 *, tol: float = DEFAULT_TOL, inputs: str = "random inputs",
                 threads: int | None = None) -> ParityReport:
    """Eager ``model`` against the export at ``path`` (``.onnx`` through onnxruntime,
    ``.pt2`` through ``torch.export.load``)."""
    p = Path(path)
    candidate: Callable[..., Any] = (OrtModule(p, threads) if p.suffix == ".onnx"
                                     else load_pt2(p))
    return compare(model.eval(), candidate, batches, tol=tol, inputs=inputs)


def raise_if_failed(report: ParityReport, path: str | Path) -> None:
    """A :class:`ParityError` saying by how much the export at ``path`` misses."""
    if report.passed:
        return
    raise ParityError(
        f"Parity check failed for {path}: {report.summary()}. The export does not compute "
        "what the torch model computes; the file is kept for inspection but should not be "
        "deployed. Look for operations whose export differs (custom kernels, "
        "non-deterministic or training-mode layers: is the model in eval mode?), or pass "
        "--tol with a bound you can justify (--no-check skips the check).")
