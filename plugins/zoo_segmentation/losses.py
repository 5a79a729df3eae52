"""Segmentation losses: segmentation_models_pytorch's, behind one calling convention.

Every loss here takes ``(logits, mask)`` as the data gives them:

* ``binary``: logits (N, 1, H, W), mask (N, H, W) or (N, 1, H, W) of 0/1;
* ``multiclass``: logits (N, C, H, W), mask (N, H, W) of class indices;
* ``multilabel``: logits (N, C, H, W), mask (N, C, H, W) of 0/1.

Pixels equal to ``ignore_index`` do not count. The wrappers only reshape the
mask to what each smp loss expects; the losses themselves are smp's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from zoo_core.errors import UnknownNameError, ZooError, suggestion
from zoo_segmentation.names import LOSSES

MODES = ("binary", "multiclass", "multilabel")

LOSS_CLASSES = {short: cls for short, (cls, _, _) in LOSSES.items()}
_ALIASES = {registered: short for short, (_, registered, _) in LOSSES.items()}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ZooError(f"Segmentation mode must be one of {', '.join(MODES)}, got {mode!r}."
                       f"{suggestion(mode, MODES)}")
    return mode


class SegLoss(nn.Module):
    """One smp loss with the mask reshaped for it."""

    def __init__(self, name: str, mode: str = "binary", ignore_index: int | None = None,
                 **options: Any):
        super().__init__()
        import segmentation_models_pytorch.losses as L

        key = _ALIASES.get(name, name)
        if key not in LOSS_CLASSES:
            known = sorted({*LOSS_CLASSES, *_ALIASES})
            raise UnknownNameError(f"Unknown segmentation loss {name!r}.{suggestion(name, known)}"
                                   f" Losses: {', '.join(known)}.")
        self.name, self.mode = key, check_mode(mode)
        if key == "ce" and mode != "multiclass":
            raise ZooError(f"Loss 'ce' (softmax cross-entropy) is for multiclass masks; "
                           f"with mode {mode!r} use 'bce'.")
        if key == "bce" and mode == "multiclass":
            raise ZooError("Loss 'bce' is for binary and multilabel masks; with mode "
                           "'multiclass' use 'ce'.")
        cls = getattr(L, LOSS_CLASSES[key])
        kwargs = dict(options)
        if key in ("bce", "ce"):
            kwargs["ignore_index"] = -100 if ignore_index is None else ignore_index
        else:
            kwargs.update(mode=mode, ignore_index=ignore_index)
        if key == "ce":
            # smp 0.6's SoftCrossEntropyLoss fails with its own default smooth_factor=None
            kwargs.setdefault("smooth_factor", 0.0)
        try:
            self.loss = cls(**kwargs)
        except TypeError as exc:
            raise ZooError(f"Bad option for segmentation loss {name!r}: {exc}.") from None

    def forward(self, logits: Tensor, mask: Tensor) -> Tensor:
        if self.mode == "binary":
            if mask.ndim == logits.ndim - 1:
                mask = mask.unsqueeze(1)
            if self.name == "bce":
                mask = mask.to(logits.dtype)
        elif self.mode == "multiclass":
            mask = mask.long()
        elif self.name == "bce":
            mask = mask.to(logits.dtype)
        return self.loss(logits, mask)


class CombinedLoss(nn.Module):
    """A weighted sum of segmentation losses; :meth:`terms` gives each for logging."""

    def __init__(self, losses: Mapping[str, SegLoss], weights: Mapping[str, float]):
        super().__init__()
        self.losses = nn.ModuleDict(dict(losses))
        self.weights = {k: float(v) for k, v in weights.items()}

    def terms(self, logits: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Each loss (unweighted, keyed ``loss_<name>``) and their weighted sum ``loss``."""
        out: dict[str, Tensor] = {}
        total: Tensor | None = None
        for name, loss in self.losses.items():
            value = loss(logits, mask)
            out[f"loss_{name}"] = value.detach()
            term = self.weights[name] * value
            total = term if total is None else total + term
        assert total is not None
        out["loss"] = total
        return out

    def forward(self, logits: Tensor, mask: Tensor) -> Tensor:
        return self.terms(logits, mask)["loss"]


def combined_loss(weights: Mapping[str, float], mode: str, *, ignore_index: int | None = None,
                  options: Mapping[str, Mapping[str, Any]] | None = None) -> CombinedLoss:
    """``combined_loss({"dice": 1.0, "bce": 0.5}, "binary")``: weighted sum of smp losses.

    ``options`` gives per-loss keyword arguments, e.g. ``{"focal": {"gamma": 3.0}}``.
    """
    if not weights:
        raise ZooError("A segmentation loss needs at least one term, e.g. {dice = 1.0}.")
    options = dict(options or {})
    unknown = set(options) - set(weights)
    if unknown:
        raise ZooError(f"Loss options for {sorted(unknown)} but those losses have no weight; "
                       f"weighted losses: {sorted(weights)}.")
    losses = {name: SegLoss(name, mode, ignore_index, **dict(options.get(name, {})))
              for name in weights}
    return CombinedLoss(losses, weights)
