"""Exact resume: a run killed with SIGKILL mid-epoch, or stopped with Ctrl-C,
then continued with `zoo run --resume`, ends with the same weights as a run
that was never interrupted (CPU, fixed seed). Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import RECIPES, ZOO, checkpoint_state, load_run_weights, subprocess_env

# 3 epochs of ~315 steps (batch 4): long enough to interrupt inside epoch 2.
# Two loader workers and random augmentation: resume must not depend on either.
SETS = ["--set", "train.epochs=3", "--set", "train.batch_size=4", "--set",
        "data.num_workers=2", "--set", "data.augment.noise=0.05", "--no-progress"]
RECIPE = str(RECIPES / "digits_lenet5.toml")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ZOO, "run", *args], env=subprocess_env(), capture_output=True,
                          text=True, timeout=300)


def _start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([ZOO, "run", RECIPE, "--out", str(out), *SETS], env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_first_epoch(proc: subprocess.Popen, out: Path) -> None:
    ckpt = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the first epoch never ended"
        time.sleep(0.02)
    time.sleep(0.4)  # into epoch 2


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_after_kill_or_ctrl_c_gives_the_uninterrupted_weights(tmp_path: Path):
    straight = tmp_path / "straight"
    done = _run(RECIPE, "--out", str(straight), *SETS)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = checkpoint_state(straight)

    # kill -9 in the middle of epoch 2: the epoch-1 checkpoint is the last good one
    killed = tmp_path / "killed"
    proc = _start(killed)
    _wait_for_first_epoch(proc, killed)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = checkpoint_state(killed)
    assert (state["epoch"], state["step"]) == (1, 0), "the kill did not land in epoch 2"
    resumed = _run("--resume", str(killed))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from the end of epoch 1" in resumed.stderr

    # Ctrl-C in the middle of epoch 2: a checkpoint with the position inside the epoch
    stopped = tmp_path / "stopped"
    proc = _start(stopped)
    _wait_for_first_epoch(proc, stopped)
    os.kill(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    assert "checkpoint saved" in output and f"zoo run --resume {stopped}" in output
    assert "Traceback" not in output
    state = checkpoint_state(stopped)
    assert state["epoch"] == 1 and state["step"] > 0
    resumed = _run("--resume", str(stopped))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    for run in (killed, stopped):
        final = checkpoint_state(run)
        assert final["finished"] and final["epoch"] == 3
        assert _same(final["models"]["net"], reference["models"]["net"]), f"{run.name}: differ"
        assert _same(load_run_weights(run), load_run_weights(straight))
        lines = (run / "metrics.jsonl").read_text().splitlines()
        assert lines[-1] == (straight / "metrics.jsonl").read_text().splitlines()[-1]
        assert len(lines) == 4  # 3 epochs + final, no duplicates after the resume
