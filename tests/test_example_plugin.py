"""The example third-party package installs with pip and plugs in like a built-in:
its backbone and head register, and its own task (not classification) trains with
`zoo run`, evaluates and predicts, next to the built-in tasks."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "zoo-example-plugin"


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """`zoo ...` in a subprocess that sees the example installed with pip."""
    work = tmp_path_factory.mktemp("example")
    target = work / "site"
    # built from a copy, so setuptools' build/ and egg-info stay out of the repository
    source = shutil.copytree(EXAMPLE, work / "src",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    # the package first; an outer PYTHONPATH (a checkout under test) stays visible
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zoo_core.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    return run


@pytest.mark.slow
def test_example_plugin_installs_and_registers(zoo):
    plugins = {p["name"]: p for p in json.loads(zoo("plugins", "--json").stdout)}
    example = plugins["example"]
    assert example["status"] == "ok"
    assert example["provides"] == {"backbone": ["tinynet"], "head": ["cosine"],
                                   "task": ["brightness"]}
    assert example["hooks"] == ["register_backbones", "register_heads", "register_tasks"]
    info = json.loads(zoo("info", "tinynet", "--json").stdout)
    assert info["plugin"] == "example" and info["param_count"] > 0
    tasks = json.loads(zoo("list", "task", "--json").stdout)
    assert {t["name"] for t in tasks} >= {"classification", "brightness"}


@pytest.mark.slow
def test_example_task_runs_evaluates_and_predicts(zoo, tmp_path):
    run_dir = tmp_path / "run"
    done = zoo("run", str(EXAMPLE / "recipes" / "digits_brightness.toml"), "--out", str(run_dir),
               "--no-progress", "--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=6")
    assert done.returncode == 0, done.stderr + done.stdout
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if "event" not in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert all(math.isfinite(r["val/mae"]) and math.isfinite(r["val/rmse"]) for r in epochs)
    # an RMSE is never below the mean absolute error of the same errors
    assert all(r["val/rmse"] >= r["val/mae"] for r in epochs)
    assert (run_dir / "models" / "net" / "model.safetensors").is_file()
    assert (run_dir / "error.png").is_file()  # the task's own curves

    evaluated = zoo("eval", str(run_dir), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)["metrics"]
    assert metrics["val/mae"] == pytest.approx(rows[-1]["val/mae"], rel=1e-4)

    from PIL import Image

    image = tmp_path / "grey.png"
    Image.new("L", (8, 8), 51).save(image)  # mean brightness 0.2
    predicted = zoo("predict", str(run_dir), str(image), "--json")
    assert predicted.returncode == 0, predicted.stderr
    (result,) = json.loads(predicted.stdout)
    assert result["measured"] == [pytest.approx(0.2, abs=1e-3)]
    assert len(result["predicted"]) == 1 and math.isfinite(result["predicted"][0])
