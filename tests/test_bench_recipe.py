"""zoo bench RECIPE.toml: the real pipeline of a tiny recipe (LeNet-5 on digits)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from zoo_core.cli import cli

pytest.importorskip("sklearn")

RECIPE = """
[recipe]
name = "bench_digits"
seed = 0

[data]
dataset = "digits"
val_fraction = 0.1
num_workers = 0

[model]
backbone = "lenet5"
mode = "scratch"

[train]
epochs = 1
batch_size = 16
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "bench_digits.toml"
    path.write_text(textwrap.dedent(RECIPE))
    return path


def test_recipe_bench_times_the_real_pipeline(tmp_path, recipe):
    out = tmp_path / "r.json"
    res = run("bench", str(recipe), "--steps", "3", "--warmup", "1", "--device", "cpu",
              "--set", "train.batch_size=8", "--out", str(out), "--out", str(tmp_path / "r.csv"))
    assert res.exit_code == 0, res.output
    assert "bottleneck:" in res.output and "Hint:" in res.output
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert doc["kind"] == "recipe"
    assert row["task"] == "classification" and row["model"].startswith("lenet5")
    assert row["dataset"] == "digits"
    assert row["batch_size"] == 8  # the --set override reached the pipeline
    assert row["samples_per_sec"] > 0
    assert row["data_only_samples_per_sec"] > 0 and row["compute_only_samples_per_sec"] > 0
    # the end-to-end step splits into waiting for data and computing
    assert row["data_time_ms"] + row["compute_time_ms"] == pytest.approx(
        row["step_time_ms"], rel=0.15)
    assert row["bottleneck"] in {"data loading", "compute"}
    assert row["hint"].startswith("Hint:")
    assert doc["environment"]["torch_version"] == torch.__version__
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["recipe", "task", "model"] and "bottleneck" in header


def test_hint_for_a_data_bound_recipe(recipe):
    from zoo_core.bench.recipe import make_hint
    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.recipe import load_recipe

    r = load_recipe(recipe)
    pipe = build_pipeline(r, "cpu")
    row = {"bottleneck": "data loading"}
    # the core's advice, then the task's own (classification: the frozen-feature cache)
    hint = make_hint(row, r, task_tips=pipe.task.bench_hints(row, pipe.ctx),
                     device=torch.device("cpu"))
    assert "data.num_workers" in hint and "feature_extract" in hint
    row = {"bottleneck": "compute"}
    hint = make_hint(row, r, task_tips=pipe.task.bench_hints(row, pipe.ctx),
                     device=torch.device("cpu"))
    assert "channels_last" in hint and "bf16" in hint


def test_recipe_mode_errors(tmp_path, recipe):
    res = run("bench", str(recipe), "lenet5")
    assert res.exit_code == 2 and "not both" in res.output
    res = run("bench", str(tmp_path / "missing.toml"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = run("bench", "lenet5", "--set", "train.batch_size=8")
    assert res.exit_code == 2 and "--set applies to a recipe" in res.output
