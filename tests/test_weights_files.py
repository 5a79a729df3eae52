"""Weight files and loading: safetensors checks, weights_only pickles, strict
loading with the classifier dropped, the saved-model folder, plugin schemes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from tests._weights_helpers import ARCH, pth_bytes, same_tensors, timm_model
from zoo_core import hookimpl
from zoo_core.errors import WeightsError
from zoo_core.types import ResolvedWeights
from zoo_core.weights import create_model, load_model, load_weights, resolve, save_model
from zoo_core.weights.files import (
    check_safetensors,
    convert_to_safetensors,
    load_state_dict,
    save_safetensors,
    sha256_file,
)


@pytest.fixture(autouse=True)
def _zoo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_safetensors_round_trip_is_bit_identical(tmp_path: Path) -> None:
    state = timm_model().state_dict()
    digest = save_safetensors(state, tmp_path / "m.safetensors")
    assert digest == sha256_file(tmp_path / "m.safetensors")
    header = check_safetensors(tmp_path / "m.safetensors")
    assert header["fc.weight"]["shape"] == [10, 96]
    assert same_tensors(load_state_dict(tmp_path / "m.safetensors"), state)
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temporary file"


def test_tied_tensors_are_saved_as_copies(tmp_path: Path) -> None:
    w = torch.randn(4, 4)
    state = {"a.weight": w, "b.weight": w, "view": w[1]}
    save_safetensors(state, tmp_path / "t.safetensors")
    back = load_state_dict(tmp_path / "t.safetensors")
    assert torch.equal(back["a.weight"], back["b.weight"]) and torch.equal(back["view"], w[1])


@pytest.mark.parametrize("cut", [4, 100, -10])
def test_truncated_safetensors_names_the_file(tmp_path: Path, cut: int) -> None:
    good = tmp_path / "good.safetensors"
    save_safetensors(timm_model().state_dict(), good)
    data = good.read_bytes()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data[:cut])
    with pytest.raises(WeightsError) as err:
        load_state_dict(bad)
    msg = str(err.value)
    assert str(bad) in msg and "damaged" in msg and "zoo pull" in msg


def test_garbage_header_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes((20).to_bytes(8, "little") + b"{not json at all!!!}" + b"\0" * 8)
    with pytest.raises(WeightsError, match="not valid JSON"):
        check_safetensors(bad)


def test_pth_is_converted_with_weights_only(tmp_path: Path) -> None:
    state = timm_model().state_dict()
    src = tmp_path / "ckpt.pth"
    # a typical training checkpoint: tensors wrapped, with DataParallel prefixes
    src.write_bytes(pth_bytes({"epoch": 3, "state_dict": {f"module.{k}": v
                                                          for k, v in state.items()}}))
    out = tmp_path / "ckpt.safetensors"
    convert_to_safetensors(src, out, {"source": str(src)})
    assert same_tensors(load_state_dict(out), state)


class _Exploit:
    """Unpickling this would run code; weights_only must refuse it."""

    marker = ""

    def __reduce__(self):
        return (Path(self.marker).write_text, ("pwned",))


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    exploit = _Exploit()
    exploit.marker = str(marker)
    src = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": exploit}, src, pickle_protocol=2)
    with pytest.raises(WeightsError, match="weights_only=True") as err:
        load_state_dict(src)
    assert str(src) in str(err.value)
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path: Path) -> None:
    src = tmp_path / "junk.bin"
    src.write_bytes(b"this is not a torch file")
    with pytest.raises(WeightsError, match="junk.bin"):
        load_state_dict(src)
    plain = tmp_path / "list.pth"
    plain.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(WeightsError):
        load_state_dict(plain)


def test_classifier_is_dropped_when_num_classes_differs() -> None:
    source = timm_model(num_classes=10, seed=1)
    target = timm_model(num_classes=3, seed=2)
    report = load_weights(target, source.state_dict(), source="unit")
    assert report["dropped"] == ["fc.bias", "fc.weight"]
    assert "10 classes" in report["message"] and "3 classes" in report["message"]
    mine, theirs = target.state_dict(), source.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine if not k.startswith("fc."))
    assert mine["fc.weight"].shape == (3, 96)


def test_classifier_dropped_for_a_headless_model() -> None:
    source = timm_model(num_classes=10)
    target = timm_model(num_classes=0)
    report = load_weights(target, source.state_dict())
    assert report["dropped"] == ["fc.bias", "fc.weight"] and "has none" in report["message"]


def test_missing_and_unexpected_keys_are_one_message() -> None:
    state = timm_model().state_dict()
    state.pop("layer1.0.conv1.weight")
    state["extra.thing"] = torch.zeros(1)
    with pytest.raises(WeightsError) as err:
        load_weights(timm_model(), state, source="my.safetensors")
    msg = str(err.value)
    assert "my.safetensors" in msg and "1 missing" in msg and "layer1.0.conv1.weight" in msg
    assert "1 not in the model" in msg and "extra.thing" in msg


def test_shape_mismatch_outside_the_classifier_is_an_error() -> None:
    state = timm_model().state_dict()
    state["conv1.0.weight"] = torch.zeros(1, 1, 1, 1)
    with pytest.raises(WeightsError, match=r"conv1\.0\.weight: checkpoint \(1, 1, 1, 1\)"):
        load_weights(timm_model(), state)


def test_save_and_load_model_folder_backbone_builder(tmp_path: Path) -> None:
    model = timm_model(num_classes=4)
    folder = tmp_path / "best"
    save_model(folder, model, {"architecture": ARCH, "num_classes": 4,
                               "label_names": ["a", "b", "c", "d"],
                               "zoo": {"builder": {"kind": "backbone", "name": ARCH},
                                       "model": {"num_classes": 4}, "task": None}})
    config = json.loads((folder / "config.json").read_text())
    assert config["pretrained_cfg"]["num_classes"] == 4
    assert config["pretrained_cfg"]["mean"] == [0.5, 0.5, 0.5]
    loaded = load_model(folder)
    assert same_tensors(loaded.model.state_dict(), model.state_dict())
    assert loaded.data_config["input_size"] == (3, 160, 160)
    assert loaded.lock[0]["sha256"] == sha256_file(folder / "model.safetensors")


def test_load_model_timm_only_config(tmp_path: Path) -> None:
    from timm.models import save_for_hf

    model = timm_model(num_classes=7)
    save_for_hf(model, tmp_path, safe_serialization=True)
    loaded = load_model(tmp_path)
    assert same_tensors(loaded.model.state_dict(), model.state_dict())


def test_load_model_without_config_is_clear(tmp_path: Path) -> None:
    save_safetensors(timm_model().state_dict(), tmp_path / "model.safetensors")
    with pytest.raises(WeightsError, match="config.json"):
        load_model(tmp_path)


def test_local_file_weights_for_a_registry_backbone(tmp_path: Path) -> None:
    source = timm_model(num_classes=10, seed=5)
    path = tmp_path / "mine.pth"
    path.write_bytes(pth_bytes(source.state_dict()))
    loaded = create_model("backbone", ARCH, weights=str(path), num_classes=10)
    assert same_tensors(loaded.model.state_dict(), source.state_dict())
    assert loaded.lock[0]["sha256"] == sha256_file(path)


class _DemoScheme:
    """A plugin adding the demo:// scheme through the resolve_weights hook."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: list[tuple[str, bool]] = []

    @hookimpl
    def resolve_weights(self, uri: str, offline: bool):
        self.calls.append((uri, offline))
        if not uri.startswith("demo://"):
            return None
        return ResolvedWeights(uri=uri, path=self.path, sha256=sha256_file(self.path))


