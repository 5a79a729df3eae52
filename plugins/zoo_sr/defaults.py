"""Defaults from BasicSR's SRResNet/SRGAN configs (``options/train/SRResNet_SRGAN``).
No torch here: a task's recipe section can use them as its defaults."""

from __future__ import annotations

#: train_MSRGAN_x4.yml: L1 pixel 1e-2, VGG19 conv5_4 perceptual 1.0, vanilla GAN 5e-3
SRGAN_LOSS_WEIGHTS: dict[str, float] = {"pixel": 1e-2, "perceptual": 1.0, "gan": 5e-3}
#: every SRResNet/SRGAN config: generator EMA
EMA_DECAY = 0.999
#: GT patch size of the configs (LR patch = gt_size / scale)
GT_SIZE = 128
#: Adam for generator and discriminator
ADAM_BETAS = (0.9, 0.99)
LR_SRRESNET = 2e-4
LR_SRGAN = 1e-4
