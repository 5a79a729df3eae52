"""The classification plugin: metrics, models and their saved form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from zoo_classification.metrics import (
    ClassificationMeter,
    confusion_matrix,
    f1_scores,
    per_class_accuracy,
    topk_accuracy,
)

from tests._engine_helpers import TINY_BACKBONE, make_image_folder, tiny_recipe
from zoo_core.recipe import load_recipe


def test_metrics_agree_with_scikit_learn():
    from sklearn.metrics import confusion_matrix as sk_cm
    from sklearn.metrics import f1_score, recall_score

    gen = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 5, (300,), generator=gen)
    logits = torch.randn(300, 5, generator=gen) + 2.0 * torch.nn.functional.one_hot(targets, 5)
    preds = logits.argmax(1)
    cm = confusion_matrix(preds, targets, 5)
    assert cm.tolist() == sk_cm(targets, preds, labels=range(5)).tolist()
    assert per_class_accuracy(cm) == pytest.approx(
        list(recall_score(targets, preds, average=None)))
    assert f1_scores(cm) == pytest.approx(list(f1_score(targets, preds, average=None)))
    meter = ClassificationMeter(5, topk=(1, 5), confusion=True)
    for i in range(0, 300, 64):
        sl = slice(i, i + 64)
        meter.update_logits(logits[sl], targets[sl], torch.tensor(0.5))
    out = meter.compute()
    assert out["top1"] == pytest.approx(float((preds == targets).float().mean()))
    assert out["top5"] == 1.0 and out["loss"] == pytest.approx(0.5)
    assert out["f1_macro"] == pytest.approx(f1_score(targets, preds, average="macro"))
    assert 0.0 <= out["mean_class_acc"] <= 1.0
    details = meter.details([f"c{i}" for i in range(5)])
    assert details["support"] == torch.bincount(targets, minlength=5).tolist()


def test_topk_accuracy():
    logits = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]])
    targets = torch.tensor([2, 0])
    assert topk_accuracy(logits, targets, 1) == 0.5
    assert topk_accuracy(logits, targets, 2) == 1.0
    with pytest.raises(ValueError, match="at least 4 classes"):
        topk_accuracy(logits, targets, 4)


def _spec(tmp_path: Path, *overrides: str):
    from zoo_core.engine.pipeline import BuildContext
    from zoo_core.recipe import task_of

    folder = make_image_folder(tmp_path / "images", classes=3, per_class=4)
    recipe = load_recipe(tiny_recipe(tmp_path / "r.toml", folder), overrides)
    task = task_of(recipe)
    ctx = BuildContext(recipe, torch.device("cpu"))
    data = task.build_data(ctx)
    return task, task.build_models(data, ctx)["net"]


def test_linear_head_is_the_backbones_own_classifier_and_loads_in_timm(tmp_path: Path):
    import timm
    from safetensors.torch import load_file

    from zoo_core.weights import load_model, save_model

    task, spec = _spec(tmp_path)
    model = spec.model
    assert type(model).__module__.startswith("timm.") and model.get_classifier().out_features == 3
    save_model(tmp_path / "saved", model, spec.save_config)
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["architecture"] == TINY_BACKBONE and config["num_classes"] == 3
    assert config["label_names"] == ["class_a", "class_b", "class_c"]
    assert config["zoo"]["builder"] == {"kind": "task", "name": "classification"}
    plain = timm.create_model(config["architecture"], num_classes=config["num_classes"])
    plain.load_state_dict(load_file(str(tmp_path / "saved" / "model.safetensors")), strict=True)
    x = torch.randn(2, 3, 32, 32)
    reloaded = load_model(tmp_path / "saved").model.eval()
    model.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.allclose(plain(x), model(x)) and torch.allclose(reloaded(x), model(x))
    assert spec.data_config["input_size"] == (3, 32, 32)  # the recipe's image_size


def test_other_heads_wrap_the_backbone_and_reload_through_the_task(tmp_path: Path):
    from zoo_classification.model import Classifier

    from zoo_core.weights import load_model, save_model

    _, spec = _spec(tmp_path, 'model.head="mlp"', "model.head_cfg={hidden = 16}")
    assert isinstance(spec.model, Classifier)
    assert "architecture" not in spec.save_config  # not a timm layout: no false promise
    save_model(tmp_path / "saved", spec.model, spec.save_config)
    reloaded = load_model(tmp_path / "saved").model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(reloaded(x), spec.model.eval()(x))


def test_linear_head_dropout_keeps_timm_keys(tmp_path: Path):
    _, spec = _spec(tmp_path, "model.head_cfg={dropout = 0.5}")
    assert "fc.weight" in spec.model.state_dict()
    head = spec.model.get_classifier()
    feats = torch.ones(32, head.in_features)
    head.train()
    assert not torch.equal(head(feats), head(feats))


def test_weights_from_a_run_on_other_classes_get_a_new_head(tmp_path: Path):
    """Transfer from a saved zoo model: the backbone loads, the classifier trained
    on other class names is re-initialised (the same names keep it)."""
    from safetensors.torch import load_file

    from tests._engine_helpers import cli
    from zoo_core.engine.pipeline import build_pipeline

    source = make_image_folder(tmp_path / "source", classes=3, per_class=6)
    run = tmp_path / "run"
    done = cli("run", str(tiny_recipe(tmp_path / "src.toml", source, epochs=1)), "--out", str(run),
               "--no-progress")
    assert done.exit_code == 0, done.output
    saved = load_file(str(run / "models" / "net" / "model.safetensors"))
    target = tmp_path / "target"
    for i, name in enumerate(("rose", "tulip", "violet")):  # other names, same count
        (target / name).mkdir(parents=True)
        for f in (source / f"class_{'abc'[i]}").iterdir():
            (target / name / f.name).write_bytes(f.read_bytes())
    for folder, keeps_head in ((target, False), (source, True)):
        recipe = load_recipe(tiny_recipe(tmp_path / f"t{keeps_head}.toml", folder,
                                         mode="feature_extract"),
                             [f'model.weights="{run}"'])
        pipe = build_pipeline(recipe)
        state = pipe.model.state_dict()
        assert torch.equal(state["conv1.0.weight"], saved["conv1.0.weight"])  # backbone loaded
        assert torch.equal(state["fc.weight"], saved["fc.weight"]) is keeps_head
        notes = " ".join(pipe.specs["net"].notes)
        assert ("trained on other classes" in notes) is not keeps_head
