"""Training with several processes (DDP over gloo on the CPU): the sharded sampler, meters
reduced across processes, and real 2-process runs through `zoo run --nproc 2` (torchrun)
compared with one process at the same global batch."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import RECIPES, ZOO, load_run_weights, subprocess_env, write_recipe
from zoo_core.data.loaders import EpochSampler
from zoo_core.engine.distributed import sum_states
from zoo_core.engine.meters import MeanMeter

DIGITS = str(RECIPES / "digits_lenet5.toml")
# val_fraction 0.11 leaves 1240 training digits: 2 x 620, so no process pads its share and
# the last batches (2 x 12 against 24) hold the same samples
EVEN = ["--set", "data.val_fraction=0.11", "--set", "train.epochs=3", "--device", "cpu",
        "--no-progress"]
WORKER = Path(__file__).with_name("_ddp_worker.py")


def zoo(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([ZOO, *args], capture_output=True, text=True, env=subprocess_env(),
                          timeout=600, **kwargs)


# --- the sampler and the reduction, in one process ------------------------------------------


def test_shards_split_each_global_batch_between_processes():
    """Process r of 2 with batch B holds exactly its half of the n-th batch of 2B."""
    one = EpochSampler(101, shuffle=True, seed=3)
    one.set_epoch(5)
    shards = [EpochSampler(101, shuffle=True, seed=3, shard=(r, 2)) for r in range(2)]
    for s in shards:
        s.set_epoch(5)
    whole = [i for i, _ in one]
    parts = [[i for i, _ in s] for s in shards]
    assert [len(p) for p in parts] == [51, 51] == [len(s) for s in shards]  # padded evenly
    for n in range(50 // 8):
        batch = set(whole[16 * n:16 * n + 16])
        assert set(parts[0][8 * n:8 * n + 8]) | set(parts[1][8 * n:8 * n + 8]) == batch
    assert sorted(parts[0] + parts[1]) == sorted(whole + whole[:1])  # one sample repeated
    assert all(e == 5 for s in shards for _, e in s)  # (index, epoch): same augmentation
    # resuming a share part-way through skips its own first samples
    shards[1].set_epoch(5, start=24)
    assert [i for i, _ in shards[1]] == parts[1][24:] and len(shards[1]) == 51 - 24


def test_evaluation_shards_cover_the_split_once():
    shards = [EpochSampler(10, shuffle=False, shard=(r, 3)) for r in range(3)]
    got = [[i for i, _ in s] for s in shards]
    assert sorted(sum(got, [])) == list(range(10))
    assert [len(s) for s in shards] == [4, 3, 3]


def test_meter_reduce_adds_up_the_shards():
    """Meter.reduce (the default, over state_dict) gives the meter of all the data."""
    shards = [MeanMeter(), MeanMeter()]
    whole = MeanMeter()
    data = [({"loss": torch.tensor(1.0), "acc": torch.tensor(0.5)}, 3),
            ({"loss": torch.tensor(4.0)}, 1),
            ({"loss": torch.tensor(2.0), "acc": torch.tensor(1.0)}, 2)]
    for i, (values, n) in enumerate(data):
        shards[i % 2].update(values, n)
        whole.update(values, n)
    states = [m.state_dict() for m in shards]
    shards[0].reduce(lambda obj: states)  # what the engine's all_gather_object returns
    assert shards[0].compute() == pytest.approx(whole.compute())
    assert sum_states([{"a": 1, "m": None}, {"a": 2, "m": torch.ones(2)}]) == \
        {"a": 3, "m": pytest.approx(torch.ones(2))}


def test_python_m_zoo_core_is_the_cli():
    res = subprocess.run([sys.executable, "-m", "zoo_core", "run", "--help"], capture_output=True,
                         text=True, env=subprocess_env(), timeout=120)
    assert res.returncode == 0, res.stderr
    assert "--nproc" in res.stdout and "--folds" in res.stdout


# --- real processes ---------------------------------------------------------------------------


@pytest.fixture(scope="module", name="runs")
def runs_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """LeNet-5 on digits for 3 epochs: 2 processes x batch 16, and 1 process x batch 32."""
    root = tmp_path_factory.mktemp("ddp")
    out = {"ddp": root / "ddp", "one": root / "one"}
    res = zoo("run", DIGITS, *EVEN, "--set", "train.batch_size=16", "--nproc", "2",
              "--out", str(out["ddp"]))
    assert res.returncode == 0, res.stderr
    out["ddp_log"] = res.stderr  # type: ignore[assignment]
    res = zoo("run", DIGITS, *EVEN, "--set", "train.batch_size=32", "--out", str(out["one"]))
    assert res.returncode == 0, res.stderr
    return out


def _max_diff(a: Path, b: Path) -> float:
    wa, wb = load_run_weights(a), load_run_weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def _lines(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_equal_one_process_with_the_same_global_batch(runs):
    assert "device cpu x 2 processes (DDP, gloo)" in str(runs["ddp_log"])
    assert _max_diff(runs["ddp"], runs["one"]) < 1e-5
    ddp, one = _lines(runs["ddp"]), _lines(runs["one"])
    assert len(ddp) == len(one) == 4
    for a, b in zip(ddp, one, strict=True):  # reduced metrics: every sample counted once
        for key in ("train/loss", "train/top1", "val/loss", "val/top1", "test/loss",
                    "test/top1"):
            if key in b:
                assert a[key] == pytest.approx(b[key], abs=1e-5), key
    # rank 0 alone wrote the folder, printed once
    assert str(runs["ddp_log"]).count("done test:") == 1


@pytest.mark.slow
def test_checkpoints_load_in_one_process(runs):
    """A DDP run's checkpoint and saved model are the plain modules' state dicts."""
    from tests._engine_helpers import checkpoint_state
    from zoo_core.engine.pipeline import build_pipeline
    from zoo_core.recipe import load_recipe
    from zoo_core.weights import load_model

    state = checkpoint_state(runs["ddp"])
    pipe = build_pipeline(load_recipe(runs["ddp"] / "recipe.toml"), "cpu")
    pipe.model.load_state_dict(state["models"]["net"])  # strict: no "module." prefix
    pipe.configure_phase(0)
    pipe.optimizers["net"].load_state_dict(state["optimizers"]["net"])
    assert state["world_size"] == 2
    loaded = load_model(runs["ddp"] / "models" / "net")
    x = torch.zeros(1, 1, 32, 32)
    assert torch.allclose(loaded.model.eval()(x), pipe.model.eval()(x), atol=1e-6)


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_the_run_resumes_exactly(runs, tmp_path):
    """SIGINT to `zoo run --nproc 2`: torchrun hands it to both processes, they agree on the
    step to stop after, rank 0 saves; `--resume` ends where the uninterrupted run does."""
    out = tmp_path / "run"
    cmd = [ZOO, "run", DIGITS, *EVEN, "--set", "train.batch_size=16", "--nproc", "2",
           "--out", str(out)]
    log = tmp_path / "log.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=subprocess_env())
        deadline = time.monotonic() + 300
        while not (out / "checkpoints" / "last.pt").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, log.read_text()
    text = log.read_text()
    assert "Interrupted" in text and "checkpoint saved" in text
    assert "Traceback" not in text
    res = zoo("run", "--resume", str(out), "--nproc", "2", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "resuming from" in res.stderr
    assert _max_diff(out, runs["one"]) < 1e-5


@pytest.mark.slow
def test_a_nan_stops_every_process_with_one_message(tmp_path):
    res = zoo("run", DIGITS, "--set", "train.optimizer.lr=1e30", "--set", "train.epochs=2",
              "--set", "train.max_steps_per_epoch=5", "--device", "cpu", "--no-progress",
              "--nproc", "2", "--out", str(tmp_path / "nan"))
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("Training became") == 1
    assert "Traceback" not in res.stderr


GAN = """
[recipe]
name = "tiny_gan"
task = "gan"
seed = 0

