"""The reconstruction task on the engine: noise on the input only, seeded evaluation noise,
PSNR against the noisy input, grids, predict, the encoder export and its transfer into a
classification recipe, and the shipped digits recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import RECIPES, cli, write_recipe
from zoo_core.engine.pipeline import build_pipeline
from zoo_core.errors import RecipeError
from zoo_core.recipe import load_and_validate, load_recipe

TINY = """
[recipe]
name = "tiny_dae"
task = "reconstruction"
seed = 0

[data]
dataset = "digits"
image_size = 16
val_fraction = 0.1
test_fraction = 0.2
split_seed = 0
num_workers = 0

[models.net]
name = "conv_autoencoder"
cfg = {{ widths = [8, 16], latent_channels = 8 }}

[train]
epochs = {epochs}
batch_size = 32
max_steps_per_epoch = {steps}

[task]
n_samples = 4
{task}

[task.noise]
gaussian = 0.3
"""


def tiny(tmp_path: Path, *, epochs: int = 1, steps: int = 3, task: str = "",
         name: str = "dae.toml") -> Path:
    return write_recipe(tmp_path / name, TINY.format(epochs=epochs, steps=steps, task=task))


def test_autoencoders_are_registered_and_the_recipe_is_checked(tmp_path):
    from zoo_core.api import create

    model = create("autoencoder", "conv_autoencoder", in_chans=1, widths=[8], latent_channels=4)
    with torch.no_grad():
        out = model(torch.rand(2, 1, 9, 11))
    assert out.shape == (2, 1, 9, 11) and 0 <= float(out.min()) <= float(out.max()) <= 1
    with pytest.raises(RecipeError) as err:
        load_and_validate(tiny(tmp_path), ["models.net.cfg.in_chans=3",
                                           "task.noise.gausian=0.1"])
    text = str(err.value)
    assert "'in_chans' is set by zoo from the model and data" in text
    assert "Did you mean 'gaussian'" in text
    recipe = load_recipe(tiny(tmp_path))
    assert recipe.train.checkpoint.monitor == "val/psnr"
    assert recipe.train.checkpoint.mode == "max"


def test_noise_reaches_the_input_only_and_evaluation_noise_is_fixed(tmp_path):
    pipe = build_pipeline(load_recipe(tiny(tmp_path)), "cpu")
    task, model = pipe.task, pipe.specs["net"].model
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    batch = pipe.to_device(next(iter(pipe.train_loader)))
    clean = batch["image"]
    assert clean.shape[1:] == (1, 16, 16) and 0 <= float(clean.min()) and float(clean.max()) <= 1
    pipe.configure_phase(0)
    pipe.start_epoch(0)
    values = pipe.train_step(next(iter(pipe.train_loader)))
    assert set(values) == {"loss", "psnr"}
    noisy = seen[-1]
    # the network saw a corrupted batch: about sigma 0.3 of noise, clipped to [0, 1]
    assert 0.15 < float((noisy - clean).std()) < 0.35
    # and the loss compared its output with the clean images
    with torch.no_grad():
        model.eval()
        recon = model(noisy)
    expected = torch.nn.functional.mse_loss(recon, clean)
    assert float(task.loss(recon, batch, False)) == pytest.approx(float(expected))
    # two evaluations draw the very same noise: the noisy baseline does not move
    from zoo_core.engine.trainer import evaluate_split

    first = evaluate_split(pipe, "val").compute()
    second = evaluate_split(pipe, "val").compute()
    assert first["noisy_psnr"] == second["noisy_psnr"]
    assert first["psnr_gain"] == pytest.approx(first["psnr"] - first["noisy_psnr"])
    assert 8 < first["noisy_psnr"] < 14  # sigma 0.3 on [0, 1] images: about 11 dB


def test_run_exports_the_encoder_and_a_classifier_starts_from_it(tmp_path):
    out = tmp_path / "dae"
    result = cli("run", str(tiny(tmp_path, epochs=2)), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "artifacts").iterdir()) == [
        "reconstructions_epoch001.png", "reconstructions_epoch002.png"]
    from PIL import Image

    # 3 rows (noisy, reconstruction, clean) of 4 digits, enlarged to 64 px
    assert Image.open(out / "artifacts" / "reconstructions_epoch002.png").size == (
        4 * 64 + 5 * 2, 3 * 64 + 4 * 2)
    final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["split"] == "test"
    assert {"test/psnr", "test/noisy_psnr", "test/psnr_gain", "test/mse"} <= set(final)
    report = (out / "report.md").read_text()
    assert "Denoising gain" in report and "models/encoder/" in report
    # the encoder is a backbone folder; the trained autoencoder's tensors, unchanged
    from zoo_core.weights import load_model

    encoder = load_model(out / "models" / "encoder").model
    trained = load_model(out / "models" / "net").model.encoder
    assert all(torch.equal(encoder.state_dict()[k], v) for k, v in trained.state_dict().items())
    # the folder is the backbone's name: its config.json brings the encoder's own cfg
    # (widths..., not the registry default) and its weights
    clf = write_recipe(tmp_path / "clf.toml", f"""
        [recipe]
        name = "transfer"
        task = "classification"
        [data]
        dataset = "digits"
        image_size = 16
        val_fraction = 0.1
        test_fraction = 0.2
        split_seed = 0
        subset_per_class = 2
        num_workers = 0
        [models.net]
        name = "{out / 'models' / 'encoder'}"
        cfg = {{ in_chans = 1 }}
        [train]
        epochs = 1
        batch_size = 8
        """)
    pipe = build_pipeline(load_recipe(clf), "cpu")
    net = pipe.specs["net"].model
    for key, value in encoder.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert net.get_classifier().out_features == 10  # a new 10-way classifier


def test_predict_denoises_files(tmp_path):
    out = tmp_path / "dae"
    assert cli("run", str(tiny(tmp_path)), "--out", str(out), "--no-progress").exit_code == 0
    import numpy as np
    from PIL import Image

    img = np.zeros((20, 24), np.uint8)
    img[5:15, 8:16] = 255
    Image.fromarray(img).save(tmp_path / "digit.png")
    result = cli("predict", str(out), str(tmp_path / "digit.png"), "--noise", "true",
                 "--out", str(tmp_path / "pred"), "--json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)
    assert Image.open(item["reconstruction"]).size == (24, 20)
    assert Path(item["noisy"]).is_file() and item["noisy_psnr"] < 20


@pytest.mark.slow
def test_shipped_digits_recipes_run(tmp_path):
    out = tmp_path / "dae"
    result = cli("run", str(RECIPES / "digits_dae.toml"), "--out", str(out), "--no-progress",
                 "--set", "train.epochs=1", "--set", "train.max_steps_per_epoch=2")
    assert result.exit_code == 0, result.output
    assert (out / "models" / "encoder" / "model.safetensors").is_file()
    result = cli("run", str(RECIPES / "digits_dae_transfer.toml"), "--out",
                 str(tmp_path / "transfer"), "--no-progress", "--set",
                 f"model.backbone={out / 'models' / 'encoder'}", "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    assert "train 100," in result.output  # 10 labels per class


def test_shipped_digits_recipes_validate(tmp_path):
    assert cli("validate", str(RECIPES / "digits_dae.toml")).exit_code == 0
    missing = cli("validate", str(RECIPES / "digits_dae_transfer.toml"))
    # the transfer recipe needs the denoising run's encoder, and says so
    assert missing.exit_code == 2 and "runs/digits_dae/models/encoder is not a saved-model " \
        "folder" in missing.output
