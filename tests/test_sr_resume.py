"""Exact resume of a two-optimizer SRGAN run: killed with SIGKILL in its second epoch and
continued with `zoo run --resume`, it ends with the same generator, discriminator and
generator EMA as a run that was never interrupted (CPU, fixed seed, loader workers,
random crops and flips). Real processes, a real signal."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import ZOO, checkpoint_state, load_run_weights, subprocess_env


def _images(folder: Path, n: int = 6) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:144, 0:160]
    for i in range(n):
        base = (np.sin(xx / (3 + i)) + np.cos(yy / (5 + i))) * 60 + 128
        img = np.stack([base, base[::-1], base[:, ::-1]], -1) + rng.normal(0, 8, (144, 160, 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def _recipe(path: Path, root: Path) -> Path:
    # no [optimizers]: the roles' own defaults (Adam, BasicSR's betas) must survive a resume
    path.write_text(textwrap.dedent(f"""
        [recipe]
        name = "srgan_resume"
        task = "sr"
        seed = 3
        [data]
        dataset = "images"
        root = "{root}"
        val_fraction = 0.34
        num_workers = 2
        [models.generator]
        name = "srresnet"
        cfg = {{num_block = 1, num_feat = 8}}
        [models.discriminator]
        name = "sr_discriminator"
        cfg = {{num_feat = 4}}
        [train]
        epochs = 3
        batch_size = 2
        max_steps_per_epoch = 6
        [task]
        perceptual_network = "vgg11"
        perceptual_layer = "conv1_1"
        perceptual_weights = "none"
        ema_decay = 0.9
        artifact_images = 1
        """).lstrip(), encoding="utf-8")
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ZOO, "run", *args, "--no-progress"], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_srgan_resume_after_sigkill_gives_the_uninterrupted_weights(tmp_path: Path):
    recipe = str(_recipe(tmp_path / "srgan.toml", _images(tmp_path / "hr")))
    straight = tmp_path / "straight"
    done = _run(recipe, "--out", str(straight))
    assert done.returncode == 0, done.stdout + done.stderr
    reference = checkpoint_state(straight)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([ZOO, "run", recipe, "--out", str(killed), "--no-progress"],
                            env=subprocess_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while not ckpt.exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "the first epoch never ended"
        time.sleep(0.02)
    time.sleep(0.3)  # into epoch 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = checkpoint_state(killed)
    assert state["step"] == 0 and 1 <= state["epoch"] < 3 and not state.get("finished"), \
        "the kill did not land inside the run"
    resumed = _run("--resume", str(killed))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming from the end of epoch" in resumed.stderr

    final = checkpoint_state(killed)
    assert final["finished"] and final["epoch"] == 3
    for role in ("generator", "discriminator"):
        assert _same(final["models"][role], reference["models"][role]), role
        assert _same(final["optimizers"][role]["state"][0], reference["optimizers"][role]
                     ["state"][0]), f"{role} optimizer"
    # 4 training images (2 validate), batch 2: 2 generator steps per epoch
    assert final["task"]["ema"]["updates"] == reference["task"]["ema"]["updates"] == 3 * 2
    assert _same(final["task"]["ema"]["module"], reference["task"]["ema"]["module"]), "EMA"
    for role in ("generator", "discriminator"):
        assert _same(load_run_weights(killed, role), load_run_weights(straight, role)), role
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert lines[-1] == (straight / "metrics.jsonl").read_text().splitlines()[-1]
    assert len(lines) == 4  # 3 epochs + final, no duplicates after the resume
