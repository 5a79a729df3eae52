"""[prune] in real runs: the schedule over epochs, masks made permanent (saved
models hold plain weights and load with load_model), the best epoch chosen at
the final sparsity, the report and metrics, resume after SIGKILL giving the
uninterrupted weights, and the [prune] validation errors (exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from tests._engine_helpers import (
    ZOO,
    checkpoint_state,
    cli,
    load_run_weights,
    make_image_folder,
    subprocess_env,
    tiny_recipe,
)
from zoo_core.export.prune import prune_to, select_layers, sparsity_report, sparsity_schedule

PRUNE = """
[prune]
amount = 0.6
start_epoch = 2
end_epoch = 3
schedule = "linear"
"""


def _masked(keys) -> list[str]:
    return [k for k in keys if k.endswith(("_orig", "_mask"))]


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# -- the pieces, without a run ---------------------------------------------------------------


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Flatten(),
                         nn.LazyLinear(4)).eval()


def test_save_model_writes_effective_weights_of_a_pruned_model(tmp_path):
    from safetensors.torch import load_file

    from zoo_core.api import create
    from zoo_core.weights import load_model, save_model

    torch.manual_seed(0)
    model = create("backbone", "test_resnet", num_classes=3)
    names = list(model.state_dict())
    layers = select_layers(model, ["Conv2d", "Linear"])
    prune_to(model, 0.5, layers=layers)
    assert _masked(model.state_dict())  # torch's pruned form in memory
    save_model(tmp_path / "m", model, {"architecture": "test_resnet", "num_classes": 3})
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))
    assert sorted(saved) == sorted(names)  # the plain names, no masks
    for name, m in layers:
        assert torch.equal(saved[f"{name}.weight"], m.weight_orig * m.weight_mask)
    loaded = load_model(tmp_path / "m").model.eval()
    rep = sparsity_report(loaded, select_layers(loaded, ["Conv2d", "Linear"]))
    assert rep.overall == pytest.approx(0.5, abs=1e-5)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model.eval()(x), atol=1e-6)


@pytest.mark.parametrize("method", ["global_l1", "ln_structured"])
def test_a_checkpoint_taken_mid_pruning_loads_into_a_fresh_model_with_its_optimizer(method):
    from types import SimpleNamespace

    from zoo_core.engine.pruning import Pruning

    section = SimpleNamespace(modules=["Conv2d", "Linear"], exclude=[], keep_last=True,
                              method=method, n=2, dim=0, amount=0.5, start_epoch=1,
                              end_epoch=2, schedule="linear")
    model = _net()
    model(torch.randn(1, 3, 8, 8))  # materialise the lazy layer
    order = [id(p) for p in model.parameters()]
    pr = Pruning(section, model, "net", 3, evaluate=dict, split="val", log=lambda m: None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    pr.epoch_start(0)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    # pruning keeps the parameter order: an optimizer built now lists the same tensors
    assert [id(p) for p in model.parameters()] == order
    state = {"model": model.state_dict(), "opt": opt.state_dict()}
    assert _masked(state["model"])

    fresh = _net()
    fresh(torch.randn(1, 3, 8, 8))
    pr2 = Pruning(section, fresh, "net", 3, evaluate=dict, split="val", log=lambda m: None)
    fresh.load_state_dict(state["model"])  # the pre-hook gives the layers the pruned form
    opt2 = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(state["opt"])
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        assert torch.equal(a, b) and opt.state[a]["momentum_buffer"].shape == b.shape
    # the next step scores the effective weights, so both reach the same masks
    pr.epoch_start(1)
    pr2.epoch_start(1)
    for (_, a), (_, b) in zip(pr.layers, pr2.layers, strict=True):
        assert torch.equal(a.weight_mask, b.weight_mask)
    assert sparsity_report(fresh, pr2.layers).overall == pytest.approx(0.5, abs=1e-3)
    if method == "ln_structured":  # whole output channels: 4 of the 8 of each conv
        for _, layer in pr2.layers:
            dead = (layer.weight_mask.flatten(1) == 0).all(1)
            assert int(dead.sum()) == 4


# -- real runs -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_prunes_on_schedule_and_saves_plain_sparse_weights(tmp_path):
    from zoo_core.weights import load_model

    data = make_image_folder(tmp_path / "data", per_class=8)
    recipe = tiny_recipe(tmp_path / "r.toml", data, epochs=4, extra=PRUNE)
    run = tmp_path / "run"
    result = cli("run", str(recipe), "--out", str(run), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "pruning net (global_l1): 30.0%" in result.output

    rows = _history(run)
    epochs, final = rows[:-1], rows[-1]
    expected = sparsity_schedule(0.6, 4, start=1, end=2, kind="linear")  # 0-based window
    assert [r["prune/target"] for r in epochs] == pytest.approx(expected)
    assert expected == pytest.approx([0.0, 0.3, 0.6, 0.6])
    assert [r["prune/sparsity"] for r in epochs] == pytest.approx(expected, abs=1e-4)

    # the masks survive in the checkpoint; models/net holds plain, sparse weights
    ckpt = checkpoint_state(run)
    assert len(_masked(ckpt["models"]["net"])) == 2 * 15
    saved = load_run_weights(run)
    assert not _masked(saved)
    loaded = load_model(run / "models" / "net").model
    layers = select_layers(loaded, ["Conv2d", "Linear"])
    rep = sparsity_report(loaded, layers)
    assert rep.overall == pytest.approx(0.6, abs=1e-4)
    assert final["prune/sparsity"] == pytest.approx(rep.overall)
    assert set(final["prune/layers"]) == {n for n, _ in layers}
    # the best epoch is one at the final sparsity (the monitors restart at each step)
    assert ckpt["best"]["best_epoch"] >= 3
    assert "prune/before/val/top1" in final and "prune/pruned/val/top1" in final
    report = (run / "report.md").read_text()
    assert "## Pruning (net)" in report and "| top1 |" in report
    assert "Sparsity: 60.0% overall" in report and "| layer4.0.conv1 |" in report


def _start(recipe: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([ZOO, "run", str(recipe), "--out", str(out), "--no-progress"],
                            env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_resume_of_a_pruning_run_after_sigkill_gives_the_uninterrupted_weights(tmp_path):
    data = make_image_folder(tmp_path / "data", per_class=16)
    recipe = tiny_recipe(tmp_path / "r.toml", data, epochs=4, extra=PRUNE.replace(
        "[prune]", "[prune]\nmethod = \"global_l1\"") + "\n[data.augment]\nhflip = 0.5\n")
    straight = tmp_path / "straight"
    done = subprocess.run([ZOO, "run", str(recipe), "--out", str(straight), "--no-progress"],
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    killed = tmp_path / "killed"
    proc = _start(recipe, killed)
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while True:  # kill as soon as epoch 2 (the first pruning step) is checkpointed
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "epoch 2 never ended"
        if ckpt.exists() and torch.load(ckpt, weights_only=True)["epoch"] >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = checkpoint_state(killed)
    assert state["epoch"] in (2, 3) and not state.get("finished")
    assert _masked(state["models"]["net"]), "the checkpoint does not hold the masks"
    resumed = subprocess.run([ZOO, "run", "--resume", str(killed), "--no-progress"],
                             env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming from the end of epoch {state['epoch']}" in resumed.stderr

    a, b = load_run_weights(killed), load_run_weights(straight)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not _masked(a)
    ref = checkpoint_state(straight)["models"]["net"]
    end = checkpoint_state(killed)["models"]["net"]
    assert ref.keys() == end.keys() and all(torch.equal(ref[k], end[k]) for k in ref)
    untimed = [[{k: v for k, v in row.items() if k not in ("train/epoch_time_s",
                                                             "train/samples_per_s")}
                for row in _history(run)] for run in (killed, straight)]
    assert untimed[0] == untimed[1]  # prune/target, prune/sparsity, before/after included


# -- validation ------------------------------------------------------------------------------


def test_prune_validation_errors_exit_2(tmp_path):
    data = make_image_folder(tmp_path / "data", classes=2, per_class=2)
    bad = """
    [prune]
    amount = 1.0
    role = "nett"
    start_epoch = 2
    end_epoch = 7
    modules = ["Conv2D"]
    """
    recipe = tiny_recipe(tmp_path / "r.toml", data, epochs=3, extra=bad)
    result = cli("validate", str(recipe))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "prune.amount: Input should be less than 1" in out
    assert "prune.modules[0]: 'Conv2D' is not one of" in out and "Did you mean 'Conv2d'" in out

    fixed = bad.replace("1.0", "0.5").replace('["Conv2D"]', '["Conv2d"]')
    recipe = tiny_recipe(tmp_path / "r.toml", data, epochs=3, extra=fixed)
    result = cli("validate", str(recipe))
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "prune.role: task 'classification' has no model role 'nett'. Did you mean 'net'?" in out
    assert "prune.end_epoch: end_epoch = 7, but the run has 3 epochs" in out

    recipe = tiny_recipe(tmp_path / "r.toml", data, epochs=3,
                         extra="[prune]\namount = 0.5\nstart_epoch = 3\nend_epoch = 2\n")
    result = cli("run", str(recipe), "--out", str(tmp_path / "run"), "--no-progress")
    assert result.exit_code == 2
    assert "end_epoch = 2 comes before start_epoch = 3" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()

    recipe = tiny_recipe(tmp_path / "r.toml", data, epochs=3, extra="[prune]\nstart_epoch = 1\n")
    result = cli("validate", str(recipe))
    assert result.exit_code == 2 and "prune.amount: required key is missing" in result.output
