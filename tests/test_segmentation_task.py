"""The segmentation task on the engine: value maps, the segfolder data set with the core's
seeded splits, fatal mask errors, losses and metrics, encoder freezing by stage, tiled
evaluation, overlays, the per-image IoU table, zoo predict, and the shipped recipes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests._engine_helpers import RECIPES, cli, write_recipe
from tests.conftest import shared_data
from zoo_core.engine.pipeline import build_pipeline
from zoo_core.errors import DataError, RecipeError
from zoo_core.recipe import load_and_validate, load_recipe


def make_folder(root: Path, n: int = 8, size: int = 40, seed: int = 0,
                values: tuple[int, int] = (0, 255)) -> Path:
    """Grey images with a bright square; masks ``values[1]`` on the square."""
    rng = np.random.default_rng(seed)
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = rng.integers(0, 60, size=(size, size)).astype(np.uint8)
        mask = np.full((size, size), values[0], np.uint8)
        y, x = rng.integers(2, size // 2, size=2)
        s = int(rng.integers(size // 4, size // 2))
        img[y:y + s, x:x + s] += 150
        mask[y:y + s, x:x + s] = values[1]
        Image.fromarray(img).save(root / "image" / f"{i}.png")
        Image.fromarray(mask).save(root / "label" / f"{i}.png")
    return root


TINY = """
[recipe]
name = "tiny_seg"
task = "segmentation"
seed = 0

[data]
dataset = "segfolder"
root = "{root}"
val_fraction = 0.25
num_workers = 0

[models.net]
name = "unet"
cfg = {{ encoder = "test_resnet", decoder_channels = [16, 16, 8, 8, 8] }}

[train]
epochs = {epochs}
batch_size = 4
max_steps_per_epoch = {steps}

