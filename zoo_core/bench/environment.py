"""The environment every zoo bench report carries, and device choice."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch

from zoo_core.bench.measure import MemoryMeter
from zoo_core.engine import devices


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(device: str | None) -> torch.device:
    """zoo bench's device: cpu unless asked; ``auto`` is cuda when present."""
    return devices.resolve_device(device or "cpu", allow=("cuda", "cpu"))


def environment(device: torch.device) -> dict[str, Any]:
    """What every report carries, so a number is never read without its context."""
    from zoo_core import __version__

    env: dict[str, Any] = {
        "zoo_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "num_threads": torch.get_num_threads(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import timm

        env["timm_version"] = timm.__version__
    except ImportError:  # pragma: no cover - timm is a dependency
        env["timm_version"] = None
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
        env["cuda_version"] = torch.version.cuda
        env["cudnn_version"] = torch.backends.cudnn.version()
        env["allow_tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
        env["allow_tf32_conv"] = torch.backends.cudnn.allow_tf32
    else:
        env["device_name"] = env["cpu_model"]
        env["mkldnn_bf16"] = _cpu_bf16_supported()
    env["memory_basis"] = MemoryMeter(device).basis
    return env


def _cpu_bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def default_precisions(device: torch.device) -> list[str]:
    """What ``--best`` tries when no precision is named: fp32 plus the fast
    mixed precisions this device has hardware for."""
    if device.type == "cuda":
        out = ["fp32", "fp16"]
        if torch.cuda.is_bf16_supported():
            out.insert(1, "bf16")
        return out
    return ["fp32", "bf16"] if _cpu_bf16_supported() else ["fp32"]
