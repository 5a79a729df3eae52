"""`zoo validate` as a user meets it: exit codes, every problem listed, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._engine_helpers import earlier_run_models
from tests._recipe_helpers import MINIMAL, toy_plugin, write  # noqa: F401 (fixture)
from zoo_core.cli import cli

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))
# recipes whose [model] backbone is the folder an earlier run writes, with its architecture
BACKBONE_FROM_EARLIER_RUN = {"digits_dae_transfer": "conv_encoder"}


def validate(*args: str):
    return CliRunner().invoke(cli, ["validate", *map(str, args)])


@pytest.mark.usefixtures("toy_plugin")
def test_valid_recipe_exits_0_with_a_summary(tmp_path):
    path = write(tmp_path, "quick.toml", MINIMAL + """
        [[stages]]
        epochs = 2
        mode = "feature_extract"
        [[stages]]
        epochs = 1
        lr = 1e-4
    """)
    res = validate(path, "--set", "train.batch_size=8", "--show")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "recipe quick" in out and "toy_net + linear head" in out
    assert "3 epochs, batch 8" in out and "stage1: 2 ep feature_extract" in out
    assert "batch_size = 8" in out  # --show prints the resolved TOML
    assert "ok: the recipe is valid." in out


@pytest.mark.usefixtures("toy_plugin")
def test_invalid_recipe_exits_2_listing_every_problem(tmp_path):
    path = write(tmp_path, "bad.toml", """
        [recipe]
        task = "toy_task"
        [data]
        dataset = "toy_data"
        [model]
        backbone = "alexnt"
        [train]
        epocs = 3
        precision = "fp61"
    """)
    res = validate(path)
    assert res.exit_code == 2
    assert isinstance(res.exception, SystemExit)  # a clean exit, not an escaped exception
    assert "Traceback" not in res.output
    err = res.stderr
    assert "has 3 problems" in err
    assert "model.backbone: Unknown backbone 'alexnt'. Did you mean 'alexnet'" in err
    assert "train.epocs: unknown key 'epocs' in [train]. Did you mean 'epochs'?" in err
    assert "train.precision: 'fp61' is not one of fp32, bf16, fp16. Did you mean 'fp16'?" in err


@pytest.mark.usefixtures("toy_plugin")
def test_warnings_pass_unless_strict(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = write(tmp_path, "hub.toml", MINIMAL.replace('weights = "local"', ""))
    res = validate(path)
    assert res.exit_code == 0, res.output
    assert "warning: model.weights:" in res.output and "`zoo pull toy_net.hub`" in res.output
    assert "valid with 1 warning" in res.output
    res = validate(path, "--strict")
    assert res.exit_code == 2
    assert "has 1 problem" in res.stderr and "zoo pull toy_net.hub" in res.stderr


@pytest.mark.usefixtures("toy_plugin")
def test_set_errors_and_missing_file_exit_2(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL)
    res = validate(path, "--set", "train.epoch=3", "--set", "oops")
    assert res.exit_code == 2
    assert "train.epoch (from --set): unknown key 'epoch' in [train]" in res.stderr
    assert "--set 'oops': expected key.path=value" in res.stderr
    res = validate(tmp_path / "nope.toml")
    assert res.exit_code == 2 and "does not exist" in res.stderr


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_validate(recipe, tmp_path):
    """Every recipe in recipes/ passes `zoo validate`; weights/data warnings are fine.

    A recipe over a local image folder names a placeholder data.root that the user
    replaces with --set; it must be valid once that folder exists, and nothing else
    may be wrong with it.
    """
    import tomllib

    res = validate(recipe)
    # a recipe that starts from an earlier run names that run's model folder, as a
    # placeholder too: give it one (tests/_engine_helpers.earlier_run_models)
    earlier = earlier_run_models(tomllib.loads(recipe.read_text()), tmp_path)
    if recipe.stem in BACKBONE_FROM_EARLIER_RUN:
        assert res.exit_code == 2 and "is not a saved-model folder" in res.stderr, res.output
        from zoo_core.api import create, save_model

        arch = BACKBONE_FROM_EARLIER_RUN[recipe.stem]
        folder = tmp_path / "earlier_backbone"
        save_model(folder, create("backbone", arch, num_classes=0),
                   {"architecture": arch, "num_classes": 0})
        earlier += ["--set", f'model.backbone="{folder}"']
        res = validate(recipe, *earlier)
    if res.exit_code == 2 and "data.root: folder " in res.stderr:
        problems = 1 + len(earlier) // 2
        assert f"has {problems} problem{'s' if problems > 1 else ''}:" in res.stderr, res.stderr
        from PIL import Image

        (tmp_path / "data" / "a_class").mkdir(parents=True)  # images in a class folder
        Image.new("RGB", (8, 8)).save(tmp_path / "data" / "a_class" / "x.png")
        res = validate(recipe, "--set", f"data.root={tmp_path / 'data'}", *earlier)
    assert res.exit_code == 0, res.output


def test_the_installed_command_prints_no_traceback(tmp_path):
    path = write(tmp_path, "bad.toml", '[data]\ndataset = 3\n[model]\nbackbone = "resnet18"\n')
    proc = subprocess.run([sys.executable, "-m", "zoo_core.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "data.dataset: Input should be a valid string (got 3)." in proc.stderr


def test_validate_reports_an_image_folder_without_images(tmp_path):
    """`zoo validate`, not only `zoo run`, finds that a folder holds no images."""
    (tmp_path / "empty" / "some_class").mkdir(parents=True)
    for dataset, expected in (("imagefolder", "No class folders with images"),
                              ("images", "No image files")):
        digits = next(p for p in RECIPES if p.name == "digits_lenet5.toml")
        result = validate(digits, "--set", f'data.dataset="{dataset}"', "--set",
                          f'data.root="{tmp_path / "empty"}"')
        assert result.exit_code == 2 and expected in result.output, result.output
