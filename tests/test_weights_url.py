"""http(s):// weight sources with a sha256 (torchvision's classics) and the
cache commands, over real HTTP from the Hub stand-in's /static/ route."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._hub_server import FakeHub
from tests._weights_helpers import (  # noqa: F401  (fixtures)
    ARCH,
    env_fixture,
    hub_fixture,
    pth_bytes,
    same_tensors,
    timm_model,
    timm_repo_files,
)
from zoo_core.cli import cli
from zoo_core.errors import WeightsError
from zoo_core.weights import create_model, is_cached, resolve
from zoo_core.weights.cache import url_entry, weights_dir
from zoo_core.weights.files import load_state_dict


def zoo(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def squeeze(env: FakeHub):
    """A torchvision-layout SqueezeNet 1.1 checkpoint named like torchvision's files."""
    from zoo_core.api import create

    model = create("backbone", "squeezenet1_1")
    data = pth_bytes(model.state_dict())
    digest = hashlib.sha256(data).hexdigest()
    name = f"squeezenet1_1-{digest[:8]}.pth"
    env.static[name] = data
    return model, f"{env.url}/static/{name}", digest


def test_url_with_hash_in_name_is_verified_converted_once_and_loaded(env: FakeHub,
                                                                      squeeze) -> None:
    model, url, digest = squeeze
    loaded = create_model("backbone", "squeezenet1_1", weights=url)
    assert same_tensors(loaded.model.state_dict(), model.state_dict())
    assert loaded.lock[0]["sha256"] == digest
    entry = url_entry(url)
    assert sorted(p.name for p in entry.iterdir()) == ["model.safetensors", "source.json"]
    meta = json.loads((entry / "source.json").read_text())
    assert meta["sha256"] == digest and meta["url"] == url
    assert is_cached(url)
    downloads = [r for r in env.requests if r[1].startswith("/static/")]
    env.stop()  # the second use reads the converted file, no network
    again = resolve(url)
    assert again.path == entry / "model.safetensors"
    assert len(downloads) == 1


def test_wrong_sha256_is_refused_and_nothing_kept(env: FakeHub, squeeze) -> None:
    _, url, digest = squeeze
    wrong = "0" * 64
    result = zoo("pull", f"{url}#sha256={wrong}")
    assert result.exit_code == 2, result.output
    assert digest in result.output and wrong in result.output
    entry = url_entry(url)
    assert not entry.exists() or not any(entry.iterdir())


def test_explicit_full_sha256_is_accepted(env: FakeHub, squeeze) -> None:
    _, url, digest = squeeze
    plain = url.replace(url.rsplit("/", 1)[1], "squeeze.pth")
    env.static["squeeze.pth"] = env.static[url.rsplit("/", 1)[1]]
    rw = resolve(f"{plain}#sha256={digest}")
    assert rw.sha256 == digest


def test_url_without_any_hash_is_refused(env: FakeHub) -> None:
    env.static["weights.pth"] = pth_bytes(timm_model().state_dict())
    with pytest.raises(WeightsError, match="No sha256"):
        resolve(f"{env.url}/static/weights.pth")
    assert not [r for r in env.requests if r[1].startswith("/static/")]


def test_truncated_download_is_not_kept(env: FakeHub, squeeze) -> None:
    _, url, _ = squeeze
    env.truncated.add(url.rsplit("/", 1)[1])
    with pytest.raises(WeightsError, match="cut short"):
        resolve(url)
    entry = url_entry(url)
    assert not entry.exists() or not any(entry.iterdir())


def test_http_404(env: FakeHub) -> None:
    result = zoo("pull", f"{env.url}/static/gone-12345678.pth")
    assert result.exit_code == 2 and "HTTP 404" in result.output


def test_safetensors_url_is_stored_as_is(env: FakeHub, tmp_path: Path) -> None:
    from zoo_core.weights.files import save_safetensors

    digest = save_safetensors(timm_model().state_dict(), tmp_path / "w.safetensors")
    env.static["w.safetensors"] = (tmp_path / "w.safetensors").read_bytes()
    rw = resolve(f"{env.url}/static/w.safetensors#sha256={digest}")
    assert rw.sha256 == digest and rw.path.read_bytes() == env.static["w.safetensors"]


def test_classic_tag_offline_names_zoo_pull(env: FakeHub, monkeypatch) -> None:
    """alexnet's tag is torchvision's URL with its 8-digit sha256 prefix."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = zoo("pull", "alexnet")
    assert result.exit_code == 2
    assert "alexnet-owt-7be5be79.pth" in result.output and "zoo pull" in result.output
    assert "Traceback" not in result.output


def test_cache_list_and_remove(env: FakeHub, squeeze) -> None:
    _, url, _ = squeeze
    model = timm_model()
    env.commit("acme/tiny-resnet", timm_repo_files(model))
    env.commit(f"timm/{ARCH}.r160_in1k", timm_repo_files(timm_model(num_classes=1000)))
    assert zoo("pull", "hf://acme/tiny-resnet", url, f"{ARCH}.r160_in1k").exit_code == 0
    listed = zoo("cache", "list", "--json")
    assert listed.exit_code == 0, listed.output
    sources = {e["source"]: e for e in json.loads(listed.output)}
    assert {"hf://acme/tiny-resnet", url, f"hf://timm/{ARCH}.r160_in1k"} <= set(sources)
    assert sources["hf://acme/tiny-resnet"]["files"] == ["config.json", "model.safetensors"]
    human = zoo("cache", "list")
    assert human.exit_code == 0 and "cached sources" in human.output

    removed = zoo("cache", "remove", "hf://acme/tiny-resnet", url, f"{ARCH}.r160_in1k")
    assert removed.exit_code == 0, removed.output
    assert removed.output.count("removed ") == 3
    assert json.loads(zoo("cache", "list", "--json").output) == []
    assert not url_entry(url).exists() and weights_dir().exists()
    again = zoo("cache", "remove", "hf://acme/tiny-resnet")
    assert again.exit_code == 0 and "nothing cached" in again.output
    unknown = zoo("cache", "remove", "no_such_model_name")
    assert unknown.exit_code == 2 and "zoo list" in unknown.output


def test_cache_remove_one_revision(env: FakeHub) -> None:
    env.commit("acme/r", timm_repo_files(timm_model(seed=1)))
    env.tag("acme/r", "v1")
    env.commit("acme/r", timm_repo_files(timm_model(seed=2)))
    old, new = resolve("hf://acme/r@v1"), resolve("hf://acme/r")
    assert zoo("cache", "remove", "hf://acme/r@v1").exit_code == 0
    assert not old.path.exists() and new.path.exists()
    assert same_tensors(load_state_dict(new.path), timm_model(seed=2).state_dict())


def test_bad_cached_conversion_is_detected(env: FakeHub, squeeze) -> None:
    _, url, _ = squeeze
    rw = resolve(url)
    data = bytearray(rw.path.read_bytes())
    data[-1] ^= 0xFF  # flip a bit in the converted file
    rw.path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="modified since it was converted"):
        resolve(url)


def test_endpoint_unreachable_url_not_cached(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with FakeHub() as h:
        url = f"{h.url}/static/x-12345678.pth"
    with pytest.raises(WeightsError, match="zoo pull"):
        resolve(url)
