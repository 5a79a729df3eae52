"""Community SR architectures: random state dicts made with spandrel's own classes,
saved to disk, loaded back through zoo's entries and weight reader."""

from __future__ import annotations

import warnings

import pytest
import torch
from safetensors.torch import save_file
from zoo_sr.community import load_community_sr, read_state_dict
from zoo_sr.community_table import SPECS

from zoo_core.errors import WeightsError, ZooError
from zoo_core.weights import create_model, load_model, save_model

warnings.filterwarnings("ignore", message=".*meshgrid.*")


def _rrdbnet(scale=2):
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=2, scale=scale).eval()


def _swinir():
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    return SwinIR(upscale=2, in_chans=3, img_size=16, window_size=4, embed_dim=12, depths=[2],
                  num_heads=[2], mlp_ratio=2.0, upsampler="pixelshuffle",
                  resi_connection="1conv").eval()


def _same_output(a, b, size=12):
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        return torch.allclose(a(x.clone()), b.eval()(x.clone()), atol=1e-6)


@pytest.mark.parametrize("name,make", [
    pytest.param("esrgan", _rrdbnet, marks=pytest.mark.slow),  # builds a 16.7M default first
    ("swinir", _swinir),
])
def test_published_style_weights_load_through_the_entry(tmp_path, name, make):
    net = make()
    path = tmp_path / f"{name}.safetensors"
    save_file(net.state_dict(), str(path))
    loaded = create_model("sr", name, weights=str(path), scale=2)
    model = loaded.model
    # the architecture followed the weights (not the entry's 23-block / 180-dim defaults)
    assert model.scale == 2 and model.detected["architecture"] == {"esrgan": "ESRGAN",
                                                                   "swinir": "SwinIR"}[name]
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in net.parameters())
    assert _same_output(net, model)
    assert loaded.lock and loaded.lock[0]["sha256"]


def test_basicsr_pth_with_params_ema_wrapper(tmp_path):
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(1)
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=3).eval()
    path = tmp_path / "realesr.pth"
    torch.save({"params_ema": net.state_dict(), "params": net.state_dict()}, path)
    assert set(read_state_dict(path)) == set(net.state_dict())
    model = load_community_sr(path)
    assert model.arch == "realesrgan_compact" and model.scale == 3
    assert _same_output(net, model)


def test_saved_and_reloaded_like_a_run(tmp_path):
    net = _rrdbnet()
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    model = create_model("sr", "esrgan", weights=str(tmp_path / "w.safetensors"), scale=2).model
    save_model(tmp_path / "saved", model,
               {"zoo": {"builder": {"kind": "sr", "name": "esrgan"}, "model": {"scale": 2}}})
    again = load_model(tmp_path / "saved").model
    assert _same_output(model, again)


def test_weights_that_disagree_with_the_cfg_or_entry(tmp_path):
    path = tmp_path / "rrdb.safetensors"
    save_file(_rrdbnet(scale=2).state_dict(), str(path))
    small = {"num_filters": 16, "num_blocks": 2}  # only what is built before the weights
    with pytest.raises(WeightsError, match=r"scale=4 \(the weights have 2\)"):
        create_model("sr", "esrgan", weights=str(path), scale=4, **small)
    with pytest.raises(WeightsError, match="use name = 'esrgan'"):
        create_model("sr", "swinir", weights=str(path), **TINY["swinir"])


def test_unrecognised_state_dict_is_a_clear_error(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.randn(4, 4), "decoder.bias": torch.randn(4)}, str(path))
    with pytest.raises(WeightsError, match="spandrel does not recognise"):
        create_model("sr", "esrgan", weights=str(path))
    with pytest.raises(WeightsError, match="spandrel does not recognise"):
        load_community_sr(path)


def test_pickles_with_code_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "obj": ZooError("x")}, path)
    with pytest.raises(WeightsError, match="weights_only"):
        read_state_dict(path)


def test_unknown_cfg_key_and_input_not_modified():
    with pytest.raises(ZooError, match="Did you mean 'num_blocks'"):
        create_model("sr", "esrgan", num_blocksx=3)
    model = create_model("sr", "rcan", scale=2, n_resgroups=1, n_resblocks=1).model.eval()
    x = torch.rand(1, 3, 8, 8)
    before = x.clone()
    with torch.no_grad():
        model(x)  # spandrel's RCAN scales its input in place; ours must not leak that
    assert torch.equal(x, before)


# small configurations of every entry (spandrel detects each of them back)
TINY = {
    "esrgan": dict(num_filters=16, num_blocks=2),
    "realesrgan_compact": dict(num_feat=16, num_conv=4),
    "swinir": dict(embed_dim=12, depths=[1], num_heads=[2], window_size=4, img_size=16),
    "swin2sr": dict(embed_dim=12, depths=[1], num_heads=[2], window_size=4, img_size=16),
    "hat": dict(embed_dim=12, depths=[1], num_heads=[2], window_size=4, img_size=16,
                squeeze_factor=4, num_feat=16),
    "dat": dict(embed_dim=24, depth=[2], num_heads=[2], split_size=[2, 4], img_size=16),
    "rgt": dict(embed_dim=12, depth=[2], num_heads=[2], split_size=[2, 4], img_size=16),
    "drct": dict(embed_dim=12, depths=[1], num_heads=[2], window_size=4, img_size=16, gc=8),
    "atd": dict(embed_dim=24, depths=[2], num_heads=[2], window_size=4, img_size=16),
    "craft": dict(embed_dim=12, depths=[1], num_heads=[2], window_size=4, split_size_0=2,
                  split_size_1=4),
    "omnisr": dict(num_feat=16, res_num=1),
    "span": dict(feature_channels=16),
    "safmn": dict(dim=8, n_blocks=2),
    "plksr": dict(dim=16, n_blocks=2),
    "dctlsa": dict(),
    "ditn": dict(dim=12, ITL_blocks=1, SAL_blocks=1),
    "swiftsrgan": dict(num_channels=16, num_blocks=2),
    "seemore": dict(embedding_dim=16, num_layers=1, num_experts=2),
    "mosr": dict(n_block=2, dim=16),
    "moesr": dict(dim=16, n_blocks=1, n_block=1, upsample_dim=16),
    "fdat": dict(embed_dim=16, num_groups=1, depth_per_group=1, num_heads=2, mid_dim=16),
    "rcan": dict(n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4),
}


def test_cfg_keys_spandrel_cannot_detect_are_kept(tmp_path):
    # CRAFT's window size leaves no trace in the tensors: spandrel assumes 16
    model = create_model("sr", "craft", scale=2, **TINY["craft"]).model.eval()
    path = tmp_path / "craft.safetensors"
    save_file(model.net.state_dict(), str(path))
    kept = create_model("sr", "craft", weights=str(path), scale=2, window_size=4).model
    assert kept.net.hyperparameters["window_size"] == 4
    assert _same_output(model, kept, 16)
    guessed = create_model("sr", "craft", weights=str(path)).model
    assert guessed.net.hyperparameters["window_size"] == 16


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_entry_builds_and_round_trips_through_detection(tmp_path, spec):
    cfg = TINY[spec.name]
    model = create_model("sr", spec.name, scale=2, **cfg).model.eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert model(x).shape == (1, 3, 32, 32)
    assert model.example_input(1).shape[1] == 3
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(path))
    again = create_model("sr", spec.name, weights=str(path), scale=2, **cfg).model
    assert again.detected["architecture"] == spec.arch_id and again.scale == 2
    with torch.no_grad():
        assert torch.allclose(model(x), again.eval()(x), atol=1e-5)
