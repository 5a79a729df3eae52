"""The super-resolution task end to end: `zoo eval` of bicubic against the published
Set5 protocol, few-step SRResNet and SRGAN runs on real images, `zoo predict` sizes,
and the errors a user can cause (exit 2, one message)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import cli
from tests.conftest import shared_data


def _recipe(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def _srresnet_recipe(path: Path, train: Path, val: Path) -> Path:
    """A tiny SRResNet (2 blocks of 16 features) for a few steps, SunHays80 -> Set5."""
    return _recipe(path, f"""
        [recipe]
        name = "sr_tiny"
        task = "sr"
        [data]
        dataset = "images"
        root = "{train}"
        val_root = "{val}"
        num_workers = 0
        [models.generator]
        name = "srresnet"
        cfg = {{num_block = 2, num_feat = 16}}
        [train]
        epochs = 2
        batch_size = 2
        max_steps_per_epoch = 3
        [train.early_stopping]
        enabled = true
        patience = 5
        restore_best = false       # models/ holds the last epoch's (EMA) generator
        [task]
        gt_size = 64
        ema_decay = 0.9
        artifact_images = 2
        artifact_crop = 48
        """)


@pytest.fixture(scope="module", name="srresnet_run")
def srresnet_run_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    train, val = shared_data("sr/SunHays80"), shared_data("sr/Set5")
    base = tmp_path_factory.mktemp("sr_run")
    recipe = _srresnet_recipe(base / "sr_tiny.toml", train, val)
    out = base / "run"
    result = cli("run", str(recipe), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    return out


def _json(output: str) -> dict:
    return json.loads(output[output.index("{"):])


@pytest.mark.slow
def test_bicubic_on_set5_through_zoo_eval_matches_the_published_protocol():
    """The SR literature's bicubic x4 on Set5: 28.42 dB / 0.8104 (Y, 4 px border)."""
    set5 = shared_data("sr/Set5")
    result = cli("eval", "bicubic", "--data", str(set5), "--set", "task.scale=4", "--json")
    assert result.exit_code == 0, result.output
    out = _json(result.output)
    assert out["model"] == "bicubic" and out["split"] == "eval" and out["samples"] == 5
    m = out["metrics"]
    assert abs(m["eval/psnr_y"] - 28.42) <= 0.05, m
    assert abs(m["eval/ssim_y"] - 0.8104) <= 0.002, m
    assert m["eval/psnr_rgb"] < m["eval/psnr_y"]  # RGB is harder than luma, as always


@pytest.mark.slow
def test_srresnet_run_trains_saves_the_ema_and_reports_beside_bicubic(srresnet_run: Path):
    from safetensors.torch import load_file

    run = srresnet_run
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epoch, final = lines[-2], lines[-1]
    assert {"train/loss", "train/pixel", "val/loss", "val/psnr_y", "val/ssim_y",
            "val/psnr_rgb", "val/ssim_rgb"} <= set(epoch)
    assert final["split"] == "val" and 5 < final["val/psnr_y"] < 60
    assert epoch["artifacts"] == ["artifacts/epoch_002.png"]
    for name in ("artifacts/epoch_001.png", "artifacts/final_val.png", "sr_eval.csv",
                 "models/generator/model.safetensors", "psnr.png"):
        assert (run / name).is_file(), name
    # the saved generator is the EMA, which differs from the trained weights
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    saved = load_file(str(run / "models" / "generator" / "model.safetensors"))
    ema = state["task"]["ema"]["module"]
    live = state["models"]["generator"]
    assert saved.keys() == ema.keys()
    assert all(torch.equal(saved[k], ema[k]) for k in saved)
    assert any(not torch.equal(saved[k], live[k]) for k in saved)
    report = (run / "report.md").read_text()
    assert "| bicubic | 28.43 | 0.8113 |" in report  # the baseline on the same Set5 images
    assert "| gain |" in report and "final_val.png" in report
    config = json.loads((run / "models" / "generator" / "config.json").read_text())
    assert config["zoo"]["builder"] == {"kind": "sr", "name": "srresnet"}
    assert config["zoo"]["model"]["scale"] == 4 and config["zoo"]["main_role"] == "generator"

    # zoo eval of the run folder gives the run's own final figures
    result = cli("eval", str(run), "--json")
    assert result.exit_code == 0, result.output
    out = _json(result.output)
    assert out["split"] == "val"
    assert out["metrics"]["val/psnr_y"] == pytest.approx(final["val/psnr_y"], abs=1e-9)


