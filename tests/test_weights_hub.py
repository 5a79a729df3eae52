"""hf:// sources against a Hub stand-in on 127.0.0.1, with the real
huggingface_hub client: pull, cache, offline, revisions, corruption, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._hub_server import FakeHub
from tests._weights_helpers import (  # noqa: F401  (fixtures)
    ARCH,
    TOKEN,
    env_fixture,
    hub_fixture,
    same_tensors,
    timm_model,
    timm_repo_files,
)
from zoo_core.cli import cli
from zoo_core.errors import WeightsError
from zoo_core.weights import create_model, is_cached, resolve
from zoo_core.weights.files import save_safetensors
from zoo_core.weights.uris import hf_cache_dir


def zoo(*args: str):
    return CliRunner().invoke(cli, list(args))


def blobs() -> list[Path]:
    return [p for p in hf_cache_dir().glob("models--*/blobs/*") if p.is_file()]


@pytest.fixture
def tiny(env: FakeHub):
    """acme/tiny-resnet in timm's format (config.json + model.safetensors)."""
    model = timm_model(num_classes=10, seed=0)
    env.commit("acme/tiny-resnet", timm_repo_files(model))
    return model


def test_resolve_downloads_verifies_and_reads_config(tiny) -> None:
    rw = resolve("hf://acme/tiny-resnet")
    assert rw.path.name == "model.safetensors" and hf_cache_dir() in rw.path.parents
    assert rw.sha256 == hashlib.sha256(rw.path.read_bytes()).hexdigest()
    assert len(rw.revision or "") == 40
    assert rw.config["architecture"] == ARCH
    assert is_cached("hf://acme/tiny-resnet")


def test_hf_repo_is_a_backbone_name(tiny) -> None:
    loaded = create_model("backbone", "hf://acme/tiny-resnet", weights="default")
    assert same_tensors(loaded.model.state_dict(), tiny.state_dict())
    assert loaded.data_config["mean"] == (0.5, 0.5, 0.5)
    assert [e["uri"] for e in loaded.lock] == ["hf://acme/tiny-resnet/model.safetensors"]
    fewer = create_model("backbone", "hf://acme/tiny-resnet", weights="default", num_classes=2)
    assert fewer.report["dropped"] == ["fc.bias", "fc.weight"]
    random_init = create_model("backbone", "hf://acme/tiny-resnet")
    assert not same_tensors(random_init.model.state_dict(), tiny.state_dict())


