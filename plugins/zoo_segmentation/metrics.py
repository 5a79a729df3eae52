"""Segmentation metrics: IoU and Dice per class, micro and macro averages, pixel accuracy.

The meter accumulates true/false positive/negative pixel counts per class
(so meters on several processes merge by summing their counts) and reduces
them with segmentation_models_pytorch's ``iou_score``/``f1_score``. The
counting is ours - one ``bincount`` on the device instead of smp's per-image
loop into CPU tensors, with ``ignore_index`` in every mode - and is tested to
give exactly what ``smp.metrics.get_stats`` gives.

Averages are over the whole data set: ``micro`` sums the counts of all
classes first, ``macro`` averages the per-class scores (smp's ``micro`` and
``macro`` reductions). A class absent from both truth and prediction scores
1.0 (smp's ``zero_division``). In binary mode there is one class, the
positive one - or, given two class names (negative first), both: the
negative class's counts are the positive one's read the other way round
(its true positives are the true negatives...), which is exactly what smp's
multiclass counts of the two-class mask give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from zoo_segmentation.losses import check_mode

#: metric -> whether higher ("max") or lower ("min") is better
DIRECTIONS = {"iou_micro": "max", "iou_macro": "max", "dice_micro": "max",
              "dice_macro": "max", "pixel_accuracy": "max"}


def logits_to_mask(logits: Tensor, mode: str, threshold: float = 0.5) -> Tensor:
    """Predicted mask: class indices (N, H, W) for multiclass, 0/1 of the logits' shape
    for binary and multilabel (sigmoid probability >= threshold)."""
    if check_mode(mode) == "multiclass":
        return logits.argmax(dim=1)
    return (torch.sigmoid(logits) >= threshold).long()


def _as_channels(x: Tensor, mode: str) -> Tensor:
    """Binary masks as (N, 1, ...)."""
    if mode == "binary" and x.ndim == 3:
        return x.unsqueeze(1)
    return x


def confusion_counts(pred: Tensor, target: Tensor, mode: str, num_classes: int | None = None,
                     ignore_index: int | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(tp, fp, fn, tn), each (N, C) int64, for each image and class.

    ``pred`` and ``target`` are integer masks: class indices (N, H, W) for
    multiclass (``num_classes`` needed), 0/1 (N, C, H, W) for multilabel and
    (N, H, W) or (N, 1, H, W) for binary. Target pixels equal to
    ``ignore_index`` count nowhere.
    """
    check_mode(mode)
    n = int(target.shape[0])
    if mode == "multiclass":
        if num_classes is None:
            raise ValueError("num_classes is needed in multiclass mode")
        c = int(num_classes)
        t = target.reshape(n, -1).long()
        p = pred.reshape(n, -1).long()
        valid = (t >= 0) & (t < c) if ignore_index is None else t != ignore_index
        image = torch.arange(n, device=t.device)[:, None].expand_as(t)
        flat = (image * c * c + t.clamp(0, c - 1) * c + p.clamp(0, c - 1))[valid]
        cm = torch.bincount(flat, minlength=n * c * c).view(n, c, c)
        tp = cm.diagonal(dim1=1, dim2=2)
        fp = cm.sum(dim=1) - tp
        fn = cm.sum(dim=2) - tp
        tn = valid.sum(dim=1, keepdim=True) - tp - fp - fn
        return tp, fp, fn, tn
    t = _as_channels(target, mode)
    p = _as_channels(pred, mode)
    c = int(t.shape[1])
    t = t.reshape(n, c, -1)
    p = p.reshape(n, c, -1).long()
    valid = torch.ones_like(t, dtype=torch.bool) if ignore_index is None else t != ignore_index
    pos_t = (t == 1) & valid
    pos_p = (p == 1) & valid
    tp = (pos_t & pos_p).sum(dim=2)
    fp = pos_p.sum(dim=2) - tp
    fn = pos_t.sum(dim=2) - tp
    tn = valid.sum(dim=2) - tp - fp - fn
    return tp, fp, fn, tn


def _scores(tp: Tensor, fp: Tensor, fn: Tensor, tn: Tensor, metric: str,
            reduction: str | None) -> Tensor:
    import segmentation_models_pytorch as smp

    fn_ = smp.metrics.iou_score if metric == "iou" else smp.metrics.f1_score
    return fn_(tp, fp, fn, tn, reduction=reduction)


