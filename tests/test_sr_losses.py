"""Pixel and perceptual losses."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models.vgg import cfgs, make_layers
from zoo_sr.losses import IMAGENET_MEAN, IMAGENET_STD, PerceptualLoss, vgg_layer_names

from zoo_core.errors import WeightsError, ZooError
from zoo_core.plugins import registry
from zoo_core.weights import create_model


def _norm(x):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def test_pixel_losses_are_torch_l1_and_mse():
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    pixel = registry().get("loss", "pixel").component
    assert torch.equal(pixel.create()(a, b), nn.functional.l1_loss(a, b))
    assert torch.equal(pixel.create(criterion="mse")(a, b), nn.functional.mse_loss(a, b))
    with pytest.raises(ZooError, match="l1 or mse"):
        pixel.create(criterion="huber")


def test_vgg19_layer_names_follow_torchvision_indices():
    names = vgg_layer_names("vgg19")
    tv = make_layers(cfgs["E"])
    assert len(names) == len(tv) == 37
    assert names.index("conv5_4") == 34 and isinstance(tv[34], nn.Conv2d)
    assert names.index("relu5_4") == 35 and isinstance(tv[35], nn.ReLU)
    assert names.index("pool5") == 36 and isinstance(tv[36], nn.MaxPool2d)
    for name, module in zip(names, tv, strict=True):
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
        assert isinstance(module, kind)


@pytest.mark.slow
def test_default_is_vgg19_conv5_4_and_zero_for_identical_images():
    torch.manual_seed(0)
    loss = registry().get("loss", "perceptual").component.create()
    assert len(loss.features) == 35 and list(loss.layer_weights) == ["conv5_4"]
    x = torch.rand(2, 3, 32, 32)
    assert loss(x, x.clone()).item() == 0.0
    assert loss(x, torch.rand(2, 3, 32, 32)).item() > 0.0


def test_taps_are_the_right_activations():
    torch.manual_seed(0)
    loss = PerceptualLoss(layer_weights={"conv2_1": 1.0, "relu3_2": 0.5, "conv5_4": 2.0})
    manual = make_layers(cfgs["E"])
    manual.load_state_dict(loss.features.state_dict(), strict=False)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        h = _norm(x)
        acts = []
        for module in manual:
            h = module(h.clone())
            acts.append(h)
        got = loss.features_of(x)
    assert torch.equal(got["conv2_1"], acts[5])
    assert torch.equal(got["relu3_2"], acts[13])
    assert torch.equal(got["conv5_4"], acts[34])
    assert (got["conv5_4"] < 0).any()  # before the ReLU: the in-place ReLU did not touch it
    y = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        other = loss.features_of(y)
    expected = sum(w * nn.functional.l1_loss(got[k], other[k])
                   for k, w in {"conv2_1": 1.0, "relu3_2": 0.5, "conv5_4": 2.0}.items())
    assert torch.allclose(loss(x, y), expected)


def test_gradients_reach_the_output_not_the_network():
    loss = PerceptualLoss(layer="conv2_2")
    same = torch.rand(1, 3, 16, 16)
    assert loss(same, same.clone()).item() == 0.0
    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss(sr, torch.rand(1, 3, 16, 16)).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.features.training


def test_torchvision_weights_tag_and_a_local_torchvision_file(tmp_path):
    comp = registry().get("loss", "perceptual").component
    tag = comp.weight()
    assert tag.source == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert tag.sha256 == "dcbb9e9d"
    # nothing is cached here and nothing can be downloaded: a clear weights error
    with pytest.raises(WeightsError):
        create_model("loss", "perceptual", weights="default", offline=True)
    # a torchvision-format file: features.N.*, deeper layers and the classifier dropped
    torch.manual_seed(1)
    tv = make_layers(cfgs["E"])[:10]
    state = {f"features.{k}": v for k, v in tv.state_dict().items()}
    state["features.34.weight"] = torch.zeros(2, 2)
    state["classifier.6.weight"] = torch.zeros(10, 4)
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    loaded = create_model("loss", "perceptual", weights=str(path), layer="conv2_1").model
    assert len(loaded.features) == 6
    assert torch.equal(loaded.features[5].weight, tv[5].weight)
    assert loaded.lock == [] and loaded.training is False


def test_unknown_vgg_layer():
    with pytest.raises(ZooError, match="Did you mean 'conv5_4'"):
        PerceptualLoss(layer="conv5_5")


@pytest.mark.slow
def test_any_registry_backbone_through_features_only():
    torch.manual_seed(0)
    loss = PerceptualLoss(network="resnet18", layer=2)
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0.0
    with torch.no_grad():
        manual = loss.features(_norm(x))[0]
        assert torch.equal(loss.features_of(x)["2"], manual)
        assert manual.shape[1] == 128  # resnet18 stage 2 (stride 8)
    assert loss(x, y).item() > 0
    with pytest.raises(ZooError, match="by index"):
        PerceptualLoss(network="resnet18", layer="conv5_4")
