"""U-Net over any registry backbone, and the original 2015 U-Net.

``UNet`` follows segmentation_models_pytorch's design (an encoder's feature
maps, a decoder block per scale that upsamples, concatenates the skip and
applies two 3x3 conv-norm-ReLU layers, a 3x3 segmentation head), written
here over zoo's registry. Every decoder block upsamples to the *actual* size
of its skip connection, so any input size works (97x131 included) and the
output always has the input's size.

Outputs are logits, ``num_classes`` channels: binary segmentation uses one
channel (sigmoid), multiclass C channels (softmax), multilabel C channels
(a sigmoid each); the losses and metrics take the mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo_core.errors import ZooError
from zoo_segmentation.encoders import build_encoder, example_batch
from zoo_segmentation.shapes import InputSizeError

DEFAULT_DECODER_CHANNELS = (256, 128, 64, 32, 16)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(32, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ZooError(f"decoder_norm must be 'batch', 'group' or 'none', got {kind!r}.")


class ConvNormReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str = "batch"):
        super().__init__(
            nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=norm == "none"),
            _norm(norm, cout),
            nn.ReLU(inplace=True),
        )


class DecoderBlock(nn.Module):
    """Upsample to the skip's size, concatenate it, two conv-norm-ReLU layers."""

    def __init__(self, cin: int, cskip: int, cout: int, norm: str, interpolation: str):
        super().__init__()
        self.interpolation = interpolation
        self.conv1 = ConvNormReLU(cin + cskip, cout, norm)
        self.conv2 = ConvNormReLU(cout, cout, norm)

    def forward(self, x: Tensor, size: tuple[int, int], skip: Tensor | None = None) -> Tensor:
        kw: dict[str, Any] = {} if self.interpolation == "nearest" else {"align_corners": False}
        x = F.interpolate(x, size=size, mode=self.interpolation, **kw)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


def decoder_plan(reductions: Sequence[int]) -> list[float]:
    """The reduction each decoder block upsamples to: the encoder's shallower stages
    (deepest first), then halvings down to the input's scale (reduction 1)."""
    order = list(reductions)
    targets: list[float] = [float(r) for r in reversed(order[:-1])]
    r = float(min(order))
    while r > 1:
        r = max(r / 2, 1.0)
        targets.append(r)
    return targets


