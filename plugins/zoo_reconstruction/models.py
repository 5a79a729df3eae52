"""Autoencoders: a convolutional one, or any registry backbone with a light decoder.

Both map images in [0, 1] to reconstructions in [0, 1] (a sigmoid output by
default). The encoder's input normalisation (its ``pretrained_cfg`` mean and
std) happens inside the autoencoder, so its data pipeline feeds plain [0, 1]
images - what the noise functions corrupt - while the encoder sees exactly
what it would see in a classification recipe, which makes it transferable
(:mod:`zoo_reconstruction.transfer`).

``ConvEncoder`` is registered as the backbone ``conv_encoder`` with timm's
interface (``num_features``, ``forward_features``, ``forward_head``,
``feature_info``, ``reset_classifier``, ``pretrained_cfg``, ``features_only``),
so an encoder trained inside ``conv_autoencoder`` loads into it like any
other backbone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo_core.errors import ZooError


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    return int(image_size[0]), int(image_size[-1])


class ConvEncoder(nn.Module):
    """Stride-2 conv stages then a 1x1 convolution to ``latent_channels`` (the latent map).

    A backbone with timm's interface: ``forward_features`` gives the latent map,
    ``forward_head`` pools it (global average) and applies the classifier
    (none when ``num_classes`` is 0). ``features_only=True`` returns the stage
    maps and the latent map as a list (keys unchanged).
    """

    def __init__(self, in_chans: int = 3, widths: Sequence[int] = (32, 64, 128),
                 latent_channels: int = 64, num_classes: int = 0, drop_rate: float = 0.0,
                 image_size: int | Sequence[int] = 64, features_only: bool = False,
                 out_indices: Sequence[int] | None = None):
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths:
            raise ZooError("conv_encoder needs at least one stage width.")
        self.in_chans, self.widths, self.latent_channels = in_chans, widths, latent_channels
        stages = []
        cin = in_chans
        for w in widths:
            stages.append(nn.Sequential(*_conv_bn_relu(cin, w, stride=2), *_conv_bn_relu(w, w)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.latent = nn.Conv2d(cin, latent_channels, kernel_size=1)
        self.num_features = latent_channels
        self.reduction = 2 ** len(widths)
        info = [{"module": f"stages.{i}", "num_chs": w, "reduction": 2 ** (i + 1)}
                for i, w in enumerate(widths)]
        info.append({"module": "latent", "num_chs": latent_channels, "reduction": self.reduction})
        self.features_only = features_only
        if features_only:
            n = len(info)
            idx = list(range(n)) if out_indices is None else [int(i) % n for i in out_indices]
            self._out = idx
            self.feature_info = [info[i] for i in idx]
        else:
            self.feature_info = info
        h, w = _size(image_size)
        self.pretrained_cfg: dict[str, Any] = {
            "input_size": (in_chans, h, w), "mean": (0.5,) * in_chans, "std": (0.5,) * in_chans,
            "interpolation": "bilinear", "crop_pct": 1.0, "num_classes": num_classes,
            "first_conv": "stages.0.0", "classifier": "head",
        }
        self.num_classes = num_classes
        self.drop = nn.Dropout(drop_rate)
        if not features_only:
            self.head: nn.Module = (nn.Linear(latent_channels, num_classes) if num_classes
                                    else nn.Identity())

    @property
    def default_cfg(self) -> dict[str, Any]:
        return self.pretrained_cfg

    def forward_features(self, x: Tensor) -> Tensor:
        for stage in self.stages:
            x = stage(x)
        return self.latent(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(x.mean(dim=(2, 3)))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:  # type: ignore[override]
        if not self.features_only:
            return self.forward_head(self.forward_features(x))
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        maps.append(self.latent(x))
        return [maps[i] for i in self._out]

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.pretrained_cfg["num_classes"] = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: 1x1 conv, stride-2 transposed convolutions
    sized to the encoder's stage sizes (so odd input sizes come back exactly), 3x3 out."""

    def __init__(self, out_chans: int, widths: Sequence[int], latent_channels: int):
        super().__init__()
        widths = [int(w) for w in widths]
        self.inp = nn.Sequential(nn.Conv2d(latent_channels, widths[-1], 1),
                                 nn.BatchNorm2d(widths[-1]), nn.ReLU(inplace=True))
        ups, convs = [], []
        for i in range(len(widths) - 1, -1, -1):
            cout = widths[i - 1] if i > 0 else widths[0]
            ups.append(nn.ConvTranspose2d(widths[i], cout, 3, stride=2, padding=1, bias=False))
            convs.append(nn.Sequential(nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                       *_conv_bn_relu(cout, cout)))
        self.ups, self.convs = nn.ModuleList(ups), nn.ModuleList(convs)
        self.out = nn.Conv2d(widths[0], out_chans, 3, padding=1)

    def forward(self, z: Tensor, size: tuple[int, int]) -> Tensor:
        n = len(self.ups)
        h, w = size
        # a stride-2, padding-1, kernel-3 conv maps n pixels to ceil(n / 2)
        sizes = [(math.ceil(h / 2 ** k), math.ceil(w / 2 ** k)) for k in range(n - 1, -1, -1)]
        x = self.inp(z)
        for up, conv, s in zip(self.ups, self.convs, sizes, strict=True):
            x = conv(up(x, output_size=list(s)))
        return self.out(x)


