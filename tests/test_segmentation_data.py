"""Segmentation data: image/mask folders, value maps, joint transforms, tiled
inference and the overlay/IoU writers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tests.conftest import shared_data
from zoo_core.errors import DataError


def _write(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_membrane_folder():
    from zoo_segmentation.data import SegmentationFolder

    root = shared_data("membrane")
    src = SegmentationFolder(root, value_map={0: "membrane", 255: "cell"})
    assert len(src) == 30 and src.channels == 1
    assert src.class_names == ["membrane", "cell"]
    assert src.name(2) == "2" and src.name(10) == "10"  # natural order
    sample = src.sample(0)
    assert sample["image"].shape == (1, 512, 512) and sample["image"].dtype == torch.uint8
    assert sample["mask"].shape == (512, 512) and sample["mask"].dtype == torch.int64
    raw = np.asarray(Image.open(root / "label" / "0.png"))
    assert torch.equal(sample["mask"], torch.from_numpy((raw == 255).astype(np.int64)))
    # a value map that leaves 255 out names the file and the value
    partial = SegmentationFolder(root, value_map={0: "membrane"})
    with pytest.raises(DataError, match=r"label/0\.png has pixel values that task.values "
                       r"does not map: 255"):
        partial.sample(0)


def test_folders_matched_by_name_suffix_and_errors(tmp_path):
    from zoo_segmentation.data import SegmentationFolder

    img = np.zeros((20, 30, 3), np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:10] = 1
    _write(tmp_path / "imgs" / "a.jpg", img)
    _write(tmp_path / "masks" / "a_mask.png", mask)
    _write(tmp_path / "imgs" / "b.png", img)
    _write(tmp_path / "masks" / "b_mask.png", mask[:, :29])  # wrong size
    src = SegmentationFolder(tmp_path, images="imgs", masks="masks", mask_suffix="_mask",
                             value_map={"0": "background", "1": "object"})  # TOML-style keys
    assert src.channels == 3 and len(src) == 2
    assert int(src.sample(0)["mask"].sum()) == 25
    with pytest.raises(DataError, match=r"b_mask\.png is 29x20 but its image .*b\.png is 30x20"):
        src.sample(1)
    _write(tmp_path / "imgs" / "c.png", img)
    with pytest.raises(DataError, match="1 image.*have no mask.*c.png"):
        SegmentationFolder(tmp_path, images="imgs", masks="masks", mask_suffix="_mask")
    with pytest.raises(DataError, match="does not exist"):
        SegmentationFolder(tmp_path, images="nope")


def test_colour_palette_and_ignored_values(tmp_path):
    from zoo_segmentation.data import SegmentationFolder

    colour = np.zeros((8, 8, 3), np.uint8)
    colour[:4] = (255, 0, 0)
    colour[4:, :2] = (0, 255, 0)
    _write(tmp_path / "image" / "x.png", np.full((8, 8), 100, np.uint8))
    _write(tmp_path / "label" / "x.png", colour)
    src = SegmentationFolder(tmp_path, value_map={"#000000": "bg", "255,0,0": "red",
                                                  "#00ff00": "ignore"})
    m = src.sample(0)["mask"]
    assert src.class_names == ["bg", "red"]
    assert (m[:4] == 1).all() and (m[4:, :2] == 255).all() and (m[4:, 2:] == 0).all()
    # a palette ("P") mask: the stored indices are the labels, not the palette colours
    pal = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10] + [0] * 759)
    (tmp_path / "p" / "image").mkdir(parents=True)
    (tmp_path / "p" / "label").mkdir()
    pal.save(tmp_path / "p" / "label" / "y.png")
    _write(tmp_path / "p" / "image" / "y.png", np.zeros((2, 2), np.uint8))
    got = SegmentationFolder(tmp_path / "p").sample(0)["mask"]
    assert got.tolist() == [[0, 1], [2, 1]]
    # a colour mask with a grey-level map is an error naming the file
    with pytest.raises(DataError, match=r"label/x\.png is a colour image"):
        SegmentationFolder(tmp_path, value_map={0: "bg", 255: "fg"}).sample(0)


def test_joint_transforms_keep_image_and_mask_aligned(tmp_path):
    """The image is its mask drawn in grey: after crops, flips, rotation and elastic
    warps, bright pixels must still be class 1 and dark ones class 0; mask values
    stay class indices (nearest interpolation) or the fill."""
    from zoo_segmentation.data import SegmentationFolder
    from zoo_segmentation.transforms import eval_transforms, train_transforms

    from zoo_core.data.dataset import SampleDataset

    rng = np.random.default_rng(0)
    mask = np.zeros((96, 120), np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, 80), rng.integers(0, 100)
        mask[y:y + 16, x:x + 20] = 1
    _write(tmp_path / "image" / "0.png", mask * 255)
    _write(tmp_path / "label" / "0.png", mask)
    src = SegmentationFolder(tmp_path, value_map={0: "bg", 1: "fg"})
    tf = train_transforms((64, 80), hflip=True, vflip=True, rotate=30, elastic=True,
                          elastic_p=1.0, mask_fill=255)
    ds = SampleDataset(src, tf)
    for seed in range(6):
        torch.manual_seed(seed)
        s = ds[0]
        img, m = s["image"][0], s["mask"]
        assert img.shape == (64, 80) and m.shape == (64, 80) and m.dtype == torch.int64
        assert set(m.unique().tolist()) <= {0, 1, 255}
        inside = m != 255
        assert (m[(img > 0.9) & inside] == 1).all()
        assert (m[(img < 0.1) & inside] == 0).float().mean() > 0.99
    torch.manual_seed(7)
    a = ds[0]
    torch.manual_seed(7)
    b = ds[0]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    # evaluation: normalised, whole image, no randomness
    e = SampleDataset(src, eval_transforms(mean=[0.5], std=[0.5]))[0]
    assert e["image"].shape == (1, 96, 120) and float(e["image"].max()) == pytest.approx(1.0)
    assert torch.equal(e["mask"], torch.from_numpy(mask.astype(np.int64)))


def test_crop_pads_small_images_with_the_mask_fill(tmp_path):
    from zoo_segmentation.data import SegmentationFolder
    from zoo_segmentation.transforms import train_transforms

    from zoo_core.data.dataset import SampleDataset

    _write(tmp_path / "image" / "0.png", np.full((20, 20), 200, np.uint8))
    _write(tmp_path / "label" / "0.png", np.ones((20, 20), np.uint8))
    ds = SampleDataset(SegmentationFolder(tmp_path, value_map={0: "bg", 1: "fg"}),
                             train_transforms(32, hflip=False, mask_fill=255))
    s = ds[0]
    assert s["mask"].shape == (32, 32)
    assert int((s["mask"] == 1).sum()) == 400 and int((s["mask"] == 255).sum()) == 1024 - 400


# -- tiled inference ----------------------------------------------------------------------

def _fcn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1)).eval()


def test_tiled_equals_full_image_when_tiles_overlap_enough():
    from zoo_segmentation.tiling import tiled_predict

    net = _fcn()  # receptive field 7: 3 pixels each side
    x = torch.randn(2, 3, 100, 130)
    with torch.no_grad():
        full = net(x)
    tiled = tiled_predict(net, x, tile=32, overlap=8, blend="crop")
    assert torch.allclose(tiled, full, atol=1e-5)
    # too little overlap: seams differ
    assert not torch.allclose(tiled_predict(net, x, tile=32, overlap=2, blend="crop"), full,
                              atol=1e-3)
    # any blend is exact for a per-pixel model (weights are normalised)
    pointwise = nn.Conv2d(3, 2, 1).eval()
    with torch.no_grad():
        ref = pointwise(x)
    for blend in ("gaussian", "mean", "crop"):
        assert torch.allclose(tiled_predict(pointwise, x, tile=40, overlap=10, blend=blend), ref,
                              atol=1e-5)


def test_tiled_unet_with_pooling_equals_full_image():
    """With pooling, tiles on the pooling grid and margins beyond the receptive field
    give the full-image result."""
    from zoo_segmentation.tiling import tiled_predict
    from zoo_segmentation.unet import UNetClassic

    torch.manual_seed(0)
    net = UNetClassic(in_chans=3, base=8, depth=2, dropout=0.0).eval()
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        full = net(x)
    tiled = tiled_predict(net, x, tile=64, overlap=48, blend="crop", batch_size=3)
    assert torch.allclose(tiled, full, atol=1e-4)
    smooth = tiled_predict(net, x, tile=64, overlap=48, blend="gaussian")
    assert (smooth - full).abs().mean() < 0.1 * full.abs().mean()


def test_tiles_are_padded_for_models_that_need_divisible_sizes():
    from zoo_segmentation.tiling import tiled_predict

    from zoo_core.api import create

    fpn = create("segmentation", "fpn", encoder="resnet18", num_classes=2).eval()
    out = tiled_predict(fpn, torch.randn(1, 3, 90, 150), tile=(70, 80), overlap=20)
    assert out.shape == (1, 2, 90, 150) and torch.isfinite(out).all()


def test_overlay_png(tmp_path):
    from zoo_segmentation.artifacts import colourise, write_overlays

    imgs = [torch.rand(1, 24, 32), torch.rand(1, 24, 32)]
    truths = [torch.randint(0, 3, (24, 32)) for _ in imgs]
    preds = [torch.randint(0, 3, (24, 32)) for _ in imgs]
    path = write_overlays(tmp_path / "art" / "overlay.png", imgs, truths, preds)
    grid = np.asarray(Image.open(path).convert("RGB"))
    gap, header = 4, 14
    assert grid.shape == (header + 2 * (24 + gap), 3 * 32 + 2 * gap, 3)
    second_row = header + 24 + gap
    truth_panel = grid[second_row:second_row + 24, 32 + gap:64 + gap]
    assert np.array_equal(truth_panel, colourise(truths[1]))
    pred_panel = grid[header:header + 24, 64 + 2 * gap:96 + 2 * gap]
    assert np.array_equal(pred_panel, colourise(preds[0]))
    assert not list(path.parent.glob(".*.tmp"))  # atomic: no leftovers
