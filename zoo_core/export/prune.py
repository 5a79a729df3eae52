"""Pruning helpers over ``torch.nn.utils.prune``, which the ``[prune]`` recipe
section drives (:mod:`zoo_core.engine.pruning` calls :func:`prune_to` at epoch
starts with the sparsity :func:`sparsity_schedule` gives, then
:func:`make_permanent` before the final save).

* :func:`prune_to` - global unstructured L1 (the smallest weights of all
  layers together) or structured Ln (whole output channels of each layer, by
  their Ln norm), to a target sparsity. Repeated calls raise the sparsity step
  by step: weights pruned earlier stay pruned, and the amount is computed as
  an exact count from what is already masked.
* :func:`sparsity_schedule` - the sparsity to reach after each epoch: constant,
  linear, or Zhu & Gupta's cubic ramp (2017, "To prune, or not to prune").
* :func:`make_permanent` - bakes the masks in (``weight_orig``/``weight_mask``
  and the forward pre-hooks removed), so the model saves as plain weights.
* :func:`sparsity_report` - zeros per layer and overall.
* :func:`select_layers` - the layers a recipe names (module types, exclusions).
* :func:`reparametrise` - the ``weight_orig``/``weight_mask`` form with an all-ones
  mask, so that a state dict saved mid-pruning loads into a fresh model.

Two things torch's functions leave to the caller are done here. The scores
are the *effective* weights (``weight_orig * weight_mask``): torch would use
the ``weight`` attribute, which is only refreshed by a forward pass, so it may
be one optimizer step old, or the freshly built model's after a checkpoint was
loaded. And a module's parameter order is kept (``weight_orig`` takes
``weight``'s place, and ``weight`` takes it back when the mask is made
permanent): an optimizer built from ``model.parameters()`` after pruning
started then lists the same tensors in the same order as one built before,
so its saved state (which torch keys by position) loads back correctly.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from zoo_core.errors import ZooError

METHODS = ("global_l1", "ln_structured")
SCHEDULES = ("constant", "linear", "cubic")
PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.ConvTranspose2d)
#: the module types a recipe may name (``prune.modules``)
MODULE_TYPES: dict[str, type[nn.Module]] = {
    t.__name__: t for t in (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                            nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)}


def default_layers(model: nn.Module, *, skip_last_linear: bool = True
                   ) -> list[tuple[str, nn.Module]]:
    """Convolutions and linear layers, in model order; the last Linear (the
    classifier, which has the fewest weights per decision) is left whole by default."""
    layers: list[tuple[str, nn.Module]] = [
        (n, m) for n, m in model.named_modules() if isinstance(m, PRUNABLE)]
    if skip_last_linear:
        linear = [i for i, (_, m) in enumerate(layers) if isinstance(m, nn.Linear)]
        if linear:
            del layers[linear[-1]]
    return layers


def select_layers(model: nn.Module, types: Iterable[str] = ("Conv2d", "Linear"), *,
                  exclude: Iterable[str] = (), keep_last: bool = True
                  ) -> list[tuple[str, nn.Module]]:
    """Modules of the named ``types`` (keys of :data:`MODULE_TYPES`), in model order,
    without those whose name matches an ``exclude`` pattern (fnmatch: ``"head.*"``)
    and, with ``keep_last``, without the last one (a classifier or an output
    convolution, which has the fewest weights per decision)."""
    classes = tuple(MODULE_TYPES[t] for t in types)
    patterns = list(exclude)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, classes)
              and not any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    return layers[:-1] if keep_last and layers else layers


def _mask(module: Any) -> torch.Tensor:
    mask = getattr(module, "weight_mask", None)
    return mask if mask is not None else torch.ones_like(module.weight)


def _effective(module: Any) -> torch.Tensor:
    """The weights the module computes with now (not the cached ``weight`` attribute)."""
    orig = getattr(module, "weight_orig", None)
    if orig is None:
        return module.weight.detach()
    return (orig * module.weight_mask).detach()


def _keep_order(module: nn.Module, before: list[str], name: str = "weight") -> None:
    """Put ``name`` / ``name_orig`` (whichever exists) where ``name`` was in ``before``."""
    params = module._parameters
    swap = {name: name + "_orig", name + "_orig": name}
    order = [k if k in params else swap.get(k, k) for k in before]
    if set(order) != set(params):
        return  # parameters came or went in some other way: leave them as they are
    items = {k: params[k] for k in order}
    params.clear()
    params.update(items)


def reparametrise(module: nn.Module) -> None:
    """Give an unpruned module the pruned form (``weight_orig`` and an all-ones
    ``weight_mask``), keeping its parameter order: a state dict written while the
    module was pruned then loads into it."""
    if prune.is_pruned(module):
        return
    before = list(module._parameters)
    prune.identity(module, "weight")
    _keep_order(module, before)


def _check(target: float) -> None:
    if not 0.0 <= target < 1.0:
        raise ZooError(f"Target sparsity must be in [0, 1) (got {target}).")


def prune_to(model: nn.Module, target: float, *, method: str = "global_l1", n: int = 2,
             dim: int = 0, layers: Sequence[tuple[str, nn.Module]] | None = None) -> None:
    """Prune ``layers`` (default :func:`default_layers`) to ``target`` sparsity.

    ``global_l1``: the fraction ``target`` of all their weights together, the
    smallest in absolute value, is masked. ``ln_structured``: in each layer the
    fraction ``target`` of slices along ``dim`` (0: output channels) with the
    smallest Ln norm is masked. Lowering the target does not un-prune.
    """
    _check(target)
    if method not in METHODS:
        raise ZooError(f"Unknown pruning method {method!r}; choose one of {', '.join(METHODS)}.")
    chosen: list[tuple[str, Any]] = list(layers if layers is not None
                                         else default_layers(model))
    if not chosen:
        raise ZooError("The model has no convolution or linear layer to prune.")
    orders = {id(m): list(m._parameters) for _, m in chosen}
    if method == "global_l1":
        total = sum(m.weight.numel() for _, m in chosen)
        already = sum(int((_mask(m) == 0).sum()) for _, m in chosen)
        more = round(target * total) - already
        if more > 0:
            prune.global_unstructured(
                [(m, "weight") for _, m in chosen], pruning_method=prune.L1Unstructured,
                importance_scores={(m, "weight"): _effective(m) for _, m in chosen},
                amount=int(more))
    else:
        for _, m in chosen:
            slices = m.weight.shape[dim]
            mask = _mask(m)
            other = [d for d in range(mask.ndim) if d != dim]
            done = int((mask.sum(dim=other) == 0).sum()) if other else int((mask == 0).sum())
            more = round(target * slices) - done
            if more > 0:
                prune.ln_structured(m, "weight", amount=int(more), n=n, dim=dim,
                                    importance_scores=_effective(m))
    for _, m in chosen:
        _keep_order(m, orders[id(m)])


def sparsity_schedule(target: float, epochs: int, *, start: int = 0, end: int | None = None,
                      initial: float = 0.0, kind: str = "cubic") -> list[float]:
    """Sparsity to reach at the end of each of ``epochs`` epochs (0-based).

    Before ``start`` it is ``initial``; from ``end`` (default the last epoch) on,
    ``target``; between them ``linear`` steps evenly and ``cubic`` follows
    s = target + (initial - target) * (1 - k / (n + 1))^3 at step k = 1..n+1,
    pruning fast while many weights are redundant and slowly near the end.
    ``constant`` is ``target`` from ``start`` on.
    """
    _check(target)
    if kind not in SCHEDULES:
        raise ZooError(f"Unknown schedule {kind!r}; choose one of {', '.join(SCHEDULES)}.")
    end = epochs - 1 if end is None else end
    if not 0 <= start <= end < epochs:
        raise ZooError(f"Pruning epochs must satisfy 0 <= start <= end < epochs (got start "
                       f"{start}, end {end}, epochs {epochs}).")
    span = end - start + 1
    out = []
    for e in range(epochs):
        if e < start:
            out.append(initial)
        elif e >= end or kind == "constant":
            out.append(target)
        else:
            frac = (e - start + 1) / span
            if kind == "linear":
                out.append(initial + (target - initial) * frac)
            else:
                out.append(target + (initial - target) * (1 - frac) ** 3)
    return out


def make_permanent(model: nn.Module) -> list[str]:
    """Remove the re-parametrisation from every pruned module: the masked
    weights become the plain ``weight`` parameter. Returns the modules changed."""
    changed = []
    for name, m in model.named_modules():
        for pname in [k[:-len("_orig")] for k, _ in list(m.named_parameters(recurse=False))
                      if k.endswith("_orig")]:
            if prune.is_pruned(m):
                before = list(m._parameters)
                prune.remove(m, pname)
                _keep_order(m, before, pname)
                changed.append(f"{name}.{pname}" if name else pname)
    return changed


@dataclass
class SparsityReport:
    """Zero weights per layer and over all the layers reported."""

    per_layer: dict[str, dict[str, Any]] = field(default_factory=dict)
    zeros: int = 0
    total: int = 0

    @property
    def overall(self) -> float:
        return self.zeros / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "zeros": self.zeros, "total": self.total,
                "per_layer": self.per_layer}

    def lines(self) -> list[str]:
        rows = [f"{name}: {v['sparsity']:.1%} of {v['total']:,}" for name, v in
                self.per_layer.items()]
        return rows + [f"overall: {self.overall:.1%} of {self.total:,} weights"]


def sparsity_report(model: nn.Module, layers: Iterable[tuple[str, nn.Module]] | None = None
                    ) -> SparsityReport:
    """Fraction of exactly-zero weights in each conv/linear layer (pruned or not)
    and over all of them."""
    rep = SparsityReport()
    chosen: Iterable[tuple[str, Any]] = layers if layers is not None else [
        (n, m) for n, m in model.named_modules() if isinstance(m, PRUNABLE)]
    for name, m in chosen:
        w = m.weight.detach()
        zeros, total = int((w == 0).sum()), w.numel()
        rep.per_layer[name] = {"zeros": zeros, "total": total, "sparsity": zeros / total,
                               "pruned": prune.is_pruned(m)}
        rep.zeros += zeros
        rep.total += total
    return rep