class LightDecoder(nn.Module):
    """Upsample x2 + conv-BN-ReLU per halving of the encoder's reduction, then 3x3 out."""

    def __init__(self, out_chans: int, latent_channels: int, reduction: int, width: int = 256):
        super().__init__()
        steps = max(0, round(math.log2(max(1, reduction))))
        blocks, cin = [], latent_channels
        for i in range(steps):
            cout = max(16, width // 2 ** i)
            blocks.append(nn.Sequential(*_conv_bn_relu(cin, cout)))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Conv2d(cin, out_chans, 3, padding=1)

    def forward(self, z: Tensor, size: tuple[int, int]) -> Tensor:
        n = len(self.blocks)
        h, w = size
        x = z
        for k, block in enumerate(self.blocks):
            r = 2 ** (n - 1 - k)
            x = F.interpolate(x, size=(math.ceil(h / r), math.ceil(w / r)), mode="nearest")
            x = block(x)
        if tuple(x.shape[-2:]) != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return self.out(x)


class Autoencoder(nn.Module):
    """``decoder(encoder.forward_features(normalise(x)))`` with a sigmoid (or no) output.

    ``encoder_name``/``encoder_cfg`` name the registry backbone the encoder is, so
    :func:`zoo_reconstruction.transfer.export_encoder` can save it as one.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, encoder_name: str,
                 encoder_cfg: dict[str, Any], in_chans: int,
                 image_size: int | Sequence[int] = 64, output: str = "sigmoid"):
        super().__init__()
        if output not in ("sigmoid", "none"):
            raise ZooError(f"output must be 'sigmoid' or 'none', got {output!r}.")
        self.encoder, self.decoder = encoder, decoder
        self.encoder_name, self.encoder_cfg = encoder_name, dict(encoder_cfg)
        self.in_chans, self.output = in_chans, output
        cfg = getattr(encoder, "pretrained_cfg", None) or {}
        mean = list(cfg.get("mean", (0.0,) * in_chans))
        std = list(cfg.get("std", (1.0,) * in_chans))
        if len(mean) != in_chans:  # an RGB config on a grey encoder
            mean, std = [sum(mean) / len(mean)] * in_chans, [sum(std) / len(std)] * in_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        h, w = _size(image_size)
        # inputs are plain [0, 1] images: the encoder's normalisation happens inside
        self.pretrained_cfg: dict[str, Any] = {
            "input_size": (in_chans, h, w), "mean": (0.0,) * in_chans, "std": (1.0,) * in_chans,
            "interpolation": "bilinear", "crop_pct": 1.0,
        }

    def encode(self, x: Tensor) -> Tensor:
        """The latent map of images ``x`` in [0, 1]."""
        return self.encoder.forward_features((x - self.mean) / self.std)  # type: ignore[operator]

    def decode(self, z: Tensor, size: tuple[int, int]) -> Tensor:
        y = self.decoder(z, size)
        return torch.sigmoid(y) if self.output == "sigmoid" else y

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x), (int(x.shape[-2]), int(x.shape[-1])))

    def example_input(self, batch_size: int) -> Tensor:
        _, h, w = self.pretrained_cfg["input_size"]
        return torch.rand(batch_size, self.in_chans, h, w)


def conv_autoencoder(in_chans: int = 3, widths: Sequence[int] = (32, 64, 128),
                     latent_channels: int = 64, image_size: int | Sequence[int] = 64,
                     output: str = "sigmoid") -> Autoencoder:
    """A convolutional autoencoder; its encoder is the ``conv_encoder`` backbone."""
    enc_cfg: dict[str, Any] = {
        "in_chans": in_chans, "widths": [int(w) for w in widths],
        "latent_channels": latent_channels, "image_size": list(_size(image_size)),
    }
    encoder = ConvEncoder(**enc_cfg)
    decoder = ConvDecoder(in_chans, widths, latent_channels)
    return Autoencoder(encoder, decoder, encoder_name="conv_encoder", encoder_cfg=enc_cfg,
                       in_chans=in_chans, image_size=image_size, output=output)


def _latent_layout(encoder: nn.Module, in_chans: int, size: tuple[int, int],
                   name: str) -> tuple[int, int]:
    """(channels, reduction) of ``forward_features``, from one dry run at ``size``."""
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            out = encoder.forward_features(torch.zeros(1, in_chans, *size))  # type: ignore[operator]
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise ZooError(f"Backbone {name!r} cannot encode a {size[0]}x{size[1]} image "
                       f"({type(exc).__name__}: {exc}); change image_size or the "
                       "encoder.") from None
    finally:
        encoder.train(was_training)
    if out.ndim != 4:
        raise ZooError(f"Backbone {name!r} gives {out.ndim}-d features, not a (N, C, H, W) map; "
                       "pick a convolutional backbone for an autoencoder.")
    info: Any = getattr(encoder, "feature_info", None)
    reduction = None
    if isinstance(info, list) and info and isinstance(info[-1], dict):
        reduction = int(info[-1].get("reduction", 0)) or None
    if reduction is None:
        reduction = max(1, round(size[-1] / int(out.shape[-1])))
    return int(out.shape[1]), reduction


def backbone_autoencoder(encoder: str = "resnet18", encoder_weights: str = "none",
                         in_chans: int = 3, decoder_width: int = 256,
                         image_size: int | Sequence[int] = 224, output: str = "sigmoid",
                         encoder_cfg: dict[str, Any] | None = None) -> Autoencoder:
    """Any registry backbone (``forward_features``, its last stage) with a light decoder.

    ``encoder_weights``: "none", "default", a tag or a URI; loaded through
    :func:`zoo_core.weights.create_model` (``num_classes=0``: no classifier).
    """
    from zoo_core.weights import create_model

    cfg = {"in_chans": in_chans, **dict(encoder_cfg or {})}
    loaded = create_model("backbone", encoder, weights=encoder_weights, num_classes=0, **cfg)
    body = loaded.model
    channels, reduction = _latent_layout(body, in_chans, _size(image_size), encoder)
    decoder = LightDecoder(in_chans, channels, reduction, decoder_width)
    model = Autoencoder(body, decoder, encoder_name=encoder, encoder_cfg=cfg, in_chans=in_chans,
                        image_size=image_size, output=output)
    model.encoder_lock = list(loaded.lock)  # type: ignore[assignment]
    return model
