"""zoo export: ONNX and PT2 exports of a classifier and of fully convolutional
nets at two spatial sizes, parity against torch, metadata, and the exit-2
errors (unsupported operator naming its module, failed parity, unknown role,
not a model folder)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests import _export_nets as nets
from zoo_core.cli import cli

TINY = "test_resnet"  # timm's tiny real ResNet, random weights


def zoo(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def testnets(tmp_path, monkeypatch, fresh_plugins):
    """The stand-in nets registered through a real entry point."""
    site = tmp_path / "site"
    nets.install_plugin(site)
    monkeypatch.syspath_prepend(str(site))
    fresh_plugins.reset()
    return fresh_plugins


def _classifier_folder(folder: Path, size: int = 32) -> Path:
    from zoo_core.api import create
    from zoo_core.weights import save_model

    torch.manual_seed(0)
    model = create("backbone", TINY, num_classes=5)
    save_model(folder, model, {
        "architecture": TINY, "num_classes": 5, "label_names": list("abcde"),
        "pretrained_cfg": {"input_size": [3, size, size], "mean": [0.5, 0.4, 0.3],
                           "std": [0.2, 0.2, 0.2], "interpolation": "bilinear",
                           "num_classes": 5}})
    return folder


# -- finding the model ---------------------------------------------------------------


def _fake_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_find_model_folder_understands_both_run_layouts(tmp_path):
    from zoo_core.errors import ZooError
    from zoo_core.weights.saved import find_model_folder

    legacy = tmp_path / "legacy"
    _fake_model(legacy / "model")
    assert find_model_folder(legacy) == legacy / "model"

    single = tmp_path / "single"
    _fake_model(single / "models" / "net")
    assert find_model_folder(single) == single / "models" / "net"

    gan = tmp_path / "gan"
    gen = _fake_model(gan / "models" / "generator")
    _fake_model(gan / "models" / "discriminator")
    assert find_model_folder(gan, "generator") == gen
    with pytest.raises(ZooError, match=r"several models.*--model ROLE: discriminator, gen"):
        find_model_folder(gan)  # these configs name no main role
    (gen / "config.json").write_text('{"zoo": {"main_role": "generator"}}')
    assert find_model_folder(gan) == gen  # the task's main role
    with pytest.raises(ZooError, match="Did you mean 'generator'"):
        find_model_folder(gan, "generatr")
    assert find_model_folder(gen) == gen == find_model_folder(gen, "generator")
    with pytest.raises(ZooError, match="is the saved 'generator' model"):
        find_model_folder(gen, "discriminator")


def test_cli_errors_for_what_is_not_a_model(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = zoo("export", str(empty))
    assert result.exit_code == 2
    assert "holds no saved model" in result.output and "Traceback" not in result.output

    result = zoo("export", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "does not exist" in result.output

    gan = tmp_path / "gan"
    _fake_model(gan / "models" / "generator")
    _fake_model(gan / "models" / "discriminator")
    result = zoo("export", str(gan), "--model", "critic")
    assert result.exit_code == 2
    assert "has no model 'critic'" in result.output
    assert "discriminator, generator" in result.output

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    result = zoo("quantize", str(tmp_path / "half"))
    assert result.exit_code == 2 and "no model.safetensors" in result.output


# -- a classifier --------------------------------------------------------------------


@pytest.mark.slow
def test_classifier_to_onnx_with_dynamic_batch_and_metadata(tmp_path):
    import onnx
    import onnxruntime as ort

    from zoo_core.weights import load_model

    folder = _classifier_folder(tmp_path / "clf")
    result = zoo("export", str(folder), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    path = Path(report["path"])
    assert path == folder / "model.onnx" and path.is_file()
    assert report["inputs"] == {"input": ["batch", 3, 32, 32]}  # classifier: size fixed
    parity = report["parity"]
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-4
    assert parity["top1_agreement"] == 1.0 and parity["samples"] == 128
    assert "random inputs" in parity["inputs"]

    # the data config travels in the file and beside it
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    # no exporter debug records (stack traces with this machine's paths) on the nodes
    assert not [p.key for n in proto.graph.node for p in n.metadata_props]
    assert json.loads(props["zoo.mean"]) == [0.5, 0.4, 0.3]
    assert json.loads(props["zoo.interpolation"]) == "bilinear"
    meta = json.loads(props["zoo"])
    assert meta["label_names"] == list("abcde") and meta["data_config"]["std"] == [0.2] * 3
    side = json.loads((folder / "model.onnx.json").read_text())
    assert side["data_config"]["input_size"] == [3, 32, 32] and side["parity"]["passed"]

    # an independent check: a batch size never seen at export time, against torch
    model = load_model(folder).model.eval()
    x = torch.randn(5, 3, 32, 32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (5, 5)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_static_export_fixes_the_batch(tmp_path):
    folder = _classifier_folder(tmp_path / "clf")
    result = zoo("export", str(folder), "--static", "--json", "--out", str(tmp_path / "s.onnx"))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["inputs"] == {"input": [2, 3, 32, 32]} and report["dynamic_axes"] == {
        "input": {}}
    assert report["parity"]["passed"] and report["parity"]["shapes"] == [[2, 3, 32, 32]]


# -- fully convolutional nets: dynamic height and width --------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize("factory", [nets.TinySR, nets.TinyUNet], ids=["srresnet", "unet"])
def test_fully_convolutional_nets_keep_dynamic_height_and_width(tmp_path, factory, fmt):
    from zoo_core.export.export import export_model
    from zoo_core.export.parity import check_parity

    torch.manual_seed(0)
    model = factory().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them is tested
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    c, h, w = model.pretrained_cfg["input_size"]
    res = export_model(model, (torch.randn(2, c, h, w),), tmp_path / f"m.{fmt}", fmt=fmt)
    assert res.fully_convolutional
    assert res.dynamic_axes == {"input": {0: "batch", 2: "height", 3: "width"}}
    assert res.input_shapes == {"input": ["batch", c, "height", "width"]}
    # two sizes other than the traced one, one not square, and another batch size
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(3, c, 2 * h, w + 16, generator=gen),),
               (torch.randn(1, c, 96, 128, generator=gen),)]
    report = check_parity(model, res.path, batches)
    assert report.passed, report.summary()
    assert report.shapes == [[3, c, 2 * h, w + 16], [1, c, 96, 128]]
    assert report.top1_agreement is None  # image outputs have no class to agree on
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
        assert sess.get_inputs()[0].shape == ["batch", c, "height", "width"]


@pytest.mark.slow
def test_cli_exports_a_u_net_from_a_plugin_and_checks_two_sizes(tmp_path, testnets):
    folder = nets.save(tmp_path / "unet", "segmentation", "tiny_unet", nets.TinyUNet())
    result = zoo("export", str(folder), "--json", "--check-batches", "2")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["inputs"] == {"input": ["batch", 1, "height", "width"]}
    parity = report["parity"]
    assert parity["passed"]
    assert parity["shapes"] == [[16, 1, 64, 48], [2, 1, 96, 112]]  # data config size + another


# -- errors ----------------------------------------------------------------------------


@pytest.mark.slow
def test_unsupported_operator_is_one_message_naming_the_module(tmp_path, testnets):
    folder = nets.save(tmp_path / "odd", "backbone", "odd_net", nets.OddNet())
    result = zoo("export", str(folder))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "module 'blocks.1' (Odd)" in out
    assert "zoo_export_test.odd_sin" in out and "no ONNX translation" in out
    assert "--format pt2" in out
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 8
    # PT2 keeps every torch operator, so the same model exports there
    result = zoo("export", str(folder), "--format", "pt2", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["parity"]["passed"]


def test_untraceable_forward_names_the_module(tmp_path, capsys):
    from zoo_core.export.export import ExportError, export_model

    class Branchy(torch.nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # a Python branch on a tensor's value
                return x
            return -x

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), Branchy())
    with pytest.raises(ExportError, match=r"module '1' \(Branchy\)"):
        export_model(model, (torch.randn(2, 3, 8, 8),), tmp_path / "b.onnx")
    assert not (tmp_path / "b.onnx").exists()
    assert "def forward" not in capsys.readouterr().err  # torch's graph dump is kept back


@pytest.mark.slow
def test_parity_failure_exits_2(tmp_path, testnets):
    folder = nets.save(tmp_path / "noisy", "backbone", "noisy_net", nets.NoisyNet())
    result = zoo("export", str(folder))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "Parity check failed" in out and "tolerance 0.0001" in out
    assert "Traceback" not in result.output
    side = json.loads((folder / "model.onnx.json").read_text())
    assert side["parity"]["passed"] is False and side["parity"]["max_abs_diff"] > 1e-4


def test_export_commands_are_listed_and_import_no_torch_for_help():
    import subprocess
    import sys

    result = zoo("--help")
    assert "export" in result.output and "quantize" in result.output
    code = ("import sys\nfrom zoo_core.cli import cli\n"
            "for argv in (['export', '--help'], ['quantize', '--help']):\n"
            "    try:\n        cli.main(argv, standalone_mode=False)\n"
            "    except SystemExit:\n        pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("NO-TORCH")
    assert "--dynamic-batch / --static" in out.stdout and "--calib" in out.stdout


@pytest.mark.slow
def test_conditional_generator_with_two_inputs(tmp_path):
    from zoo_core.export.export import export_model
    from zoo_core.export.parity import check_parity
    from zoo_core.export.source import random_inputs

    torch.manual_seed(0)
    gen = nets.TinyCondGenerator().eval()
    example = random_inputs(gen, None, 2)
    assert [tuple(x.shape) for x in example] == [(2, 16, 1, 1), (2,)]
    res = export_model(gen, example, tmp_path / "g.onnx")
    assert not res.fully_convolutional  # a 1x1 latent is not an image: sizes stay fixed
    assert res.input_shapes == {"input0": ["batch", 16, 1, 1], "input1": ["batch"]}
    batches = [random_inputs(gen, None, bs, seed=bs) for bs in (1, 5)]
    report = check_parity(gen, res.path, batches)
    assert report.passed, report.summary()
    assert report.shapes == [[1, 16, 1, 1], [5, 16, 1, 1]]