def test_plugin_scheme_resolves_and_loads(tmp_path: Path, fresh_plugins) -> None:
    source = timm_model(seed=9)
    path = tmp_path / "demo.safetensors"
    save_safetensors(source.state_dict(), path)
    plugin = _DemoScheme(path)
    fresh_plugins.plugin_set().add("demo_scheme", plugin)
    rw = resolve("demo://anything", offline=True)
    assert rw.path == path and plugin.calls[-1] == ("demo://anything", True)
    loaded = create_model("backbone", ARCH, weights="demo://anything", num_classes=10)
    assert same_tensors(loaded.model.state_dict(), source.state_dict())


def test_plugin_resolver_with_wrong_hash_is_refused(tmp_path: Path, fresh_plugins) -> None:
    path = tmp_path / "x.safetensors"
    save_safetensors({"w": torch.zeros(2)}, path)

    class Liar:
        @hookimpl
        def resolve_weights(self, uri: str, offline: bool):
            return ResolvedWeights(uri=uri, path=path, sha256="0" * 64)

    fresh_plugins.plugin_set().add("liar", Liar())
    with pytest.raises(WeightsError, match="liar"):
        resolve("whatever://x")


def test_unknown_scheme_says_no_plugin(fresh_plugins) -> None:
    with pytest.raises(WeightsError, match="No installed plugin handles weights URIs of the form "
                                           "'s3://'"):
        resolve("s3://bucket/model.safetensors")


