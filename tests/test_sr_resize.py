"""MATLAB bicubic resize against a plain, independent reference of MATLAB's algorithm."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from zoo_sr.resize import imresize, imresize_np, output_size, resize_matrix


def _ref_kernel(x: float) -> float:
    # Keys' cubic convolution kernel, a = -0.5
    a = -0.5
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def _ref_resize_axis(img: np.ndarray, scale: float) -> np.ndarray:
    """Resize axis 0 of ``img`` with MATLAB's ``contributions``: per output pixel, the
    input pixels under the (widened, when shrinking) kernel, weights normalised to 1,
    indices outside the image read from a symmetrically padded copy."""
    n_in = img.shape[0]
    n_out = math.ceil(n_in * scale - 1e-9)
    width = 4.0 / scale if scale < 1 else 4.0
    pad = int(width) + 4
    padded = np.pad(img, [(pad, pad)] + [(0, 0)] * (img.ndim - 1), mode="symmetric")
    out = np.zeros((n_out,) + img.shape[1:])
    for k in range(1, n_out + 1):
        centre = k / scale + 0.5 * (1 - 1 / scale)   # 1-based input coordinate
        first = math.floor(centre - width / 2)
        taps = range(first, first + math.ceil(width) + 2)
        if scale < 1:
            w = [scale * _ref_kernel((centre - j) * scale) for j in taps]
        else:
            w = [_ref_kernel(centre - j) for j in taps]
        total = sum(w)
        for j, wj in zip(taps, w, strict=True):
            out[k - 1] += (wj / total) * padded[j - 1 + pad]
    return out


def _ref_imresize(img: np.ndarray, scale: float) -> np.ndarray:
    rows = _ref_resize_axis(img, scale)
    return np.swapaxes(_ref_resize_axis(np.swapaxes(rows, 0, 1), scale), 0, 1)


@pytest.mark.parametrize("shape", [(17, 23, 3), (24, 36, 3), (31, 29, 1), (13, 9, 3)])
@pytest.mark.parametrize("scale", [2, 3, 4, 1 / 2, 1 / 3, 1 / 4])
def test_imresize_matches_matlab_reference(shape, scale):
    rng = np.random.default_rng(hash((shape, scale)) % 2**32)
    img = rng.random(shape)
    ref = _ref_imresize(img, scale)
    ours = imresize_np(img, scale)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-10
    # the torch version (float32, (C, H, W)) agrees to float32 precision
    t = imresize(torch.from_numpy(img).permute(2, 0, 1).float(), scale)
    assert t.shape == (shape[2],) + ref.shape[:2]
    assert (t.permute(1, 2, 0).double().numpy() - ref).__abs__().max() < 1e-5


def test_imresize_batched_and_2d():
    rng = np.random.default_rng(0)
    img = rng.random((2, 3, 20, 30))
    out = imresize(torch.from_numpy(img), 1 / 2)
    assert out.dtype == torch.float64 and out.shape == (2, 3, 10, 15)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(out[n, c].numpy(), imresize_np(img[n, c], 1 / 2),
                                       atol=1e-12)


def test_weights_are_a_partition_of_unity_and_known_values():
    # every output pixel's weights sum to 1 (a constant image stays constant)
    for n, s in [(10, 4), (12, 1 / 3), (7, 2)]:
        np.testing.assert_allclose(resize_matrix(n, scale=s).sum(axis=1), 1.0, atol=1e-12)
    # x2 upscaling of pixel centres at 0.25/0.75: the classic a=-0.5 weights
    m = resize_matrix(8, scale=2)
    np.testing.assert_allclose(m[4, 0:4], [-0.0234375, 0.2265625, 0.8671875, -0.0703125])


def test_output_size_is_safe_against_float_noise():
    assert output_size(510, 1 / 3) == 170
    assert output_size(17, 2) == 34 and output_size(17, 1 / 2) == 9
