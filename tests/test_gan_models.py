"""DCGAN generator and discriminator: the tutorial's architecture, init, sizes,
conditional variants, the registry and zoo bench."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from zoo_gan.models import DCGANDiscriminator, DCGANGenerator, dcgan_init

from zoo_core import hookimpl
from zoo_core.errors import ZooError


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# The tutorial's networks, written out here layer by layer (nz=100, ngf=ndf=64, nc=3),
# independently of zoo_gan's loops, with the tutorial's weights_init.
def tutorial_generator(nz: int = 100, ngf: int = 64, nc: int = 3) -> nn.Module:
    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.main(x)

    return Generator()


def tutorial_discriminator(ndf: int = 64, nc: int = 3) -> nn.Module:
    class Discriminator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.main(x)

    return Discriminator()


# -- the tutorial's networks ------------------------------------------------------------


def test_parameter_counts_equal_the_tutorials():
    g, d = DCGANGenerator(), DCGANDiscriminator()
    tg, td = tutorial_generator(), tutorial_discriminator()
    assert count(g) == count(tg) == 3_576_704
    assert count(d) == count(td) == 2_765_568


def test_tutorial_state_dicts_load_strictly_and_give_the_same_outputs():
    torch.manual_seed(0)
    tg, td = tutorial_generator().eval(), tutorial_discriminator().eval()
    g, d = DCGANGenerator().eval(), DCGANDiscriminator().eval()
    g.load_state_dict(tg.state_dict(), strict=True)
    d.load_state_dict(td.state_dict(), strict=True)
    z = torch.randn(4, 100, 1, 1)
    with torch.no_grad():
        img = g(z)
        torch.testing.assert_close(img, tg(z))
        torch.testing.assert_close(g(z.flatten(1)), img)  # (N, nz) is accepted too
        # ours returns logits where the tutorial returns sigmoid probabilities
        torch.testing.assert_close(torch.sigmoid(d(img)), td(img).view(-1))
    assert img.shape == (4, 3, 64, 64) and img.abs().max() <= 1
    assert d(img).shape == (4,)


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    g = DCGANGenerator()
    g.apply(dcgan_init)
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.mean().item()) < 1e-3 and w.std().item() == pytest.approx(0.02, rel=0.02)
    bns = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    bw = torch.cat([m.weight.flatten() for m in bns])
    assert bw.mean().item() == pytest.approx(1.0, abs=3e-3)
    assert bw.std().item() == pytest.approx(0.02, rel=0.1)
    assert all(torch.count_nonzero(m.bias) == 0 for m in bns)
    # PyTorch's default init would be far from these (kaiming-uniform conv, BN weight 1)
    fresh = DCGANGenerator()
    assert all(torch.all(m.weight == 1) for m in fresh.modules() if isinstance(m, nn.BatchNorm2d))


def test_registry_factories_apply_dcgan_init_and_take_cfg():
    from zoo_core import api

    torch.manual_seed(0)
    g = api.create("gan", "dcgan_generator")
    d = api.create("gan", "dcgan_discriminator", image_size=32, channels=1)
    assert isinstance(g, DCGANGenerator) and isinstance(d, DCGANDiscriminator)
    bn = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert not torch.all(bn.weight == 1)  # N(1, 0.02), not PyTorch's ones
    assert d.main[0].weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert d(torch.zeros(2, 1, 32, 32)).shape == (2,)
    assert g.pretrained_cfg["input_size"] == (3, 64, 64)
    assert g.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)


# -- other sizes and channels --------------------------------------------------------------


@pytest.mark.parametrize("size", [8, 32, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_sizes_and_channels(size: int, channels: int):
    g = DCGANGenerator(nz=16, ngf=8, image_size=size, channels=channels)
    d = DCGANDiscriminator(ndf=8, image_size=size, channels=channels)
    img = g(torch.randn(2, 16))
    assert img.shape == (2, channels, size, size)
    assert d(img).shape == (2,)
    # one stride-2 layer per doubling above 4x4, widths doubling towards 4x4
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) == {8: 2, 32: 4, 128: 6}[size]
    assert ups[0].out_channels == 8 * {8: 1, 32: 4, 128: 16}[size]


@pytest.mark.parametrize("size", [0, 4, 48, 100, 64.0])
def test_bad_image_size_is_a_zoo_error(size: Any):
    with pytest.raises(ZooError, match="power of two"):
        DCGANGenerator(image_size=size)
    with pytest.raises(ZooError, match="power of two"):
        DCGANDiscriminator(image_size=size)


# -- conditional variants ---------------------------------------------------------------------


def test_conditional_generator_concatenates_a_label_embedding():
    torch.manual_seed(0)
    g = DCGANGenerator(nz=16, ngf=8, image_size=32, num_classes=10, embed_dim=5).eval()
    assert g.main[0].in_channels == 16 + 5
    z = torch.randn(3, 16)
    a, b = g(z, torch.tensor([0, 1, 2])), g(z, torch.tensor([3, 1, 2]))
    assert a.shape == (3, 3, 32, 32)
    assert not torch.allclose(a[0], b[0]) and torch.allclose(a[1:], b[1:])
    with pytest.raises(ValueError, match="conditional"):
        g(z)
    z2, labels = g.example_input(4)
    assert z2.shape == (4, 16) and labels.dtype == torch.long and labels.max() < 10


def test_conditional_discriminator_reads_the_label_as_an_extra_plane():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=8, image_size=32, channels=1, num_classes=10).eval()
    assert d.main[0].in_channels == 2 and d.label_plane.weight.shape == (10, 32 * 32)
    x = torch.randn(3, 1, 32, 32)
    a, b = d(x, torch.tensor([0, 1, 2])), d(x, torch.tensor([5, 1, 2]))
    assert a.shape == (3,) and a[0] != b[0] and torch.equal(a[1:], b[1:])
    # the plane is exactly the embedding row, reshaped
    plane = d.label_plane(torch.tensor([4])).view(1, 1, 32, 32)
    ref = d.main(torch.cat([x[:1], plane], dim=1)).flatten()
    torch.testing.assert_close(d(x[:1], torch.tensor([4])), ref)


def test_projection_discriminator_adds_the_inner_product_of_label_and_features():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=8, image_size=32, num_classes=4, projection=True).eval()
    assert d.label_plane is None and d.main[0].in_channels == 3
    x, y = torch.randn(5, 3, 32, 32), torch.tensor([0, 1, 2, 3, 1])
    h = d.main[:-1](x)
    phi = h.sum(dim=(2, 3))  # sum-pooled features, Miyato & Koyama's phi(x)
    expected = d.main[-1](h).flatten() + (d.embed(y) * phi).sum(dim=1)
    torch.testing.assert_close(d(x, y), expected)
    assert d.num_features == 8 * 4 and d.embed.weight.shape == (4, 32)
    with pytest.raises(ZooError, match="num_classes"):
        DCGANDiscriminator(projection=True)


# -- zoo bench --------------------------------------------------------------------------------


class ConditionalGanModels:
    @hookimpl
    def register_gans(self, register: Any) -> None:
        from zoo_gan.models import build_discriminator, build_generator

        register("test_cgan_g", build_generator,
                 default_cfg={"nz": 8, "ngf": 4, "image_size": 16, "num_classes": 3})
        register("test_cgan_d", build_discriminator,
                 default_cfg={"ndf": 4, "image_size": 16, "num_classes": 3, "projection": True})


@pytest.mark.parametrize("name", ["dcgan_generator", "test_cgan_g", "test_cgan_d"])
def test_zoo_bench_times_gan_models_through_example_input(fresh_plugins, name: str):
    from zoo_core.bench.models import BenchSettings, BenchSpec, Runner

    fresh_plugins.plugin_set().add("test_cgan", ConditionalGanModels())
    settings = BenchSettings(device="cpu", warmup=1, iters=2, latency=True)
    row = Runner(settings).run(BenchSpec(name, 2))
    assert not row.get("error"), row.get("error")
    assert row["kind"] == "gan"
    assert row["infer_samples_per_sec"] > 0 and row["train_samples_per_sec"] > 0
    assert row["infer_gmacs"] > 0
    # a discriminator's input is an image batch; a generator's is a latent vector
    assert row["infer_img_size"] == (16 if name == "test_cgan_d" else None)
