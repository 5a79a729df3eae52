"""Hyperparameter search over recipes, built on Optuna (``zoo sweep``).

The method taught: a random (or TPE) search over wide ranges first, then a
finer grid around the best values (:mod:`~zoo_core.sweep.refine`), every
trial judged on the validation split only, and the test split used once, at
the very end, by ``zoo sweep --final`` (:mod:`~zoo_core.sweep.final`).

Modules, each small:

* :mod:`~zoo_core.sweep.spaces` - ``loguniform(1e-4,1e-1)`` and friends: parse, suggest, refine.
* :mod:`~zoo_core.sweep.spec` - what a sweep is (recipe, params, trials, sampler...), from the
  command line and the recipe's ``[sweep]`` section, checked like ``--set``.
* :mod:`~zoo_core.sweep.storage` - Optuna storages (SQLite by default, any URL, journal files).
* :mod:`~zoo_core.sweep.slots` - exactly N trials over any number of workers; liveness stamps so
  a killed worker's trial is failed and retried.
* :mod:`~zoo_core.sweep.study` - the worker loop and the objective (one run folder per trial).
* :mod:`~zoo_core.sweep.report` - ``summary.md``, ``trials.csv``, plots and ``best.toml``.
* :mod:`~zoo_core.sweep.final` - train the best recipe on train+val, evaluate test once.

Nothing here imports optuna or torch at import time of this package.
"""

from __future__ import annotations

from zoo_core.errors import ZooError


class SweepError(ZooError):
    """A sweep that cannot start or go on: bad spaces, a different sweep in the folder..."""


__all__ = ["SweepError"]
