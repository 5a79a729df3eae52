"""Built-in plugin: the classification task, its data sets and its metrics.

Shaped exactly like a third-party plugin: registered under the ``zoo``
entry-point group, and import-light (torch is imported by the factories).
"""

from __future__ import annotations

from typing import Any

from zoo_core import hookimpl
from zoo_core.hookspecs import Register


def _task(**cfg: Any) -> Any:
    from zoo_classification.task import ClassificationTask

    return ClassificationTask(**cfg)


# Whether a data set can fetch itself decides if a missing data.root is a
# download warning (torchvision's sets) or an error (local folders, digits).
_DOWNLOADS = {"imagefolder": False, "digits": False, "flowers102": True, "cifar10": True,
              "oxford_pets": True}


def _dataset(name: str, check: Any = None) -> Any:
    def build(**cfg: Any) -> Any:
        from zoo_classification import datasets

        return getattr(datasets, name)(**cfg)

    build.__name__ = f"build_{name}"
    build.downloads = _DOWNLOADS[name]  # type: ignore[attr-defined]
    if check is not None:
        build.check_recipe = check  # type: ignore[attr-defined]
    return build


def _check_imagefolder(recipe: Any) -> Any:
    from zoo_classification.datasets import check_imagefolder

    return check_imagefolder(recipe)


def _metric(name: str) -> Any:
    def build(**cfg: Any) -> Any:
        import functools

        from zoo_classification import metrics

        fn = getattr(metrics, name)
        return functools.partial(fn, **cfg) if cfg else fn

    build.__name__ = f"build_{name}"
    return build


@hookimpl
def register_tasks(register: Register) -> None:
    register("classification", _task,
             description="Image classification: cross-entropy; top-k, per-class accuracy, F1, "
                         "confusion matrix; feature_extract/fine_tune/partial/scratch")


@hookimpl
def register_datasets(register: Register) -> None:
    register("imagefolder", _dataset("imagefolder", _check_imagefolder),
             description="root/<class>/<images> or root/{train,val,test}/<class>/<images>")
    register("digits", _dataset("digits"),
             description="scikit-learn's 1,797 handwritten 8x8 digits; offline")
    register("flowers102", _dataset("flowers102"),
             description="Oxford 102 Category Flowers (torchvision; downloads when online)")
    register("cifar10", _dataset("cifar10"),
             description="CIFAR-10, 60,000 32x32 images (torchvision; downloads when online)")
    register("oxford_pets", _dataset("oxford_pets"),
             description="Oxford-IIIT Pet, 37 breeds (torchvision; downloads when online)")


@hookimpl
def register_metrics(register: Register) -> None:
    register("top1", _metric("topk_accuracy"), default_cfg={"k": 1},
             description="Fraction of samples whose top prediction is right")
    register("top5", _metric("topk_accuracy"), default_cfg={"k": 5},
             description="Fraction of samples whose target is among the top 5 predictions")
    register("per_class_accuracy", _metric("per_class_accuracy"),
             description="Recall of each class, from a confusion matrix")
    register("f1", _metric("f1_scores"), description="F1 of each class, from a confusion matrix")
    register("confusion_matrix", _metric("confusion_matrix"),
             description="(true, predicted) counts")