def test_features_only_model_takes_the_backbone_part(tmp_path: Path) -> None:
    source = timm_model(seed=4)
    path = tmp_path / "w.safetensors"
    save_safetensors(source.state_dict(), path)
    loaded = create_model("backbone", ARCH, weights=str(path), features_only=True,
                          out_indices=(1, 2))
    theirs = source.state_dict()
    mine = loaded.model.state_dict()
    assert mine and all(torch.equal(v, theirs[k]) for k, v in mine.items())
    assert "fc.weight" in loaded.report["dropped"]
    assert "features_only" in loaded.report["message"]


def test_grayscale_input_adapts_the_stem(tmp_path: Path) -> None:
    source = timm_model(seed=6)
    path = tmp_path / "w.safetensors"
    save_safetensors(source.state_dict(), path)
    loaded = create_model("backbone", ARCH, weights=str(path), in_chans=1)
    stem = "conv1.0.weight"  # timm's pretrained_cfg['first_conv'] for this ResNet
    expected = source.state_dict()[stem].sum(dim=1, keepdim=True)
    assert torch.allclose(loaded.model.state_dict()[stem], expected)
    assert "adapted the input convolution conv1.0" in loaded.report["message"]


def test_features_only_models_load_weights_saved_from_the_full_backbone():
    """timm's feature wrappers flatten nested stages (convnext's stages.0 is stages_0):
    the full model's weights still load, every tensor where it belongs."""
    import timm

    full = timm.create_model("convnext_atto", num_classes=0).eval()
    feats = timm.create_model("convnext_atto", features_only=True).eval()
    report = load_weights(feats, full.state_dict(), features_only=True)
    assert "dropped 2 tensors" in report["message"]  # the final norm, unused by features
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(feats(x)[-1], full.forward_features(x), atol=1e-5)


def test_an_encoder_without_classifier_loads_into_a_classifier():
    """An exported encoder (no classifier keys) trains a new classifier from random init;
    every other tensor must still match."""
    import timm

    encoder = timm.create_model("resnet18", num_classes=0).state_dict()
    model = timm.create_model("resnet18", num_classes=10)
    report = load_weights(model, encoder, source="encoder")
    assert report["missing"] == ["fc.bias", "fc.weight"]
    assert "has no classifier" in report["message"]
    assert torch.equal(model.state_dict()["conv1.weight"], encoder["conv1.weight"])
    del encoder["layer4.1.bn2.weight"]
    with pytest.raises(WeightsError, match="missing from the checkpoint"):
        load_weights(model, encoder, source="encoder")


def test_basicsr_checkpoints_unwrap_their_ema_weights(tmp_path):
    path = tmp_path / "RealESRGAN_x4plus.pth"
    torch.save({"params_ema": {"conv.weight": torch.ones(2)},
                "params": {"conv.weight": torch.zeros(2)}}, path)
    assert torch.equal(load_state_dict(path)["conv.weight"], torch.ones(2))


def test_a_saved_model_folder_is_a_model_name(tmp_path: Path) -> None:
    """As timm's ``local-dir:``: the folder's config.json says what to build; "default"
    loads its weights, "none" builds the same architecture from random init."""
    model = timm_model(num_classes=4)
    folder = tmp_path / "runs" / "x" / "models" / "net"
    save_model(folder, model, {"architecture": ARCH, "num_classes": 4})
    own = create_model("backbone", str(folder), weights="default")
    assert same_tensors(own.model.state_dict(), model.state_dict())
    assert own.model.pretrained_cfg["architecture"] == ARCH
    assert own.lock[0]["sha256"] and own.lock[0]["uri"].endswith("model.safetensors")
    fresh = create_model("backbone", str(folder), weights="none", num_classes=2)
    assert fresh.model.get_classifier().out_features == 2 and not fresh.lock
    with pytest.raises(WeightsError, match="is not a saved-model folder"):
        create_model("backbone", str(tmp_path / "runs" / "y" / "models" / "net"), weights="none")
