"""Our SR networks: SRResNet (BasicSR's MSRResNet, or the SRGAN paper's generator
with BatchNorm), the VGG-style discriminator of SRGAN/ESRGAN, and bicubic.

Parameter names follow BasicSR's (``conv_first``, ``body.N.conv1``,
``upconv1``, ``conv_hr``, ``conv_last``; ``conv0_0`` ... ``linear2``), so
BasicSR's published MSRResNet and discriminator weights load strictly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.errors import ZooError
from zoo_sr.resize import imresize

SCALES = (2, 3, 4)


def _check_scale(scale: int, where: str) -> int:
    if int(scale) != scale or int(scale) not in SCALES:
        raise ZooError(
            f"{where} upscales by 2, 3 or 4, not {scale!r}. Set the task's scale (or the "
            "model's cfg.scale) to one of these."
        )
    return int(scale)


@torch.no_grad()
def basicsr_init(modules: list[nn.Module], scale: float = 0.1) -> None:
    """BasicSR's ``default_init_weights``: Kaiming-normal convolutions (and linear
    layers) scaled by ``scale``, zero biases, BatchNorm at weight 1."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv plus identity (EDSR/MSRResNet); with ``batch_norm`` the SRGAN
    paper's conv-BN-PReLU-conv-BN."""

    def __init__(self, num_feat: int, batch_norm: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if batch_norm:
            self.bn1 = nn.BatchNorm2d(num_feat)
            self.act = nn.PReLU(num_feat)
            self.bn2 = nn.BatchNorm2d(num_feat)
        else:
            self.act = nn.ReLU(inplace=True)
        self.batch_norm = batch_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch_norm:
            return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return x + self.conv2(self.act(self.conv1(x)))


class SRResNet(nn.Module):
    """SRResNet for x2, x3 and x4.

    ``batch_norm=False`` (default) is BasicSR's MSRResNet: 3x3 head, residual
    blocks without BatchNorm, LeakyReLU(0.1) pixel-shuffle upsampling, and the
    input's bilinear upsampling added to the output; BasicSR's initialisation.
    ``batch_norm=True`` is the generator of the SRGAN paper (Ledig et al., 2017):
    9x9 head and tail with PReLU, conv-BN-PReLU-conv-BN blocks, a conv-BN after
    the body with a skip from the head, PReLU pixel-shuffle upsampling, and no
    bilinear skip.
    """

    def __init__(self, scale: int = 4, num_feat: int = 64, num_block: int = 16, in_chans: int = 3,
                 batch_norm: bool = False):
        super().__init__()
        self.scale = _check_scale(scale, "srresnet")
        self.in_chans = int(in_chans)
        self.batch_norm = bool(batch_norm)
        head = 9 if batch_norm else 3
        self.conv_first = nn.Conv2d(in_chans, num_feat, head, 1, head // 2)
        self.body = nn.Sequential(*[ResidualBlock(num_feat, batch_norm) for _ in range(num_block)])
        if batch_norm:
            self.act_first = nn.PReLU(num_feat)
            self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.bn_body = nn.BatchNorm2d(num_feat)
        steps = [3] if self.scale == 3 else [2] * (self.scale // 2)
        for i, factor in enumerate(steps, start=1):
            setattr(self, f"upconv{i}", nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1))
            if batch_norm:
                setattr(self, f"up_act{i}", nn.PReLU(num_feat))
        self._steps = steps
        if batch_norm:
            self.conv_last = nn.Conv2d(num_feat, in_chans, 9, 1, 4)
        else:
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        # BasicSR scales every convolution's Kaiming init by 0.1 (residual blocks included)
        basicsr_init([self], 0.1)

    def _act(self, i: int) -> nn.Module:
        return getattr(self, f"up_act{i}") if self.batch_norm else self.lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch_norm:
            feat = self.act_first(self.conv_first(x))
            out = self.bn_body(self.conv_body(self.body(feat))) + feat
        else:
            out = self.body(self.lrelu(self.conv_first(x)))
        for i, factor in enumerate(self._steps, start=1):
            out = self._act(i)(F.pixel_shuffle(getattr(self, f"upconv{i}")(out), factor))
        if self.batch_norm:
            return self.conv_last(out)
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear",
                                   align_corners=False)

    def example_input(self, batch_size: int) -> torch.Tensor:
        """One training batch of LR patches: BasicSR's 128 px GT patches / scale."""
        size = 128 // self.scale
        return torch.rand(batch_size, self.in_chans, size, size)


class VGGStyleDiscriminator(nn.Module):
    """SRGAN/ESRGAN's discriminator (BasicSR's ``VGGStyleDiscriminator``) for 128
    or 256 px patches: five (six) stride-2 stages of conv-BN-LeakyReLU(0.2),
    then 100 hidden units and one logit."""

    def __init__(self, num_feat: int = 64, input_size: int = 128, in_chans: int = 3):
        super().__init__()
        if input_size not in (128, 256):
            raise ZooError(
                f"sr_discriminator takes 128 or 256 px patches, not input_size={input_size!r}; "
                "set cfg.input_size to the HR crop size (128 or 256)."
            )
        self.input_size = int(input_size)
        self.in_chans = int(in_chans)
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        if input_size == 256:
            widths.append(num_feat * 8)
        self.conv0_0 = nn.Conv2d(in_chans, num_feat, 3, 1, 1, bias=True)
        prev = num_feat
        for stage, width in enumerate(widths):
            if stage > 0:
                setattr(self, f"conv{stage}_0", nn.Conv2d(prev, width, 3, 1, 1, bias=False))
                setattr(self, f"bn{stage}_0", nn.BatchNorm2d(width))
            setattr(self, f"conv{stage}_1", nn.Conv2d(width, width, 4, 2, 1, bias=False))
            setattr(self, f"bn{stage}_1", nn.BatchNorm2d(width))
            prev = width
        self._stages = len(widths)
        self.linear1 = nn.Linear(prev * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ZooError(
                f"sr_discriminator was built for {self.input_size}x{self.input_size} patches "
                f"and got {tuple(x.shape[-2:])}; make the HR crop size match cfg.input_size."
            )
        feat = self.lrelu(self.conv0_0(x))
        for stage in range(self._stages):
            if stage > 0:
                conv, bn = getattr(self, f"conv{stage}_0"), getattr(self, f"bn{stage}_0")
                feat = self.lrelu(bn(conv(feat)))
            conv, bn = getattr(self, f"conv{stage}_1"), getattr(self, f"bn{stage}_1")
            feat = self.lrelu(bn(conv(feat)))
        feat = self.lrelu(self.linear1(feat.flatten(1)))
        return self.linear2(feat)

    def example_input(self, batch_size: int) -> torch.Tensor:
        return torch.rand(batch_size, self.in_chans, self.input_size, self.input_size)


class Bicubic(nn.Module):
    """MATLAB-compatible bicubic upscaling: no parameters, the baseline of every table."""

    def __init__(self, scale: int = 4, in_chans: int = 3):
        super().__init__()
        if int(scale) != scale or scale < 1:
            raise ZooError(f"bicubic upscales by a whole factor, not {scale!r}.")
        self.scale = int(scale)
        self.in_chans = int(in_chans)
        # no parameters, but .to(device/dtype) must still tell where the model lives
        self.register_buffer("anchor", torch.zeros(()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x.to(self.anchor.dtype), self.scale)

    def example_input(self, batch_size: int) -> torch.Tensor:
        size = 128 // self.scale
        return torch.rand(batch_size, self.in_chans, size, size)
