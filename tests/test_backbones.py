"""Built-in backbones and heads: published parameter counts, one interface for all."""

from __future__ import annotations

import pytest
import torch

import zoo_core
from zoo_core.nn.modules import count_params, data_config, pooled_features

CLASSICS = ["alexnet", "squeezenet1_0", "squeezenet1_1", "googlenet", "lenet5"]


@pytest.mark.parametrize("name,params", [
    ("alexnet", 61_100_840),
    ("squeezenet1_1", 1_235_496),
    ("resnet50", 25_557_032),
    ("squeezenet1_0", 1_248_424),
    ("googlenet", 6_624_904),
])
def test_parameter_counts_match_published(name, params):
    assert count_params(zoo_core.create("backbone", name)) == params


def test_timm_names_are_listed_lazily():
    names = [c.name for c in zoo_core.list("backbone")]
    assert len(names) > 1000
    assert {"resnet50", "efficientnet_b0", "vit_base_patch16_224", *CLASSICS} <= set(names)


@pytest.mark.parametrize("name", CLASSICS + ["resnet18"])
def test_uniform_interface(name):
    model = zoo_core.create("backbone", name, num_classes=7).eval()
    cfg = data_config(model)
    c, h, w = cfg["input_size"]
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = pooled_features(model, x)
        logits = model(x)
    assert feats.ndim == 4
    assert pooled.shape == (2, model.num_features)
    assert logits.shape == (2, 7)
    assert model.feature_info[-1]["num_chs"] == feats.shape[1]
    assert len(cfg["mean"]) == len(cfg["std"]) == c
    model.reset_classifier(3)
    with torch.no_grad():
        assert model(x).shape == (2, 3)


@pytest.mark.parametrize("name,expected", [
    ("resnet18", [(64, 112), (64, 56), (128, 28), (256, 14), (512, 7)]),
    ("alexnet", [(64, 55), (192, 27), (256, 13), (256, 6)]),
    ("googlenet", [(64, 112), (192, 56), (480, 28), (832, 14), (1024, 7)]),
])
def test_features_only_shapes(name, expected):
    model = zoo_core.create("backbone", name, features_only=True).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert [(o.shape[1], o.shape[-1]) for o in outs] == expected
    assert [f["num_chs"] for f in model.feature_info] == [c for c, _ in expected]


def test_features_only_out_indices_and_reductions():
    model = zoo_core.create("backbone", "squeezenet1_1", features_only=True, out_indices=(1, -1))
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    assert [o.shape[1] for o in outs] == [128, 512]
    assert [f["reduction"] for f in model.feature_info] == [4, 16]


def test_features_only_keeps_checkpoint_key_names():
    full = zoo_core.create("backbone", "alexnet")
    feats = zoo_core.create("backbone", "alexnet", features_only=True)
    assert set(feats.state_dict()) <= set(full.state_dict())


def test_lenet5_is_the_classic():
    model = zoo_core.create("backbone", "lenet5")
    assert count_params(model) == 61_706
    assert data_config(model)["input_size"] == (1, 32, 32)


def test_classic_weight_tags_point_at_published_checkpoints():
    comp = zoo_core.get("backbone", "alexnet.tv_in1k").component
    w = comp.weight("tv_in1k")
    assert w.source.endswith("alexnet-owt-7be5be79.pth") and w.sha256 == "7be5be79"
    assert comp.default_tag == "tv_in1k"


def test_timm_weight_tags_come_from_timm():
    resolved = zoo_core.get("backbone", "resnet18.a1_in1k")
    assert resolved.tag == "a1_in1k"
    assert resolved.component.weight("a1_in1k").source == "hf://timm/resnet18.a1_in1k"


@pytest.mark.parametrize("head,cfg,shape", [
    ("linear", {}, (4, 64)),
    ("mlp", {"hidden": 32, "dropout": 0.1}, (4, 64)),
    ("conv1x1", {}, (4, 64, 5, 5)),
])
def test_heads(head, cfg, shape):
    module = zoo_core.create("head", head, in_features=64, num_classes=10, **cfg)
    assert module(torch.randn(*shape)).shape == (4, 10)
