"""GAN losses on discriminator logits: vanilla (BCE), LSGAN (MSE) and hinge.

Everything takes the discriminator's raw **logits** ``l`` (our discriminators
have no final sigmoid). Vanilla uses ``binary_cross_entropy_with_logits``,
which computes ``-[t log s(l) + (1-t) log(1-s(l))]`` through ``softplus`` and
stays finite where ``BCELoss(sigmoid(l))`` would take ``log(0)``.

Discriminator terms take per-sample targets ``t`` in [0, 1] (1 = real), so
one-sided label smoothing, noisy and flipped labels (see :mod:`zoo_gan.hacks`)
work with every loss:

==========  ==========================================  ==============================
loss        discriminator term for target t             generator loss on fakes
==========  ==========================================  ==============================
vanilla     BCE(l, t)                                   non-saturating: BCE(l, 1)
                                                        = -log s(l); saturating:
                                                        log(1 - s(l)) = -BCE(l, 0)
lsgan       (l - t)^2                                   (l - 1)^2
hinge       t relu(1 - l) + (1 - t) relu(1 + l)         -l
==========  ==========================================  ==============================

Each term is averaged over the batch. LSGAN drops the paper's factor 1/2 (as
BasicSR and pix2pix do); hinge with a soft target is the expectation of the
hinge terms under a label that is real with probability ``t``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LossType = Literal["vanilla", "lsgan", "hinge"]
LOSS_TYPES: tuple[str, ...] = ("vanilla", "lsgan", "hinge")

__all__ = ["LOSS_TYPES", "LossType", "GanLoss", "discriminator_terms", "discriminator_loss",
           "generator_loss", "as_targets"]


def _check(loss: str) -> None:
    if loss not in LOSS_TYPES:
        from zoo_core.errors import ZooError, suggestion

        raise ZooError(f"Unknown GAN loss {loss!r}.{suggestion(loss, LOSS_TYPES)} "
                       f"Choose one of: {', '.join(LOSS_TYPES)}.")


def as_targets(target: float | bool | torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """A scalar or per-sample target as a tensor shaped and typed like ``logits``."""
    if isinstance(target, torch.Tensor):
        return target.to(device=logits.device, dtype=logits.dtype).expand_as(logits)
    return torch.full_like(logits, float(target))


def discriminator_terms(loss: LossType, logits: torch.Tensor,
                        targets: float | torch.Tensor) -> torch.Tensor:
    """Per-sample discriminator loss for ``logits`` labelled ``targets`` (1 real, 0 fake)."""
    _check(loss)
    t = as_targets(targets, logits)
    if loss == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    if loss == "lsgan":
        return (logits - t).square()
    return t * F.relu(1 - logits) + (1 - t) * F.relu(1 + logits)


def discriminator_loss(loss: LossType, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_targets: float | torch.Tensor = 1.0,
                       fake_targets: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Mean term over the real batch plus mean term over the fake batch.

    With the default targets and ``vanilla`` this is the tutorial's
    ``errD = errD_real + errD_fake``.
    """
    return (discriminator_terms(loss, real_logits, real_targets).mean()
            + discriminator_terms(loss, fake_logits, fake_targets).mean())


def generator_loss(loss: LossType, fake_logits: torch.Tensor,
                   non_saturating: bool = True) -> torch.Tensor:
    """The generator's loss on the discriminator's logits for generated images.

    ``non_saturating`` matters for ``vanilla`` only: True minimises -log D(G(z))
    (Goodfellow et al.'s practical choice, the tutorial's), False minimises
    log(1 - D(G(z))), the minimax objective whose gradient vanishes while D wins.
    """
    _check(loss)
    if loss == "vanilla":
        if non_saturating:
            return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if loss == "lsgan":
        return (fake_logits - 1).square().mean()
    return -fake_logits.mean()


class GanLoss(nn.Module):
    """The losses above as one module, for the registry (``gan_vanilla`` ...).

    ``forward(logits, target_is_real, is_disc=False)`` follows BasicSR's
    ``GANLoss``: with ``is_disc=True`` the discriminator term for a batch
    labelled ``target_is_real`` (a bool, a soft target or per-sample targets);
    with ``is_disc=False`` the generator loss (``target_is_real`` must be true:
    the generator wants its images judged real).
    """

    def __init__(self, loss: LossType = "vanilla", non_saturating: bool = True,
                 loss_weight: float = 1.0):
        super().__init__()
        _check(loss)
        self.loss, self.non_saturating, self.loss_weight = loss, non_saturating, loss_weight

    def extra_repr(self) -> str:
        return f"loss={self.loss!r}, non_saturating={self.non_saturating}"

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                      real_targets: float | torch.Tensor = 1.0,
                      fake_targets: float | torch.Tensor = 0.0) -> torch.Tensor:
        """See :func:`discriminator_loss` (not weighted: D's loss stands alone)."""
        return discriminator_loss(self.loss, real_logits, fake_logits, real_targets,  # type: ignore[arg-type]
                                  fake_targets)

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """See :func:`generator_loss`, times ``loss_weight`` (an SR model's adversarial weight)."""
        return self.loss_weight * generator_loss(self.loss, fake_logits,  # type: ignore[arg-type]
                                                 self.non_saturating)

    def forward(self, logits: torch.Tensor, target_is_real: bool | float | torch.Tensor,
                is_disc: bool = False) -> torch.Tensor:
        if is_disc:
            target = float(target_is_real) if isinstance(target_is_real, bool) else target_is_real
            return discriminator_terms(self.loss, logits, target).mean()  # type: ignore[arg-type]
        if target_is_real is not True:
            raise ValueError("the generator loss is defined for target_is_real=True only")
        return self.generator(logits)

