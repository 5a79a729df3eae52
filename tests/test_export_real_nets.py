"""zoo export of the real fully convolutional networks of the plugins (SRResNet
from zoo_sr, U-Net from zoo_segmentation) from saved-model folders: ONNX with
dynamic batch, height and width, and parity against torch at two input sizes,
checked again here with onnxruntime against the model that was saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from zoo_core.cli import cli


def _export(folder: Path) -> dict:
    result = CliRunner().invoke(cli, ["export", str(folder), "--json", "--check-batches", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _ort_matches(model: torch.nn.Module, onnx_path: str, shapes: list[tuple[int, ...]],
                 out_scale: int) -> None:
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(7)
    for shape in shapes:
        x = torch.rand(*shape, generator=gen)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        assert got.shape == ref.shape
        assert got.shape[-2:] == (shape[-2] * out_scale, shape[-1] * out_scale)
        np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_srresnet_exports_with_dynamic_size_and_parity_at_two_sizes(tmp_path):
    from zoo_core.api import create
    from zoo_core.weights import save_model

    cfg = {"scale": 4, "num_feat": 16, "num_block": 1, "in_chans": 3, "batch_norm": False}
    torch.manual_seed(0)
    model = create("sr", "srresnet", **cfg).eval()  # BasicSR's MSRResNet, one block
    folder = tmp_path / "srresnet"
    save_model(folder, model, {"zoo": {"builder": {"kind": "sr", "name": "srresnet"},
                                       "model": cfg}})
    report = _export(folder)
    assert report["inputs"] == {"input": ["batch", 3, "height", "width"]}
    assert report["dynamic_axes"] == {"input": {"0": "batch", "2": "height", "3": "width"}}
    parity = report["parity"]
    assert parity["passed"] and parity["max_abs_diff"] < 1e-4
    # the LR patch of example_input (128 px HR / 4), then 32 taller and 64 wider
    assert parity["shapes"] == [[16, 3, 32, 32], [2, 3, 64, 96]]
    _ort_matches(model, report["path"], [(1, 3, 24, 40), (3, 3, 48, 32)], out_scale=4)


@pytest.mark.slow
def test_unet_exports_with_dynamic_size_and_parity_at_two_sizes(tmp_path):
    from zoo_core.api import create
    from zoo_core.weights import save_model

    torch.manual_seed(0)
    model = create("segmentation", "unet", encoder="test_resnet", encoder_weights="none",
                   in_chans=3, num_classes=2, decoder_channels=[32, 16, 8, 8, 8],
                   image_size=64).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so their folding is checked
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    folder = tmp_path / "unet"
    save_model(folder, model, {"zoo": {"builder": {"kind": "segmentation", "name": "unet"},
                                       "model": model.rebuild_cfg}})
    report = _export(folder)
    assert report["inputs"] == {"input": ["batch", 3, "height", "width"]}
    parity = report["parity"]
    assert parity["passed"] and parity["max_abs_diff"] < 1e-4
    assert parity["shapes"] == [[16, 3, 64, 64], [2, 3, 96, 128]]
    _ort_matches(model, report["path"], [(1, 3, 32, 96), (2, 3, 160, 64)], out_scale=1)


class _FixesItsSize(torch.nn.Module):
    """Fully convolutional, but its forward turns the input size into Python ints,
    which makes torch.export specialise height and width."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        y = torch.nn.functional.avg_pool2d(self.conv(x), 2)
        return torch.nn.functional.interpolate(y, size=(h, w), mode="nearest")


@pytest.mark.slow
def test_an_export_whose_size_the_model_fixed_is_static_not_falsely_dynamic(tmp_path):
    import onnxruntime as ort

    from zoo_core.export.export import export_model

    torch.manual_seed(0)
    res = export_model(_FixesItsSize().eval(), (torch.randn(2, 3, 16, 24),), tmp_path / "m.onnx")
    assert res.dynamic_axes == {"input": {0: "batch"}}
    assert res.input_shapes == {"input": ["batch", 3, 16, 24]}
    sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == ["batch", 3, 16, 24]
    assert sess.run(None, {"input": np.zeros((5, 3, 16, 24), np.float32)})[0].shape == (
        5, 3, 16, 24)
    with pytest.raises(Exception, match="(?i)dimension|shape"):  # refused at the input
        sess.run(None, {"input": np.zeros((1, 3, 32, 24), np.float32)})
