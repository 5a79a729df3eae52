"""The example third-party package installs with pip and plugs in like a built-in."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_example_plugin_installs_and_registers(tmp_path):
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(REPO / "examples" / "zoo-example-plugin")],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}

    def zoo(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zoo_core.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    plugins = {p["name"]: p for p in json.loads(zoo("plugins", "--json").stdout)}
    assert plugins["example"]["status"] == "ok"
    assert plugins["example"]["provides"] == {"backbone": ["tinynet"], "head": ["cosine"]}
    info = json.loads(zoo("info", "tinynet", "--json").stdout)
    assert info["plugin"] == "example" and info["param_count"] > 0