@pytest.mark.slow
def test_srgan_fine_tunes_a_saved_generator_with_two_optimizers(srresnet_run: Path,
                                                                tmp_path: Path):
    train, val = shared_data("sr/SunHays80"), shared_data("sr/Set5")
    recipe = _recipe(tmp_path / "srgan.toml", f"""
        [recipe]
        name = "srgan_tiny"
        task = "sr"
        [data]
        dataset = "images"
        root = "{train}"
        val_root = "{val}"
        num_workers = 0
        [models.generator]
        name = "srresnet"
        cfg = {{num_block = 2, num_feat = 16}}
        weights = "{srresnet_run / 'models' / 'generator'}"
        [models.discriminator]
        name = "sr_discriminator"
        cfg = {{num_feat = 8}}
        [train]
        epochs = 1
        batch_size = 2
        max_steps_per_epoch = 2
        [task]
        perceptual_layer = "conv2_2"
        perceptual_weights = "none"
        artifact_images = 1
        """)
    out = tmp_path / "run"
    result = cli("run", str(recipe), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    resolved = (out / "recipe.toml").read_text()
    # BasicSR's SRGAN weights, filled in because the recipe has a discriminator
    assert "pixel_weight = 0.01" in resolved and "gan_weight = 0.005" in resolved
    epoch = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    for key in ("train/loss", "train/pixel", "train/perceptual", "train/gan", "train/d_loss",
                "train/d_real", "train/d_fake", "val/psnr_y"):
        assert key in epoch, key
    assert epoch["train/lr_generator"] == pytest.approx(1e-4)  # SRGAN's, not SRResNet's 2e-4
    assert epoch["train/lr_discriminator"] == pytest.approx(1e-4)
    assert (out / "models" / "discriminator" / "model.safetensors").is_file()
    start = torch.load(srresnet_run / "checkpoints" / "last.pt", weights_only=True)
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    # the generator started from the SRResNet run's saved (EMA) weights and moved on
    assert state["task"]["ema"]["updates"] == 2
    moved = state["models"]["generator"]
    assert any(not torch.equal(moved[k], start["task"]["ema"]["module"][k]) for k in moved)


def test_tiled_upscaling_equals_the_whole_image_for_bicubic():
    from zoo_sr.tiling import to_uint8, upscale_tiled

    from zoo_core.api import create

    torch.manual_seed(0)
    lr = torch.rand(3, 37, 29)
    model = create("sr", "bicubic", scale=3).eval()
    whole = to_uint8(model(lr[None])[0])
    tiled = upscale_tiled(model, lr, 3, tile=8, overlap=3)
    assert tiled.shape == (3, 111, 87) and tiled.dtype == torch.uint8
    assert torch.equal(tiled, whole)  # bicubic reaches 2 LR pixels: 3 of context suffice
    with pytest.raises(Exception, match="another scale"):
        upscale_tiled(model, lr, 4, tile=8, overlap=3)


@pytest.mark.slow
def test_predict_writes_images_exactly_scale_times_larger(srresnet_run: Path, tmp_path: Path):
    from PIL import Image

    Image.new("RGB", (37, 23), (200, 30, 90)).save(tmp_path / "a.png")
    Image.new("L", (20, 41), 128).save(tmp_path / "b.png")  # grayscale becomes RGB
    result = cli("predict", str(srresnet_run), str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                 "--out", str(tmp_path / "out"), "--tile", "16", "--overlap", "4", "--json")
    assert result.exit_code == 0, result.output
    results = json.loads(result.output[result.output.index("["):])
    assert [r["output_size"] for r in results] == [[148, 92], [80, 164]]
    for r in results:
        with Image.open(r["output"]) as img:
            assert img.mode == "RGB" and list(img.size) == r["output_size"]
    missing_out = cli("predict", str(srresnet_run), str(tmp_path / "a.png"))
    assert missing_out.exit_code == 2 and "--out" in missing_out.output


@pytest.mark.slow
def test_export_checks_parity_on_the_runs_own_lr_images(srresnet_run: Path, tmp_path: Path):
    """The generator is fed the validation LR images (whole Set5 images, one per batch, each
    its own size) and a random batch at another size: the export keeps height and width
    dynamic."""
    pytest.importorskip("onnxruntime")
    result = cli("export", str(srresnet_run), "--json", "--out", str(tmp_path / "g.onnx"))
    assert result.exit_code == 0, result.output
    parity = _json(result.output)["parity"]
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-4
    assert parity["inputs"].startswith("real inputs: 5 images of the 'val' split")
    sizes = {tuple(s[2:]) for s in parity["shapes"]}
    assert len(sizes) >= 3, parity["shapes"]  # Set5's LR images differ in size


# -- the errors a user can cause: exit code 2, one message, no traceback ----------------------


def _fails(result, *fragments: str) -> None:
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def test_a_file_that_is_no_image_stops_the_evaluation_naming_it(tmp_path: Path):
    from PIL import Image

    Image.new("RGB", (64, 64)).save(tmp_path / "good.png")
    (tmp_path / "notes.png").write_text("not an image")
    result = cli("eval", "bicubic", "--data", str(tmp_path))
    _fails(result, "notes.png", "data.bad_images")


@pytest.mark.slow
def test_an_image_smaller_than_the_crop_stops_the_run(tmp_path: Path):
    from PIL import Image

    (tmp_path / "hr").mkdir()
    for i in range(2):
        Image.new("RGB", (40, 40), (i * 90, 20, 20)).save(tmp_path / "hr" / f"{i}.png")
    recipe = _recipe(tmp_path / "small.toml", f"""
        [recipe]
        task = "sr"
        [data]
        dataset = "images"
        root = "{tmp_path / 'hr'}"
        val_fraction = 0.0
        num_workers = 0
        [models.generator]
        name = "srresnet"
        cfg = {{num_block = 1, num_feat = 8}}
        [train]
        epochs = 1
        batch_size = 2
        [task]
        gt_size = 64
        """)
    _fails(cli("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"),
           "40x40 px is smaller than the 64 px crop")


def test_a_model_that_cannot_take_the_lr_crop_is_stopped_before_training(tmp_path: Path):
    from PIL import Image

    (tmp_path / "hr").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "hr" / "a.png")
    # SAFMN's downsampling branch needs more than the 24/4 = 6 px LR crop
    recipe = _recipe(tmp_path / "safmn.toml", f"""
        [recipe]
        task = "sr"
        [data]
        dataset = "images"
        root = "{tmp_path / 'hr'}"
        val_fraction = 0.0
        [models.generator]
        name = "safmn"
        [task]
        gt_size = 24
        """)
    _fails(cli("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"),
           "cannot upscale a 6x6 px LR crop", "task.gt_size")


