"""The ganhacks (github.com/soumith/ganhacks) as pure functions and switches.

Every function is stateless and takes an optional ``torch.Generator``; without
one it uses torch's global RNG, which the engine seeds. :class:`GanOptions`
(the task's ``[task]`` section) names the switches; the task passes its fields
to these functions:

=========================  ==================================================
option                     function
=========================  ==================================================
z_distribution             :func:`sample_z`
label_smoothing            :func:`soft_targets` (one-sided: real -> 1 - a)
label_noise                :func:`soft_targets` (targets jittered inwards)
label_flip                 :func:`flip_labels`
(all three at once)        :func:`discriminator_targets`
instance_noise             :func:`instance_noise_sigma`, :func:`add_instance_noise`
separate_batches           :func:`discriminator_step` (``separate=``)
loss / non_saturating      :func:`discriminator_step`, :func:`generator_step`
d_steps                    :func:`is_generator_step`
=========================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo_gan.losses import LossType, discriminator_terms, generator_loss
from zoo_gan.options import FidOptions, GanOptions, InstanceNoiseOptions

__all__ = [
    "GanOptions", "InstanceNoiseOptions", "FidOptions", "sample_z", "sample_labels",
    "flip_labels", "soft_targets", "discriminator_targets", "instance_noise_sigma",
    "add_instance_noise", "DStep", "discriminator_step", "generator_step", "is_generator_step",
]


# -- latent vectors ------------------------------------------------------------------


def sample_z(n: int, nz: int, distribution: str = "normal", *,
             device: torch.device | str | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` latent vectors (n, nz): N(0, 1) for ``"normal"``, U(-1, 1) for ``"uniform"``.

    ganhacks #3 recommends the Gaussian ("spherical") z; the DCGAN paper drew
    z uniformly from [-1, 1].
    """
    if distribution == "normal":
        return torch.randn(n, nz, device=device, generator=generator)
    if distribution == "uniform":
        return torch.rand(n, nz, device=device, generator=generator) * 2 - 1
    raise ValueError(f"z distribution must be 'normal' or 'uniform', got {distribution!r}")


