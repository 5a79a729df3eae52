"""zoo push: one commit with config.json, model.safetensors and a model card,
pulled back bit-identical by zoo and by timm's own hf-hub: loader."""

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
    run_python,
    same_tensors,
    state_digest,
    timm_model,
)
from zoo_core.cli import cli
from zoo_core.weights import create_model, load_model, save_model

BASE_SHA = "ab" * 32
RECIPE = f"""\
[recipe]
name = "tiny-flowers"
task = "classification"
description = "leaked {TOKEN} by mistake"

[data]
dataset = "flowers102"

[model]
backbone = "{ARCH}"
weights = "default"
"""


def zoo(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def run_folder(tmp_path: Path):
    """A run folder laid out as `zoo run` leaves it (zoo_core/engine/rundir.py): the best
    model in model/, metrics.jsonl ending with the final evaluation, the resolved
    recipe and weights.lock.json."""
    model = timm_model(num_classes=10, seed=21)
    run = tmp_path / "run"
    save_model(run / "model", model, {
        "architecture": ARCH, "num_classes": 10, "label_names": [f"c{i}" for i in range(10)],
        "zoo": {"builder": {"kind": "backbone", "name": ARCH}, "model": {"num_classes": 10},
                "task": "classification"},
    })
    (run / "metrics.jsonl").write_text(
        json.dumps({"event": "epoch", "epoch": 1, "val/top1": 0.5}) + "\n"
        + json.dumps({"event": "final", "epoch": 1, "split": "test", "test/top1": 0.875,
                      "test/loss": 0.41}) + "\n")
    (run / "recipe.toml").write_text(RECIPE)
    (run / "weights.lock.json").write_text(json.dumps({"weights": [{
        "uri": f"hf://timm/{ARCH}.r160_in1k/model.safetensors", "revision": "c0ffee" * 6 + "ab",
        "sha256": BASE_SHA}]}))
    return run, model


def test_push_is_one_commit_and_pulls_back_identical(env: FakeHub, run_folder,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run, model = run_folder
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = zoo("push", str(run), "--repo", "acme/pushed", "--license", "apache-2.0", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert len(env.commit_payloads) == 1, "the push must be a single commit"
    [payload] = env.commit_payloads
    assert sorted(i["value"]["path"] for i in payload if i["key"] == "file") == [
        "README.md", "config.json", "model.safetensors"]
    files = env.files("acme/pushed")
    assert out["commit"] == env.repos["acme/pushed"].branches["main"]

    card = files["README.md"].decode()
    assert TOKEN not in card and TOKEN not in result.output
    assert "license: \"apache-2.0\"" in card and "library_name: timm" in card
    assert f"base_model: \"timm/{ARCH}.r160_in1k\"" in card and BASE_SHA in card
    assert "flowers102" in card and "| test/top1 | 0.875 |" in card
    assert "| epoch |" not in card and "val/top1" not in card
    assert "[model]" in card and hashlib.sha256(files["model.safetensors"]).hexdigest() in card
    assert hashlib.sha256(files["config.json"]).hexdigest() in card

    monkeypatch.delenv("HF_TOKEN")
    pulled = create_model("backbone", "hf://acme/pushed", weights="default")
    assert same_tensors(pulled.model.state_dict(), model.state_dict())
    again = load_model("hf://acme/pushed")
    assert same_tensors(again.model.state_dict(), model.state_dict())


def test_pushed_backbone_loads_in_timm(env: FakeHub, run_folder, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run, model = run_folder
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert zoo("push", str(run), "--repo", "acme/timm-ok").exit_code == 0
    code = (
        "import timm, sys; sys.path.insert(0, '.')\n"
        "from tests._weights_helpers import state_digest\n"
        "m = timm.create_model('hf-hub:acme/timm-ok', pretrained=True)\n"
        "print(state_digest(m.state_dict()), m.num_classes)\n"
    )
    # a fresh process and a fresh cache: timm reads HF_ENDPOINT through huggingface_hub
    proc = run_python(code, env={"HF_ENDPOINT": env.url, "HF_HOME": str(tmp_path / "timm-hf"),
                                 "HF_TOKEN": ""})
    assert proc.returncode == 0, proc.stderr[-3000:]
    digest, classes = proc.stdout.split()
    assert digest == state_digest(model.state_dict()) and classes == "10"


def test_dry_run_writes_the_same_folder(env: FakeHub, run_folder, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = run_folder
    result = zoo("push", str(run), "--repo", "acme/dry", "--dry-run", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert env.requests == [], "a dry run must not talk to the hub"
    written = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert sorted(written) == ["README.md", "config.json", "model.safetensors"]
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert zoo("push", str(run), "--repo", "acme/dry").exit_code == 0
    assert env.files("acme/dry") == written


def test_push_to_a_revision_leaves_main_alone(env: FakeHub, run_folder, monkeypatch) -> None:
    run, model = run_folder
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = zoo("push", str(run / "model"), "--repo", "acme/branchy", "--revision", "dev",
                 "--private")
    assert result.exit_code == 0, result.output
    assert env.repos["acme/branchy"].private
    assert "model.safetensors" not in env.files("acme/branchy", "main")
    assert "model.safetensors" in env.files("acme/branchy", "dev")
    pulled = create_model("backbone", "hf://acme/branchy@dev", weights="default")
    assert same_tensors(pulled.model.state_dict(), model.state_dict())


def test_push_errors_exit_2(env: FakeHub, run_folder, tmp_path: Path, monkeypatch) -> None:
    run, _ = run_folder
    no_token = zoo("push", str(run), "--repo", "acme/x")
    assert no_token.exit_code == 2 and "HF_TOKEN" in no_token.output
    monkeypatch.setenv("HF_TOKEN", "hf_WrongTokenWrongTokenWrong123")
    wrong = zoo("push", str(run), "--repo", "acme/x")
    assert wrong.exit_code == 2 and "HTTP 401" in wrong.output
    assert "hf_WrongTokenWrongTokenWrong123" not in wrong.output
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    bad_repo = zoo("push", str(run), "--repo", "../escape")
    assert bad_repo.exit_code == 2 and "Invalid Hub repo id" in bad_repo.output
    (tmp_path / "empty").mkdir()
    empty = zoo("push", str(tmp_path / "empty"), "--repo", "acme/x")
    assert empty.exit_code == 2 and "holds no saved model" in empty.output
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = zoo("push", str(run), "--repo", "acme/x")
    assert offline.exit_code == 2 and "--dry-run" in offline.output
    assert all("Traceback" not in r.output for r in (no_token, wrong, bad_repo, empty, offline))
    assert "acme/x" not in env.repos


def test_push_refuses_a_broken_model(env: FakeHub, run_folder, monkeypatch) -> None:
    run, _ = run_folder
    weights = run / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = zoo("push", str(run), "--repo", "acme/broken")
    assert result.exit_code == 2 and "damaged" in result.output
    assert env.commit_payloads == []