def test_pull_then_offline_cache_hit(env: FakeHub, tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    result = zoo("pull", "hf://acme/tiny-resnet", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["uri"] == "hf://acme/tiny-resnet/model.safetensors" and len(row["revision"]) == 40
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = len(env.requests)
    loaded = create_model("backbone", "hf://acme/tiny-resnet", weights="default")
    assert same_tensors(loaded.model.state_dict(), tiny.state_dict())
    assert len(env.requests) == seen, "offline mode must not touch the network"


def test_offline_cache_miss_names_zoo_pull(env: FakeHub, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = zoo("pull", "hf://acme/never-pulled")
    assert result.exit_code == 2
    assert "zoo pull hf://acme/never-pulled" in result.output
    assert "HF_HUB_OFFLINE" in result.output and "Traceback" not in result.output
    assert env.requests == []


def test_revision_pin(env: FakeHub) -> None:
    v1, v2 = timm_model(seed=1), timm_model(seed=2)
    env.commit("acme/r", timm_repo_files(v1))
    first = env.tag("acme/r", "v1")
    env.commit("acme/r", timm_repo_files(v2))
    by_tag = resolve("hf://acme/r@v1")
    by_sha = resolve(f"hf://acme/r@{first}")
    latest = resolve("hf://acme/r")
    assert by_tag.revision == by_sha.revision == first != latest.revision
    from zoo_core.weights.files import load_state_dict

    assert same_tensors(load_state_dict(by_tag.path), v1.state_dict())
    assert same_tensors(load_state_dict(latest.path), v2.state_dict())
    pinned = create_model("backbone", "hf://acme/r@v1", weights="default")
    assert same_tensors(pinned.model.state_dict(), v1.state_dict())
    assert pinned.lock[0]["revision"] == first


def test_unknown_revision_repo_and_file_exit_2(env: FakeHub, tiny) -> None:
    cases = {
        "hf://acme/nope": "was not found",
        "hf://acme/tiny-resnet@v9": "has no revision 'v9'",
        "hf://acme/tiny-resnet/missing.safetensors": "has no file 'missing.safetensors'",
    }
    for uri, text in cases.items():
        result = zoo("pull", uri)
        assert result.exit_code == 2, (uri, result.output)
        assert text in result.output and "Traceback" not in result.output
        assert result.output.count("error:") == 1


def test_repo_without_weights(env: FakeHub) -> None:
    env.commit("acme/docs-only", {"README.md": b"# nothing here"})
    with pytest.raises(WeightsError, match="has none of model.safetensors, pytorch_model.bin"):
        resolve("hf://acme/docs-only")


def test_bin_only_repo_is_converted_once(env: FakeHub) -> None:
    model = timm_model(seed=3)
    env.commit("acme/old-style", timm_repo_files(model, safetensors=False))
    rw = resolve("hf://acme/old-style")
    assert rw.uri.endswith("/pytorch_model.bin") and rw.path.name == "model.safetensors"
    assert "weights/converted" in rw.path.as_posix()
    mtime = rw.path.stat().st_mtime_ns
    again = resolve("hf://acme/old-style")
    assert again.path == rw.path and again.path.stat().st_mtime_ns == mtime
    loaded = create_model("backbone", ARCH, weights="hf://acme/old-style", num_classes=10)
    assert same_tensors(loaded.model.state_dict(), model.state_dict())


def test_corrupted_download_is_refused_and_not_cached(env: FakeHub, tiny) -> None:
    data = env.files("acme/tiny-resnet")["model.safetensors"]
    env.corrupt(hashlib.sha256(data).hexdigest())
    with pytest.raises(WeightsError, match="is corrupt") as err:
        resolve("hf://acme/tiny-resnet")
    assert "zoo pull hf://acme/tiny-resnet" in str(err.value)
    assert not [b for b in blobs() if b.stat().st_size == len(data)], "bad blob was kept"
    env.corrupted.clear()
    assert resolve("hf://acme/tiny-resnet").sha256 == hashlib.sha256(data).hexdigest()


def test_truncated_file_in_repo_is_reported_and_dropped(env: FakeHub, tmp_path: Path) -> None:
    save_safetensors(timm_model().state_dict(), tmp_path / "m.safetensors")
    cut = (tmp_path / "m.safetensors").read_bytes()[:5000]
    env.commit("acme/broken", {"model.safetensors": cut})
    result = zoo("pull", "hf://acme/broken")
    assert result.exit_code == 2 and "damaged" in result.output
    assert "model.safetensors" in result.output
    assert not blobs()


def test_hub_going_down_mid_session_serves_from_cache(env: FakeHub, tiny) -> None:
    first = create_model("backbone", "hf://acme/tiny-resnet", weights="default")
    env.stop()  # online mode still, but nothing answers any more
    again = create_model("backbone", "hf://acme/tiny-resnet", weights="default")
    assert same_tensors(again.model.state_dict(), first.model.state_dict())
    with pytest.raises(WeightsError) as err:
        resolve("hf://acme/other-repo")
    assert "could not be reached" in str(err.value) and "zoo pull" in str(err.value)


@pytest.mark.parametrize("uri", [
    "hf://acme/x/../../../etc/passwd",
    "hf://../etc/passwd",
    "hf://acme/x@../../escape",
    "hf://acme/x/%2e%2e/secret",
    "hf://acme/x//etc/passwd",
    "hf://acme/x/dir\\..\\evil.bin",
    "hf://acme/..x/model.safetensors",
    "hf://acme--evil/x",
])
def test_path_traversal_is_refused_before_any_request(env: FakeHub, uri: str) -> None:
    result = zoo("pull", uri)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert env.requests == []
    assert not (Path(hf_cache_dir()).parent / "etc").exists()


def test_endpoint_and_home_are_read_at_call_time(env: FakeHub, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeHub() as other:
        other.commit("acme/tiny-resnet", timm_repo_files(timm_model(seed=7)))
        env.commit("acme/tiny-resnet", timm_repo_files(timm_model(seed=8)))
        a = resolve("hf://acme/tiny-resnet")
        monkeypatch.setenv("HF_ENDPOINT", other.url)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-other"))
        b = resolve("hf://acme/tiny-resnet")
        assert a.sha256 != b.sha256
        assert str(tmp_path / "hf-other") in str(b.path)
        assert other.requests and all("tiny-resnet" in r[1] or "/cdn/" in r[1]
                                      for r in other.requests)


def test_private_repo_needs_the_token_and_never_shows_it(env: FakeHub,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    env.create_repo("acme/secret", private=True)
    env.commit("acme/secret", timm_repo_files(timm_model()))
    denied = zoo("pull", "hf://acme/secret")
    assert denied.exit_code == 2 and "HF_TOKEN" in denied.output
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    ok = zoo("pull", "hf://acme/secret")
    assert ok.exit_code == 0, ok.output
    assert any(h.get("authorization") == f"Bearer {TOKEN}" for _, _, h in env.requests)
    # the CDN redirect goes to another origin: the token must not follow it
    assert all("authorization" not in h for _, p, h in env.requests if p.startswith("/cdn/"))
    missing = zoo("pull", "hf://acme/secret/nothing.bin")
    assert missing.exit_code == 2 and TOKEN not in missing.output


def test_timm_weight_tag_comes_from_the_hub(env: FakeHub) -> None:
    """A timm backbone's tag points at hf://timm/<arch>.<tag>; num_classes 5 drops fc."""
    pretrained = timm_model(num_classes=1000, seed=11)
    env.commit(f"timm/{ARCH}.r160_in1k", timm_repo_files(pretrained))
    result = zoo("pull", f"{ARCH}.r160_in1k")
    assert result.exit_code == 0, result.output
    loaded = create_model("backbone", ARCH, weights="default", num_classes=5)
    assert loaded.lock[0]["uri"] == f"hf://timm/{ARCH}.r160_in1k/model.safetensors"
    assert loaded.report["dropped"] == ["fc.bias", "fc.weight"]
    theirs = pretrained.state_dict()
    assert all(v.equal(theirs[k]) for k, v in loaded.model.state_dict().items()
               if not k.startswith("fc."))
    assert loaded.data_config["input_size"] == (3, 160, 160)
