"""SR losses: pixel (L1/MSE) and perceptual (feature distance in a frozen network).

The perceptual loss is BasicSR's ``PerceptualLoss`` by default: VGG19
``conv5_4`` before its ReLU, ImageNet normalisation of [0, 1] inputs, L1
between the features of the output and of the (detached) target. The network
is cfg: a torchvision-layout VGG (``vgg11/13/16/19``, BasicSR's layer names
``conv1_1``, ``relu1_1``, ``pool1``...) whose weights come through the loss's
own weight tag (torchvision's published VGG19 file), or any registry backbone
through its ``features_only`` stages (``network = "resnet18"``,
``layer = 2``), with that backbone's weights and normalisation.

Adversarial losses (vanilla, lsgan, hinge) are the GAN plugin's registered
losses, e.g. ``registry().get("loss", "gan_vanilla").component.create()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from zoo_core.errors import WeightsError, ZooError, suggestion

__all__ = ["pixel_loss", "PerceptualLoss", "vgg_layer_names", "VGG_CFGS", "IMAGENET_MEAN",
           "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's VGG configurations (channels, "M" = max-pool); the layer indices of
# its ``features`` Sequential, and so of its state dicts, follow from these.
VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}

_CRITERIA = {"l1": nn.L1Loss, "mse": nn.MSELoss, "l2": nn.MSELoss}


def pixel_loss(criterion: str = "l1") -> nn.Module:
    """BasicSR's pixel loss: ``nn.L1Loss`` or ``nn.MSELoss`` (mean reduction)."""
    try:
        return _CRITERIA[criterion.lower()]()
    except KeyError:
        raise ZooError(f"The pixel loss criterion is l1 or mse, not {criterion!r}."
                       f"{suggestion(criterion, list(_CRITERIA))}") from None


def vgg_layer_names(network: str) -> list[str]:
    """BasicSR's names of the modules of torchvision's VGG ``features``, in order:
    conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..."""
    names: list[str] = []
    block, conv = 1, 1
    for item in VGG_CFGS[network]:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def _layer_weights(layer: Any, layer_weights: Mapping[Any, float] | None) -> dict[str, float]:
    if layer_weights:
        return {str(k): float(v) for k, v in layer_weights.items()}
    layers = layer if isinstance(layer, (list, tuple)) else [layer]
    return {str(k): 1.0 for k in layers}


class PerceptualLoss(nn.Module):
    """Distance between the features of ``sr`` and ``hr`` in a frozen network.

    ``layer`` names one tap (``"conv5_4"``: before ReLU, as ESRGAN/BasicSR;
    ``"relu5_4"``: after), or give ``layer_weights = {"conv3_4": 0.5, ...}``
    for a weighted sum. For a registry backbone, taps are its
    ``features_only`` stage indices. ``criterion`` is ``l1`` or ``mse``.
    """

    def __init__(self, network: str = "vgg19", layer: Any = "conv5_4",
                 layer_weights: Mapping[Any, float] | None = None, criterion: str = "l1",
                 normalize: bool = True, range_norm: bool = False,
                 backbone_weights: str = "none"):
        super().__init__()
        self.network = network
        self.layer_weights = _layer_weights(layer, layer_weights)
        self.criterion = pixel_loss(criterion)
        self.range_norm = bool(range_norm)
        self.is_vgg = network in VGG_CFGS
        self.lock: list[dict[str, Any]] = []  # weight files a backbone network was read from
        if self.is_vgg:
            mean, std = self._build_vgg(network)
        else:
            mean, std = self._build_backbone(network, backbone_weights)
        self.normalize = bool(normalize)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    # -- building -------------------------------------------------------------------

    def _build_vgg(self, network: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        from torchvision.models.vgg import make_layers

        names = vgg_layer_names(network)
        unknown = [k for k in self.layer_weights if k not in names]
        if unknown:
            raise ZooError(
                f"The perceptual loss's {network} has no layer {unknown[0]!r}."
                f"{suggestion(unknown[0], names)} Its layers are {', '.join(names)}."
            )
        last = max(names.index(k) for k in self.layer_weights)
        # torchvision's own layer builder, so the indices match its checkpoints
        features = make_layers(VGG_CFGS[network], batch_norm=False)[: last + 1]
        for m in features:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # a tapped conv output must survive the next ReLU
        self.features = features
        self.taps = {names.index(k): k for k in self.layer_weights}
        return IMAGENET_MEAN, IMAGENET_STD

    def _build_backbone(self, network: str,
                        weights: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        from zoo_core.weights import create_model

        try:
            stages = sorted({int(k) for k in self.layer_weights})
        except ValueError:
            raise ZooError(
                f"For a registry backbone ({network!r}) the perceptual loss taps feature stages "
                f"by index (layer = 2, or layer_weights = {{'1': 0.5, '3': 1.0}}), not "
                f"{list(self.layer_weights)}."
            ) from None
        loaded = create_model("backbone", network, weights=weights, features_only=True,
                              out_indices=tuple(stages))
        self.features = loaded.model
        self.stages = stages
        self.lock = list(loaded.lock)
        cfg = loaded.data_config
        return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))

    def train(self, mode: bool = True) -> PerceptualLoss:
        # the feature network stays in eval mode (frozen statistics, no dropout)
        return super().train(False)

    # -- weights --------------------------------------------------------------------

    def checkpoint_filter(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Keep what the truncated VGG uses from a torchvision VGG checkpoint
        (``features.N.*``); its classifier and deeper layers are dropped."""
        if not self.is_vgg:
            raise WeightsError(
                f"The perceptual loss's own weights are torchvision VGG files; for "
                f"network={self.network!r} give the backbone's weights as "
                "cfg.backbone_weights and leave the loss's weights at 'none'."
            )
        keep = {}
        for key, value in state.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "features" and parts[1].isdigit():
                if int(parts[1]) < len(self.features):
                    keep[key] = value
        if not keep:
            raise WeightsError(
                "These weights hold no torchvision VGG 'features.N' tensors, so they cannot "
                f"be the perceptual loss's {self.network}."
            )
        return keep

    # -- forward --------------------------------------------------------------------

    def _features(self, x: Tensor) -> dict[str, Tensor]:
        if self.range_norm:
            x = (x + 1.0) / 2.0
        if self.normalize:
            x = (x - self.mean) / self.std
        if self.is_vgg:
            out: dict[str, Tensor] = {}
            for i, module in enumerate(self.features):
                x = module(x)
                if i in self.taps:
                    out[self.taps[i]] = x
            return out
        feats = self.features(x)
        return {str(stage): f for stage, f in zip(self.stages, feats, strict=True)}

    def features_of(self, x: Tensor) -> dict[str, Tensor]:
        """The tapped activations of ``x`` (after normalisation), by layer name."""
        return self._features(x)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        fa = self._features(sr)
        with torch.no_grad():
            fb = self._features(hr.detach())
        total = sr.new_zeros(())
        for name, weight in self.layer_weights.items():
            total = total + weight * self.criterion(fa[name], fb[name])
        return total
