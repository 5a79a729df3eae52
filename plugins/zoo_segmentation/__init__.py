"""Built-in plugin: segmentation models, losses and metrics.

* models (kind ``segmentation``): ``unet`` over any registry backbone,
  ``unet_classic`` (Ronneberger et al., 2015) and segmentation_models_pytorch's
  architectures (``unetplusplus``, ``fpn``, ``deeplabv3plus`` ...) over timm backbones;
* losses (kind ``loss``): smp's Dice, Jaccard, Focal, Lovasz, Tversky, soft BCE/CE;
* metrics (kind ``metric``): IoU, Dice, pixel accuracy;
* the task ``segmentation`` (kind ``task``) and the data sets ``segfolder`` (image
  and mask folders) and ``oxford_pets_seg`` (Oxford-IIIT Pet trimaps, torchvision).

Import-light like every plugin: torch and smp are imported by the factories.
"""

from __future__ import annotations

from typing import Any

from zoo_core import hookimpl
from zoo_core.hookspecs import Register

_UNET_CFG = {"encoder": "resnet34", "encoder_weights": "none", "in_chans": 3, "num_classes": 1,
             "decoder_channels": None, "encoder_depth": None, "decoder_norm": "batch",
             "interpolation": "nearest", "image_size": 256}
_CLASSIC_CFG = {"in_chans": 1, "num_classes": 2, "base": 64, "depth": 4, "dropout": 0.5,
                "batch_norm": False, "image_size": 512}
_SMP_CFG = {"encoder": "resnet34", "encoder_weights": "none", "in_chans": 3, "num_classes": 1,
            "image_size": 256}


def _unet(**cfg: Any) -> Any:
    from zoo_segmentation.unet import build_unet

    return build_unet(**cfg)


def _unet_classic(**cfg: Any) -> Any:
    from zoo_segmentation.unet import UNetClassic

    return UNetClassic(**cfg)


def _smp(arch: str) -> Any:
    def build(**cfg: Any) -> Any:
        from zoo_segmentation.smp_models import build_smp

        return build_smp(arch, **cfg)

    build.__name__ = f"build_smp_{arch}"
    return build


def _loss(name: str) -> Any:
    def build(mode: str = "binary", ignore_index: int | None = None, **options: Any) -> Any:
        from zoo_segmentation.losses import SegLoss

        return SegLoss(name, mode, ignore_index, **options)

    build.__name__ = f"build_{name}_loss"
    return build


def _metric(metric: str) -> Any:
    def build(mode: str = "binary", num_classes: int = 1, **cfg: Any) -> Any:
        from zoo_segmentation.metrics import SegmentationMeter

        return SegmentationMeter(mode, num_classes, **cfg)

    build.__name__ = f"build_{metric}_meter"
    return build


def _task(**cfg: Any) -> Any:
    from zoo_segmentation.task import SegmentationTask

    return SegmentationTask(**cfg)


def _segfolder(root: str | None = None, download: bool = True) -> Any:
    from zoo_segmentation.data import segfolder

    return segfolder(root=root, download=download)


def _segfolder_check(recipe: Any) -> list[tuple[str, str, str]]:
    if not recipe.data.root:
        return [("error", "data.root", "dataset 'segfolder' needs data.root: a folder with "
                 "image/ and label/ (masks named like their images)")]
    return []


_segfolder.downloads = False  # type: ignore[attr-defined]
_segfolder.check_recipe = _segfolder_check  # type: ignore[attr-defined]


def _pets(root: str | None = None, download: bool = True) -> Any:
    from zoo_segmentation.pets import oxford_pets_seg

    return oxford_pets_seg(root=root, download=download)


_pets.downloads = True  # type: ignore[attr-defined]


@hookimpl
def register_tasks(register: Register) -> None:
    register("segmentation", _task,
             description="Semantic segmentation: binary/multiclass/multilabel masks, value "
                         "maps, weighted smp losses, joint augmentation, tiled inference; "
                         "IoU/Dice per class, overlays")


@hookimpl
def register_datasets(register: Register) -> None:
    register("segfolder", _segfolder,
             description="root/image/ + root/label/ (masks by file name), or train/ val/ "
                         "test/ laid out so; mask values mapped by task.values")
    register("oxford_pets_seg", _pets,
             description="Oxford-IIIT Pet trimaps (1 pet, 2 background, 3 border; "
                         "torchvision; downloads when online)")


@hookimpl
def register_segmentation_models(register: Register) -> None:
    register("unet", _unet, default_cfg=_UNET_CFG,
             description="U-Net decoder over any registry backbone's features_only stages; "
                         "any input size")
    register("unet_classic", _unet_classic, default_cfg=_CLASSIC_CFG,
             description="The original U-Net (Ronneberger et al., 2015), padded convolutions")
    from zoo_segmentation.names import ARCHITECTURES

    for name, (arch, desc) in ARCHITECTURES.items():
        register(name, _smp(arch), default_cfg=_SMP_CFG,
                 description=f"{desc}; segmentation_models_pytorch over a timm encoder")


@hookimpl
def register_losses(register: Register) -> None:
    from zoo_segmentation.names import LOSSES

    for short, (_, registered, desc) in LOSSES.items():
        register(registered, _loss(short), default_cfg={"mode": "binary"},
                 description=f"{desc} (segmentation_models_pytorch); (logits, mask)")


@hookimpl
def register_metrics(register: Register) -> None:
    register("iou", _metric("iou"), description="Intersection over union per class, micro and "
             "macro averages (segmentation; equals smp.metrics.iou_score)")
    register("dice", _metric("dice"), description="Dice / F1 per class, micro and macro "
             "averages (segmentation; equals smp.metrics.f1_score)")
    register("pixel_accuracy", _metric("pixel_accuracy"),
             description="Fraction of (non-ignored) pixels classified right (segmentation)")
