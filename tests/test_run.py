"""`zoo run`, `zoo eval`, `zoo predict`: the run folder and the shipped recipes."""

from __future__ import annotations

import csv
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests._engine_helpers import (
    RECIPES,
    ZOO,
    cli,
    make_image_folder,
    subprocess_env,
    tiny_recipe,
)
from zoo_core.recipe import load_resolved

RUN_FILES = ("recipe.toml", "weights.lock.json", "metrics.jsonl", "metrics.csv",
             "models/net/config.json", "models/net/model.safetensors", "checkpoints/last.pt",
             "loss.png", "accuracy.png", "confusion_matrix.png", "per_class.csv",
             "confusion_matrix.csv", "report.md")
SPLIT_KEY_PREFIXES = ("train/", "val/", "test/")


@pytest.fixture(scope="module", name="tiny_run")
def tiny_run_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """One finished run over a small real image folder (scratch, 3 epochs, with a test split)."""
    base = tmp_path_factory.mktemp("tiny_run")
    folder = make_image_folder(base / "images", classes=3, per_class=12)
    recipe = tiny_recipe(base / "tiny.toml", folder, epochs=3)
    out = base / "run"
    result = cli("run", str(recipe), "--out", str(out), "--set", "data.test_fraction=0.25",
                 "--no-progress")
    assert result.exit_code == 0, result.output
    return out, folder, recipe


def test_run_folder_holds_everything(tiny_run):
    out, _, recipe = tiny_run
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    for png in ("loss.png", "accuracy.png", "confusion_matrix.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resolved = load_resolved(out / "recipe.toml")
    assert resolved.data.test_fraction == 0.25 and resolved.train.epochs == 3
    assert resolved.model.backbone == "test_resnet" and resolved.name == "tiny"
    assert json.loads((out / "weights.lock.json").read_text()) == {"weights": []}  # scratch
    report = (out / "report.md").read_text()
    assert "## Final evaluation (test split" in report and "![loss.png](loss.png)" in report


def test_metrics_use_split_prefixed_keys_and_fractions(tiny_run):
    out, _, _ = tiny_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs, final = rows[:-1], rows[-1]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    for row in epochs:
        assert {"train/loss", "train/top1", "train/lr", "val/loss", "val/top1"} <= set(row)
        assert all(k in {"epoch", "phase"} or k.startswith(SPLIT_KEY_PREFIXES) for k in row)
    assert final["event"] == "final" and final["split"] == "test"
    assert {"test/loss", "test/top1", "test/f1_macro", "test/mean_class_acc"} <= set(final)
    for row in rows:
        for key, value in row.items():
            if key.endswith(("top1", "top5", "f1_macro", "mean_class_acc")):
                assert 0.0 <= value <= 1.0, (key, value)
    with open(out / "metrics.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and float(table[-1]["test/top1"]) == final["test/top1"]
    per_class = (out / "per_class.csv").read_text().splitlines()
    assert per_class[0] == "class,accuracy,f1,support" and len(per_class) == 4


def test_eval_and_predict_read_the_run_folder(tiny_run):
    out, folder, _ = tiny_run
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    result = cli("eval", str(out), "--json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.output)
    assert evaluated["split"] == "test"
    assert evaluated["metrics"]["test/top1"] == pytest.approx(final["test/top1"])
    assert evaluated["metrics"]["test/loss"] == pytest.approx(final["test/loss"], rel=1e-5)
    other = cli("eval", str(out / "models" / "net"), "--data", str(folder), "--json")
    assert other.exit_code == 0, other.output
    scored = json.loads(other.output)
    assert scored["samples"] == 36  # a bare image folder: all of it
    # named for what it is: neither the training split nor a test split of the run
    assert scored["split"] == "eval" and set(scored["metrics"]) >= {"eval/top1", "eval/loss"}
    assert [t[0] for t in scored["tables"]] == ["per class"]
    image = folder / "class_b" / "img_000.png"
    result = cli("predict", str(out), str(image), str(image), "--topk", "2", "--json")
    assert result.exit_code == 0, result.output
    preds = json.loads(result.output)
    assert len(preds) == 2 and preds[0] == preds[1]
    probs = [p["probability"] for p in preds[0]["predictions"]]
    assert len(probs) == 2 and probs[0] >= probs[1] and 0.0 < sum(probs) <= 1.0 + 1e-6
    assert {p["class"] for p in preds[0]["predictions"]} <= {"class_a", "class_b", "class_c"}
    table = cli("predict", str(out), str(image))
    assert table.exit_code == 0 and "probability" in table.output
    missing = cli("predict", str(out), str(folder / "nope.png"))
    assert missing.exit_code == 2 and "nope.png" in missing.output


def test_wave_1_run_folders_still_load(tiny_run, tmp_path: Path):
    """Runs written before named roles kept their model in model/: eval, predict and
    loading it as weights still work."""
    import shutil

    out, folder, _ = tiny_run
    old = tmp_path / "old_run"
    shutil.copytree(out, old)
    (old / "models" / "net").rename(old / "model")
    (old / "models").rmdir()
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    result = cli("eval", str(old), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["test/top1"] == pytest.approx(final["test/top1"])
    image = folder / "class_b" / "img_000.png"
    assert cli("predict", str(old), str(image)).exit_code == 0
    wrong = cli("eval", str(old), "--model", "generator")
    assert wrong.exit_code == 2 and "drop --model generator" in wrong.output


def test_a_finished_run_is_not_resumed_and_out_is_not_overwritten(tiny_run):
    out, _, recipe = tiny_run
    again = cli("run", "--resume", str(out))
    assert again.exit_code == 2 and "already finished" in again.output
    clash = cli("run", str(recipe), "--out", str(out))
    assert clash.exit_code == 2 and "already holds a run" in clash.output
    both = cli("run", str(recipe), "--resume", str(out))
    assert both.exit_code == 2 and "either a RECIPE or --resume" in both.output


@pytest.mark.parametrize("policy", ["skip", "fail"])
def test_bad_image_in_a_run_is_reported_by_path(tmp_path: Path, policy: str):
    folder = make_image_folder(tmp_path / "images", classes=2, per_class=6)
    bad = folder / "class_a" / "img_002.png"
    bad.write_bytes(b"not an image at all")
    recipe = tiny_recipe(tmp_path / "r.toml", folder, epochs=1)
    result = cli("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress",
                 "--set", f'data.bad_images="{policy}"', "--set", "data.val_fraction=0.0")
    assert "Traceback" not in result.output
    assert "img_002.png" in result.output.replace("\n", "")
    if policy == "skip":
        assert result.exit_code == 0, result.output
        assert "skipping unreadable image" in result.output
    else:
        assert result.exit_code == 2 and "data.bad_images" in result.output.replace("\n", " ")


@pytest.mark.slow
def test_digits_quickstart_reaches_97_percent_in_under_two_minutes(tmp_path: Path):
    """The README's main job, as a user runs it. One intra-op thread: the model is
    tiny, and on a machine shared with other jobs two spinning OpenMP threads cost
    far more than they bring (docs/training.md)."""
    env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run([ZOO, "run", str(RECIPES / "digits_lenet5.toml"), "--out",
                           str(tmp_path / "run")], env=env, capture_output=True, text=True,
                          timeout=300)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    final = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["split"] == "test" and final["test/top1"] >= 0.97, final
    assert elapsed < 120, f"the quickstart took {elapsed:.0f}s"
