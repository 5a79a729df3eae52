"""A recipe's data set by registry name, with the recipe's splits applied."""

from __future__ import annotations

from typing import Any

from zoo_core.data.sources import DatasetSplits
from zoo_core.data.splits import prepare_splits


def load_splits(recipe: Any) -> DatasetSplits:
    """``[data].dataset`` from the registry, then its class filter, seeded
    validation/test splits (stratified when the data has labels) or, with
    ``data.folds``, fold ``data.fold`` (1 when unset) as the validation split, and the
    few-shot subset."""
    from zoo_core.plugins import registry

    d = recipe.data
    raw = registry().get("dataset", d.dataset).component.create(root=d.root,
                                                                download=d.download)
    seed = d.split_seed if d.split_seed is not None else recipe.recipe.seed
    return prepare_splits(raw, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                          seed=seed, classes=d.classes, subset_per_class=d.subset_per_class,
                          train_on_val=d.train_on_val, folds=d.folds, fold=d.fold)
