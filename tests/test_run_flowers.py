"""The shipped Flowers102/AlexNet recipe, run offline: data pointed at the real
flowers12 images, weights at the Hub stand-in, epochs and size made tiny."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import RECIPES, cli
from tests._hub_server import FakeHub
from tests._weights_helpers import env_fixture, hub_fixture  # noqa: F401 - fixtures
from tests.conftest import shared_data

STAGES = ('stages=[{name="feature_extract", epochs=2, mode="feature_extract", lr=0.01}, '
          '{name="fine_tune", epochs=1, mode="fine_tune", lr=0.001, '
          'stage_lr_mult=[0.1, 0.1, 0.5, 1.0]}]')


@pytest.mark.slow
@pytest.mark.data
def test_flowers_alexnet_recipe_on_flowers12_with_weights_from_the_hub(env: FakeHub,
                                                                       tmp_path: Path):
    flowers = shared_data("flowers12") / "train"
    from safetensors.torch import save

    from zoo_core.api import create

    torch.manual_seed(0)
    imagenet_shaped = create("backbone", "alexnet")  # 1000 classes, as torchvision's
    blob = save({k: v.contiguous() for k, v in imagenet_shaped.state_dict().items()})
    env.commit("zoo-test/alexnet-in1k", {"model.safetensors": blob})
    out = tmp_path / "run"
    result = cli("run", str(RECIPES / "flowers_alexnet.toml"), "--out", str(out), "--no-progress",
                 "--set", 'data.dataset="imagefolder"', "--set", f'data.root="{flowers}"',
                 "--set", 'model.weights="hf://zoo-test/alexnet-in1k"',
                 "--set", "data.image_size=64", "--set", "data.subset_per_class=6",
                 "--set", "data.num_workers=0", "--set", STAGES)
    assert result.exit_code == 0, result.output

    lock = json.loads((out / "weights.lock.json").read_text())["weights"]
    assert len(lock) == 1 and lock[0]["uri"].startswith("hf://zoo-test/alexnet-in1k")
    assert lock[0]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert len(lock[0]["revision"]) == 40
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("phase") for r in rows[:-1]] == ["feature_extract"] * 2 + ["fine_tune"]
    assert rows[-1]["event"] == "final" and rows[-1]["split"] == "val"
    report = (out / "report.md").read_text()
    assert "Frozen-feature cache (feature_extract)" in report and "went through" in report
    config = json.loads((out / "models" / "net" / "config.json").read_text())
    assert config["architecture"] == "alexnet" and config["num_classes"] == 12
    assert config["pretrained_cfg"]["input_size"] == [3, 64, 64]
    evaluated = cli("eval", str(out), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["metrics"]["val/top1"] == pytest.approx(
        rows[-1]["val/top1"])
