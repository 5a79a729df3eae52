"""The command line as a user meets it."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from zoo_core.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_list_backbones_json_has_over_1000_entries():
    res = run("list", "backbones", "--json")
    assert res.exit_code == 0, res.output
    entries = json.loads(res.output)
    assert len(entries) > 1000
    assert {"kind", "name", "plugin", "description"} <= set(entries[0])


def test_list_table_and_filter():
    res = run("list", "heads")
    assert res.exit_code == 0
    assert "linear" in res.output and "conv1x1" in res.output


def test_info_alexnet_json():
    res = run("info", "alexnet", "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["param_count"] == 61100840
    assert info["kind"] == "backbone" and info["plugin"] == "backbones"
    assert info["data_config"]["input_size"] == [3, 224, 224]
    assert info["weights"]["tv_in1k"]["source"].endswith("alexnet-owt-7be5be79.pth")


def test_info_human_output():
    res = run("info", "resnet18")
    assert res.exit_code == 0
    assert "11,689,512" in res.output and "a1_in1k" in res.output


def test_unknown_name_exits_2_with_did_you_mean():
    res = run("info", "resnet5O")
    assert res.exit_code == 2
    assert "resnet50" in res.output
    assert "Traceback" not in res.output


def test_unknown_kind_and_command():
    res = run("list", "backbonez")
    assert res.exit_code == 2 and "backbone" in res.output
    res = run("lsit")
    assert res.exit_code == 2 and "list" in res.output


def _modules_after(*argv: str) -> set[str]:
    code = (
        "import sys\n"
        "from zoo_core.cli import cli\n"
        f"try:\n    cli.main({list(argv)!r}, standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_help_and_list_do_not_import_torch():
    run("list", "backbones")  # warm the timm name cache
    assert "torch" not in _modules_after("--help")
    assert "torch" not in _modules_after("list", "backbones", "--json")


def test_console_script_exit_code():
    out = subprocess.run([sys.executable, "-m", "zoo_core.cli", "info", "resnet5O"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Did you mean" in out.stderr and "Traceback" not in out.stderr
