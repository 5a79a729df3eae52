"""`zoo plugin new`: names are checked, and every kind's package installs with pip
and passes its own tests (registration, shapes, a training step, `zoo run`)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests._engine_helpers import cli
from zoo_core.commands.plugin import TEMPLATE_KINDS, kind_spec, names_for
from zoo_core.registry import KINDS

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def new(*args: str):
    return cli("plugin", "new", *args)


# -- names ------------------------------------------------------------------------------------


def test_names_of_a_package():
    n = names_for("zoo-Depth_Nets")
    assert (n.dist, n.module, n.plugin) == ("zoo-depth-nets", "zoo_depth_nets", "depth_nets")
    assert names_for("keypoints").plugin == "keypoints"


@pytest.mark.parametrize("name, hint", [
    ("My Plugin!", "'my-plugin'"),      # not a package name
    ("dash-", "'dash'"),                # must end with a letter or digit
    ("3d-nets", "'zoo-3d-nets'"),       # a valid dist, but no importable module
    ("class", "'zoo-class'"),           # a keyword
])
def test_invalid_names_exit_2_with_a_valid_suggestion(tmp_path, name, hint):
    result = new(name, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert hint in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name, kind, why", [
    ("zoo-gan", "backbone", "an installed plugin is already called 'gan'"),
    ("zoo-resnet18", "backbone", "backbone 'resnet18' is registered by backbones"),
    ("linear", "head", "head 'linear' is registered by heads"),
    ("zoo-core", "task", "the module 'zoo_core' can already be imported"),
    ("zoo-classification", "task", "task 'classification' is registered by classification"),
])
def test_clashing_names_exit_2_with_a_free_name(tmp_path, name, kind, why):
    result = new(name, "--kind", kind, "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert why in result.output
    hint = result.output.split("Try '")[1].split("'")[0]
    assert new(hint, "--kind", kind, "--out", str(tmp_path)).exit_code == 0  # it is free


def test_an_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "zoo-mine" / "src").mkdir(parents=True)
    result = new("zoo-mine", "--out", str(tmp_path))
    assert result.exit_code == 2 and "already exists" in result.output


# -- the template -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_every_kind_renders_a_complete_package(tmp_path, kind):
    spec = kind_spec(kind)
    assert set(spec["registers"]) <= set(KINDS)
    result = new(f"zoo-t-{kind}", "--kind", kind, "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    root = tmp_path / f"zoo-t-{kind}"
    module = f"zoo_t_{kind}"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    for needed in ("pyproject.toml", "README.md", "LICENSE", ".gitignore",
                   ".github/workflows/test.yml", f"recipes/t_{kind}.toml",
                   f"src/{module}/__init__.py", f"tests/test_{module}_plugin.py"):
        assert needed in files
    for rel in files:
        text = (root / rel).read_text(encoding="utf-8")
        assert "{{" not in text or rel.endswith(".yml"), rel  # every placeholder filled
        if rel.endswith(".py"):
            ast.parse(text, rel)
        if rel.endswith(".toml"):
            tomllib.loads(text)
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["zoo"] == {f"t_{kind}": module}
    workflow = (root / ".github/workflows/test.yml").read_text()
    assert "${{ matrix.python-version }}" in workflow and "pytest" in workflow
    assert (root / "README.md").read_text().count(f"zoo plugin new zoo-t-{kind}") == 1


def test_plugin_commands_do_not_import_torch():
    code = ("import sys; from zoo_core.cli import main\n"
            "try:\n    main(['plugin', 'new', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


# -- every kind's package, installed and tested ------------------------------------------------


def _junit_results(path: Path) -> dict[str, str]:
    """test id (file::name) -> passed | skipped: reason | failed."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            out[test_id] = "failed"
        elif skipped is not None:
            out[test_id] = f"skipped: {skipped.get('message', '')}"
        else:
            out[test_id] = "passed"
    return out


@pytest.mark.slow
def test_every_kind_installs_and_passes_its_own_tests(tmp_path):
    from zoo_core.plugins import registry

    packages = []
    for kind in TEMPLATE_KINDS:
        assert new(f"zoo-t-{kind}", "--kind", kind, "--out", str(tmp_path)).exit_code == 0
        packages.append(tmp_path / f"zoo-t-{kind}")
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    for pkg in packages if ruff else []:  # what the author's linter says of the code
        lint = subprocess.run([ruff, "check", "--no-cache", "."], cwd=pkg,
                              capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    site = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), *map(str, packages)],
        capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr
    # One pytest process for every package: zoo and torch are imported once.
    report = tmp_path / "junit.xml"
    # the package first; an outer PYTHONPATH (a checkout under test) stays visible
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         *(str(p / "tests") for p in packages)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    results = _junit_results(report)
    tasks = set(registry().names("task"))
    for kind in TEMPLATE_KINDS:
        module = f"zoo_t_{kind}"
        mine = {k: v for k, v in results.items() if k.startswith(f"test_{module}_")}
        # the component's own tests (shapes, a training step) never skip
        own = {k: v for k, v in mine.items() if "_plugin::" not in k}
        assert own and set(own.values()) == {"passed"}, (kind, own)
        assert mine[f"test_{module}_plugin::test_plugin_registers_and_zoo_plugins_shows_it_ok"] \
            == "passed"
        ran = mine[f"test_{module}_plugin::test_zoo_run_trains_the_recipe_for_an_epoch"]
        run_task = kind_spec(kind)["run_task"].format(plugin=f"t_{kind}")
        # the recipe runs wherever its task exists (the task kind brings its own)
        if run_task in tasks or kind == "task":
            assert ran == "passed", (kind, ran)
        else:
            assert ran.startswith("skipped") and repr(run_task) in ran, (kind, ran)
