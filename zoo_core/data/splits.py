"""Seeded splits (stratified when the data has labels), k-fold partitions, class
filters and few-shot subsets. No torch here.

Everything is a pure function of the labels (or of the sample count, for
unlabelled data) and a seed, so the same recipe always trains and evaluates
on the same images (and a resumed run does too).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from zoo_core.data.sources import ConcatSource, DatasetSplits, Source, SubsetSource
from zoo_core.errors import DataError, suggestion


def _by_class(labels: Sequence[int], indices: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i in indices:
        groups[labels[i]].append(i)
    return dict(sorted(groups.items()))


def stratified_split(labels: Sequence[int], fractions: dict[str, float], seed: int,
                     indices: Sequence[int] | None = None) -> dict[str, list[int]]:
    """Split ``indices`` (default: all) class by class.

    Returns ``{"train": [...], **{name: [...] for name in fractions}}``. Every
    class with at least two samples keeps at least one in train and gives at
    least one to each split whose fraction is > 0, so small classes are not
    silently missing from validation.
    """
    indices = list(range(len(labels))) if indices is None else list(indices)
    rng = random.Random(seed)
    out: dict[str, list[int]] = {"train": [], **{name: [] for name in fractions}}
    for _, members in _by_class(labels, indices).items():
        members = sorted(members)
        rng.shuffle(members)
        start = 0
        for name, frac in fractions.items():
            if frac <= 0:
                continue
            take = round(frac * len(members))
            if len(members) >= 2:
                take = max(1, take)
            take = min(take, len(members) - start - 1)  # leave one for train
            take = max(take, 0)
            out[name].extend(members[start:start + take])
            start += take
        out["train"].extend(members[start:])
    return {name: sorted(idx) for name, idx in out.items()}


def kfold_indices(labels: Sequence[int] | None, size: int, folds: int, seed: int
                  ) -> list[list[int]]:
    """``folds`` disjoint, seeded folds of ``range(size)`` that together hold every index:
    scikit-learn's ``StratifiedKFold`` when there are labels (each class spread evenly
    over the folds), ``KFold`` when not; both shuffled with ``seed``."""
    import warnings

    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    if size < folds:
        raise DataError(f"{folds}-fold cross-validation needs at least {folds} samples outside "
                        f"the test split; there are {size}. Use fewer folds.")
    x = np.zeros((size, 1))
    with warnings.catch_warnings():
        # a class with fewer members than folds is simply missing from some folds
        warnings.simplefilter("ignore", UserWarning)
        if labels is not None:
            parts = StratifiedKFold(folds, shuffle=True, random_state=seed).split(
                x, np.asarray(labels))
        else:
            parts = KFold(folds, shuffle=True, random_state=seed).split(x)
        return [sorted(int(i) for i in held_out) for _, held_out in parts]


def per_class_subset(labels: Sequence[int], n: int, seed: int,
                     indices: Sequence[int] | None = None) -> list[int]:
    """At most ``n`` seeded picks per class (few-shot training sets)."""
    indices = list(range(len(labels))) if indices is None else list(indices)
    rng = random.Random(seed)
    picked: list[int] = []
    for _, members in _by_class(labels, indices).items():
        members = sorted(members)
        rng.shuffle(members)
        picked.extend(members[:n])
    return sorted(picked)


def keep_classes(data: DatasetSplits, wanted: Sequence[str]) -> DatasetSplits:
    """Only the classes named in ``wanted``, renumbered in that order."""
    unknown = [c for c in wanted if c not in data.classes]
    if unknown:
        hints = "".join(suggestion(c, data.classes) for c in unknown)
        raise DataError(
            f"data.classes names {', '.join(map(repr, unknown))}, which data set "
            f"{data.name!r} does not have.{hints} Its classes are: "
            f"{', '.join(data.classes[:30])}{' ...' if len(data.classes) > 30 else ''}."
        )
    label_map = {data.classes.index(c): new for new, c in enumerate(wanted)}
    splits: dict[str, Source] = {}
    for name, src in data.splits.items():
        labels = src.labels() or []  # prepare_splits refuses classes for unlabelled data
        idx = [i for i, y in enumerate(labels) if y in label_map]
        splits[name] = SubsetSource(src, idx, label_map=label_map, classes=list(wanted))
    return DatasetSplits(list(wanted), splits, data.name, list(data.notes))


def prepare_splits(data: DatasetSplits, *, val_fraction: float = 0.2, test_fraction: float = 0.0,
                   seed: int = 0, classes: Sequence[str] | None = None,
                   subset_per_class: int | None = None,
                   train_on_val: bool = False, folds: int | None = None,
                   fold: int | None = None) -> DatasetSplits:
    """Apply the recipe's [data] choices to what a data set plugin returned.

    A split the data set lacks is carved from train (seeded, stratified); a
    split it has is kept as published, and the fraction for it is ignored.
    ``train_on_val`` then gives the validation images (carved or published) to
    the training split: the test split is exactly the one a run with a
    validation split holds out (training on train+val, once the tuning is done).

    With ``folds = K`` the test split is set aside as above and everything else
    (train, and a published validation split) is cut into K seeded folds
    (:func:`kfold_indices`): fold ``fold`` (1..K, default 1) is the validation split,
    the other K-1 train; ``val_fraction`` is not used.
    """
    if "train" not in data.splits:
        raise DataError(f"Data set {data.name!r} has no training split.")
    if (classes or subset_per_class) and data.splits["train"].labels() is None:
        raise DataError(f"Data set {data.name!r} has no class labels, so data.classes and "
                        "data.subset_per_class do not apply; remove them.")
    if classes:
        data = keep_classes(data, classes)
    notes = list(data.notes)
    train = data.splits["train"]
    splits = dict(data.splits)
    carve = {}
    if "val" not in splits and val_fraction > 0 and not folds:
        carve["val"] = val_fraction
    if "test" not in splits and test_fraction > 0:
        carve["test"] = test_fraction
    elif "test" in splits and test_fraction > 0:
        notes.append(f"data.test_fraction ignored: {data.name!r} has its own test split")
    if carve:
        labels = train.labels()
        # unlabelled data is one class: a seeded random split with the same rules
        parts = stratified_split(labels if labels is not None else [0] * len(train), carve,
                                 seed)
        for name, idx in parts.items():
            splits[name] = SubsetSource(train, idx)
        notes.append(
            f"carved from train (seeded{', stratified' if labels is not None else ''}): "
            + ", ".join(f"{name} {frac:g}" for name, frac in carve.items())
        )
    if folds:
        splits, note = _fold_splits(splits, folds, fold or 1, seed)
        notes.append(note)
    if train_on_val and "val" in splits:
        splits["train"] = _joined(splits["train"], splits.pop("val"))
        notes.append("train_on_val: the validation images train too; no validation split")
    if subset_per_class:
        train_split = splits["train"]
        idx = per_class_subset(train_split.labels() or [], subset_per_class, seed)
        splits["train"] = SubsetSource(train_split, idx)
        notes.append(f"train keeps at most {subset_per_class} images per class")
    for name, src in splits.items():
        if len(src) == 0:
            raise DataError(
                f"The {name} split of data set {data.name!r} is empty after the recipe's "
                "choices (classes, fractions, subset_per_class); loosen them or add images."
            )
    return DatasetSplits(list(data.classes), splits, data.name, notes)


def _subset(source: Source, indices: Sequence[int]) -> SubsetSource:
    """Some samples of ``source``, as a subset of its base when it is a subset itself."""
    if isinstance(source, SubsetSource):
        return SubsetSource(source.base, [source.indices[i] for i in indices],
                            source.label_map, source.classes)
    return SubsetSource(source, indices)


def _fold_splits(splits: dict[str, Source], folds: int, fold: int, seed: int
                 ) -> tuple[dict[str, Source], str]:
    """Train and validation for fold ``fold`` of the non-test data (see prepare_splits)."""
    pool = splits["train"]
    if "val" in splits:  # a published validation split is folded with the rest
        pool = _joined(pool, splits["val"])
    labels = pool.labels()
    parts = kfold_indices(labels, len(pool), folds, seed)
    held_out = set(parts[fold - 1])
    out = dict(splits)
    out["val"] = _subset(pool, parts[fold - 1])
    out["train"] = _subset(pool, [i for i in range(len(pool)) if i not in held_out])
    how = "seeded, stratified" if labels is not None else "seeded"
    return out, (f"fold {fold} of {folds} ({how}) of the {len(pool)} non-test samples "
                 f"validates: train {len(out['train'])}, val {len(out['val'])}")


def _joined(first: Source, second: Source) -> Source:
    """Two splits as one: the same base's indices together, else a concatenation."""
    if isinstance(first, SubsetSource) and isinstance(second, SubsetSource) \
            and first.base is second.base and first.label_map == second.label_map:
        return SubsetSource(first.base, sorted(first.indices + second.indices),
                            first.label_map, first.classes)
    return ConcatSource([first, second])
