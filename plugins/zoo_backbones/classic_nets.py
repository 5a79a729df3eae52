"""The classic CNNs timm lacks, with timm's backbone interface.

AlexNet, SqueezeNet and GoogLeNet reuse torchvision's definitions so that
torchvision's published checkpoints load key for key; LeNet-5 is written out.
Each adds what zoo expects of every backbone: ``num_features``,
``forward_features``, ``forward_head(x, pre_logits=True)``, ``feature_info``,
``reset_classifier``, ``pretrained_cfg`` and ``features_only``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision import models as tvm

# (flat module path, channels, reduction): where features_only taps each stage
Tap = tuple[str, int, int]


class ClassicMixin:
    """timm's backbone interface over a network whose forward is a flat list of modules."""

    taps: Sequence[Tap] = ()
    pretrained_cfg: dict[str, Any]
    num_classes: int
    num_features: int

    @property
    def default_cfg(self) -> dict[str, Any]:
        return self.pretrained_cfg

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        return [{"module": p, "num_chs": c, "reduction": r} for p, c, r in self.taps]

    def feature_path(self) -> list[tuple[str, nn.Module]]:
        """Modules from the input to the last feature map, in forward order."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for _, module in self.feature_path():
            x = module(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.forward_head(self.forward_features(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        raise NotImplementedError


def _cfg(**kw: Any) -> dict[str, Any]:
    cfg = {"input_size": (3, 224, 224), "interpolation": "bilinear", "crop_pct": 0.875,
           "crop_mode": "center", "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
           "num_classes": 1000}
    cfg.update(kw)
    return cfg


def _maybe_features(model: ClassicMixin, features_only: bool,
                    out_indices: Sequence[int] | None) -> nn.Module:
    return FeatureStages(model, out_indices) if features_only else model  # type: ignore[arg-type]


class FeatureStages(nn.Module):
    """``features_only``: returns the feature maps at the chosen stages.

    Modules keep their original paths (``features.3.weight``), so a checkpoint
    of the full network loads into it with only the classifier left over.
    """

    def __init__(self, model: ClassicMixin, out_indices: Sequence[int] | None = None):
        super().__init__()
        taps = list(model.taps)
        n = len(taps)
        if any(not -n <= i < n for i in (out_indices or [])):
            raise ValueError(f"out_indices {list(out_indices or [])} out of range for {n} stages")
        idx = list(range(n)) if out_indices is None else [i % n for i in out_indices]
        self._taps = [taps[i] for i in idx]
        path = model.feature_path()
        order = [p for p, _ in path]
        stop = max(order.index(tap_path) for tap_path, _, _ in self._taps)
        self._order = order[: stop + 1]
        for p, module in path[: stop + 1]:
            self._attach(p, module)
        self.feature_info = [{"module": p, "num_chs": c, "reduction": r} for p, c, r in self._taps]
        self.pretrained_cfg = model.pretrained_cfg

    def _attach(self, path: str, module: nn.Module) -> None:
        parent: nn.Module = self
        *parents, leaf = path.split(".")
        for name in parents:
            if not hasattr(parent, name):
                parent.add_module(name, nn.Module())
            parent = getattr(parent, name)
        parent.add_module(leaf, module)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        wanted = {p for p, _, _ in self._taps}
        out = []
        for path in self._order:
            x = self.get_submodule(path)(x)
            if path in wanted:
                out.append(x)
        return out


class AlexNet(ClassicMixin, tvm.AlexNet):
    """AlexNet; pooled features are fc7's 4096 activations, as transfer-learning
    tutorials use them, and the classifier is fc8 alone."""

    taps = (("features.1", 64, 4), ("features.4", 192, 8), ("features.11", 256, 16),
            ("features.12", 256, 32))

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5):
        super().__init__(num_classes=num_classes, dropout=drop_rate)
        if in_chans != 3:
            self.features[0] = nn.Conv2d(in_chans, 64, kernel_size=11, stride=4, padding=2)
        self.num_classes = num_classes
        self.num_features = 4096
        self.pretrained_cfg = _cfg(num_classes=num_classes)

    def feature_path(self) -> list[tuple[str, nn.Module]]:
        return [(f"features.{i}", m) for i, m in enumerate(self.features)]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        x = self.classifier[:6](x)
        return x if pre_logits else self.classifier[6](x)

    def get_classifier(self) -> nn.Module:
        return self.classifier[6]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[6] = nn.Linear(4096, num_classes) if num_classes else nn.Identity()


class SqueezeNet(ClassicMixin, tvm.SqueezeNet):
    """SqueezeNet; its classifier is a 1x1 convolution followed by global pooling."""

    _TAPS = {
        "1_0": (("features.1", 96, 2), ("features.5", 256, 4), ("features.10", 512, 8),
                ("features.12", 512, 16)),
        "1_1": (("features.1", 64, 2), ("features.4", 128, 4), ("features.7", 256, 8),
                ("features.12", 512, 16)),
    }

    def __init__(self, version: str = "1_1", num_classes: int = 1000, in_chans: int = 3,
                 drop_rate: float = 0.5):
        super().__init__(version=version, num_classes=num_classes, dropout=drop_rate)
        if in_chans != 3:
            first = self.features[0]
            self.features[0] = nn.Conv2d(in_chans, first.out_channels, first.kernel_size,
                                         first.stride)
        self.taps = self._TAPS[version]
        self.num_classes = num_classes
        self.num_features = 512
        self.pretrained_cfg = _cfg(num_classes=num_classes)

    def feature_path(self) -> list[tuple[str, nn.Module]]:
        return [(f"features.{i}", m) for i, m in enumerate(self.features)]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return torch.flatten(self.classifier(x), 1)

    def get_classifier(self) -> nn.Module:
        return self.classifier[1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        conv = nn.Conv2d(512, num_classes, kernel_size=1)
        nn.init.normal_(conv.weight, mean=0.0, std=0.01)
        nn.init.zeros_(conv.bias)
        self.classifier[1] = conv


class GoogLeNet(ClassicMixin, tvm.GoogLeNet):
    """GoogLeNet without the auxiliary classifiers (only used to train it)."""

    taps = (("conv1", 64, 2), ("conv3", 192, 4), ("inception3b", 480, 8),
            ("inception4e", 832, 16), ("inception5b", 1024, 32))
    _PATH = ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b",
             "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d",
             "inception4e", "maxpool4", "inception5a", "inception5b")

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.2):
        super().__init__(num_classes=num_classes, aux_logits=False, transform_input=False,
                         init_weights=True, dropout=drop_rate)
        if in_chans != 3:
            self.conv1 = tvm.googlenet.BasicConv2d(in_chans, 64, kernel_size=7, stride=2,
                                                    padding=3)
        self.num_classes = num_classes
        self.num_features = 1024
        self.pretrained_cfg = _cfg(num_classes=num_classes, mean=(0.5, 0.5, 0.5),
                                   std=(0.5, 0.5, 0.5))

    def feature_path(self) -> list[tuple[str, nn.Module]]:
        return [(name, getattr(self, name)) for name in self._PATH]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(self.dropout(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(1024, num_classes) if num_classes else nn.Identity()

    def checkpoint_filter(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """torchvision's checkpoint carries the auxiliary heads; they are not part of this net."""
        return {k: v for k, v in state_dict.items() if not k.startswith(("aux1.", "aux2."))}


