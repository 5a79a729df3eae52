"""SRResNet, the VGG-style discriminator, bicubic and the EMA helper."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from zoo_sr.ema import EMA
from zoo_sr.resize import imresize

from zoo_core.api import create
from zoo_core.errors import ZooError
from zoo_core.plugins import registry


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srresnet_upscales_and_has_msrresnet_size(scale):
    model = registry().get("sr", "srresnet").component.create(scale=scale)
    x = model.example_input(2)
    assert x.shape == (2, 3, 128 // scale, 128 // scale)
    assert model(x).shape == (2, 3, (128 // scale) * scale, (128 // scale) * scale)
    # 3x3 head (1,792) + 16 blocks x 2 convs (36,928 each) + upsampling + conv_hr + conv_last
    ups = 2 * 147_712 if scale == 4 else 64 * 64 * scale * scale * 9 + 64 * scale * scale
    assert _n_params(model) == 1_792 + 32 * 36_928 + ups + 36_928 + 1_731


def test_srresnet_keys_are_basicsr_msrresnet_keys():
    keys = list(registry().get("sr", "srresnet").component.create(scale=4).state_dict())
    assert keys[:4] == ["conv_first.weight", "conv_first.bias", "body.0.conv1.weight",
                        "body.0.conv1.bias"]
    assert keys[-8:] == ["upconv1.weight", "upconv1.bias", "upconv2.weight", "upconv2.bias",
                         "conv_hr.weight", "conv_hr.bias", "conv_last.weight", "conv_last.bias"]


def test_srresnet_output_is_bilinear_plus_residual_and_basicsr_init():
    torch.manual_seed(0)
    model = create("sr", "srresnet", scale=2, num_block=2)
    conv = model.body[0].conv1
    # BasicSR: Kaiming normal (fan_in, gain sqrt(2)) times 0.1, zero bias
    expected_std = 0.1 * math.sqrt(2.0 / (64 * 9))
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    assert conv.bias.abs().max().item() == 0.0
    with torch.no_grad():
        model.conv_last.weight.zero_()
        model.conv_last.bias.zero_()
    x = torch.rand(1, 3, 10, 12)
    up = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(model(x), up)


def test_srresnet_batch_norm_is_the_srgan_paper_generator():
    model = create("sr", "srresnet", scale=4, batch_norm=True)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert len(bns) == 2 * 16 + 1 and len(prelus) == 1 + 16 + 2
    assert model.conv_first.kernel_size == (9, 9) and model.conv_last.kernel_size == (9, 9)
    model.eval()
    with torch.no_grad():  # no bilinear skip: zero tail gives zero output
        model.conv_last.weight.zero_()
        model.conv_last.bias.zero_()
        assert model(torch.rand(1, 3, 8, 8)).abs().max().item() == 0.0


def test_srresnet_rejects_other_scales():
    with pytest.raises(ZooError, match="2, 3 or 4"):
        create("sr", "srresnet", scale=8)


@pytest.mark.parametrize("size", [128, 256])
def test_discriminator(size):
    disc = create("sr", "sr_discriminator", input_size=size)
    x = disc.example_input(2)
    assert disc(x).shape == (2, 1)
    strided = [m for m in disc.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == (5 if size == 128 else 6)
    assert disc.linear1.in_features == 512 * 4 * 4
    with pytest.raises(ZooError, match="patches"):
        disc(torch.rand(1, 3, 96, 96))


def test_discriminator_rejects_other_sizes():
    with pytest.raises(ZooError, match="128 or 256"):
        create("sr", "sr_discriminator", input_size=96)


def test_bicubic_model_is_matlab_imresize_and_has_no_parameters():
    model = create("sr", "bicubic", scale=3)
    assert _n_params(model) == 0 and len(model.state_dict()) == 0
    x = model.example_input(2)
    assert torch.equal(model(x), imresize(x, 3))
    assert model.double()(x).dtype == torch.float64  # the anchor buffer follows .to()


def test_ema_follows_the_closed_form_and_copies_buffers():
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = EMA(net, decay=0.9)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.fill_(5.0)
    for _ in range(3):
        ema.update(net)
    # e_k = d^k e_0 + (1 - d^k) p for a constant p
    for e, s, p in zip(ema.module.parameters(), start, net.parameters(), strict=True):
        assert torch.allclose(e, 0.9**3 * s + (1 - 0.9**3) * p.detach(), atol=1e-6)
        assert not e.requires_grad
    assert torch.equal(ema.module[1].running_mean, net[1].running_mean)
    state = ema.state_dict()
    other = EMA(net, decay=0.5)
    other.load_state_dict(state)
    assert other.decay == 0.9 and other.updates == 3
    assert all(torch.equal(a, b) for a, b in zip(other.module.state_dict().values(),
                                                  ema.module.state_dict().values(), strict=True))



def test_basicsr_msrresnet_checkpoint_format_loads_strictly(tmp_path):
    from zoo_sr.community import read_state_dict

    torch.manual_seed(3)
    trained = create("sr", "srresnet", scale=2, num_block=2)
    # BasicSR saves {"params": ...} (and {"params_ema": ...} with EMA)
    torch.save({"params": trained.state_dict()}, tmp_path / "net_g_1000.pth")
    fresh = create("sr", "srresnet", scale=2, num_block=2)
    fresh.load_state_dict(read_state_dict(tmp_path / "net_g_1000.pth"), strict=True)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(fresh(x), trained(x))