def sample_labels(n: int, num_classes: int, *, device: torch.device | str | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` class labels drawn uniformly from ``range(num_classes)`` (for a cGAN's fakes)."""
    return torch.randint(0, num_classes, (n,), device=device, generator=generator)


# -- labels for D --------------------------------------------------------------------


def flip_labels(labels: torch.Tensor, p: float, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Hard 0/1 labels with each one flipped (1 <-> 0) with probability ``p``.

    ganhacks #6: "occasionally flip the labels when training the discriminator".
    """
    if p <= 0:
        return labels
    flip = torch.rand(labels.shape, device=labels.device, generator=generator) < p
    return torch.where(flip, 1 - labels, labels)


def soft_targets(labels: torch.Tensor, smoothing: float = 0.0, noise: float = 0.0, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Float targets for hard 0/1 ``labels``.

    * one-sided label smoothing (Salimans et al., 2016): real -> ``1 - smoothing``,
      fake stays 0 (smoothing the fake side would reward D for fakes' modes);
    * noisy labels (ganhacks #6): each target moved inwards by U(0, ``noise``):
      real in [1 - smoothing - noise, 1 - smoothing], fake in [0, noise]. Inwards
      keeps every target in [0, 1], where the BCE and hinge terms stay >= 0.
    """
    real = labels.to(torch.float32)
    targets = real * (1.0 - smoothing)
    if noise > 0:
        jitter = torch.rand(labels.shape, device=labels.device, generator=generator) * noise
        targets = targets + torch.where(real > 0.5, -jitter, jitter)
    return targets


def discriminator_targets(n_real: int, n_fake: int, *, smoothing: float = 0.0,
                          noise: float = 0.0, flip: float = 0.0,
                          device: torch.device | str | None = None,
                          generator: torch.Generator | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets for a real batch and a fake batch: hard labels 1/0, flipped with
    probability ``flip``, then smoothed and jittered by :func:`soft_targets`.

    With every hack off this is ``(ones(n_real), zeros(n_fake))``: the tutorial.
    """
    labels = torch.cat([torch.ones(n_real, device=device), torch.zeros(n_fake, device=device)])
    labels = flip_labels(labels, flip, generator=generator)
    targets = soft_targets(labels, smoothing, noise, generator=generator)
    return targets[:n_real], targets[n_real:]


# -- instance noise ------------------------------------------------------------------


def instance_noise_sigma(epoch: float, sigma: float, decay_epochs: float = 0.0,
                         schedule: str = "linear") -> float:
    """σ of the instance noise at (fractional) ``epoch``.

    ``linear``: ``sigma * max(0, 1 - epoch / decay_epochs)``, so it reaches 0 at
    ``decay_epochs`` and stays there; ``constant``: ``sigma`` throughout.
    """
    if sigma <= 0:
        return 0.0
    if schedule == "constant":
        return float(sigma)
    if schedule != "linear":
        raise ValueError(f"instance noise schedule must be 'linear' or 'constant', "
                         f"got {schedule!r}")
    if decay_epochs <= 0:
        raise ValueError("a linear instance-noise schedule needs decay_epochs > 0")
    return float(sigma) * max(0.0, 1.0 - float(epoch) / float(decay_epochs))


def add_instance_noise(images: torch.Tensor, sigma: float, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """``images + N(0, sigma^2)`` (a new tensor); ``images`` itself when ``sigma`` is 0.

    Applied to real and fake images alike, it makes the two distributions
    overlap so D cannot separate them perfectly early on (Sønderby et al., 2016;
    Arjovsky & Bottou, 2017).
    """
    if sigma <= 0:
        return images
    noise = torch.randn(images.shape, device=images.device, dtype=images.dtype,
                        generator=generator)
    return images + sigma * noise


# -- one D step, one G step ----------------------------------------------------------


@dataclass
class DStep:
    """What :func:`discriminator_step` computed. ``loss`` = ``loss_real + loss_fake``."""

    loss: torch.Tensor
    loss_real: torch.Tensor
    loss_fake: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor


def _call(d: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return d(x) if labels is None else d(x, labels)


def discriminator_step(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, *,
                       loss: LossType = "vanilla",
                       real_targets: float | torch.Tensor = 1.0,
                       fake_targets: float | torch.Tensor = 0.0,
                       real_labels: torch.Tensor | None = None,
                       fake_labels: torch.Tensor | None = None,
                       separate: bool = True, sigma: float = 0.0,
                       generator: torch.Generator | None = None) -> DStep:
    """The discriminator's loss on one real and one fake batch (no backward, no step).

    ``fake`` is detached here, so the loss reaches only D's parameters. With
    ``separate=True`` D sees the real batch and the fake batch in two forward
    passes (ganhacks #4; the tutorial), so batch norm normalises each with its
    own statistics; with ``separate=False`` one forward pass over the
    concatenation. The loss is the same formula either way -- the mean term over
    the real samples plus the mean term over the fake samples -- so the only
    difference is what batch norm sees. ``sigma`` > 0 adds instance noise to
    both batches. ``real_labels``/``fake_labels`` are class labels for a
    conditional D.
    """
    fake = fake.detach()
    real_in = add_instance_noise(real, sigma, generator=generator)
    fake_in = add_instance_noise(fake, sigma, generator=generator)
    if separate:
        real_logits = _call(discriminator, real_in, real_labels)
        fake_logits = _call(discriminator, fake_in, fake_labels)
    else:
        labels = None
        if real_labels is not None or fake_labels is not None:
            if real_labels is None or fake_labels is None:
                raise ValueError("a conditional D needs labels for both batches")
            labels = torch.cat([real_labels, fake_labels])
        logits = _call(discriminator, torch.cat([real_in, fake_in.to(real_in.dtype)]), labels)
        real_logits, fake_logits = logits[: real.shape[0]], logits[real.shape[0]:]
    loss_real = discriminator_terms(loss, real_logits, real_targets).mean()
    loss_fake = discriminator_terms(loss, fake_logits, fake_targets).mean()
    return DStep(loss_real + loss_fake, loss_real, loss_fake, real_logits, fake_logits)


def generator_step(discriminator: nn.Module, fake: torch.Tensor, *,
                   loss: LossType = "vanilla", non_saturating: bool = True,
                   labels: torch.Tensor | None = None, sigma: float = 0.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The generator's loss for ``fake`` (not detached: gradients flow into G).

    The same instance noise σ as D's step is added, so G is judged on what D
    was trained to see. Gradients also reach D's parameters; the engine's
    ``ctx.backward(loss, "generator")`` keeps them out of D's update.
    """
    fake_in = add_instance_noise(fake, sigma, generator=generator)
    return generator_loss(loss, _call(discriminator, fake_in, labels), non_saturating)


def is_generator_step(d_step_index: int, d_steps: int) -> bool:
    """True after every ``d_steps``-th discriminator step (0-based index):
    with ``d_steps=1`` G steps every time, as in the tutorial."""
    if d_steps < 1:
        raise ValueError(f"d_steps must be >= 1, got {d_steps}")
    return (d_step_index + 1) % d_steps == 0