def _ceil_div(size: Any, r: float) -> Any:
    """ceil(size / r), in integer arithmetic when ``r`` is whole (a symbolic size stays
    symbolic under torch.export)."""
    if float(r).is_integer():
        return -(-size // int(r))
    return math.ceil(size / r)


class UNet(nn.Module):
    """U-Net decoder over a ``features_only`` encoder; logits of the input's size."""

    def __init__(self, encoder: nn.Module, channels: Sequence[int], reductions: Sequence[int],
                 num_classes: int = 1, in_chans: int = 3,
                 decoder_channels: Sequence[int] | None = None, decoder_norm: str = "batch",
                 interpolation: str = "nearest"):
        super().__init__()
        if num_classes < 1:
            raise ZooError(f"num_classes must be at least 1 (1 for binary), got {num_classes}.")
        order = sorted(range(len(reductions)), key=lambda i: reductions[i])
        if order != list(range(len(reductions))):
            raise ZooError(f"Encoder stages must go from fine to coarse, got reductions "
                           f"{list(reductions)}.")
        self.encoder = encoder
        self.num_classes, self.in_chans = num_classes, in_chans
        self._channels_last = getattr(encoder, "output_fmt", "NCHW") == "NHWC"
        plan = decoder_plan(reductions)
        n = len(plan)
        if decoder_channels is None:
            decoder_channels = [max(16, 256 // 2 ** i) for i in range(n)]
        decoder_channels = [int(c) for c in decoder_channels]
        if len(decoder_channels) != n:
            raise ZooError(
                f"decoder_channels has {len(decoder_channels)} entries but this encoder needs "
                f"{n} decoder blocks (stage reductions {list(reductions)}); give {n} widths, "
                f"e.g. {[max(16, 256 // 2 ** i) for i in range(n)]}, or set encoder_depth."
            )
        skips = list(reversed(channels[:-1]))
        blocks = []
        cin = int(channels[-1])
        for i, cout in enumerate(decoder_channels):
            cskip = int(skips[i]) if i < len(skips) else 0
            blocks.append(DecoderBlock(cin, cskip, cout, decoder_norm, interpolation))
            cin = cout
        self.decoder = nn.ModuleList(blocks)
        self._plan = plan
        self.head = nn.Conv2d(cin, num_classes, kernel_size=3, padding=1)
        self.decoder_channels = tuple(decoder_channels)
        #: any input size works: blocks upsample to their skip's actual size
        self.required_multiple = 1
        self.pretrained_cfg: dict[str, Any] = {
            "input_size": (in_chans, 256, 256), "mean": (0.5,) * in_chans,
            "std": (0.5,) * in_chans, "interpolation": "bilinear", "crop_pct": 1.0,
            "num_classes": num_classes,
        }

    def forward(self, x: Tensor) -> Tensor:
        # sizes stay symbolic (no int()), so torch.export keeps height and width dynamic
        h, w = x.shape[-2], x.shape[-1]
        maps = list(self.encoder(x))
        if self._channels_last:
            maps = [m.permute(0, 3, 1, 2).contiguous() for m in maps]
        skips = list(reversed(maps[:-1]))
        y = maps[-1]
        for i, block in enumerate(self.decoder):
            if i < len(skips):
                skip: Tensor | None = skips[i]
                size = (skips[i].shape[-2], skips[i].shape[-1])
            else:
                skip = None
                r = self._plan[i]
                size = (h, w) if r <= 1 else (_ceil_div(h, r), _ceil_div(w, r))
            y = block(y, size, skip)
        return self.head(y)

    def example_input(self, batch_size: int) -> Tensor:
        """A random batch of the model's nominal input size, for ``zoo bench``."""
        return example_batch(self.in_chans, self.pretrained_cfg["input_size"], batch_size)


def build_unet(encoder: str = "resnet34", encoder_weights: str = "none", in_chans: int = 3,
               num_classes: int = 1, decoder_channels: Sequence[int] | None = None,
               encoder_depth: int | None = None, decoder_norm: str = "batch",
               interpolation: str = "nearest", image_size: int | Sequence[int] = 256,
               encoder_cfg: dict[str, Any] | None = None) -> UNet:
    """U-Net over registry backbone ``encoder``.

    ``encoder_weights``: "none" (random), "default", a tag or a URI; the stem is
    adapted to ``in_chans`` (RGB weights summed for one channel). ``image_size``
    is only the nominal size ``zoo bench`` uses; any size works.
    """
    enc = build_encoder(encoder, weights=encoder_weights, in_chans=in_chans,
                        depth=encoder_depth, **dict(encoder_cfg or {}))
    model = UNet(enc.module, enc.channels, enc.reductions, num_classes=num_classes,
                 in_chans=in_chans, decoder_channels=decoder_channels,
                 decoder_norm=decoder_norm, interpolation=interpolation)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    model.pretrained_cfg.update(
        input_size=(in_chans, int(size[0]), int(size[-1])),
        mean=enc.data_config["mean"], std=enc.data_config["std"])
    #: the encoder weights' lock entries (URI, revision, sha256) for the run's lock file
    model.encoder_lock = enc.lock  # type: ignore[assignment]
    #: the factory's cfg for rebuilding this model before loading its own saved weights
    #: (encoder weights "none": a saved model must not download its encoder's again)
    model.rebuild_cfg = {  # type: ignore[assignment]
        "encoder": encoder, "encoder_weights": "none", "in_chans": in_chans,
        "num_classes": num_classes, "decoder_channels": list(model.decoder_channels),
        "encoder_depth": encoder_depth, "decoder_norm": decoder_norm,
        "interpolation": interpolation, "image_size": list(size),
        "encoder_cfg": dict(encoder_cfg or {}),
    }
    return model


# -- the original U-Net ----------------------------------------------------------------

class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions with ReLU; padded (the paper's were not), so sizes keep."""

    def __init__(self, cin: int, cout: int, batch_norm: bool):
        layers: list[nn.Module] = []
        for a, b in ((cin, cout), (cout, cout)):
            layers.append(nn.Conv2d(a, b, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNetClassic(nn.Module):
    """The U-Net of Ronneberger, Fischer and Brox (MICCAI 2015), no pretrained encoder.

    Four 2x2 max-pool downsamplings doubling the width from 64 to 1024, 2x2
    up-convolutions halving it, skip concatenation, a 1x1 head with two
    classes, dropout at the end of the contracting path and He-normal
    initialisation, as in the paper. One deliberate change: the 3x3
    convolutions are padded, so the output has the input's size (the paper's
    valid convolutions turn a 572x572 tile into a 388x388 map and crop the
    skips); an odd size is handled by padding the upsampled map to its skip.
    """

    def __init__(self, in_chans: int = 1, num_classes: int = 2, base: int = 64, depth: int = 4,
                 dropout: float = 0.5, batch_norm: bool = False,
                 image_size: int | Sequence[int] = 512):
        super().__init__()
        self.in_chans, self.num_classes, self.depth = in_chans, num_classes, depth
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([DoubleConv(in_chans, widths[0], batch_norm)])
        for i in range(1, depth + 1):
            self.down.append(DoubleConv(widths[i - 1], widths[i], batch_norm))
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.upconv = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in range(depth, 0, -1):
            self.upconv.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 2, stride=2))
            self.up.append(DoubleConv(widths[i], widths[i - 1], batch_norm))
        self.head = nn.Conv2d(widths[0], num_classes, kernel_size=1)
        self.required_multiple = 1
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.pretrained_cfg: dict[str, Any] = {
            "input_size": (in_chans, int(size[0]), int(size[-1])), "mean": (0.5,) * in_chans,
            "std": (0.5,) * in_chans, "interpolation": "bilinear", "crop_pct": 1.0,
            "num_classes": num_classes,
        }
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                # the paper: Gaussian with std sqrt(2 / N), N the inputs of one neuron
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        smallest = 2 ** self.depth
        if h < smallest or w < smallest:
            raise InputSizeError(f"unet_classic with depth {self.depth} needs inputs of at "
                                 f"least {smallest}x{smallest}, got {h}x{w}.")
        skips = []
        y = x
        for i, block in enumerate(self.down):
            if i:
                y = self.pool(y)
            y = block(y)
            skips.append(y)
        y = self.dropout(skips.pop())
        for upconv, block in zip(self.upconv, self.up, strict=True):
            skip = skips.pop()
            y = upconv(y)
            dh, dw = skip.shape[-2] - y.shape[-2], skip.shape[-1] - y.shape[-1]
            if dh or dw:  # odd sizes: pooling floored, so the upsampled map is short by 1
                y = F.pad(y, (0, dw, 0, dh))
            y = block(torch.cat([skip, y], dim=1))
        return self.head(y)

    def example_input(self, batch_size: int) -> Tensor:
        return example_batch(self.in_chans, self.pretrained_cfg["input_size"], batch_size)
