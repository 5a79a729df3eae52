"""SR data: HR folders, on-the-fly MATLAB-bicubic LR, aligned crops, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2
from zoo_sr.data import (
    HRFolderSource,
    PairedEvalTransform,
    PairedTrainTransform,
    SRPairDataset,
    to_tensor,
)
from zoo_sr.resize import imresize

from tests.conftest import shared_data
from zoo_core.errors import DataError, ZooError


def _write(folder, name, size, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    w, h = size
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(path)
    return path


@pytest.fixture
def hr_folder(tmp_path):
    _write(tmp_path, "a.png", (70, 61), seed=1)
    _write(tmp_path, "sub/b.jpg", (64, 80), seed=2)
    _write(tmp_path, "sub/deeper/c.png", (50, 50), mode="L", seed=3)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_source_finds_images_recursively_and_converts_grayscale(hr_folder):
    src = HRFolderSource(hr_folder)
    assert [p.name for p in src.files] == ["a.png", "b.jpg", "c.png"]
    gray = src.sample(2)["hr"]
    assert gray.mode == "RGB" and gray.size == (50, 50)
    arr = np.asarray(gray)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert src.describe(1).endswith("b.jpg")


def test_source_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        HRFolderSource(tmp_path / "missing")
    with pytest.raises(DataError, match="holds no images"):
        HRFolderSource(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        HRFolderSource(tmp_path).sample(0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_train_crop_is_aligned_with_the_whole_images_lr(hr_folder, scale):
    gt = 48 if scale != 3 else 45
    src = HRFolderSource(hr_folder)
    hr_full = to_tensor(src.sample(0)["hr"])
    hr_mod = hr_full[:, : 61 - 61 % scale, : 70 - 70 % scale]
    lr_full = imresize(hr_mod, 1 / scale)
    t = PairedTrainTransform(scale, gt_size=gt, augment=False, quantize_lr=False)
    for seed in range(6):  # crops at the image edges and inside
        torch.manual_seed(seed)
        out = t(src.sample(0))
        lr, hr = out["lr"], out["hr"]
        assert hr.shape == (3, gt, gt) and lr.shape == (3, gt // scale, gt // scale)
        # find the HR crop's position, then its LR patch must be the full LR's crop there
        diffs = [(top, left) for top in range(0, hr_mod.shape[1] - gt + 1, scale)
                 for left in range(0, hr_mod.shape[2] - gt + 1, scale)
                 if torch.equal(hr_mod[:, top:top + gt, left:left + gt], hr)]
        assert len(diffs) == 1
        top, left = diffs[0][0] // scale, diffs[0][1] // scale
        expected = lr_full[:, top:top + gt // scale, left:left + gt // scale]
        assert torch.allclose(lr, expected, atol=1e-6)


def test_lr_is_quantized_to_8_bits_by_default(hr_folder):
    out = PairedEvalTransform(2)(HRFolderSource(hr_folder).sample(0))
    assert torch.allclose(out["lr"] * 255, torch.round(out["lr"] * 255), atol=1e-4)
    assert out["lr"].min() >= 0 and out["lr"].max() <= 1


def test_dihedral_augmentation_is_the_same_on_lr_and_hr(hr_folder):
    src = HRFolderSource(hr_folder)
    plain = PairedTrainTransform(2, gt_size=32, augment=False, quantize_lr=False)
    aug = PairedTrainTransform(2, gt_size=32, augment=True, quantize_lr=False)
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        a = plain(src.sample(1))
        torch.manual_seed(seed)  # the crop comes first, so the same crop, then the flips
        b = aug(src.sample(1))
        ops = {
            "id": lambda x: x, "h": lambda x: x.flip(-1), "v": lambda x: x.flip(-2),
            "hv": lambda x: x.flip(-1).flip(-2), "t": lambda x: x.transpose(-2, -1),
            "ht": lambda x: x.flip(-1).transpose(-2, -1),
            "vt": lambda x: x.flip(-2).transpose(-2, -1),
            "hvt": lambda x: x.flip(-1).flip(-2).transpose(-2, -1),
        }
        match = [k for k, f in ops.items()
                 if torch.equal(f(a["hr"]), b["hr"]) and torch.equal(f(a["lr"]), b["lr"])]
        assert match, "LR and HR were not transformed alike"
        seen.add(match[0])
    assert len(seen) == 8


def test_crop_size_must_be_a_multiple_of_the_scale():
    with pytest.raises(ZooError, match="not a multiple of the scale 3"):
        PairedTrainTransform(3, gt_size=128)


def test_image_smaller_than_the_crop(hr_folder):
    ds = SRPairDataset(HRFolderSource(hr_folder), PairedTrainTransform(2, gt_size=96))
    with pytest.raises(DataError, match="a.png.*smaller than the 96 px crop"):
        ds[0]


def test_eval_samples_are_mod_cropped_and_compose_with_v2(hr_folder):
    pipeline = v2.Compose([PairedEvalTransform(3)])
    out = pipeline(HRFolderSource(hr_folder).sample(0))
    assert out["hr"].shape == (3, 60, 69) and out["lr"].shape == (3, 20, 23)


@pytest.mark.slow
@pytest.mark.data
def test_set5_bicubic_x4_is_close_to_the_published_figure():
    from zoo_sr.metrics import SRMeter

    src = HRFolderSource(shared_data("sr") / "Set5")
    assert len(src) == 5
    ds = SRPairDataset(src, PairedEvalTransform(4))
    basicsr, matlab = SRMeter(scale=4), SRMeter(scale=4, round_y=True)
    for i in range(len(ds)):
        s = ds[i]
        assert s["hr"].shape[-1] == 4 * s["lr"].shape[-1]
        basicsr.update(imresize(s["lr"], 4), s["hr"])
        matlab.update(imresize(s["lr"], 4), s["hr"])
    # the SR literature's bicubic Set5 x4: 28.42 dB / 0.8104 (MATLAB scripts)
    got = basicsr.compute()
    assert got["psnr_y"] == pytest.approx(28.42, abs=0.02)
    assert got["ssim_y"] == pytest.approx(0.8104, abs=0.001)
    got = matlab.compute()
    assert got["psnr_y"] == pytest.approx(28.42, abs=0.005)
    assert got["ssim_y"] == pytest.approx(0.8104, abs=0.0005)
