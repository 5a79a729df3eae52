"""Small stand-in networks for the export tests (the real SR / U-Net plugins are
written elsewhere): an SRResNet-like and a U-Net-like fully convolutional net,
a net with an operator ONNX cannot translate, and one whose eval forward is
random. ``install_plugin`` registers them through a real ``zoo`` entry point,
so the CLI loads them from saved-model folders as it would any plugin's."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import write_distribution


class TinySR(nn.Module):
    """SRResNet's shape: head conv, residual blocks, a global skip, x2 pixel shuffle."""

    def __init__(self, channels: int = 3, width: int = 16, blocks: int = 2, **_: object):
        super().__init__()
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.ModuleList(nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.PReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width))
            for _ in range(blocks))
        self.up = nn.Sequential(nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2),
                                nn.PReLU())
        self.tail = nn.Conv2d(width, channels, 3, padding=1)
        self.pretrained_cfg = {"input_size": (channels, 24, 32), "mean": (0.0,) * channels,
                               "std": (1.0,) * channels, "interpolation": "bicubic"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        r = h
        for block in self.body:
            r = r + block(r)
        y = self.tail(self.up(h + r))
        return y + F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class TinyUNet(nn.Module):
    """U-Net's shape: two poolings down, transposed convolutions up, skip concats."""

    def __init__(self, in_chans: int = 1, classes: int = 2, width: int = 8, **_: object):
        super().__init__()

        def block(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1), nn.ReLU())

        w = width
        self.enc1, self.enc2, self.mid = block(in_chans, w), block(w, 2 * w), block(2 * w, 4 * w)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = block(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = block(2 * w, w)
        self.out = nn.Conv2d(w, classes, 1)
        self.pretrained_cfg = {"input_size": (in_chans, 64, 48), "mean": (0.5,) * in_chans,
                               "std": (0.25,) * in_chans, "interpolation": "bilinear"}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.enc1(x)
        b = self.enc2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        d = self.dec2(torch.cat([self.up2(m), b], 1))
        return self.out(self.dec1(torch.cat([self.up1(d), a], 1)))


_OP = None


def _weird_op() -> object:
    """A custom operator with no ONNX translation (registered once per process)."""
    global _OP
    if _OP is None:
        @torch.library.custom_op("zoo_export_test::odd_sin", mutates_args=())
        def odd_sin(x: torch.Tensor) -> torch.Tensor:
            return x.sin() * 2

        @odd_sin.register_fake
        def _(x: torch.Tensor) -> torch.Tensor:
            return torch.empty_like(x)

        _OP = odd_sin
    return _OP


class Odd(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _weird_op()(x)  # type: ignore[operator]


class OddNet(nn.Module):
    """A classifier whose block 'blocks.1' calls the untranslatable operator."""

    def __init__(self, num_classes: int = 4, **_: object):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(nn.ReLU(), Odd())
        self.head = nn.Linear(8, num_classes)
        self.num_classes = num_classes
        self.pretrained_cfg = {"input_size": (3, 16, 16)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


class NoisyNet(nn.Module):
    """A classifier with dropout forced on even in eval mode: its export is random
    at run time, so parity must fail."""

    def __init__(self, num_classes: int = 4, **_: object):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, num_classes)
        self.num_classes = num_classes
        self.pretrained_cfg = {"input_size": (3, 16, 16)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(self.stem(x).relu(), p=0.5, training=True)
        return self.head(h.mean((2, 3)))


PLUGIN = """
from zoo_core import hookimpl


@hookimpl
def register_backbones(register):
    from tests import _export_nets as n

    register("odd_net", n.OddNet, description="export test: untranslatable operator")
    register("noisy_net", n.NoisyNet, description="export test: random in eval")


@hookimpl
def register_sr_models(register):
    from tests import _export_nets as n

    register("tiny_sr", n.TinySR, description="export test: SRResNet-like")


@hookimpl
def register_segmentation_models(register):
    from tests import _export_nets as n

    register("tiny_unet", n.TinyUNet, description="export test: U-Net-like")
"""


def install_plugin(site: Path) -> None:
    """Write the test plugin as an installed distribution into ``site``."""
    write_distribution(site, "zoo-export-testnets", {"zoo_export_testnets": PLUGIN},
                       {"export_testnets": "zoo_export_testnets"})


def save(folder: Path, kind: str, name: str, model: nn.Module) -> Path:
    """A saved-model folder that rebuilds ``model`` through the registry."""
    from zoo_core.weights import save_model

    config: dict[str, object] = {"zoo": {"builder": {"kind": kind, "name": name}}}
    if kind == "backbone":
        config = {"architecture": name, "num_classes": getattr(model, "num_classes", None)}
    save_model(folder, model, config)
    return folder


class TinyCondGenerator(nn.Module):
    """A conditional DCGAN-like generator: latent vectors and class labels in,
    images out; it says what its inputs are through ``example_input``."""

    def __init__(self, nz: int = 16, classes: int = 3, **_: object):
        super().__init__()
        self.nz, self.classes = nz, classes
        self.embed = nn.Embedding(classes, nz)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 32, 4, 1, 0), nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh())

    def example_input(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(batch_size, self.nz, 1, 1),
                torch.randint(0, self.classes, (batch_size,)))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net(z * self.embed(labels)[:, :, None, None])
