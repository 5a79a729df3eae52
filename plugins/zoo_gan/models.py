"""DCGAN generator and discriminator with the PyTorch DCGAN tutorial's defaults.

At ``image_size=64, channels=3`` and the default widths, both networks are the
tutorial's layer for layer, with the same module names (``main.0`` ...), so a
state dict saved from the tutorial's ``netG``/``netD`` loads strictly into
them. Differences, on purpose:

* the discriminator returns **logits** (the tutorial ends in ``Sigmoid``):
  the losses use ``binary_cross_entropy_with_logits``, which fuses the sigmoid
  into the log and stays finite where ``BCELoss(sigmoid(x))`` saturates;
* other sizes: every power of two from 8 px up (one stride-2 layer per
  doubling above 4x4, widths doubling towards the 4x4 end as in the tutorial);
* conditional variants (``num_classes > 0``): the generator concatenates a
  label embedding to z; the discriminator either reads the label as an extra
  input plane or, with ``projection=True``, adds a projection term (Miyato &
  Koyama, 2018).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zoo_core.errors import ZooError

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "dcgan_init", "num_upsamplings",
           "build_generator", "build_discriminator"]

INIT_STD = 0.02  # DCGAN paper, section 4: every weight from N(0, 0.02)


def dcgan_init(module: nn.Module) -> None:
    """The tutorial's ``weights_init``, for ``model.apply(dcgan_init)``.

    Convolutions (plain and transposed): weight ~ N(0, 0.02), bias (if any)
    zero. Batch norms: weight ~ N(1, 0.02), bias zero. Other layers (the
    label embeddings) keep PyTorch's default init.
    """
    if isinstance(module, nn.modules.conv._ConvNd):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


def num_upsamplings(image_size: int) -> int:
    """Stride-2 layers between the 4x4 map and ``image_size`` (4 for 64 px).

    Raises :class:`ZooError` unless ``image_size`` is a power of two >= 8.
    """
    ok = isinstance(image_size, int) and image_size >= 8 and image_size & (image_size - 1) == 0
    if not ok:
        raise ZooError(
            f"DCGAN image_size must be a power of two of at least 8 (got {image_size!r}); "
            "the networks double the resolution once per layer from 4x4. Use 32, 64 or 128, "
            "and resize the data to it."
        )
    return int(math.log2(image_size)) - 2


def _check_common(channels: int, num_classes: int) -> None:
    if channels < 1:
        raise ZooError(f"DCGAN channels must be >= 1 (got {channels}).")
    if num_classes < 0:
        raise ZooError(f"DCGAN num_classes must be >= 0 (0 = unconditional), got {num_classes}.")


def _image_cfg(channels: int, image_size: int) -> dict[str, object]:
    """The images a DCGAN works on: its size, and [-1, 1] = normalised with 0.5/0.5
    (the tutorial's ``Normalize((0.5,)*3, (0.5,)*3)``). ``zoo info`` shows it and a
    task can build its transforms from it."""
    return {"input_size": (channels, image_size, image_size), "mean": (0.5,) * channels,
            "std": (0.5,) * channels, "interpolation": "bilinear", "crop_pct": 1.0,
            "crop_mode": "center"}


class DCGANGenerator(nn.Module):
    """z (N, nz) or (N, nz, 1, 1) [+ labels (N,)] -> images (N, channels, S, S) in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, image_size: int = 64, channels: int = 3,
                 num_classes: int = 0, embed_dim: int = 50):
        super().__init__()
        _check_common(channels, num_classes)
        ups = num_upsamplings(image_size)
        self.nz, self.ngf, self.image_size = nz, ngf, image_size
        self.channels, self.num_classes = channels, num_classes
        self.embed_dim = embed_dim if num_classes else 0
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        mult = 2 ** (ups - 1)  # ngf*8 at 4x4 for 64 px, as in the tutorial
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz + self.embed_dim, ngf * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * mult), nn.ReLU(True),
        ]
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.pretrained_cfg = _image_cfg(channels, image_size)  # of the images it makes

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim == 2:
            z = z[:, :, None, None]
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: call it with (z, labels)")
            z = torch.cat([z, self.embed(labels)[:, :, None, None].to(z.dtype)], dim=1)
        return self.main(z)

    def example_input(self, batch_size: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Latent vectors (and random labels when conditional), for ``zoo bench``."""
        z = torch.randn(batch_size, self.nz)
        if self.conditional:
            return z, torch.randint(0, self.num_classes, (batch_size,))
        return z


class DCGANDiscriminator(nn.Module):
    """images (N, channels, S, S) [+ labels (N,)] -> real/fake logits (N,)."""

    def __init__(self, ndf: int = 64, image_size: int = 64, channels: int = 3,
                 num_classes: int = 0, projection: bool = False):
        super().__init__()
        _check_common(channels, num_classes)
        if projection and not num_classes:
            raise ZooError("projection=True needs num_classes > 0: a projection "
                           "discriminator projects the label onto the features.")
        downs = num_upsamplings(image_size)
        self.ndf, self.image_size, self.channels = ndf, image_size, channels
        self.num_classes, self.projection = num_classes, projection
        label_plane = bool(num_classes) and not projection
        # the label as one extra input plane: an embedding with one value per pixel
        self.label_plane = (nn.Embedding(num_classes, image_size * image_size)
                            if label_plane else None)
        mult = 1
        layers: list[nn.Module] = [
            nn.Conv2d(channels + int(label_plane), ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(downs - 1):
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ndf * mult * 2), nn.LeakyReLU(0.2, inplace=True)]
            mult *= 2
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False))  # no Sigmoid: logits
        self.main = nn.Sequential(*layers)
        self.num_features = ndf * mult
        self.embed = nn.Embedding(num_classes, self.num_features) if projection else None
        self.pretrained_cfg = _image_cfg(channels, image_size)

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional and labels is None:
            raise ValueError("this discriminator is conditional: call it with (images, labels)")
        if self.label_plane is not None:
            plane = self.label_plane(labels).view(-1, 1, self.image_size, self.image_size)
            x = torch.cat([x, plane.to(x.dtype)], dim=1)
        h = x
        for layer in self.main[:-1]:
            h = layer(h)
        logits = self.main[-1](h).flatten()
        if self.embed is not None:
            # f(x, y) = psi(phi(x)) + <embed(y), phi(x)>, phi = sum-pooled last features
            phi = h.sum(dim=(2, 3))
            logits = logits + (self.embed(labels).to(phi.dtype) * phi).sum(dim=1)
        return logits

    def example_input(self, batch_size: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] (and random labels when conditional), for ``zoo bench``."""
        x = torch.rand(batch_size, self.channels, self.image_size, self.image_size) * 2 - 1
        if self.conditional:
            return x, torch.randint(0, self.num_classes, (batch_size,))
        return x


def build_generator(**cfg: object) -> DCGANGenerator:
    """Registry factory: :class:`DCGANGenerator` with :func:`dcgan_init` applied."""
    model = DCGANGenerator(**cfg)  # type: ignore[arg-type]
    model.apply(dcgan_init)
    return model


def build_discriminator(**cfg: object) -> DCGANDiscriminator:
    """Registry factory: :class:`DCGANDiscriminator` with :func:`dcgan_init` applied."""
    model = DCGANDiscriminator(**cfg)  # type: ignore[arg-type]
    model.apply(dcgan_init)
    return model
