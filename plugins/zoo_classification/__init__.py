"""Built-in plugin: the classification task and its metrics.

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
