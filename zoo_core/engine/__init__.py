"""The training engine: devices, precision, the loop, checkpoints, callbacks,
the frozen-feature cache and the run folder. Tasks (from plugins) own their
data, model, loss and metrics; see :mod:`zoo_core.engine.task`.

Public entry points (imported lazily, so ``import zoo_core.engine`` is cheap):

* :func:`build_pipeline` (contract C) - everything a recipe builds, plus
  ``Pipeline.train_step(batch)``; ``zoo bench RECIPE`` times it.
* :func:`run_recipe` - what ``zoo run`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoo_core.engine.pipeline import Pipeline, build_pipeline  # noqa: F401
    from zoo_core.engine.run import RunResult, run_recipe  # noqa: F401

__all__ = ["Pipeline", "build_pipeline", "RunResult", "run_recipe"]

_WHERE = {"Pipeline": "pipeline", "build_pipeline": "pipeline", "RunResult": "run",
          "run_recipe": "run"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"zoo_core.engine.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'zoo_core.engine' has no attribute {name!r}")
