"""Fixtures for the weights tests: a Hub stand-in on 127.0.0.1 and a clean
Hugging Face / zoo environment per test, plus small real checkpoints."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._hub_server import FakeHub

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_ZooTestWriteToken0123456789abcd"
ARCH = "test_resnet"  # a real timm ResNet, 374k parameters
HF_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
           "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH", "HF_ENDPOINT")


# fixtures carry name= so that test modules import `*_fixture` without shadowing the name
@pytest.fixture(name="hub")
def hub_fixture() -> Iterator[FakeHub]:
    with FakeHub(tokens={TOKEN}) as h:
        yield h


@pytest.fixture(name="env")
def env_fixture(hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """HF_ENDPOINT at the stand-in hub; fresh HF_HOME and ZOO_HOME; no token, online."""
    for var in HF_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "zoo"))
    return hub


def timm_model(num_classes: int = 10, seed: int = 0, arch: str = ARCH):
    import timm
    import torch

    torch.manual_seed(seed)
    return timm.create_model(arch, num_classes=num_classes)


def timm_repo_files(model, safetensors: bool = True) -> dict[str, bytes]:
    """The files timm's own ``save_for_hf`` writes for ``model``."""
    from timm.models import save_for_hf

    with tempfile.TemporaryDirectory() as d:
        save_for_hf(model, d, safe_serialization=True if safetensors else False)
        return {p.name: p.read_bytes() for p in Path(d).iterdir()}


def state_digest(state) -> str:
    """One hash over every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def same_tensors(a, b) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def pth_bytes(state) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def run_zoo(*args: str, env: dict[str, str] | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``zoo ...`` in a fresh process (huggingface_hub reads some settings at import)."""
    return subprocess.run(
        [sys.executable, "-m", "zoo_core.cli", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=REPO_ROOT, timeout=timeout,
    )


def run_python(code: str, env: dict[str, str] | None = None,
               timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=REPO_ROOT, timeout=timeout,
    )
