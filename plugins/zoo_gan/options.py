"""``GanOptions``: the ``[task]`` section of a GAN recipe (the ganhacks as switches).

Only pydantic here, no torch, so that validating a recipe stays cheap. The
defaults are the PyTorch DCGAN tutorial's training loop: vanilla loss with the
non-saturating generator loss, hard labels 1/0, no instance noise, Gaussian z,
separate real and fake batches for D, one D step per G step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["GanOptions", "InstanceNoiseOptions", "FidOptions", "Strict"]


class Strict(BaseModel):
    """Unknown keys and wrong types are errors (``lr = 1`` still fits a float)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class InstanceNoiseOptions(Strict):
    """Gaussian noise added to every image D sees, real and fake (Sønderby et al., 2016).

    σ starts at ``sigma`` and follows ``schedule`` down to 0 at ``decay_epochs``
    (``linear``) or stays (``constant``). Epochs are fractional: the task passes
    ``epoch + step / steps_per_epoch``, so σ falls smoothly within an epoch.
    """

    sigma: float = Field(default=0.0, ge=0.0, description="starting standard deviation "
                         "(images are in [-1, 1]); 0 = off")
    decay_epochs: float = Field(default=0.0, ge=0.0, description="epochs until σ reaches 0 "
                                "(linear schedule)")
    schedule: Literal["linear", "constant"] = "linear"

    @model_validator(mode="after")
    def _decay_given(self) -> InstanceNoiseOptions:
        if self.sigma > 0 and self.schedule == "linear" and self.decay_epochs <= 0:
            raise ValueError("a linear schedule needs decay_epochs > 0 (or use "
                             "schedule = \"constant\")")
        return self


class FidOptions(Strict):
    """FID/KID at evaluation. See :class:`zoo_gan.metrics.GanMetrics` for the feature network."""

    feature: str = Field(default="auto", description="'auto', 'inception', 'efficientnet_lite0' "
                         "or any backbone registry name (e.g. 'resnet18')")
    weights: str = Field(default="default", description="weights of a registry backbone: "
                         "'default', a tag, a URI, or 'none' (random; reported as *_random)")
    n_samples: int = Field(default=1000, ge=0, description="generated images per evaluation "
                           "(and real images at most); 0 = no FID/KID")
    kid: bool = Field(default=True, description="report KID beside FID")
    kid_subset_size: int = Field(default=100, ge=2, description="KID subset size (capped by the "
                                 "number of samples)")
    batch_size: int = Field(default=64, ge=1, description="images per feature-network forward")
    every: int = Field(default=1, ge=1, description="epochs between FID/KID evaluations (the "
                       "last epoch and the final evaluation always have them)")


class GanOptions(Strict):
    """The GAN task's ``[task]`` section."""

    loss: Literal["vanilla", "lsgan", "hinge"] = Field(
        default="vanilla", description="vanilla = BCE on logits, lsgan = MSE, hinge")
    non_saturating: bool = Field(
        default=True, description="vanilla only: G minimises -log D(G(z)) (True) or "
                                  "log(1 - D(G(z))) (False)")
    label_smoothing: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="one-sided: D's real target is 1 - this "
                                                 "(0.1 gives 0.9); fake stays 0")
    label_noise: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="D's targets jittered inwards by U(0, this): "
                                                 "real in [t - a, t], fake in [0, a]")
    label_flip: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="share of D's labels flipped (real <-> fake) "
                                                 "each step")
    instance_noise: InstanceNoiseOptions = Field(default_factory=InstanceNoiseOptions)
    z_distribution: Literal["normal", "uniform"] = Field(
        default="normal", description="z ~ N(0, 1) (ganhacks: spherical z) or U(-1, 1) "
                                      "(the DCGAN paper)")
    separate_batches: bool = Field(
        default=True, description="D sees all-real and all-fake batches (ganhacks #4, the "
                                  "tutorial) instead of one mixed batch")
    conditional: bool = Field(
        default=False, description="class-conditional: G and D get the labels")
    d_steps: int = Field(default=1, ge=1, description="D updates per G update")
    sample_every: int = Field(default=1, ge=0, description="epochs between sample grids "
                                                           "(0 = none)")
    n_samples: int = Field(default=64, ge=1, description="images in a sample grid (a "
                                                         "conditional grid: rows of classes)")
    sample_seed: int = Field(default=0, ge=0, description="seed of the fixed grid noise")
    fid: FidOptions = Field(default_factory=FidOptions)
    classifier: str | None = Field(
        default=None, description="a run or saved-model folder of a classifier trained on the "
                                  "same classes: a conditional GAN then reports cond_acc, the "
                                  "share of samples it assigns to the requested class")

    @model_validator(mode="after")
    def _saturating_is_vanilla(self) -> GanOptions:
        if not self.non_saturating and self.loss != "vanilla":
            raise ValueError(f"non_saturating = false applies to loss = \"vanilla\" only; the "
                             f"{self.loss} generator loss has no saturating form")
        return self