@pytest.mark.slow
def test_a_scale_the_model_was_not_built_for(srresnet_run: Path, tmp_path: Path):
    set5 = shared_data("sr/Set5")
    _fails(cli("eval", str(srresnet_run), "--data", str(set5), "--set", "task.scale=2"),
           "The model upscales x4, but task.scale = 2")
    recipe = _recipe(tmp_path / "x2.toml", f"""
        [recipe]
        task = "sr"
        [data]
        dataset = "images"
        root = "{set5}"
        [models.generator]
        name = "srresnet"
        cfg = {{num_block = 2, num_feat = 16}}
        weights = "{srresnet_run / 'models' / 'generator'}"
        [task]
        scale = 2
        """)
    _fails(cli("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"),
           "holds an x4 generator, but task.scale = 2")


def test_recipe_errors_are_reported_at_validation(tmp_path: Path):
    from PIL import Image

    (tmp_path / "hr").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "hr" / "a.png")
    base = f"""
        [recipe]
        task = "sr"
        [data]
        dataset = "images"
        root = "{tmp_path / 'hr'}"
        """
    cases = {
        "[task]\nscale = 3\ngt_size = 128\n": "task.gt_size = 128 is not a multiple of "
                                               "task.scale = 3",
        "[task]\nscale = 5\n": "the SR scale is 2, 3 or 4",
        "[task]\ngan_weight = 0.01\n": "needs a discriminator",
        "[models.generator]\nname = \"bicubic\"\n": "bicubic has no parameters to train",
        "[models.generator]\nname = \"srresnet\"\ncfg = {scale = 2}\n": "'scale' is set by zoo",
        "[models.discriminator]\nname = \"sr_discriminator\"\n[task]\ngt_size = 96\n":
            "sr_discriminator judges 128 or 256 px HR crops",
        # (the base ends inside [data])
        "val_fraction = 0.2\nval_root = \"/tmp\"\n": "data.val_root names the validation "
                                                      "images",
        "[eval]\nbatch_size = 4\n": "eval.batch_size must be 1",
    }
    for i, (extra, message) in enumerate(cases.items()):
        recipe = _recipe(tmp_path / f"r{i}.toml", base + textwrap.indent(extra, " " * 8))
        _fails(cli("validate", str(recipe)), message)
    missing = _recipe(tmp_path / "val.toml", base + f"""
        val_root = "{tmp_path / 'nowhere'}"
        """)
    _fails(cli("validate", str(missing)), "data.val_root", "does not exist")


def test_the_task_is_registered_with_its_roles_and_metrics():
    from zoo_core.plugins import registry

    task = registry().get("task", "sr").component.create()
    assert task.main_role == "generator"
    assert task.roles["generator"].kind == "sr" and task.roles["generator"].default == "srresnet"
    assert task.roles["discriminator"].default is None
    assert {"scale", "in_chans"} <= set(task.roles["generator"].reserved)
    assert task.metrics()["psnr_y"] == "max" and task.metrics()["loss"] == "min"


def test_zoo_eval_of_a_name_that_is_neither_a_folder_nor_a_model(tmp_path: Path):
    _fails(cli("eval", "srresnett_x9", "--data", str(tmp_path)),
           "srresnett_x9 does not exist, and no task has a model of that name")
    _fails(cli("eval", "bicubic"), "'bicubic' is a registry model", "--data")
