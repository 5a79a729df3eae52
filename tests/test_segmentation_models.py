"""Segmentation models: U-Net over registry backbones, the classic U-Net, smp's
architectures; any input size; encoder weights through zoo's weights code."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from zoo_core.errors import ZooError


def _save_backbone_weights(name: str, path, **cfg) -> dict[str, torch.Tensor]:
    """A backbone's (random) full state dict as a safetensors file: stands in for
    downloaded pretrained weights, offline."""
    from zoo_core.api import create

    torch.manual_seed(123)
    state = {k: v.contiguous() for k, v in create("backbone", name, **cfg).state_dict().items()}
    save_file(state, str(path))
    return state


@pytest.mark.parametrize("encoder,blocks", [
    ("resnet18", 5),             # timm, stages at 2..32
    ("convnext_atto", 5),        # timm, stages at 4..32 (two blocks without skips)
    ("mobilenetv3_small_050", 5),
    ("squeezenet1_1", 4),        # a classic zoo backbone: 4 stages, list-of-dict feature_info
])
def test_unet_any_input_size(encoder, blocks):
    from zoo_segmentation.unet import build_unet

    model = build_unet(encoder, in_chans=3, num_classes=3).eval()
    assert len(model.decoder) == blocks
    assert model.decoder_channels == (256, 128, 64, 32, 16)[:blocks]
    for size in ((97, 131), (64, 64), (33, 65)):
        with torch.no_grad():
            y = model(torch.randn(1, 3, *size))
        assert y.shape == (1, 3, *size)


def test_unet_grey_input_and_registry():
    from zoo_core.api import create

    model = create("segmentation", "unet", encoder="resnet18", in_chans=1, num_classes=1).eval()
    assert model.pretrained_cfg["input_size"] == (1, 256, 256)
    assert len(model.pretrained_cfg["mean"]) == 1
    x = model.example_input(2)
    assert x.shape == (2, 1, 256, 256)
    with torch.no_grad():
        assert model(x).shape == (2, 1, 256, 256)


def test_unet_decoder_channels_must_fit():
    from zoo_segmentation.unet import build_unet

    with pytest.raises(ZooError, match="needs 5 decoder blocks"):
        build_unet("resnet18", decoder_channels=(64, 32))
    model = build_unet("resnet18", encoder_depth=3, decoder_channels=(64, 32, 16)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 50, 70)).shape == (1, 1, 50, 70)


@pytest.mark.parametrize("encoder", ["resnet18", "convnext_atto"])
def test_unet_encoder_weights_load_and_adapt_the_stem(tmp_path, encoder):
    """convnext's features_only module renames stages.0 -> stages_0: the weights still
    land on every encoder tensor; one input channel gets the RGB stem summed."""
    from zoo_segmentation.unet import build_unet

    state = _save_backbone_weights(encoder, tmp_path / "w.safetensors")
    model = build_unet(encoder, encoder_weights=str(tmp_path / "w.safetensors"), in_chans=1)
    own = model.encoder.state_dict()
    matched = 0
    for key, value in own.items():
        full_key = key if key in state else key.replace("_", ".", 1)
        ref = state[full_key]
        if ref.shape != value.shape:  # the stem: (C, 3, k, k) summed to (C, 1, k, k)
            ref = ref.sum(dim=1, keepdim=True)
        assert torch.equal(value, ref), key
        matched += 1
    assert matched == len(own)
    assert model.encoder_lock and model.encoder_lock[0]["sha256"]
    # the ImageNet statistics averaged for a grey input
    assert model.pretrained_cfg["mean"] == pytest.approx((sum((0.485, 0.456, 0.406)) / 3,))


def test_unet_weights_for_another_architecture_fail_clearly(tmp_path):
    from zoo_segmentation.unet import build_unet

    from zoo_core.errors import WeightsError

    _save_backbone_weights("resnet34", tmp_path / "w.safetensors")
    with pytest.raises(WeightsError):
        build_unet("resnet18", encoder_weights=str(tmp_path / "w.safetensors"))


def test_unet_saves_and_loads_as_a_zoo_model(tmp_path):
    from zoo_segmentation.unet import build_unet

    from zoo_core.weights import load_model, save_model

    state = _save_backbone_weights("resnet18", tmp_path / "w.safetensors", in_chans=1)
    model = build_unet("resnet18", encoder_weights=str(tmp_path / "w.safetensors"), in_chans=1,
                       num_classes=2).eval()
    cfg = model.rebuild_cfg
    assert cfg["encoder_weights"] == "none"  # a saved model does not fetch encoder weights again
    save_model(tmp_path / "m", model, {"zoo": {"builder": {"kind": "segmentation",
                                                           "name": "unet"}, "model": cfg}})
    (tmp_path / "w.safetensors").unlink()
    loaded = load_model(tmp_path / "m").model.eval()
    x = torch.randn(1, 1, 45, 61)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert torch.equal(loaded.encoder.conv1.weight, state["conv1.weight"])


def _conv3x3(cin: int, cout: int, bias: bool = True) -> int:
    return cin * cout * 9 + (cout if bias else 0)


def test_unet_classic_is_the_paper_architecture():
    from zoo_segmentation.shapes import InputSizeError
    from zoo_segmentation.unet import UNetClassic

    model = UNetClassic()  # 1 channel in, 2 classes, 64..1024
    widths = [64, 128, 256, 512, 1024]
    expected = _conv3x3(1, 64) + _conv3x3(64, 64)
    for a, b in zip(widths, widths[1:], strict=False):
        expected += _conv3x3(a, b) + _conv3x3(b, b)          # contracting
        expected += b * a * 4 + a                            # 2x2 up-convolution
        expected += _conv3x3(b, a) + _conv3x3(a, a)          # expanding (after concat)
    expected += 64 * 2 + 2                                   # 1x1 head
    assert sum(p.numel() for p in model.parameters()) == expected  # 31,030,658
    small = UNetClassic(in_chans=1, base=8).eval()
    with torch.no_grad():
        for size in ((97, 131), (16, 16)):
            assert small(torch.randn(1, 1, *size)).shape == (1, 2, *size)
        with pytest.raises(InputSizeError, match="at least 16x16"):
            small(torch.randn(1, 1, 15, 40))


def test_smp_architectures_over_zoo_encoders():
    from zoo_segmentation.shapes import InputSizeError

    from zoo_core.api import create

    fpn = create("segmentation", "fpn", encoder="resnet18", num_classes=4).eval()
    assert fpn.required_multiple == 32
    with torch.no_grad():
        assert fpn(torch.randn(1, 3, 64, 96)).shape == (1, 4, 64, 96)
        with pytest.raises(InputSizeError, match="128x160"):
            fpn(torch.randn(1, 3, 97, 131))
        unet = create("segmentation", "smp_unet", encoder="convnext_atto").eval()
        assert unet.required_multiple == 1
        assert unet(torch.randn(1, 3, 97, 131)).shape == (1, 1, 97, 131)
    with pytest.raises(ZooError, match="not a timm architecture"):
        create("segmentation", "fpn", encoder="alexnet")
    with pytest.raises(ZooError, match="cannot be built over encoder 'vgg11'"):
        create("segmentation", "deeplabv3plus", encoder="vgg11")


@pytest.mark.parametrize("name", ["unetplusplus", "manet", "linknet", "pspnet", "deeplabv3",
                                  "deeplabv3plus", "pan", "upernet", "segformer"])
def test_every_smp_architecture_builds(name):
    from zoo_core.api import create

    model = create("segmentation", name, encoder="resnet18", in_chans=1, num_classes=2).eval()
    x = model.example_input(1)[..., :128, :128]
    with torch.no_grad():
        assert model(x).shape == (1, 2, 128, 128)


def test_smp_encoder_weights_through_zoo(tmp_path):
    from zoo_segmentation.smp_models import build_smp

    state = _save_backbone_weights("convnext_atto", tmp_path / "w.safetensors")
    model = build_smp("FPN", "convnext_atto", encoder_weights=str(tmp_path / "w.safetensors"))
    enc = model.net.encoder.model.state_dict()
    assert enc and all(torch.equal(v, state[k if k in state else k.replace("_", ".", 1)])
                       for k, v in enc.items())
    assert model.encoder_lock[0]["sha256"]
