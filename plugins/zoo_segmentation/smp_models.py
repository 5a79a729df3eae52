"""segmentation_models_pytorch's architectures over zoo's timm backbones.

smp builds any timm model as an encoder through its ``tu-<name>`` universal
encoder. zoo asks smp for the architecture with ``encoder_weights=None`` (smp
never downloads) and then loads the encoder's pretrained weights, when asked,
through zoo's own weights code (Hub/URL/local, verified, recorded in the
lock) into smp's ``features_only`` encoder.

Works for registry backbones that are timm architectures whose stages have
reductions (2, 4, 8, 16, 32) (ResNets, EfficientNets, MobileNets, RegNets...),
(4, 8, 16, 32) (ConvNeXt and other hierarchical models that start at 1/4) or
(1, 2, ..., 32) (VGG); smp rejects other layouts, and zoo's classic backbones
(alexnet, squeezenet, googlenet, lenet5) are not timm models: use ``unet``
for those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from zoo_core.errors import ZooError
from zoo_segmentation.encoders import channel_stats, example_batch, wants_weights
from zoo_segmentation.shapes import check_divisible


def _timm_arch(encoder: str) -> tuple[str, str | None]:
    """(timm architecture, tag) of a registry backbone name, or a ZooError."""
    import timm

    from zoo_core.plugins import registry

    resolved = registry().get("backbone", encoder)
    arch = resolved.component.name
    if not timm.is_model(arch):
        raise ZooError(
            f"Encoder {encoder!r} is not a timm architecture, and smp's architectures take "
            "timm encoders only. Use the 'unet' segmentation model for it (any registry "
            "backbone), or pick a timm backbone such as resnet34 or efficientnet_b0."
        )
    return arch, resolved.tag


class SMPSegmentation(nn.Module):
    """An smp model, with zoo's attributes: ``num_classes``, ``in_chans``,
    ``pretrained_cfg``, ``required_multiple`` and ``example_input``."""

    def __init__(self, net: nn.Module, arch: str, num_classes: int, in_chans: int,
                 image_size: Sequence[int]):
        super().__init__()
        self.net = net
        self.arch = arch
        self.num_classes, self.in_chans = num_classes, in_chans
        divisible = bool(getattr(net, "requires_divisible_input_shape", True))
        stride = int(getattr(getattr(net, "encoder", None), "output_stride", 32))
        #: height and width must be multiples of this (1: any size)
        self.required_multiple = stride if divisible else 1
        self.pretrained_cfg: dict[str, Any] = {
            "input_size": (in_chans, int(image_size[0]), int(image_size[-1])),
            "mean": (0.5,) * in_chans, "std": (0.5,) * in_chans,
            "interpolation": "bilinear", "crop_pct": 1.0, "num_classes": num_classes,
        }

    def forward(self, x: Tensor) -> Tensor:
        check_divisible(x, self.required_multiple, self.arch)
        return self.net(x)

    def example_input(self, batch_size: int) -> Tensor:
        return example_batch(self.in_chans, self.pretrained_cfg["input_size"], batch_size)


def build_smp(arch: str, encoder: str = "resnet34", encoder_weights: str = "none",
              in_chans: int = 3, num_classes: int = 1, image_size: int | Sequence[int] = 256,
              **kwargs: Any) -> SMPSegmentation:
    """smp architecture ``arch`` (e.g. "FPN") over registry backbone ``encoder``.

    ``kwargs`` go to the smp class (``encoder_depth``, ``decoder_channels``,
    ``encoder_output_stride`` ...); ``encoder_weights`` as for any backbone:
    "none", "default", a tag or a URI.
    """
    import segmentation_models_pytorch as smp

    timm_name, _ = _timm_arch(encoder)
    cls = getattr(smp, arch)
    for key in ("encoder_name", "encoder_weights", "in_channels", "classes"):
        if key in kwargs:
            raise ZooError(f"cfg key {key!r} is set by zoo for smp models; use encoder, "
                           "encoder_weights, in_chans and num_classes.")
    try:
        net = cls(encoder_name=f"tu-{timm_name}", encoder_weights=None, in_channels=in_chans,
                  classes=num_classes, **kwargs)
    except (ValueError, TypeError, KeyError, AssertionError, RuntimeError) as exc:
        raise ZooError(
            f"smp's {arch} cannot be built over encoder {encoder!r} ({type(exc).__name__}: "
            f"{exc}). smp takes timm encoders whose stages have reductions 2..32, 4..32 "
            "or 1..32; try resnet34, efficientnet_b0 or convnext_tiny, or use 'unet'."
        ) from None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    model = SMPSegmentation(net, arch, num_classes, in_chans, size)
    mean: Sequence[float] = (0.485, 0.456, 0.406)
    std: Sequence[float] = (0.229, 0.224, 0.225)
    model.encoder_lock = []  # type: ignore[assignment]
    if wants_weights(encoder_weights):
        from zoo_core.weights import create_model, load_weights

        loaded = create_model("backbone", encoder, weights=encoder_weights, num_classes=0,
                              in_chans=in_chans)
        source = loaded.lock[-1]["uri"] if loaded.lock else str(encoder_weights)
        # the core maps the full backbone's names onto smp's features_only encoder
        load_weights(net.encoder.model, loaded.model.state_dict(), source=source,
                     features_only=True)
        mean, std = loaded.data_config["mean"], loaded.data_config["std"]
        model.encoder_lock = list(loaded.lock)  # type: ignore[assignment]
    model.pretrained_cfg.update(mean=channel_stats(mean, in_chans),
                                std=channel_stats(std, in_chans))
    #: the factory's cfg for rebuilding before loading saved weights (no encoder download)
    model.rebuild_cfg = {"encoder": encoder, "encoder_weights": "none",  # type: ignore[assignment]
                         "in_chans": in_chans, "num_classes": num_classes,
                         "image_size": list(size), **kwargs}
    return model