class SegmentationMeter:
    """Accumulates pixel counts over batches; ``compute()`` gives the scores.

    ``update(logits, mask)`` takes raw logits; ``num_classes`` is the number of
    output channels (1 in binary mode). With ``per_image=True`` it also keeps
    each image's counts for :meth:`per_image_rows` (the per-image IoU table).
    """

    directions = DIRECTIONS

    def __init__(self, mode: str, num_classes: int = 1, class_names: Sequence[str] | None = None,
                 threshold: float = 0.5, ignore_index: int | None = None,
                 per_image: bool = False):
        self.mode = check_mode(mode)
        self.num_classes = 1 if mode == "binary" else int(num_classes)
        names = list(class_names) if class_names else [str(i) for i in range(self.num_classes)]
        #: binary with two names: report the negative class too
        self.both = self.mode == "binary" and len(names) == 2
        if len(names) != self.num_classes and not self.both:
            raise ValueError(f"{len(names)} class names for {self.num_classes} classes")
        self.class_names = names
        self.threshold, self.ignore_index, self.per_image = threshold, ignore_index, per_image
        self.reset()

    def reset(self) -> None:
        self.counts = torch.zeros(4, self.num_classes, dtype=torch.long)
        self.images: list[tuple[str, list[list[int]]]] = []

    @torch.no_grad()
    def update(self, logits: Tensor, mask: Tensor, names: Sequence[str] | None = None) -> None:
        pred = logits_to_mask(logits, self.mode, self.threshold)
        stats = confusion_counts(pred, mask, self.mode, self.num_classes, self.ignore_index)
        batch = torch.stack(stats)  # (4, N, C)
        if self.counts.device != batch.device:
            self.counts = self.counts.to(batch.device)
        self.counts += batch.sum(dim=1)
        if self.per_image:
            rows = batch.permute(1, 0, 2).cpu().tolist()
            start = len(self.images)
            for i, row in enumerate(rows):
                name = names[i] if names is not None else str(start + i)
                self.images.append((str(name), row))

    def _reported(self, counts: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(tp, fp, fn, tn), each (1, K), of the classes reported."""
        tp, fp, fn, tn = (torch.as_tensor(s).reshape(1, -1).cpu() for s in counts)
        if self.both:  # the negative class first: its positives are the negatives
            return (torch.cat([tn, tp], 1), torch.cat([fn, fp], 1), torch.cat([fp, fn], 1),
                    torch.cat([tp, tn], 1))
        return tp, fp, fn, tn

    def compute(self) -> dict[str, float]:
        tp, fp, fn, tn = self._reported(self.counts)
        out: dict[str, float] = {}
        for metric in ("iou", "dice"):
            out[f"{metric}_micro"] = float(_scores(tp, fp, fn, tn, metric, "micro"))
            out[f"{metric}_macro"] = float(_scores(tp, fp, fn, tn, metric, "macro"))
            per_class = _scores(tp, fp, fn, tn, metric, "none")
            for name, value in zip(self.class_names, per_class[0].tolist(), strict=True):
                out[f"{metric}/{name}"] = float(value)
        if self.mode == "multiclass" or self.both:
            total = (tp + fn).sum()
            out["pixel_accuracy"] = float(tp.sum()) / float(total) if total else 0.0
        else:
            total = (tp + fp + fn + tn).sum()
            out["pixel_accuracy"] = float((tp + tn).sum()) / float(total) if total else 0.0
        return out

    def per_image_rows(self) -> list[dict[str, Any]]:
        """One row per image: its name, IoU and Dice averaged over classes, and per class."""
        rows = []
        for name, counts in self.images:
            t = self._reported(torch.tensor(counts))
            row: dict[str, Any] = {"image": name}
            for metric in ("iou", "dice"):
                per_class = _scores(t[0], t[1], t[2], t[3], metric, "none")[0].tolist()
                row[metric] = sum(per_class) / len(per_class)
                for cname, value in zip(self.class_names, per_class, strict=True):
                    row[f"{metric}/{cname}"] = value
            rows.append(row)
        return rows

    # -- state: counts sum across processes ----------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"counts": self.counts.detach().cpu().clone(),
                "images": [(n, [list(r) for r in rows]) for n, rows in self.images]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        counts = torch.as_tensor(state["counts"], dtype=torch.long)
        if tuple(counts.shape) != (4, self.num_classes):
            raise ValueError(f"meter state has counts of shape {tuple(counts.shape)}, "
                             f"expected (4, {self.num_classes})")
        self.counts = counts.clone()
        self.images = [(str(n), [list(r) for r in rows]) for n, rows in state.get("images", [])]

    def merge(self, state: dict[str, Any]) -> None:
        """Add another meter's state (e.g. from another process) to this one."""
        self.counts = self.counts + torch.as_tensor(state["counts"]).to(self.counts.device)
        self.images += [(str(n), [list(r) for r in rows]) for n, rows in state.get("images", [])]
