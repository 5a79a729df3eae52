"""Heads map pooled features (N, C) - or a feature map (N, C, H, W) for
conv1x1 - to class logits (N, num_classes)."""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.in_features, self.num_classes = in_features, num_classes
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(torch.flatten(x, 1)))


class MLPHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: int = 512, layers: int = 1,
                 dropout: float = 0.5):
        super().__init__()
        self.in_features, self.num_classes = in_features, num_classes
        blocks: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            blocks += [nn.Dropout(dropout), nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        blocks += [nn.Dropout(dropout), nn.Linear(width, num_classes)]
        self.mlp = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.flatten(x, 1))


class Conv1x1Head(nn.Module):
    """Classifies every position, then averages: works on any spatial size."""

    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.in_features, self.num_classes = in_features, num_classes
        self.drop = nn.Dropout(dropout)
        self.conv = nn.Conv2d(in_features, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x[:, :, None, None]
        return self.conv(self.drop(x)).mean(dim=(2, 3))
