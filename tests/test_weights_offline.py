"""The issue's done-when, end to end in fresh processes: `zoo pull` against the
Hub stand-in, then HF_HUB_OFFLINE=1 builds the model from the cache alone."""

from __future__ import annotations

from pathlib import Path

from tests._hub_server import FakeHub
from tests._weights_helpers import (  # noqa: F401  (fixtures)
    ARCH,
    env_fixture,
    hub_fixture,
    run_python,
    run_zoo,
    state_digest,
    timm_model,
    timm_repo_files,
)

BUILD = (
    "import sys; sys.path.insert(0, '.')\n"
    "from tests._weights_helpers import state_digest\n"
    "from zoo_core.weights import create_model\n"
    "m = create_model('backbone', 'hf://acme/tiny-resnet', weights='default')\n"
    "print(state_digest(m.model.state_dict()), m.lock[0]['revision'])\n"
)


def test_pull_then_offline_build_in_fresh_processes(env: FakeHub) -> None:
    model = timm_model(num_classes=10, seed=0)
    commit = env.commit("acme/tiny-resnet", timm_repo_files(model))
    pulled = run_zoo("pull", "hf://acme/tiny-resnet")
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    env.stop()  # from here on nothing answers: only the cache can serve
    built = run_python(BUILD, env={"HF_HUB_OFFLINE": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    digest, revision = built.stdout.split()
    assert digest == state_digest(model.state_dict()) and revision == commit
    missing = run_zoo("pull", "hf://acme/never-pulled", env={"HF_HUB_OFFLINE": "1"})
    assert missing.returncode == 2
    assert "zoo pull hf://acme/never-pulled" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_pull_a_recipe(env: FakeHub, tmp_path: Path) -> None:
    """`zoo pull recipe.toml` fetches what its [model] needs (extends applied)."""
    env.commit(f"timm/{ARCH}.r160_in1k", timm_repo_files(timm_model(num_classes=1000)))
    env.commit("acme/tiny-resnet", timm_repo_files(timm_model()))
    (tmp_path / "base.toml").write_text(f'[model]\nbackbone = "{ARCH}"\n')
    (tmp_path / "child.toml").write_text('extends = "base.toml"\n[data]\ndataset = "digits"\n')
    (tmp_path / "hub.toml").write_text('[model]\nbackbone = "hf://acme/tiny-resnet"\n')
    (tmp_path / "scratch.toml").write_text(f'[model]\nbackbone = "{ARCH}"\nweights = "none"\n')
    from zoo_core.weights import pull_recipe

    [a] = pull_recipe(tmp_path / "child.toml")
    assert a.uri == f"hf://timm/{ARCH}.r160_in1k/model.safetensors"
    [b] = pull_recipe(tmp_path / "hub.toml")
    assert b.uri == "hf://acme/tiny-resnet/model.safetensors" and b.config["architecture"] == ARCH
    assert pull_recipe(tmp_path / "scratch.toml") == []


def test_process_started_offline_says_so(env: FakeHub) -> None:
    """huggingface_hub reads HF_HUB_OFFLINE at import; unsetting it later cannot lift
    its block, and the message says so instead of blaming the network."""
    env.commit("acme/tiny-resnet", timm_repo_files(timm_model()))
    code = (
        "import os\n"
        "from huggingface_hub import constants  # reads the environment now\n"
        "assert constants.HF_HUB_OFFLINE\n"
        "del os.environ['HF_HUB_OFFLINE']\n"
        "from zoo_core.errors import WeightsError\n"
        "from zoo_core.weights import resolve\n"
        "try:\n"
        "    resolve('hf://acme/tiny-resnet')\n"
        "except WeightsError as exc:\n"
        "    print(exc)\n"
    )
    proc = run_python(code, env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "started with HF_HUB_OFFLINE" in proc.stdout
