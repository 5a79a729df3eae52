"""A small in-process plugin for the bench tests: tiny models with known FLOPs,
one that runs out of memory above a batch size, one that always fails, one
that is not a module, a segmentation-shaped model, and one that records how
it was called so the protocol itself can be checked."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo_core import hookimpl


class TinyMLP(nn.Module):
    """Flatten + Linear(3*8*8 -> 10): 1,920 MACs per sample, 1,930 parameters."""

    pretrained_cfg = {"input_size": (3, 8, 8)}

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class OOMNet(TinyMLP):
    """Raises CUDA's out-of-memory error for batches above ``limit``, as a GPU would."""

    def __init__(self, limit: int = 2):
        super().__init__()
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {x.shape[0]} GiB (simulated, limit "
                f"{self.limit})")
        return super().forward(x)


class BrokenNet(TinyMLP):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("broken on purpose")


class TinySeg(nn.Module):
    """A 1x1 conv: the output is (N, 2, H, W), not logits."""

    pretrained_cfg = {"input_size": (3, 16, 16)}

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ProbeNet(TinyMLP):
    """Records, per call, what the protocol promises: mode, grad state, layout."""

    def __init__(self, seen: list[dict[str, Any]]):
        super().__init__()
        self.seen = seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append({
            "batch": x.shape[0],
            "training": self.training,
            "inference_mode": torch.is_inference_mode_enabled(),
            "grad": torch.is_grad_enabled(),
            "channels_last": x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous(),
            "autocast": torch.is_autocast_enabled(x.device.type),
        })
        return super().forward(x.contiguous())


class BenchTestModels:
    """Registered with ``plugin_set().add(...)``, like any plugin object."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl
    def register_backbones(self, register: Any) -> None:
        register("bench_tiny_mlp", TinyMLP, description="test: 1,920 MACs")
        register("bench_oom_net", OOMNet, default_cfg={"limit": 2})
        register("bench_always_oom", OOMNet, default_cfg={"limit": 0})
        register("bench_broken_net", BrokenNet)
        register("bench_not_a_module", lambda: {"generator": None})
        register("bench_probe", lambda: ProbeNet(self.seen))

    @hookimpl
    def register_segmentation_models(self, register: Any) -> None:
        register("bench_tiny_seg", TinySeg)