[data]
dataset = "digits"
image_size = 16
val_fraction = 0.1
num_workers = 0

[models.generator]
name = "dcgan_generator"
cfg = { nz = 16, ngf = 8 }

[models.discriminator]
name = "dcgan_discriminator"
cfg = { ndf = 8 }

[train]
epochs = 2
batch_size = 16
max_steps_per_epoch = 3

[task]
fid = { n_samples = 64, feature = "test_resnet", weights = "none", kid_subset_size = 16 }
"""


@pytest.mark.slow
def test_collectives_and_a_gan_step_in_two_processes(tmp_path):
    """Gradient averaging, meter reduction, and a GAN (two optimizers) whose generator and
    discriminator stay identical in both processes."""
    recipe = write_recipe(tmp_path / "gan.toml", GAN)
    out = tmp_path / "result.json"
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(WORKER), str(recipe), str(out), "4"],
        capture_output=True, text=True, env=subprocess_env(), timeout=600,
        cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr
    got = json.loads(out.read_text())
    assert got["world"] == 2 and got["device"] == "cpu"
    assert got["grads"][0] == [1.5] * 3  # (1 + 2) / 2
    assert got["grads"][1] == [2.0] * 3  # rank 0's 4, rank 1's nothing: 4 / 2
    assert got["grads"][2] is None  # no process had one
    # x: (0*2 + 10*2 + 1*2 + 11*2) / 8; y only on rank 1's 2 samples
    assert got["meter"] == pytest.approx({"x": 5.5, "y": 1.0})
    assert got["manual"] is True and got["steps"] == 4
    assert got["samples_per_rank"] == math.ceil(1618 / 2)
    for role in ("generator", "discriminator"):
        assert got["roles"][role]["moved"] > 1e-4, role
        assert got["roles"][role]["spread"] == 0.0, role
    assert got["wrappers_alive_after_session"] == 0


@pytest.mark.slow
def test_a_gan_trains_in_two_processes(tmp_path):
    recipe = write_recipe(tmp_path / "gan.toml", GAN)
    out = tmp_path / "run"
    res = zoo("run", str(recipe), "--nproc", "2", "--device", "cpu", "--no-progress",
              "--out", str(out))
    assert res.returncode == 0, res.stderr
    final = _lines(out)[-1]
    assert final["split"] == "val"
    assert math.isfinite(final["val/fid_test_resnet_random"])  # torchmetrics synced it
    assert (out / "models" / "generator" / "model.safetensors").exists()
    assert sorted(p.name for p in (out / "artifacts").iterdir())  # rank 0 drew the grids
    assert os.listdir(out).count("report.md") == 1
