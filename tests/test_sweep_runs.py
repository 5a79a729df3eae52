"""`zoo sweep` end to end on the digits quickstart, shortened to a few optimizer
steps per trial: real runs, real Optuna storage, real processes for kill -9 and
for two workers on one storage."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests._engine_helpers import RECIPES, cli, subprocess_env
from zoo_core.recipe import load_and_validate
from zoo_core.sweep.spec import read_spec

DIGITS = str(RECIPES / "digits_lenet5.toml")
SHORT = ["--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=3"]
LR = ["--param", "train.optimizer.lr=loguniform(1e-4,1e-1)"]
# the digits recipe keeps its best epoch by val/loss; these tests search on top-1
TOP1 = ["--metric", "val/top1"]


def read_trials(folder: Path) -> list[dict[str, str]]:
    with open(folder / "trials.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def marker(run_dir: str | Path) -> dict:
    return json.loads((Path(run_dir) / "sweep_trial.json").read_text())


def counted(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The trials that use up the budget (what --trials N counts)."""
    return [r for r in rows if r["state"] in ("COMPLETE", "PRUNED")
            or (r["state"] == "FAIL" and r["status"] in ("invalid", "error"))]


@pytest.fixture(scope="module", name="sweep3")
def sweep3_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 3-trial TPE sweep over lr and batch size."""
    out = tmp_path_factory.mktemp("sweep") / "s3"
    res = cli("sweep", DIGITS, *SHORT, *LR, *TOP1, "--param", "train.batch_size=choice(16,32,64)",
              "--trials", "3", "--seed", "0", "--out", str(out), "--heartbeat", "0.5",
              "--no-progress")
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.slow
def test_three_trials_are_run_folders_judged_on_val_only(sweep3: Path):
    rows = read_trials(sweep3)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    for row in rows:
        run = Path(row["run_dir"])
        assert run.parent == sweep3 / "trials"
        for name in ("recipe.toml", "metrics.jsonl", "report.md", "log.txt", "models"):
            assert (run / name).exists(), name
        assert marker(run)["state"] == "complete"
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        keys = {k for line in lines for k in line}
        assert not any(k.startswith("test/") for k in keys)  # the test split is never seen
        assert lines[-1]["split"] == "val"
        assert lines[-1]["val/top1"] == pytest.approx(float(row["value"]))
        assert "eval.split" not in row and 'split = "val"' in (run / "recipe.toml").read_text()
    best = max(rows, key=lambda r: float(r["value"]))
    recipe, _ = load_and_validate(sweep3 / "best.toml")  # `zoo run best.toml` works
    assert recipe.train.optimizer.lr == pytest.approx(float(best["train.optimizer.lr"]))
    assert recipe.train.batch_size == int(best["train.batch_size"])
    assert recipe.eval.split is None and recipe.sweep is None  # a plain recipe again
    summary = (sweep3 / "summary.md").read_text()
    assert f"Trial {best['number']}: **val/top1 = {float(best['value']):.4f}**" in summary
    assert "parameter importances need 5 complete trials" in summary
    for png in ("optimization_history.png", "parallel_coordinate.png"):
        assert (sweep3 / png).read_bytes()[:4] == b"\x89PNG"
    # the same command again: the sweep is finished, nothing new runs
    res = cli("sweep", DIGITS, *SHORT, *LR, *TOP1, "--param", "train.batch_size=choice(16,32,64)",
              "--trials", "3", "--seed", "0", "--out", str(sweep3), "--no-progress")
    assert res.exit_code == 0 and len(read_trials(sweep3)) == 3
    # a different search in the same folder is refused
    res = cli("sweep", DIGITS, *SHORT, *LR, "--trials", "3", "--out", str(sweep3))
    assert res.exit_code == 2 and "holds a different sweep" in res.output


@pytest.mark.slow
def test_refine_runs_a_grid_around_the_best(sweep3: Path):
    rows = read_trials(sweep3)
    best = max(rows, key=lambda r: float(r["value"]))
    lr, batch = float(best["train.optimizer.lr"]), int(best["train.batch_size"])
    res = cli("sweep", "--refine", str(sweep3), "--trials", "3", "--no-progress",
              "--heartbeat", "0.5")  # 3 of the grid's points keep the test short
    assert res.exit_code == 0, res.output
    refined = sweep3.parent / "s3-refine"
    grid_lr = sorted({float(f"{v:.3g}") for v in (lr / 2, lr, lr * 2)})
    grid_bs = [b for b in (16, 32, 64) if abs((16, 32, 64).index(b)
                                              - (16, 32, 64).index(batch)) <= 1]
    spec = read_spec(refined)
    assert spec.sampler == "grid" and spec.pruner == "none" and spec.trials == 3
    assert spec.grid() == {"train.optimizer.lr": grid_lr, "train.batch_size": grid_bs}
    new = read_trials(refined)
    assert len(new) == 3 and all(r["state"] == "COMPLETE" for r in new)
    seen = Counter((float(r["train.optimizer.lr"]), int(r["train.batch_size"])) for r in new)
    assert set(seen) <= {(a, b) for a in grid_lr for b in grid_bs}
    assert set(seen.values()) == {1}  # distinct grid points
    assert "a grid refined around the best" in (refined / "summary.md").read_text()


@pytest.mark.slow
def test_final_trains_on_train_val_and_uses_the_test_split_once(sweep3: Path, tmp_path: Path):
    folder = tmp_path / "copy"
    shutil.copytree(sweep3, folder)  # the fixture stays un-finalised for the other tests
    res = cli("sweep", "--out", str(folder), "--final", "--no-progress")
    assert res.exit_code == 0, res.output
    record = json.loads((folder / "final.json").read_text())
    assert record["state"] == "done" and record["trained_on"] == "train+val"
    lines = [json.loads(x) for x in (folder / "final" / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["split"] == "test"
    assert record["test"]["test/top1"] == pytest.approx(lines[-1]["test/top1"])
    assert not any(k.startswith("val/") for line in lines for k in line)  # val is training data
    report = (folder / "final" / "report.md").read_text()
    trial_report = (Path(read_trials(sweep3)[0]["run_dir"]) / "report.md").read_text()
    assert "train 1438" in (folder / "final" / "report.md").read_text() or "1438" in report
    assert "test 359" in report or "359" in report
    assert "359" in trial_report and "179" in trial_report  # same test size, val of 179
    assert "used once, by `--final`" in (folder / "summary.md").read_text()
    again = cli("sweep", "--out", str(folder), "--final")
    assert again.exit_code == 2 and "already used" in again.output
    refine = cli("sweep", "--refine", str(folder))
    assert refine.exit_code == 2 and "already used" in refine.output


@pytest.mark.slow
def test_invalid_draw_fails_that_trial_and_the_sweep_goes_on(tmp_path: Path):
    """Each value is valid alone, so the sweep starts; the combination momentum 0 with
    nesterov is not, and only that trial fails, with the recipe's message."""
    out = tmp_path / "grid"
    res = cli("sweep", DIGITS, *SHORT, "--set", "train.optimizer.name=sgd",
              "--param", "train.optimizer.momentum=choice(0.0,0.9)",
              "--param", "train.optimizer.nesterov=choice(true,false)",
              "--sampler", "grid", "--out", str(out), "--no-progress", "--heartbeat", "0.5")
    assert res.exit_code == 0, res.output
    rows = read_trials(out)
    assert len(rows) == 4
    bad = [r for r in rows if r["state"] == "FAIL"]
    assert len(bad) == 1 and bad[0]["status"] == "invalid"
    assert bad[0]["train.optimizer.momentum"] == "0.0" and bad[0]["train.optimizer.nesterov"] \
        == "True"
    assert "nesterov" in bad[0]["error"]
    assert marker(bad[0]["run_dir"])["state"] == "failed"
    assert sum(r["state"] == "COMPLETE" for r in rows) == 3


