"""Reconstruction: autoencoders, noise switches, PSNR/MSE meter, encoder transfer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo_core.errors import ZooError


def test_conv_autoencoder_any_size_and_range():
    from zoo_reconstruction.models import conv_autoencoder

    ae = conv_autoencoder(in_chans=1, widths=(8, 16, 32), latent_channels=4, image_size=28).eval()
    for size in ((28, 28), (97, 131), (9, 9)):
        with torch.no_grad():
            y = ae(torch.rand(2, 1, *size))
        assert y.shape == (2, 1, *size) and 0 <= float(y.min()) and float(y.max()) <= 1
    assert ae.encode(torch.rand(1, 1, 28, 28)).shape == (1, 4, 4, 4)
    assert ae.example_input(3).shape == (3, 1, 28, 28)


def test_backbone_autoencoder():
    from zoo_reconstruction.models import backbone_autoencoder

    ae = backbone_autoencoder("resnet18", in_chans=3, decoder_width=64, image_size=64).eval()
    assert len(ae.decoder.blocks) == 5  # reduction 32: five x2 upsamplings
    with torch.no_grad():
        assert ae(torch.rand(1, 3, 97, 131)).shape == (1, 3, 97, 131)
    with pytest.raises(ZooError, match="not a \\(N, C, H, W\\) map"):
        backbone_autoencoder("vit_tiny_patch16_224", image_size=32, encoder_cfg={"img_size": 32})


def test_conv_encoder_is_a_backbone_with_timms_interface():
    from zoo_core.api import create

    enc = create("backbone", "conv_encoder", in_chans=3, widths=[8, 16], latent_channels=12,
                 num_classes=5).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert enc.forward_features(x).shape == (2, 12, 8, 8)
        assert enc.forward_head(enc.forward_features(x), pre_logits=True).shape == (2, 12)
        assert enc(x).shape == (2, 5)
        enc.reset_classifier(3)
        assert enc(x).shape == (2, 3) and enc.get_classifier().out_features == 3
    assert enc.num_features == 12 and enc.pretrained_cfg["num_classes"] == 3
    feats = create("backbone", "conv_encoder", widths=[8, 16], latent_channels=12,
                   features_only=True, out_indices=(0, 2))
    maps = feats(x)
    assert [m.shape[1] for m in maps] == [d["num_chs"] for d in feats.feature_info] == [8, 12]
    assert [d["reduction"] for d in feats.feature_info] == [2, 4]


# -- noise ---------------------------------------------------------------------------------

def test_gaussian_noise():
    from zoo_reconstruction.noise import gaussian_noise

    x = torch.full((4, 3, 64, 64), 0.5)
    keep = x.clone()
    torch.manual_seed(1)
    a = gaussian_noise(x, 0.1, clip=False)
    torch.manual_seed(1)
    b = gaussian_noise(x, 0.1, clip=False)
    assert torch.equal(a, b) and torch.equal(x, keep)
    assert float((a - x).std()) == pytest.approx(0.1, rel=0.03)
    assert float((a - x).mean()) == pytest.approx(0.0, abs=0.003)
    clipped = gaussian_noise(torch.zeros(1, 1, 32, 32), 0.5)
    assert float(clipped.min()) == 0.0 and float(clipped.max()) <= 1.0
    with pytest.raises(ZooError):
        gaussian_noise(x, -1.0)


def test_salt_and_pepper():
    from zoo_reconstruction.noise import salt_and_pepper

    x = torch.full((8, 3, 64, 64), 0.5)
    g = torch.Generator().manual_seed(0)
    y = salt_and_pepper(x, 0.2, salt_ratio=0.25, generator=g)
    changed = (y != 0.5)
    # a pixel is hit in all channels at once
    assert torch.equal(changed[:, :1].expand_as(changed), changed)
    frac = float(changed[:, 0].float().mean())
    salt = float((y[:, 0] == 1.0).float().sum() / changed[:, 0].float().sum())
    assert frac == pytest.approx(0.2, abs=0.01) and salt == pytest.approx(0.25, abs=0.02)
    assert set(y.unique().tolist()) == {0.0, 0.5, 1.0}
    per = salt_and_pepper(x, 0.2, per_channel=True, generator=g)
    per_changed = per != 0.5
    assert not torch.equal(per_changed[:, :1].expand_as(per_changed), per_changed)
    assert torch.equal(salt_and_pepper(x, 0.0), x)


def test_random_masking_pixels_and_patches():
    from zoo_reconstruction.noise import random_masking

    x = torch.rand(3, 2, 30, 40) + 1.0  # never 0, so the fill is visible
    y, mask = random_masking(x, 0.3, return_mask=True)
    assert mask.shape == (3, 1, 30, 40)
    assert mask.flatten(1).sum(1).tolist() == [round(0.3 * 1200)] * 3  # exact count
    assert torch.equal(y == 0, mask.expand_as(y))
    y, mask = random_masking(x, 0.5, patch_size=8, return_mask=True)
    # 4 x 5 patches, 10 masked, each a constant 8x8 block (cut at the border)
    grid = mask[:, 0, ::8, ::8]
    assert grid.flatten(1).sum(1).tolist() == [10, 10, 10]
    blocks = mask[:, 0, :24, :40].reshape(3, 3, 8, 5, 8)
    assert torch.equal(blocks.all(dim=(2, 4)), blocks.any(dim=(2, 4)))
    assert torch.equal(random_masking(x, 0.0), x)


def test_corrupt_switches():
    from zoo_reconstruction.noise import corrupt, gaussian_noise

    x = torch.rand(2, 1, 16, 16)
    torch.manual_seed(5)
    a = corrupt(x, {"gaussian": 0.1, "salt_pepper": None, "mask": 0})
    torch.manual_seed(5)
    assert torch.equal(a, gaussian_noise(x, 0.1))
    both = corrupt(x, {"gaussian": {"sigma": 0.05}, "mask": {"fraction": 0.5, "fill": 0.0}})
    assert float((both == 0).float().mean()) >= 0.5
    with pytest.raises(ZooError, match="Unknown noise"):
        corrupt(x, {"speckle": 0.1})
    with pytest.raises(ZooError, match="Bad option"):
        corrupt(x, {"gaussian": {"sigm": 0.1}})


# -- metrics ----------------------------------------------------------------------------

def test_psnr_mse_meter_against_the_formula():
    from zoo_reconstruction.metrics import ReconstructionMeter

    g = torch.Generator().manual_seed(0)
    target = torch.rand(6, 3, 20, 24, generator=g)
    pred = (target + 0.05 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    meter = ReconstructionMeter()
    meter.update(pred[:2], target[:2])
    meter.update(pred[2:], target[2:])
    got = meter.compute()
    t, p = target.numpy().astype(np.float64), pred.numpy().astype(np.float64)
    mse_i = ((p - t) ** 2).reshape(6, -1).mean(axis=1)
    assert got["mse"] == pytest.approx(float(((p - t) ** 2).mean()), rel=1e-9)
    assert got["psnr"] == pytest.approx(float(np.mean(10 * np.log10(1.0 / mse_i))), rel=1e-5)
    assert got["psnr_global"] == pytest.approx(10 * math.log10(1 / got["mse"]), rel=1e-9)
    other = ReconstructionMeter()
    other.load_state_dict(ReconstructionMeter().state_dict())
    half = ReconstructionMeter()
    half.update(pred[:3], target[:3])
    other.update(pred[3:], target[3:])
    other.merge(half.state_dict())
    assert other.compute() == pytest.approx(got)
    perfect = ReconstructionMeter(max_psnr=80.0)
    perfect.update(target, target)
    assert perfect.compute()["psnr"] == 80.0


# -- transfer ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["conv", "resnet18"])
def test_exported_encoder_loads_as_the_registry_backbone(tmp_path, kind):
    from zoo_reconstruction.models import backbone_autoencoder, conv_autoencoder
    from zoo_reconstruction.transfer import export_encoder

    from zoo_core.weights import create_model, load_model

    torch.manual_seed(0)
    if kind == "conv":
        ae = conv_autoencoder(in_chans=1, widths=(8, 16), latent_channels=6, image_size=32)
        arch = "conv_encoder"
    else:
        ae = backbone_autoencoder("resnet18", in_chans=1, decoder_width=32, image_size=64)
        arch = "resnet18"
    with torch.no_grad():  # move off the initial values, BN statistics included
        for p in ae.parameters():
            p.add_(0.01 * torch.randn_like(p))
        ae.train()(torch.rand(4, 1, 32, 32))
    folder = export_encoder(ae, tmp_path / "encoder")
    ref = ae.encoder.state_dict()
    for loaded in (load_model(folder).model,
                   create_model("backbone", arch, weights=str(folder), num_classes=0,
                                **ae.encoder_cfg).model):
        got = loaded.state_dict()
        assert set(got) == set(ref)
        assert all(torch.equal(got[k], ref[k]) for k in ref)
    assert type(load_model(folder).model) is type(ae.encoder)


@pytest.mark.slow
def test_denoising_autoencoder_learns():
    """A few dozen steps on smooth images: the reconstruction of noisy inputs gets
    closer to the clean images than the noisy inputs are."""
    from zoo_reconstruction.metrics import ReconstructionMeter
    from zoo_reconstruction.models import conv_autoencoder
    from zoo_reconstruction.noise import gaussian_noise

    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 24), torch.linspace(0, 1, 24), indexing="ij")
    phase = torch.rand(16, 1, 1, 1) * 6
    clean = 0.5 + 0.4 * torch.sin(6 * xx + phase) * torch.cos(4 * yy + phase)
    ae = conv_autoencoder(in_chans=1, widths=(8, 16), latent_channels=8, image_size=24)
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    for _ in range(40):
        loss = torch.nn.functional.mse_loss(ae(gaussian_noise(clean, 0.2)), clean)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ae.eval()
    noisy = gaussian_noise(clean, 0.2)
    before, after = ReconstructionMeter(), ReconstructionMeter()
    before.update(noisy, clean)
    with torch.no_grad():
        after.update(ae(noisy), clean)
    # measured: 14.5 dB noisy -> 25.5 dB denoised
    assert after.compute()["psnr"] > before.compute()["psnr"] + 5.0


def test_plugins_import_light():
    """`zoo list` imports every plugin: ours must not pull in torch or smp."""
    import subprocess
    import sys

    code = ("import sys, zoo_segmentation, zoo_reconstruction, zoo_segmentation.names; "
            "bad = [m for m in ('torch', 'segmentation_models_pytorch', 'timm') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
