"""Device choice, mixed precision and memory format."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from zoo_core.errors import ZooError

#: precision name -> dtype; the one map the engine and zoo bench share
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16,
                                  "fp16": torch.float16}
_ALL_TYPES = ("cuda", "mps", "cpu")


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return True


def resolve_device(name: str | None = "auto", *, allow: tuple[str, ...] = _ALL_TYPES
                   ) -> torch.device:
    """``auto`` picks the first available of ``allow`` (cuda, mps, cpu); an explicit
    device must exist and be allowed."""
    name = (name or "auto").strip().lower()
    listed = ", ".join(("auto", *allow, *(("cuda:N",) if "cuda" in allow else ())))
    if name == "auto":
        return torch.device(next(k for k in (*allow, "cpu") if _available(k)))
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ZooError(f"Unknown device {name!r}: use {listed}.") from exc
    if device.type not in allow:
        raise ZooError(f"Device {name!r} is not supported here: use {listed}.")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ZooError(f"Device {name!r} was asked for, but CUDA is not available on this "
                           "machine. Use --device cpu (or auto).")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ZooError(f"Device {name!r} does not exist: this machine has "
                           f"{torch.cuda.device_count()} CUDA device(s).")
    if device.type == "mps" and not _available("mps"):
        raise ZooError("Device 'mps' was asked for, but Apple's MPS is not available. "
                       "Use --device cpu (or auto).")
    return device


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Autocast to ``precision`` (a :data:`DTYPES` key) on ``device``; fp32 does nothing."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


@dataclass
class Precision:
    """fp32, or autocast in bf16/fp16 (fp16 on CUDA adds a gradient scaler)."""

    name: str
    device: torch.device

    def __post_init__(self) -> None:
        if self.name not in DTYPES:
            raise ZooError(f"Unknown precision {self.name!r}: use fp32, bf16 or fp16.")
        if self.name == "fp16" and self.device.type == "cpu":
            raise ZooError("precision = \"fp16\" needs a GPU; on CPU use \"bf16\" or \"fp32\".")

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    @property
    def enabled(self) -> bool:
        return self.name != "fp32"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return autocast(self.device, self.name)

    def grad_scaler(self) -> Any:
        """A GradScaler for fp16 on CUDA, else None."""
        if self.name == "fp16" and self.device.type == "cuda":
            return torch.amp.GradScaler("cuda")
        return None


def pin_memory_for(setting: bool | str, device: torch.device) -> bool:
    if setting == "auto":
        return device.type == "cuda"
    return bool(setting)


def to_device(obj: Any, device: torch.device, *, channels_last: bool = False) -> Any:
    """Move tensors (also inside tuples, lists, dicts and named tuples) to ``device``."""
    if isinstance(obj, torch.Tensor):
        non_blocking = device.type == "cuda"
        if channels_last and obj.ndim == 4:
            return obj.to(device, non_blocking=non_blocking, memory_format=torch.channels_last)
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(v, device, channels_last=channels_last) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, channels_last=channels_last) for v in obj)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device, channels_last=channels_last) for k, v in obj.items()}
    return obj


def prepare_model(model: nn.Module, device: torch.device, *, channels_last: bool = False
                  ) -> nn.Module:
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode inside the block; each module's previous mode restored after."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes.items():
            m.training = training
