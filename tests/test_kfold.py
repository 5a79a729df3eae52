"""k-fold cross-validation: folds of the non-test data (stratified, seeded), `zoo run
--folds K` with its parent report, resume, and `zoo sweep --folds K` scored by the mean."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from tests._engine_helpers import RECIPES, cli
from zoo_core.data.sources import DatasetSplits, Source
from zoo_core.data.splits import kfold_indices, prepare_splits
from zoo_core.errors import RecipeError, ZooError
from zoo_core.recipe import load_recipe

DIGITS = str(RECIPES / "digits_lenet5.toml")
FEW = ["--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=3", "--device", "cpu",
       "--no-progress"]


def _digits() -> DatasetSplits:
    from zoo_core.plugins import registry

    return registry().get("dataset", "digits").component.create(root=None, download=False)


def _base(src) -> list[int]:
    """Indices into the data set's own train split."""
    return list(src.indices)


def test_folds_partition_the_non_test_data_stratified_and_seeded():
    raw = _digits()
    labels = raw.splits["train"].labels()
    folds = [prepare_splits(raw, test_fraction=0.2, seed=7, folds=5, fold=k)
             for k in range(1, 6)]
    test = _base(folds[0].splits["test"])
    assert all(_base(f.splits["test"]) == test for f in folds)  # the test split stays out
    vals = [set(_base(f.splits["val"])) for f in folds]
    non_test = set(range(len(labels))) - set(test)
    assert set().union(*vals) == non_test and sum(map(len, vals)) == len(non_test)
    for f, val in zip(folds, vals, strict=True):
        assert set(_base(f.splits["train"])) == non_test - val
        assert "fold" in " ".join(f.notes)
    # stratified: each class spread over the folds evenly (counts differ by at most one)
    for c in range(10):
        per_fold = [sum(1 for i in val if labels[i] == c) for val in vals]
        assert max(per_fold) - min(per_fold) <= 1, (c, per_fold)
    # seeded: the same seed gives the same folds, another seed others
    again = prepare_splits(raw, test_fraction=0.2, seed=7, folds=5, fold=2)
    assert _base(again.splits["val"]) == _base(folds[1].splits["val"])
    other = prepare_splits(raw, test_fraction=0.2, seed=8, folds=5, fold=2)
    assert _base(other.splits["val"]) != _base(folds[1].splits["val"])


class _Unlabelled(Source):
    def __init__(self, n: int):
        self.n, self.labelled, self.classes = n, False, []

    def __len__(self) -> int:
        return self.n

    def labels(self):
        return None


def test_unlabelled_data_and_a_published_val_split_are_folded_too():
    parts = kfold_indices(None, 10, 3, seed=0)
    assert sorted(sum(parts, [])) == list(range(10)) and sorted(map(len, parts)) == [3, 3, 4]
    assert parts == kfold_indices(None, 10, 3, seed=0)
    data = DatasetSplits([], {"train": _Unlabelled(8), "val": _Unlabelled(4)}, "u")
    split = prepare_splits(data, folds=4, fold=1, seed=0)
    assert len(split.splits["val"]) == 3 and len(split.splits["train"]) == 9  # 12 = 8 + 4
    with pytest.raises(ZooError, match="at least 5 samples"):
        kfold_indices(None, 4, 5, seed=0)


def test_fold_keys_are_checked():
    with pytest.raises(RecipeError, match="fold needs folds"):
        load_recipe(DIGITS, ["data.fold=1"])
    with pytest.raises(RecipeError, match="only folds = 3"):
        load_recipe(DIGITS, ["data.folds=3", "data.fold=4"])
    with pytest.raises(RecipeError, match="exclude each other"):
        load_recipe(DIGITS, ["data.folds=3", "data.train_on_val=true"])
    from zoo_core.engine import run_recipe

    with pytest.raises(ZooError, match="names no fold"):
        run_recipe(load_recipe(DIGITS, ["data.folds=3"]), out="unused")


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.slow
def test_three_folds_write_each_fold_and_the_mean_and_std(tmp_path):
    out = tmp_path / "cv"
    res = cli("run", DIGITS, "--folds", "3", *FEW, "--out", str(out))
    assert res.exit_code == 0, res.output
    rows = _lines(out / "metrics.jsonl")
    assert [r["event"] for r in rows] == ["fold", "fold", "fold", "kfold"]
    finals = []
    for k in (1, 2, 3):
        run = out / f"fold_{k}"
        final = _lines(run / "metrics.jsonl")[-1]
        assert final["split"] == "val"  # each fold is judged on its own held-out fold
        assert not any(key.startswith("test/") for key in final)
        assert rows[k - 1]["val/top1"] == final["val/top1"]
        recipe = load_recipe(run / "recipe.toml")
        assert (recipe.data.folds, recipe.data.fold) == (3, k)
        finals.append(final)
    summary = rows[-1]
    for key in ("val/loss", "val/top1"):
        values = [f[key] for f in finals]
        mean = sum(values) / 3
        assert summary["mean"][key] == pytest.approx(mean)
        assert summary["std"][key] == pytest.approx(
            math.sqrt(sum((v - mean) ** 2 for v in values) / 3))
    report = (out / "report.md").read_text()
    assert "3-fold cross-validation" in report and "| mean |" in report and "| std |" in report
    top1 = f"val/top1: {summary['mean']['val/top1']:.4f} ± {summary['std']['val/top1']:.4f}"
    assert top1 in report
    # resume: a lost fold is trained again, the finished ones are kept
    import shutil

    shutil.rmtree(out / "fold_3")
    kept = (out / "fold_1" / "metrics.jsonl").stat().st_mtime_ns
    res = cli("run", "--resume", str(out), "--no-progress")
    assert res.exit_code == 0, res.output
    assert "fold 1/3: finished earlier" in res.output
    assert (out / "fold_1" / "metrics.jsonl").stat().st_mtime_ns == kept
    assert _lines(out / "metrics.jsonl")[-1]["mean"]["val/top1"] == \
        pytest.approx(summary["mean"]["val/top1"])  # the same seeded fold 3 again


@pytest.mark.slow
def test_a_sweep_with_folds_is_scored_by_the_mean_of_the_folds(tmp_path):
    out = tmp_path / "sweep"
    res = cli("sweep", DIGITS, "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2",
              "--param", "train.optimizer.lr=loguniform(1e-3,1e-2)", "--trials", "2",
              "--seed", "0", "--folds", "2", "--metric", "val/top1", "--out", str(out),
              "--heartbeat", "0.5", "--no-progress")
    assert res.exit_code == 0, res.output
    with open(out / "trials.csv", newline="", encoding="utf-8") as fh:
        trials = list(csv.DictReader(fh))
    assert [t["state"] for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        run = Path(t["run_dir"])
        folds = [_lines(run / f"fold_{k}" / "metrics.jsonl")[-1]["val/top1"] for k in (1, 2)]
        assert float(t["value"]) == pytest.approx(sum(folds) / 2)
        assert int(t["epochs"]) == 2  # the pruner saw fold 1 epoch 1 and fold 2 epoch 1
    assert "2-fold cross-validation" in (out / "summary.md").read_text()
    assert 'folds = 2' in (out / "sweep.toml").read_text()
    best = load_recipe(out / "best.toml")  # a plain recipe again: one run, no folds
    assert best.data.folds is None
    res = cli("sweep", DIGITS, "--param", "data.folds=choice(2,3)", "--trials", "1")
    assert res.exit_code == 2 and "cannot be searched" in res.output