[task]
mode = "binary"
values = {{ 0 = "background", 255 = "square" }}
crop_size = 32
overlays = 2
{task}
"""


def tiny(tmp_path: Path, *, epochs: int = 1, steps: int = 2, task: str = "",
         name: str = "seg.toml", root: Path | None = None) -> Path:
    root = root or make_folder(tmp_path / "data")
    return write_recipe(tmp_path / name, TINY.format(root=root, epochs=epochs, steps=steps,
                                                     task=task))


def test_value_maps_classes_and_multilabel_planes():
    from zoo_segmentation.labels import LabelSpec

    grey = LabelSpec.from_options("binary", None, {"0": "membrane", "255": "cell"})
    assert grey.class_names == ("membrane", "cell") and grey.num_outputs == 1
    raw = np.array([[0, 255], [255, 0]], np.uint8)
    assert grey.map_raw(raw, "m.png").tolist() == [[0, 1], [1, 0]]
    with pytest.raises(DataError, match=r"m\.png has pixel values that task.values does not "
                                        r"map: 7 \(1 pixels\)"):
        grey.map_raw(np.array([[0, 7]], np.uint8), "m.png")
    # colours, and a value left out of loss and metrics
    colour = LabelSpec.from_options("multiclass", None, {"#000000": "bg", "255,0,0": "red",
                                                         "#00ff00": "ignore"})
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 1] = (255, 0, 0)
    rgb[0, 2] = (0, 255, 0)
    assert colour.map_raw(rgb, "c.png").tolist() == [[0, 1, 255]]
    # classes: the pixel value is the class; the ignore index passes through
    idx = LabelSpec.from_options("multiclass", ["a", "b", "c"], None)
    assert idx.map_raw(np.array([[0, 2, 255]], np.uint8), "x").tolist() == [[0, 2, 255]]
    with pytest.raises(DataError, match="pixel values 3, but task.classes names 3 classes"):
        idx.map_raw(np.array([[3]], np.uint8), "x")
    with pytest.raises(DataError, match="exactly two classes"):
        LabelSpec.from_options("binary", ["a", "b", "c"], None)
    # multilabel: a value carries a list of classes; planes come after the augmentation
    multi = LabelSpec.from_options("multilabel", None, {"0": [], "1": ["road"],
                                                        "2": ["road", "wet"], "9": "ignore"})
    entries = multi.map_raw(np.array([[0, 1, 2, 9]], np.uint8), "x")
    planes = multi.expand(torch.from_numpy(entries))
    assert multi.class_names == ("road", "wet") and planes.shape == (2, 1, 4)
    assert planes[:, 0].T.tolist() == [[0, 0], [1, 0], [1, 1], [255, 255]]


def test_recipe_problems_are_reported_at_their_keys(tmp_path):
    path = tiny(tmp_path)
    with pytest.raises(RecipeError) as err:
        load_and_validate(path, ["task.loss={ce = 1.0}", "task.loss_options={focal = {}}"])
    text = "\n".join(err.value.problems)
    assert "task.loss: 'ce' (softmax cross-entropy) is for multiclass masks" in text
    assert "task.loss_options: options for focal, which task.loss does not weigh" in text
    with pytest.raises(RecipeError) as err:
        load_and_validate(path, ["task.values={0 = \"a\", 1 = \"b\", 2 = \"c\"}"])
    assert "task.values: Binary segmentation needs exactly two classes" in str(err.value)
    with pytest.raises(RecipeError) as err:
        load_recipe(path, ["task.loss={dise = 1.0}"])
    assert "unknown loss 'dise'" in str(err.value)
    with pytest.raises(RecipeError) as err:
        load_and_validate(path, ["models.net.cfg.num_classes=3"])
    assert "'num_classes' is set by zoo from the model and data" in str(err.value)
    recipe = load_recipe(path)
    assert recipe.train.checkpoint.monitor == "val/iou_macro"
    assert recipe.train.checkpoint.mode == "max"


def test_segfolder_seeded_splits_and_the_sample_pipeline(tmp_path):
    pipe = build_pipeline(load_recipe(tiny(tmp_path)), "cpu")
    assert pipe.data.sizes() == {"train": 6, "val": 2}
    assert pipe.data.classes == ["background", "square"]
    again = build_pipeline(load_recipe(tiny(tmp_path, name="b.toml")), "cpu")
    assert pipe.data.splits["val"].indices == again.data.splits["val"].indices
    train = pipe.datasets["train"][(0, 0)]
    assert train["image"].shape == (1, 32, 32) and train["mask"].shape == (32, 32)
    assert set(train["mask"].unique().tolist()) <= {0, 1, 255}  # 255: ignore (rotation/pad)
    # the same (seed, epoch, index) gives the same crop; another epoch another
    assert torch.equal(pipe.datasets["train"][(0, 0)]["image"], train["image"])
    assert not torch.equal(pipe.datasets["train"][(0, 1)]["image"], train["image"])
    val = pipe.datasets["val"][0]
    assert val["image"].shape == (1, 40, 40) and "name" in val
    model = pipe.specs["net"].model
    assert model.in_chans == 1 and model.num_classes == 1


@pytest.mark.parametrize("problem", ["size", "value"])
def test_a_bad_mask_stops_the_run_naming_the_file(tmp_path, problem):
    root = make_folder(tmp_path / "data")
    bad = root / "label" / "3.png"
    mask = np.asarray(Image.open(bad)).copy()
    if problem == "size":
        mask = mask[:, :-1]
    else:
        mask[0, 0] = 17
    Image.fromarray(mask).save(bad)
    path = tiny(tmp_path, root=root, task="epoch_repeats = 2")
    result = cli("run", str(path), "--out", str(tmp_path / "run"), "--no-progress",
                 "--set", "data.val_fraction=0.0", "--set", "train.max_steps_per_epoch=4")
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output and "Traceback" not in result.output
    assert ("is 39x40 but its image" if problem == "size" else
            "pixel values that task.values does not map: 17") in result.output


def test_a_step_and_freezing_the_encoder_by_stage(tmp_path):
    path = tiny(tmp_path, epochs=3, task="freeze_encoder_epochs = 1\nfreeze_encoder_stages = 2")
    pipe = build_pipeline(load_recipe(path), "cpu")
    assert [p.name for p in pipe.phases] == ["frozen_encoder", "train"]
    model = pipe.specs["net"].model
    pipe.configure_phase(0)
    pipe.start_epoch(0)
    stages = pipe.task._stages
    frozen = [p for k in range(2) for p in stages.params[k]]
    assert frozen and not any(p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in stages.params[2] + list(model.decoder.parameters()))
    bns = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not bns[0].training and bns[-1].training  # frozen stages keep their statistics
    before = {id(p): p.detach().clone() for p in model.parameters()}
    batch = next(iter(pipe.train_loader))
    values = pipe.train_step(batch)
    assert set(values) == {"loss", "loss_dice", "loss_bce"}
    assert all(torch.equal(before[id(p)], p) for p in frozen)
    assert not all(torch.equal(before[id(p)], p) for p in model.decoder.parameters())
    pipe.configure_phase(1)
    pipe.start_epoch(1)
    assert all(p.requires_grad for p in model.parameters())
    assert all(m.training for m in model.modules())
    # a stage count the encoder's feature wrapper cannot tell apart is refused
    with pytest.raises(Exception, match="freeze_encoder_stages"):
        build_pipeline(load_recipe(path, ['models.net.cfg.encoder="convnext_atto"',
                                          "models.net.cfg.decoder_channels=[8, 8, 8, 8, 8]"]),
                       "cpu")


@pytest.mark.slow
def test_run_folder_overlays_iou_table_eval_and_predict(tmp_path):
    out = tmp_path / "run"
    path = tiny(tmp_path, epochs=2, task="[task.tiling]\ntile = 32\noverlap = 8")
    result = cli("run", str(path), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "artifacts").iterdir()) == [
        "overlays_epoch001.png", "overlays_epoch002.png"]
    overlay = Image.open(out / "artifacts" / "overlays_epoch002.png")
    assert overlay.size[0] > 3 * 40 and overlay.size[1] > 2 * 40  # 2 rows of 3 panels
    rows = list(csv.DictReader((out / "per_image_iou.csv").open()))
    assert len(rows) == 2 and {"image", "iou", "iou/background", "iou/square"} <= set(rows[0])
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    final = history[-1]
    for key in ("val/iou_macro", "val/iou/square", "val/dice/background", "val/pixel_accuracy",
                "val/loss_dice"):
        assert 0.0 <= final[key] <= 1.5, key
    report = (out / "report.md").read_text()
    assert "per_image_iou.csv" in report and "predicted in tiles" in report
    for png in ("loss.png", "iou.png", "pixel_accuracy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    config = json.loads((out / "models" / "net" / "config.json").read_text())
    assert config["segmentation"]["values"] == {"0": "background", "255": "square"}
    # zoo eval of the run: the same numbers as the run's final evaluation
    ev = cli("eval", str(out), "--split", "val", "--json")
    assert ev.exit_code == 0, ev.output
    scores = json.loads(ev.output)["metrics"]
    assert scores["val/iou_macro"] == pytest.approx(final["val/iou_macro"], abs=1e-6)
    # a bare model folder on a folder of masks: its config.json knows the classes
    ev = cli("eval", str(out / "models" / "net"), "--data", str(tmp_path / "data"), "--json")
    assert ev.exit_code == 0, ev.output
    assert {"eval/iou/background", "eval/iou/square"} <= set(json.loads(ev.output)["metrics"])
    # predict: a larger image than the tile goes in tiles; the mask is in the map's values
    big = np.random.default_rng(1).integers(0, 60, size=(70, 90)).astype(np.uint8)
    big[10:40, 20:60] += 150
    Image.fromarray(big).save(tmp_path / "big.png")
    pred = cli("predict", str(out), str(tmp_path / "big.png"), "--out", str(tmp_path / "p"),
               "--json")
    assert pred.exit_code == 0, pred.output
    (item,) = json.loads(pred.output)
    assert item["tiled"] and item["size"] == [70, 90]
    mask = np.asarray(Image.open(item["mask"]))
    assert mask.shape == (70, 90) and set(np.unique(mask).tolist()) <= {0, 255}
    assert sum(item["fractions"].values()) == pytest.approx(1.0)
    assert Image.open(item["overlay"]).size == (3 * 90 + 8, 70)
    typo = cli("predict", str(out), str(tmp_path / "big.png"), "--tresh", "0.3")
    assert typo.exit_code == 2 and "Did you mean 'threshold'" in typo.output


@pytest.mark.slow
def test_multiclass_colour_masks_run(tmp_path):
    root = tmp_path / "colour"
    make_folder(root, n=6, size=24)
    for p in (root / "label").iterdir():  # grey 0/255 -> colour masks
        m = np.asarray(Image.open(p))
        rgb = np.zeros((*m.shape, 3), np.uint8)
        rgb[m == 255] = (200, 30, 30)
        rgb[:2] = (0, 0, 255)  # a border class
        Image.fromarray(rgb).save(p)
    path = tiny(tmp_path, root=root, task="")
    text = path.read_text().replace('mode = "binary"', 'mode = "multiclass"').replace(
        'values = { 0 = "background", 255 = "square" }',
        'values = { "#000000" = "background", "#c81e1e" = "square", "#0000ff" = "border" }'
    ).replace("crop_size = 32", "crop_size = 16")
    path.write_text(text)
    out = tmp_path / "run"
    result = cli("run", str(path), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"val/iou/background", "val/iou/square", "val/iou/border"} <= set(final)
    assert "val/loss_ce" in final  # multiclass default: dice + ce


@pytest.mark.slow
def test_membrane_recipe_runs_on_the_held_out_split(tmp_path):
    root = shared_data("membrane")
    out = tmp_path / "run"
    result = cli("run", str(RECIPES / "membrane_unet.toml"), "--out", str(out),
                 "--no-progress", "--set", f"data.root={root}", "--set", "train.epochs=1",
                 "--set", "train.max_steps_per_epoch=1", "--set", "task.crop_size=64",
                 "--set", "task.overlays=1")
    assert result.exit_code == 0, result.output
    # the seeded split holds out 6 of the 30 slices; each of the 24 others is drawn
    # epoch_repeats = 4 times per epoch
    assert "train 96, val 6" in result.output
    assert "each training image is drawn 4 times per epoch" in result.output
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["split"] == "val" and 0.0 < final["val/pixel_accuracy"] <= 1.0
    assert {"val/iou/membrane", "val/iou/cell", "val/dice/membrane", "val/dice/cell"} <= \
        set(final)


def test_shipped_segmentation_recipes_validate(tmp_path):
    root = shared_data("membrane")
    result = cli("validate", str(RECIPES / "membrane_unet.toml"), "--set", f"data.root={root}")
    assert result.exit_code == 0, result.output
    result = cli("validate", str(RECIPES / "pets_unet.toml"),
                 "--set", f"data.root={tmp_path / 'pets'}")
    assert result.exit_code == 0, result.output
    assert "would download data set 'oxford_pets_seg'" in result.output


def test_pets_fails_offline_with_the_usual_message(tmp_path):
    """data.download = false stands for an offline machine here (a test must not download
    800 MB where the network happens to be reachable)."""
    (tmp_path / "pets").mkdir()
    result = cli("run", str(RECIPES / "pets_unet.toml"), "--out", str(tmp_path / "run"),
                 "--no-progress", "--set", f"data.root={tmp_path / 'pets'}",
                 "--set", "data.download=false")
    assert result.exit_code == 2, result.output
    assert "Data set 'oxford_pets_seg' is not in" in result.output
    assert "data.download = false" in result.output and "oxford-iiit-pet/" in result.output
    assert "Traceback" not in result.output


def test_evaluation_images_of_several_sizes_need_a_resize_or_batches_of_one(tmp_path):
    root = make_folder(tmp_path / "data", n=4, size=40)
    make_folder(tmp_path / "more", n=4, size=36, seed=1)
    for kind in ("image", "label"):
        for p in (tmp_path / "more" / kind).iterdir():
            p.rename(root / kind / f"b{p.name}")
    path = tiny(tmp_path, root=root)
    with pytest.raises(DataError, match=r"The val images differ in size \(36x36, 40x40\)"):
        build_pipeline(load_recipe(path, ["data.val_fraction=0.5"]), "cpu")
    pipe = build_pipeline(load_recipe(path, ["data.val_fraction=0.5", "eval.batch_size=1"]),
                          "cpu")
    assert len(pipe.loaders["val"]) == 4
    pipe = build_pipeline(load_recipe(path, ["data.val_fraction=0.5", "data.image_size=32"]),
                          "cpu")
    assert pipe.datasets["val"][0]["image"].shape == (1, 32, 32)
