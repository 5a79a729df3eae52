"""A tiny CNN that follows zoo's backbone interface (the same as timm's)."""

from __future__ import annotations

import torch
from torch import nn


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 3, width: int = 16):
        super().__init__()
        chs = [width, width * 2, width * 4]
        self.stages = nn.Sequential(_stage(in_chans, chs[0]), _stage(chs[0], chs[1]),
                                    _stage(chs[1], chs[2]))
        self.num_features = chs[-1]
        self.num_classes = num_classes
        self.feature_info = [{"module": f"stages.{i}", "num_chs": c, "reduction": 2 ** (i + 1)}
                             for i, c in enumerate(chs)]
        self.pretrained_cfg = {"input_size": (in_chans, 32, 32), "mean": (0.5,) * in_chans,
                               "std": (0.5,) * in_chans, "interpolation": "bilinear",
                               "crop_pct": 1.0}
        self.fc = nn.Linear(chs[-1], num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)


class CosineHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, scale: float = 16.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, in_features) * 0.01)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.normalize(torch.flatten(x, 1), dim=1)
        return self.scale * x @ nn.functional.normalize(self.weight, dim=1).t()
