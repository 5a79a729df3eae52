"""GAN losses against their formulas, written here with sigmoid and log in float64."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from zoo_gan.losses import GanLoss, discriminator_loss, discriminator_terms, generator_loss

from zoo_core import api
from zoo_core.errors import ZooError


@pytest.fixture
def logits() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (torch.randn(16, generator=g, dtype=torch.float64) * 3,
            torch.randn(16, generator=g, dtype=torch.float64) * 3)


def log_sigmoid_ref(x: torch.Tensor) -> torch.Tensor:
    return torch.log(1 / (1 + torch.exp(-x)))


def test_vanilla_discriminator_loss_is_the_gan_objective(logits):
    real, fake = logits
    expected = -(log_sigmoid_ref(real).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    torch.testing.assert_close(discriminator_loss("vanilla", real, fake), expected)
    # the tutorial's errD_real + errD_fake with BCELoss on probabilities
    bce = nn.BCELoss()
    tutorial = bce(torch.sigmoid(real), torch.ones_like(real)) + \
        bce(torch.sigmoid(fake), torch.zeros_like(fake))
    torch.testing.assert_close(discriminator_loss("vanilla", real, fake), tutorial)


def test_vanilla_with_soft_targets_is_cross_entropy_to_the_target(logits):
    real, _ = logits
    t = torch.linspace(0.7, 1.0, 16, dtype=torch.float64)
    s = torch.sigmoid(real)
    expected = -(t * torch.log(s) + (1 - t) * torch.log(1 - s))
    torch.testing.assert_close(discriminator_terms("vanilla", real, t), expected)
    torch.testing.assert_close(discriminator_terms("vanilla", real, 0.9),
                               -(0.9 * torch.log(s) + 0.1 * torch.log(1 - s)))


def test_logits_stay_finite_where_bce_on_probabilities_clamps():
    # D is sure a real image is fake: sigmoid(-200) underflows to 0 in float32
    real, fake = torch.tensor([-200.0]), torch.tensor([-200.0])
    ours = discriminator_loss("vanilla", real, fake)
    assert ours.item() == pytest.approx(200.0, rel=1e-6)  # -log sigmoid(-200) = 200
    clamped = nn.BCELoss()(torch.sigmoid(real), torch.ones(1))
    assert clamped.item() == pytest.approx(100.0)  # BCELoss clamps log at -100


def test_generator_losses(logits):
    _, fake = logits
    torch.testing.assert_close(generator_loss("vanilla", fake), -log_sigmoid_ref(fake).mean())
    torch.testing.assert_close(generator_loss("vanilla", fake, non_saturating=False),
                               torch.log(1 - torch.sigmoid(fake)).mean())
    torch.testing.assert_close(generator_loss("lsgan", fake), ((fake - 1) ** 2).mean())
    torch.testing.assert_close(generator_loss("hinge", fake), -fake.mean())


def test_saturating_loss_loses_its_gradient_when_d_wins():
    # D confidently rejects the fakes (logit -8): log(1 - D) is flat there, -log D is not
    grads = {}
    for ns in (True, False):
        x = torch.full((4,), -8.0, requires_grad=True)
        generator_loss("vanilla", x, non_saturating=ns).backward()
        grads[ns] = x.grad.abs().mean().item()
    s = torch.sigmoid(torch.tensor(-8.0)).item()
    assert grads[False] == pytest.approx(s / 4, rel=1e-4)  # d/dl log(1 - sigmoid(l)) / 4
    assert grads[True] == pytest.approx((1 - s) / 4, rel=1e-4)  # d/dl -log sigmoid(l) / 4
    assert grads[True] / grads[False] > 1000


def test_lsgan_and_hinge_discriminator_losses(logits):
    real, fake = logits
    torch.testing.assert_close(discriminator_loss("lsgan", real, fake),
                               ((real - 1) ** 2).mean() + (fake ** 2).mean())
    torch.testing.assert_close(discriminator_loss("hinge", real, fake),
                               torch.clamp(1 - real, min=0).mean()
                               + torch.clamp(1 + fake, min=0).mean())
    # soft targets: least squares to the target, hinge as the expectation over the label
    t = torch.full_like(real, 0.9)
    torch.testing.assert_close(discriminator_terms("lsgan", real, t), (real - 0.9) ** 2)
    torch.testing.assert_close(
        discriminator_terms("hinge", real, t),
        0.9 * torch.clamp(1 - real, min=0) + 0.1 * torch.clamp(1 + real, min=0))


def test_registered_losses_are_gan_loss_modules(logits):
    real, fake = logits
    for name, kind in [("gan_vanilla", "vanilla"), ("gan_lsgan", "lsgan"),
                       ("gan_hinge", "hinge")]:
        loss = api.create("loss", name)
        assert isinstance(loss, GanLoss) and loss.loss == kind
        torch.testing.assert_close(
            loss(real, True, is_disc=True) + loss(fake, False, is_disc=True),
            discriminator_loss(kind, real, fake))
        torch.testing.assert_close(loss.discriminator(real, fake),
                                   discriminator_loss(kind, real, fake))
        torch.testing.assert_close(loss(fake, True), generator_loss(kind, fake))
    weighted = api.create("loss", "gan_vanilla", loss_weight=5e-3, non_saturating=False)
    torch.testing.assert_close(weighted.generator(fake),
                               5e-3 * generator_loss("vanilla", fake, non_saturating=False))
    with pytest.raises(ValueError, match="target_is_real=True"):
        weighted(fake, False)


def test_unknown_loss_name_suggests_the_right_one(logits):
    with pytest.raises(ZooError, match="Did you mean 'hinge'"):
        generator_loss("hinje", logits[1])  # type: ignore[arg-type]
    with pytest.raises(ZooError, match="vanilla, lsgan, hinge"):
        GanLoss("wgan")  # type: ignore[arg-type]