@pytest.mark.slow
def test_median_pruner_stops_a_bad_trial_and_keeps_its_folder(tmp_path: Path):
    """Five learning rates that learn, then one that cannot (queued in this order with
    Optuna's enqueue_trial): after its first epoch it is below the median, and pruned."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="digits_lenet5",
                                direction="maximize")
    for lr in (0.004, 0.005, 0.006, 0.007, 0.008, 1e-7):
        study.enqueue_trial({"train.optimizer.lr": lr})
    out = tmp_path / "pruned"
    res = cli("sweep", DIGITS, "--set", "train.epochs=2", "--set", "train.max_steps_per_epoch=6",
              "--param", "train.optimizer.lr=loguniform(1e-8,1e-1)", "--trials", "6",
              "--pruner", "median", "--storage", storage, *TOP1,
              "--out", str(out), "--no-progress", "--heartbeat", "0.5")
    assert res.exit_code == 0, res.output
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 5 + ["PRUNED"]
    pruned = rows[-1]
    assert float(pruned["train.optimizer.lr"]) == 1e-7 and pruned["epochs"] == "1"
    assert marker(pruned["run_dir"])["state"] == "pruned"
    history = (Path(pruned["run_dir"]) / "metrics.jsonl").read_text().splitlines()
    assert len(history) == 1 and not (Path(pruned["run_dir"]) / "report.md").exists()
    assert "pruned at epoch 1" in res.output


def _sweep_cmd(out: Path, trials: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "zoo_core.cli", "sweep", DIGITS, "--set", "train.epochs=3",
            "--set", "train.max_steps_per_epoch=15", *LR, *TOP1, "--trials", str(trials),
            "--out", str(out), "--heartbeat", "0.5", "--no-progress", *extra]


@pytest.mark.slow
def test_resume_after_kill_9_reaches_n_with_no_trial_run_twice(tmp_path: Path):
    out = tmp_path / "killed"
    cmd = _sweep_cmd(out, 4, "--seed", "3")
    env = subprocess_env()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (out / "trials" / "0001" / "sweep_trial.json").exists():  # trial 1 mid-run
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker(out / "trials" / "0001")["state"] == "running"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = read_trials(out)
    assert len(counted(rows)) == 4 and all(r["state"] == "COMPLETE" for r in counted(rows))
    killed = [r for r in rows if r["status"] == "interrupted"]
    assert [r["number"] for r in killed] == ["1"]
    retry = [r for r in rows if r["retry_of"] == "1"]
    assert len(retry) == 1 and retry[0]["train.optimizer.lr"] == killed[0]["train.optimizer.lr"]
    assert marker(out / "trials" / "0001")["state"] == "interrupted"
    runs = [r["run_dir"] for r in counted(rows)]
    assert len(set(runs)) == 4 and "1" not in [r["number"] for r in counted(rows)]
    assert "retried as trial" in done.stderr
    # the resumed worker does not replay the first worker's draws
    lrs = [r["train.optimizer.lr"] for r in counted(rows) if r["retry_of"] == ""]
    assert len(set(lrs)) == len(lrs)


@pytest.mark.slow
def test_two_workers_on_one_storage_share_n_trials(tmp_path: Path):
    out = tmp_path / "shared"
    storage = f"journal://{tmp_path / 'study.log'}"
    # no pruner: with 5 trials finished the median pruner may rightly prune the 6th, and
    # this test is about how the workers share the budget, not about which trials finish
    cmd = _sweep_cmd(out, 6, "--storage", storage, "--pruner", "none")
    env = subprocess_env()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    rows = read_trials(out)
    assert len(rows) == len(counted(rows)) == 6  # no surplus trial was even recorded here...
    assert all(r["state"] == "COMPLETE" for r in rows)
    workers = Counter(r["worker"] for r in rows)
    assert len(workers) == 2, workers  # ...and both workers ran trials
    assert len({r["run_dir"] for r in rows}) == 6
    for r in rows:
        assert marker(r["run_dir"])["trial"] == int(r["number"])


@pytest.mark.slow
def test_jobs_starts_workers_on_the_folder_sqlite_and_draws_the_live_table(tmp_path: Path):
    out = tmp_path / "jobs"
    res = cli("sweep", DIGITS, *SHORT, *LR, "--trials", "4", "--jobs", "2", "--seed", "5",
              "--out", str(out), "--heartbeat", "0.5", "--progress")
    assert res.exit_code == 0, res.output
    rows = read_trials(out)
    assert len(rows) == len(counted(rows)) == 4
    assert len({r["worker"] for r in rows}) == 2  # two processes shared study.db
    assert len({r["train.optimizer.lr"] for r in rows}) == 4  # seeded apart, no replays
    assert "zoo sweep digits_lenet5" in res.output and "4/4 trials finished" in res.output
    assert (out / "workers" / "worker-0.log").is_file()
    assert (out / "optimization_history.png").is_file()


@pytest.mark.slow
def test_ctrl_c_queues_the_running_trial_again_and_exits_130(tmp_path: Path):
    import optuna

    out = tmp_path / "ctrl_c"
    proc = subprocess.Popen(_sweep_cmd(out, 2, "--seed", "4"), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "trials" / "0000" / "sweep_trial.json").exists():
        assert proc.poll() is None and time.time() < deadline, proc.stderr.read()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Resume with the same command" in err and "Traceback" not in err
    study = optuna.load_study(study_name="digits_lenet5", storage=f"sqlite:///{out / 'study.db'}")
    first, retry = study.trials
    assert first.state.name == "FAIL" and first.user_attrs["zoo_status"] == "interrupted"
    assert retry.state.name == "WAITING" and retry.user_attrs["zoo_retry_of"] == 0
    assert retry.params == first.params  # queued with the same draw
    assert marker(out / "trials" / "0000")["state"] == "interrupted"
