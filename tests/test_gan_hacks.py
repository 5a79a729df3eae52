"""The ganhacks as functions, the D/G step helpers and the GanOptions schema."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from zoo_gan.hacks import (
    GanOptions,
    add_instance_noise,
    discriminator_step,
    discriminator_targets,
    flip_labels,
    generator_step,
    instance_noise_sigma,
    is_generator_step,
    sample_z,
    soft_targets,
)
from zoo_gan.losses import discriminator_loss, generator_loss
from zoo_gan.models import DCGANDiscriminator, DCGANGenerator


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- z ------------------------------------------------------------------------------------


def test_sample_z_normal_and_uniform():
    z = sample_z(4000, 50, "normal", generator=gen())
    assert z.shape == (4000, 50)
    assert abs(z.mean().item()) < 0.01 and z.std().item() == pytest.approx(1.0, abs=0.01)
    u = sample_z(4000, 50, "uniform", generator=gen())
    assert u.min() >= -1 and u.max() <= 1
    assert u.var().item() == pytest.approx(1 / 3, abs=0.01)  # variance of U(-1, 1)
    assert torch.equal(sample_z(3, 5, generator=gen(7)), sample_z(3, 5, generator=gen(7)))
    with pytest.raises(ValueError, match="uniform"):
        sample_z(2, 2, "spherical")


# -- labels -----------------------------------------------------------------------------------


def test_targets_without_hacks_are_the_tutorials_hard_labels():
    real, fake = discriminator_targets(5, 7)
    assert torch.equal(real, torch.ones(5)) and torch.equal(fake, torch.zeros(7))


def test_one_sided_label_smoothing_moves_only_the_real_target():
    real, fake = discriminator_targets(5, 7, smoothing=0.1)
    torch.testing.assert_close(real, torch.full((5,), 0.9))
    assert torch.equal(fake, torch.zeros(7))


def test_noisy_labels_are_jittered_inwards():
    real, fake = discriminator_targets(2000, 2000, smoothing=0.1, noise=0.2, generator=gen())
    assert real.min() >= 0.7 - 1e-6 and real.max() <= 0.9 + 1e-6
    assert fake.min() >= 0 and fake.max() <= 0.2 + 1e-6
    # uniform jitter: mean in the middle of the interval, spread over all of it
    assert real.mean().item() == pytest.approx(0.8, abs=0.01)
    assert fake.mean().item() == pytest.approx(0.1, abs=0.01)
    assert real.max() - real.min() > 0.19


def test_flipped_labels():
    labels = torch.cat([torch.ones(10_000), torch.zeros(10_000)])
    flipped = flip_labels(labels, 0.25, generator=gen())
    share = (flipped != labels).float().mean().item()
    assert share == pytest.approx(0.25, abs=0.015)
    assert set(flipped.unique().tolist()) == {0.0, 1.0}
    assert flip_labels(labels, 0.0) is labels
    # after flipping, a flipped real sample gets the fake target (one-sided: 0), and back
    real, fake = discriminator_targets(4000, 4000, smoothing=0.1, flip=0.3, generator=gen())
    assert real.unique().tolist() == pytest.approx([0.0, 0.9])
    assert (real == 0).float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert (fake > 0.5).float().mean().item() == pytest.approx(0.3, abs=0.03)


def test_soft_targets_formula():
    labels = torch.tensor([1.0, 0.0, 1.0])
    torch.testing.assert_close(soft_targets(labels, 0.2), torch.tensor([0.8, 0.0, 0.8]))


# -- instance noise ------------------------------------------------------------------------


def test_instance_noise_sigma_decays_linearly_to_zero():
    assert instance_noise_sigma(0, 0.1, 10) == pytest.approx(0.1)
    assert instance_noise_sigma(2.5, 0.1, 10) == pytest.approx(0.075)
    assert instance_noise_sigma(5, 0.1, 10) == pytest.approx(0.05)
    assert instance_noise_sigma(10, 0.1, 10) == 0.0
    assert instance_noise_sigma(25, 0.1, 10) == 0.0
    assert instance_noise_sigma(25, 0.1, 10, "constant") == pytest.approx(0.1)
    assert instance_noise_sigma(3, 0.0, 10) == 0.0
    with pytest.raises(ValueError, match="decay_epochs"):
        instance_noise_sigma(1, 0.1, 0)
    with pytest.raises(ValueError, match="schedule"):
        instance_noise_sigma(1, 0.1, 5, "cosine")


def test_add_instance_noise():
    x = torch.zeros(200, 3, 16, 16)
    assert add_instance_noise(x, 0.0) is x
    noisy = add_instance_noise(x, 0.3, generator=gen())
    assert noisy.std().item() == pytest.approx(0.3, rel=0.02) and torch.count_nonzero(x) == 0


# -- the D step -------------------------------------------------------------------------------


def _batch(n: int = 8, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = gen(seed)
    real = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    fake = torch.rand(n, 3, size, size, generator=g) * 0.5  # another distribution
    return real, fake


def test_separate_and_mixed_batches_are_the_same_loss_without_batch_norm():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=8, image_size=8).train()  # 8 px: no BatchNorm layer at all
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    real, fake = _batch(size=8)
    a = discriminator_step(d, real, fake, separate=True)
    b = discriminator_step(d, real, fake, separate=False)
    torch.testing.assert_close(a.loss, b.loss)
    torch.testing.assert_close(a.loss, discriminator_loss("vanilla", d(real), d(fake)))


def test_separate_batches_give_batch_norm_its_own_statistics_per_batch():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=8, image_size=16).train()
    real, fake = _batch(size=16)
    a = discriminator_step(d, real, fake, separate=True)
    b = discriminator_step(d, real, fake, separate=False)
    torch.testing.assert_close(a.real_logits, d(real))  # real statistics only
    torch.testing.assert_close(b.real_logits, d(torch.cat([real, fake]))[:8])  # mixed
    assert not torch.allclose(a.real_logits, b.real_logits)
    assert a.loss.item() != pytest.approx(b.loss.item(), rel=1e-3)


def test_d_step_uses_the_targets_loss_and_detaches_the_fakes():
    torch.manual_seed(0)
    g = DCGANGenerator(nz=8, ngf=4, image_size=8)
    d = DCGANDiscriminator(ndf=4, image_size=8)
    real, _ = _batch(4, 8)
    fake = g(torch.randn(4, 8))
    rt, ft = discriminator_targets(4, 4, smoothing=0.1)
    step = discriminator_step(d, real, fake, loss="hinge", real_targets=rt, fake_targets=ft)
    torch.testing.assert_close(step.loss, discriminator_loss("hinge", d(real), d(fake), rt, ft))
    torch.testing.assert_close(step.loss, step.loss_real + step.loss_fake)
    step.loss.backward()
    assert all(p.grad is None for p in g.parameters())  # nothing reaches G
    assert all(p.grad is not None for p in d.parameters())


def test_d_step_adds_instance_noise_to_both_batches():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=4, image_size=8).eval()
    real, fake = _batch(4, 8)
    noisy = discriminator_step(d, real, fake, sigma=0.5, generator=gen(1))
    g = gen(1)
    expected_real = d(real + 0.5 * torch.randn(real.shape, generator=g))
    expected_fake = d(fake + 0.5 * torch.randn(fake.shape, generator=g))
    torch.testing.assert_close(noisy.real_logits, expected_real)
    torch.testing.assert_close(noisy.fake_logits, expected_fake)


def test_conditional_d_step_passes_the_labels_either_way():
    torch.manual_seed(0)
    d = DCGANDiscriminator(ndf=4, image_size=8, num_classes=3, projection=True)
    real, fake = _batch(4, 8)
    yr, yf = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 2, 1, 0])
    a = discriminator_step(d, real, fake, real_labels=yr, fake_labels=yf, separate=True)
    b = discriminator_step(d, real, fake, real_labels=yr, fake_labels=yf, separate=False)
    torch.testing.assert_close(a.fake_logits, d(fake, yf))
    torch.testing.assert_close(a.loss, b.loss)  # 8 px: no batch norm
    with pytest.raises(ValueError, match="both batches"):
        discriminator_step(d, real, fake, real_labels=yr, separate=False)


def test_generator_step_reaches_the_generator():
    torch.manual_seed(0)
    g = DCGANGenerator(nz=8, ngf=4, image_size=8)
    d = DCGANDiscriminator(ndf=4, image_size=8)
    fake = g(torch.randn(4, 8))
    loss = generator_step(d, fake, loss="lsgan")
    torch.testing.assert_close(loss, generator_loss("lsgan", d(fake)))
    loss.backward()
    assert all(p.grad is not None for p in g.parameters())


def test_d_steps_per_g_step():
    assert all(is_generator_step(i, 1) for i in range(5))
    assert [is_generator_step(i, 3) for i in range(6)] == [False, False, True] * 2
    with pytest.raises(ValueError):
        is_generator_step(0, 0)


# -- GanOptions ---------------------------------------------------------------------------------


def test_gan_options_defaults_are_the_tutorials():
    o = GanOptions()
    assert (o.loss, o.non_saturating, o.label_smoothing, o.label_noise, o.label_flip) == \
        ("vanilla", True, 0.0, 0.0, 0.0)
    assert (o.z_distribution, o.separate_batches, o.d_steps, o.n_samples) == \
        ("normal", True, 1, 64)
    assert o.instance_noise.sigma == 0.0 and o.fid.feature == "auto"


def test_gan_options_are_strict_and_report_every_problem():
    o = GanOptions.model_validate({"loss": "hinge", "label_smoothing": 0,  # an int fits a float
                                   "instance_noise": {"sigma": 0.1, "decay_epochs": 5},
                                   "fid": {"feature": "resnet18", "n_samples": 500}})
    assert o.label_smoothing == 0.0 and o.instance_noise.decay_epochs == 5
    with pytest.raises(ValidationError) as err:
        GanOptions.model_validate({"los": "hinge", "d_steps": "2", "label_flip": 0.7,
                                   "fid": {"n_sample": 5}})
    locs = {".".join(map(str, e["loc"])) for e in err.value.errors()}
    assert locs == {"los", "d_steps", "label_flip", "fid.n_sample"}


def test_gan_options_cross_checks():
    with pytest.raises(ValidationError, match="vanilla"):
        GanOptions(loss="hinge", non_saturating=False)
    with pytest.raises(ValidationError, match="decay_epochs"):
        GanOptions.model_validate({"instance_noise": {"sigma": 0.1}})
    GanOptions.model_validate({"instance_noise": {"sigma": 0.1, "schedule": "constant"}})
