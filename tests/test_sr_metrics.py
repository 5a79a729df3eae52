"""PSNR/SSIM against independent formula implementations of BasicSR's protocol."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo_sr.metrics import METRIC_DIRECTIONS, SRMeter, psnr, rgb_to_y, ssim


def _y(rgb255: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) RGB array on 0..255: BasicSR's [0, 1] formula, x255."""
    x = rgb255 / 255.0
    return (16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0 * 255.0


def _ref_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def _ref_ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM, 11x11 Gaussian (sigma 1.5), valid positions only."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()

    def filt(x):
        views = np.lib.stride_tricks.sliding_window_view(x, (11, 11))
        return np.einsum("ijkl,kl->ij", views, win)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def _ref(sr8: np.ndarray, hr8: np.ndarray, border: int, y: bool) -> tuple[float, float]:
    a, b = sr8.astype(np.float64), hr8.astype(np.float64)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    if y:
        a, b = _y(a)[..., None], _y(b)[..., None]
    p = _ref_psnr(a, b)
    s = float(np.mean([_ref_ssim_channel(a[..., c], b[..., c]) for c in range(a.shape[2])]))
    return p, s


def _pair(rng, h, w, sigma=6.0):
    hr = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    sr = np.clip(np.round(hr + rng.normal(0, sigma, hr.shape)), 0, 255).astype(np.uint8)
    return sr, hr


def _t(img8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img8).permute(2, 0, 1).float().div(255.0)


@pytest.mark.parametrize("shape", [(40, 52), (33, 47)])
@pytest.mark.parametrize("border", [0, 2, 3, 4])
@pytest.mark.parametrize("y", [True, False])
def test_psnr_ssim_match_reference_formulas(shape, border, y):
    rng = np.random.default_rng(border * 10 + shape[0])
    sr8, hr8 = _pair(rng, *shape)
    ref_p, ref_s = _ref(sr8, hr8, border, y)
    p = float(psnr(_t(sr8), _t(hr8), crop_border=border, y_channel=y))
    s = float(ssim(_t(sr8), _t(hr8), crop_border=border, y_channel=y))
    assert abs(p - ref_p) < 1e-6
    assert abs(s - ref_s) < 1e-6


def test_quantize_rounds_to_8_bit_like_basicsr_tensor2img():
    rng = np.random.default_rng(3)
    sr8, hr8 = _pair(rng, 32, 32)
    noisy = (_t(sr8) + torch.rand(3, 32, 32) * 0.0019 - 0.00095).clamp(0, 1)  # < half a level
    ref_p, _ = _ref(sr8, hr8, 0, True)
    assert abs(float(psnr(noisy, _t(hr8))) - ref_p) < 1e-6
    assert abs(float(psnr(noisy, _t(hr8), quantize=False)) - ref_p) > 1e-4


def test_round_y_rounds_luma_like_matlab_rgb2ycbcr_of_uint8():
    rng = np.random.default_rng(5)
    sr8, hr8 = _pair(rng, 30, 30)
    a, b = np.round(_y(sr8.astype(np.float64))), np.round(_y(hr8.astype(np.float64)))
    ref = _ref_psnr(a[2:-2, 2:-2], b[2:-2, 2:-2])
    assert abs(float(psnr(_t(sr8), _t(hr8), crop_border=2, round_y=True)) - ref) < 1e-9
    ref_s = _ref_ssim_channel(a[2:-2, 2:-2], b[2:-2, 2:-2])
    assert abs(float(ssim(_t(sr8), _t(hr8), crop_border=2, round_y=True)) - ref_s) < 1e-9


def test_y_channel_of_white_black_and_identical_images():
    img = torch.zeros(1, 3, 2, 2)
    img[..., 0, 0] = 1.0
    y = rgb_to_y(img.double() * 255)
    assert y[0, 0, 0, 0].item() == pytest.approx(235.0)
    assert y[0, 0, 1, 1].item() == pytest.approx(16.0)
    x = torch.rand(2, 3, 24, 24)
    assert torch.isinf(psnr(x, x)).all()
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))


def test_meter_averages_per_image_and_round_trips_state():
    rng = np.random.default_rng(7)
    pairs = [_pair(rng, 36, 36, sigma) for sigma in (3.0, 9.0, 15.0)]
    meter = SRMeter(scale=2)
    meter.update(torch.stack([_t(pairs[0][0]), _t(pairs[1][0])]),
                 torch.stack([_t(pairs[0][1]), _t(pairs[1][1])]))
    state = meter.state_dict()
    meter.update(_t(pairs[2][0]), _t(pairs[2][1]))
    got = meter.compute()
    assert set(got) == set(METRIC_DIRECTIONS)
    refs = {"y": [_ref(sr, hr, 2, True) for sr, hr in pairs],
            "rgb": [_ref(sr, hr, 2, False) for sr, hr in pairs]}
    for space in ("y", "rgb"):
        assert abs(got[f"psnr_{space}"] - np.mean([r[0] for r in refs[space]])) < 1e-6
        assert abs(got[f"ssim_{space}"] - np.mean([r[1] for r in refs[space]])) < 1e-6
    resumed = SRMeter(scale=2)
    resumed.load_state_dict(state)
    resumed.update(_t(pairs[2][0]), _t(pairs[2][1]))
    assert resumed.compute() == pytest.approx(got, abs=1e-12)
    meter.reset()
    assert meter.count == 0 and np.isnan(meter.compute()["psnr_y"])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.rand(3, 10, 10), torch.rand(3, 12, 12))


def test_registered_metric_builds_the_meter():
    from zoo_core.plugins import registry

    meter = registry().get("metric", "sr_psnr_ssim").component.create(scale=3)
    assert isinstance(meter, SRMeter) and meter.crop_border == 3 and meter.quantize