class LeNet5(ClassicMixin, nn.Module):
    """LeNet-5 as published: 32x32 input, tanh, average pooling, C5 as a 5x5 convolution."""

    taps = (("features.1", 6, 1), ("features.4", 16, 4), ("features.7", 120, 32))

    def __init__(self, num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.0):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5, padding=0), nn.Tanh(),
            nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
            nn.AvgPool2d(2), nn.Conv2d(16, 120, 5), nn.Tanh(),
        )
        # at 32x32 the map is already 1x1; pooling lets other sizes through
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(120, 84), nn.Tanh(), nn.Dropout(drop_rate))
        self.head = nn.Linear(84, num_classes) if num_classes else nn.Identity()
        self.num_classes = num_classes
        self.num_features = 84
        self.pretrained_cfg = _cfg(input_size=(in_chans, 32, 32), mean=(0.5,) * in_chans,
                                   std=(0.5,) * in_chans, crop_pct=1.0,
                                   num_classes=num_classes)

    def feature_path(self) -> list[tuple[str, nn.Module]]:
        return [(f"features.{i}", m) for i, m in enumerate(self.features)]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.fc(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.head(x)

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(84, num_classes) if num_classes else nn.Identity()


def _builder(cls: type) -> Any:
    def build(features_only: bool = False, out_indices: Sequence[int] | None = None,
              **kw: Any) -> nn.Module:
        return _maybe_features(cls(**kw), features_only, out_indices)

    build.__name__ = f"build_{cls.__name__}"
    return build


BUILDERS = {
    "AlexNet": _builder(AlexNet),
    "SqueezeNet": _builder(SqueezeNet),
    "GoogLeNet": _builder(GoogLeNet),
    "LeNet5": _builder(LeNet5),
}
