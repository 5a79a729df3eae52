"""Classification metrics: top-k accuracy, per-class accuracy and F1, confusion matrix.

:class:`ClassificationMeter` accumulates on the device without synchronising
(no ``.item()`` per step); numbers come out once, in :meth:`compute`.
Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from zoo_core.api import Meter


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int]
                 ) -> dict[int, torch.Tensor]:
    """Number of samples whose target is among the top k logits, for each k."""
    num_classes = logits.shape[1]
    usable = [k for k in ks if k <= num_classes]
    if not usable:
        return {}
    top = logits.topk(max(usable), dim=1).indices
    hits = top == targets[:, None]
    return {k: hits[:, :k].any(dim=1).sum() for k in usable}


def topk_accuracy(logits: torch.Tensor, targets: torch.Tensor, k: int = 1) -> float:
    """Fraction of samples whose target is among the top ``k`` predictions."""
    hits = topk_correct(logits, targets, [k])
    if not hits:
        raise ValueError(f"top-{k} needs at least {k} classes, got {logits.shape[1]}")
    return float(hits[k]) / max(int(targets.numel()), 1)


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int
                     ) -> torch.Tensor:
    """(true class, predicted class) counts."""
    flat = targets.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes,
                                                                         num_classes)


def per_class_accuracy(cm: torch.Tensor) -> list[float | None]:
    """Recall of each class (None for a class with no samples)."""
    support = cm.sum(dim=1)
    diag = cm.diagonal()
    return [float(d) / float(s) if s > 0 else None for d, s in zip(diag, support, strict=False)]


def f1_scores(cm: torch.Tensor) -> list[float | None]:
    """F1 of each class (None when the class neither occurs nor is predicted)."""
    tp = cm.diagonal().double()
    predicted = cm.sum(dim=0).double()
    actual = cm.sum(dim=1).double()
    out: list[float | None] = []
    for t, p, a in zip(tp.tolist(), predicted.tolist(), actual.tolist(), strict=False):
        out.append(None if p + a == 0 else 2 * t / (p + a))
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


class ClassificationMeter(Meter):
    """Loss, top-k accuracy and (optionally) the confusion matrix of one split."""

    def __init__(self, num_classes: int, topk: Sequence[int] = (1,), confusion: bool = False):
        self.num_classes = num_classes
        self.topk = sorted({k for k in topk if k <= num_classes} | {1})
        self.confusion = confusion
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.loss_sum: torch.Tensor | float = 0.0
        self.correct: dict[int, torch.Tensor | int] = {k: 0 for k in self.topk}
        self.cm: torch.Tensor | None = None

    def update_logits(self, logits: torch.Tensor, targets: torch.Tensor,
                      loss: torch.Tensor) -> None:
        logits = logits.detach()
        n = int(targets.shape[0])
        self.count += n
        self.loss_sum = self.loss_sum + loss.detach().float() * n
        for k, c in topk_correct(logits, targets, self.topk).items():
            self.correct[k] = self.correct[k] + c
        if self.confusion:
            cm = confusion_matrix(logits.argmax(dim=1), targets, self.num_classes)
            self.cm = cm if self.cm is None else self.cm + cm

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        n = float(self.count)
        out = {"loss": float(self.loss_sum) / n}
        for k in self.topk:
            out[f"top{k}"] = float(self.correct[k]) / n
        if self.cm is not None:
            cm = self.cm.cpu()
            f1 = _mean(f1_scores(cm))
            bal = _mean(per_class_accuracy(cm))
            if f1 is not None:
                out["f1_macro"] = f1
            if bal is not None:
                out["mean_class_acc"] = bal
        return out

    def details(self, classes: Sequence[str]) -> dict[str, Any]:
        """Per-class accuracy, F1 and support, and the confusion matrix as lists."""
        if self.cm is None:
            return {}
        cm = self.cm.cpu()
        return {
            "classes": list(classes),
            "per_class_acc": per_class_accuracy(cm),
            "per_class_f1": f1_scores(cm),
            "support": [int(s) for s in cm.sum(dim=1).tolist()],
            "confusion_matrix": cm.tolist(),
        }

    # the trainer keeps a partial epoch's sums in a Ctrl-C checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count, "loss_sum": torch.as_tensor(self.loss_sum).cpu(),
                "correct": {k: torch.as_tensor(v).cpu() for k, v in self.correct.items()},
                "cm": None if self.cm is None else self.cm.cpu()}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        self.count = int(state["count"])
        self.loss_sum = state["loss_sum"].to(device) if device else state["loss_sum"]
        self.correct = {int(k): (v.to(device) if device else v)
                        for k, v in state["correct"].items()}
        self.cm = state["cm"]
