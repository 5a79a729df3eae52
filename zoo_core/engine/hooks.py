"""The hook points regularizers plug into.

A regularizer (kind ``regularizer``; ``factory(**cfg)`` from a
``[[train.regularizers]]`` table) is any object with some of these methods;
subclass :class:`Regularizer` to get no-op defaults. It acts on the task's
main model (``Task.main_role``):

* ``on_model_built(model)`` - once, after the model is built and its
  weights loaded, before the optimizer exists (change dropout, add hooks).
* ``on_batch(batch) -> batch`` - every training batch (a dict of tensors),
  on the device, before the task's step (input noise...). A regularizer that
  defines it (or sets ``modifies_inputs = True``) turns off caches that
  assume the same inputs every epoch (classification's frozen features).
* ``loss_term(model) -> Tensor | None`` - added to the main model's loss in
  every step (an explicit L2 penalty...), through ``ctx.backward``.
* ``on_epoch_end(epoch, metrics)`` - after each epoch's metrics are known.
* ``state_dict()`` / ``load_state_dict(state)`` - kept in checkpoints.

Early stopping is not a regularizer here but a callback
(``[train.early_stopping]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Regularizer:
    """No-op base class; override the hooks you need."""

    name = "regularizer"
    modifies_inputs = False

    def on_model_built(self, model: Any) -> None:
        return None

    def on_batch(self, batch: Any) -> Any:
        return batch

    def loss_term(self, model: Any) -> Any:
        return None

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def _defines(obj: Any, method: str) -> bool:
    impl = getattr(type(obj), method, None)
    return impl is not None and impl is not getattr(Regularizer, method, None)


class HookSet:
    """The regularizers of a run, called at each hook point in recipe order."""

    def __init__(self, regularizers: Sequence[Any] = ()):
        self.items = list(regularizers)
        self._batch = [r for r in self.items if _defines(r, "on_batch")]
        self._loss = [r for r in self.items if _defines(r, "loss_term")]

    @property
    def modifies_inputs(self) -> bool:
        return any(getattr(r, "modifies_inputs", False) or _defines(r, "on_batch")
                   for r in self.items)

    def on_model_built(self, model: Any) -> None:
        for r in self.items:
            if hasattr(r, "on_model_built"):
                r.on_model_built(model)

    def on_batch(self, batch: Any) -> Any:
        for r in self._batch:
            batch = r.on_batch(batch)
        return batch

    def loss_terms(self, model: Any) -> Any:
        total = None
        for r in self._loss:
            term = r.loss_term(model)
            if term is not None:
                total = term if total is None else total + term
        return total

    def on_epoch_end(self, epoch: int, metrics: dict[str, Any]) -> None:
        for r in self.items:
            if hasattr(r, "on_epoch_end"):
                r.on_epoch_end(epoch, metrics)

    def state_dict(self) -> list[dict[str, Any]]:
        return [r.state_dict() if hasattr(r, "state_dict") else {} for r in self.items]

    def load_state_dict(self, states: Sequence[dict[str, Any]]) -> None:
        for r, s in zip(self.items, states, strict=False):
            if hasattr(r, "load_state_dict"):
                r.load_state_dict(s)
