"""Fixed noise, side-effect-free generation and PNG sample grids."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn
from zoo_gan.models import DCGANGenerator
from zoo_gan.samples import fixed_inputs, generate, grid_size, save_sample_grid


def test_fixed_inputs_unconditional_and_conditional():
    z, labels, nrow = fixed_inputs(64, 100, seed=3)
    assert z.shape == (64, 100) and labels is None and nrow == 8
    assert torch.equal(z, fixed_inputs(64, 100, seed=3)[0])  # the same grid every epoch
    assert not torch.equal(z, fixed_inputs(64, 100, seed=4)[0])
    u, _, _ = fixed_inputs(10, 5, distribution="uniform")
    assert u.min() >= -1 and u.max() <= 1
    z, labels, nrow = fixed_inputs(64, 100, num_classes=10)
    assert z.shape == (60, 100) and nrow == 6
    assert labels.tolist() == [c for c in range(10) for _ in range(6)]
    z, labels, nrow = fixed_inputs(4, 8, num_classes=10)  # at least one sample per class
    assert z.shape == (10, 8) and nrow == 1


def test_generate_leaves_the_generator_as_it_was():
    torch.manual_seed(0)
    g = DCGANGenerator(nz=8, ngf=4, image_size=16).eval()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    z = torch.randn(6, 8)
    out = generate(g, z, batch_size=4, train_mode=True)
    assert out.shape == (6, 3, 16, 16) and not g.training
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k]), k  # running statistics restored
    with torch.no_grad():
        g.train()
        expected = torch.cat([g(z[:4]), g(z[4:])])  # batch statistics per chunk
        g.load_state_dict(before)
        g.eval()
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(generate(g, z, train_mode=False), g(z))


class LabelPainter(nn.Module):
    """A 'generator' that paints each image the grey of its label: class c -> c / 9."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        level = labels.float() / 9 * 2 - 1
        return (self.scale * level).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()


def test_unconditional_grid_png(tmp_path):
    torch.manual_seed(0)
    g = DCGANGenerator(nz=16, ngf=4, image_size=32)
    z, _, nrow = fixed_inputs(64, 16)
    path = save_sample_grid(generate(g, z), tmp_path / "samples" / "epoch_001.png", nrow=nrow)
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["epoch_001.png"]
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.size == grid_size(64, 8, 32, 32) == (8 * 34 + 2, 8 * 34 + 2)


def test_conditional_grid_has_one_row_per_class(tmp_path):
    z, labels, nrow = fixed_inputs(30, 4, num_classes=10)  # 3 per class
    images = generate(LabelPainter(), z, labels)
    path = save_sample_grid(images, tmp_path / "cgan.png", nrow=nrow)
    with Image.open(path) as im:
        assert im.size == (3 * 10 + 2, 10 * 10 + 2)
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    # the centre of each 8x8 tile (2 px padding) holds that tile's grey
    rows = [[pixels[2 + r * 10 + 4, 2 + c * 10 + 4] for c in range(3)] for r in range(10)]
    for r, row in enumerate(rows):
        assert max(row) - min(row) <= 1  # one class per row
        assert abs(row[0] - 255 * r / 9) <= 1
