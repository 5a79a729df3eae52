"""Plugin discovery through real entry points, with broken plugins beside good ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import write_distribution
from zoo_core.errors import PluginError, ZooError
from zoo_core.hookspecs import KIND_HOOKS

GOOD = """
from zoo_core import hookimpl

def build(**cfg):
    return ("tiny", cfg)

@hookimpl
def register_backbones(register):
    register("tiny_cnn", build, description="third-party", default_cfg={"width": 4})

@hookimpl
def register_heads(register):
    register("tiny_head", build)
"""

PLUGINS = {
    "good": ("zoo-good", GOOD),
    "import_error": ("zoo-import-error", "import not_a_real_module_xyz\n"),
    "raises": ("zoo-raises", """
from zoo_core import hookimpl

@hookimpl
def register_heads(register):
    register("half_registered", lambda **c: c)
    raise RuntimeError("boom in register_heads")
"""),
    "bad_signature": ("zoo-bad-signature", """
from zoo_core import hookimpl

@hookimpl
def register_backbones(regster):
    pass
"""),
    "misspelled": ("zoo-misspelled", """
from zoo_core import hookimpl

@hookimpl
def register_backbone(register):
    register("never_seen", lambda **c: c)
"""),
    "clash": ("zoo-clash", """
from zoo_core import hookimpl

@hookimpl
def register_backbones(register):
    register("alexnet", lambda **c: "impostor")
"""),
}


@pytest.fixture
def plugin_site(tmp_path, monkeypatch, fresh_plugins):
    site = tmp_path / "site"
    for ep_name, (dist, source) in PLUGINS.items():
        module = f"zoo_test_{ep_name}"
        write_distribution(site, dist, {module: source}, {ep_name: module})
    monkeypatch.syspath_prepend(str(site))
    return site


def test_each_failure_is_reported_and_the_rest_works(plugin_site, fresh_plugins):
    ps = fresh_plugins.plugin_set()
    reg = ps.registry
    reports = ps.reports
    assert reports["good"].status == "ok"
    assert reports["good"].version == "0.1"
    assert reports["good"].provides == {"backbone": ["tiny_cnn"], "head": ["tiny_head"]}
    assert reg.get("backbone", "tiny_cnn").component.create() == ("tiny", {"width": 4})

    assert reports["import_error"].status == "failed"
    assert "not_a_real_module_xyz" in reports["import_error"].error

    assert reports["raises"].status == "failed"
    assert "boom in register_heads" in reports["raises"].error
    # nothing it registered before raising survives
    assert "half_registered" not in reg.names("head")

    assert reports["bad_signature"].status == "failed"
    assert "regster" in reports["bad_signature"].error

    assert reports["misspelled"].status == "failed"
    assert "register_backbones" in reports["misspelled"].error  # did-you-mean
    assert "never_seen" not in reg.names("backbone")

    # built-ins keep working, and a clash is loud but recoverable
    assert reports["backbones"].status == "ok" and reports["backbones"].builtin
    assert any("alexnet" in w for w in reports["clash"].warnings)
    with pytest.raises(ZooError, match="'backbones' and 'clash'"):
        reg.get("backbone", "alexnet")
    assert reg.get("backbone", "clash:alexnet").component.create() == "impostor"
    assert reg.get("backbone", "backbones:alexnet").component.plugin == "backbones"


def test_reports_list_the_hooks_each_plugin_implements(plugin_site, fresh_plugins):
    ps = fresh_plugins.plugin_set()
    ps.registry  # noqa: B018 - run the registration hooks
    assert ps.reports["good"].hooks == ["register_backbones", "register_heads"]
    assert ps.reports["good"].as_dict()["hooks"] == ["register_backbones", "register_heads"]
    assert ps.reports["raises"].hooks == []  # failed: nothing of it is in use
    hook_of = {kind: hook for hook, kind in KIND_HOOKS.items()}
    for report in ps.reports.values():  # built-ins too: a hook behind every kind provided
        assert {hook_of[kind] for kind in report.provides} <= set(report.hooks), report.name


def test_load_plugins_env_limits_third_party(plugin_site, fresh_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "good")
    ps = fresh_plugins.plugin_set()
    assert ps.reports["good"].status == "ok"
    assert ps.reports["raises"].status == "skipped"
    assert ps.reports["backbones"].status == "ok"  # built-ins always load
    assert ps.registry.get("backbone", "alexnet").component.plugin == "backbones"


def test_empty_load_plugins_loads_no_third_party(plugin_site, fresh_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    ps = fresh_plugins.plugin_set()
    third = [r for r in ps.reports.values() if not r.builtin]
    assert third and all(r.status == "skipped" for r in third)
    assert "tiny_cnn" not in ps.registry.names("backbone")


def test_load_plugins_names_a_missing_plugin(plugin_site, fresh_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "god")
    ps = fresh_plugins.plugin_set()
    assert ps.reports["god"].status == "failed"
    assert "'good'" in ps.reports["god"].error


def test_strict_mode_reraises(plugin_site, fresh_plugins, monkeypatch):
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="Plugin '.*' failed"):
        fresh_plugins.plugin_set()


def _zoo(*args: str, site=None, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join([str(site), full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "zoo_core.cli", *args], env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_cli_reports_broken_plugin_while_list_works(plugin_site):
    out = _zoo("plugins", "--json", site=plugin_site)
    assert out.returncode == 0, out.stderr
    by_name = {p["name"]: p for p in json.loads(out.stdout)}
    assert by_name["import_error"]["status"] == "failed"
    assert by_name["good"]["status"] == "ok"

    out = _zoo("list", "backbones", "--filter", "tiny_c*", "--json", site=plugin_site)
    assert out.returncode == 0, out.stderr
    assert [c["name"] for c in json.loads(out.stdout)] == ["tiny_cnn"]

    human = _zoo("plugins", site=plugin_site)
    assert "failed" in human.stdout and "Traceback" not in human.stdout + human.stderr


def test_plugin_commands_are_added(tmp_path, fresh_plugins):
    site = tmp_path / "site"
    write_distribution(site, "zoo-cmd", {"zoo_test_cmd": """
import click
from zoo_core import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command()
    def hello():
        "Say hello from a plugin."
        click.echo("hello from plugin")
"""}, {"cmd": "zoo_test_cmd"})
    out = _zoo("hello", site=site)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello from plugin"
    assert "Say hello from a plugin." in _zoo("--help", site=site).stdout
