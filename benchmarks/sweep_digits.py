"""`zoo sweep` on the digits quickstart: TPE + median pruner against random search,
then the robustness claims (kill -9 resume, two workers) and the one test look.

Everything goes through the real command line, in subprocesses, as a user runs it:

1. ``--sampler tpe --pruner median`` and ``--sampler random --pruner none``, the same
   number of trials, epochs and seed, over learning rate, weight decay, batch size
   and label smoothing. Reported: best validation top-1, wall time, trials pruned,
   epochs trained in all. (With one seed, TPE's first 10 startup trials are the random
   sampler's first 10 draws: the runs differ in how they pick the last 10 and in pruning.)
2. kill -9 in the middle of a sweep, then the same command: the total reaches N, the
   killed trial is failed and retried once, no trial runs twice.
3. two worker processes, the same command, one journal-file storage: they split N
   trials with no duplicate.
4. ``--final`` on the TPE sweep: the best recipe on train+val, the test split once.

    .venv/bin/python benchmarks/sweep_digits.py [--trials 20] [--epochs 6] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIGITS = str(REPO / "recipes" / "digits_lenet5.toml")
PARAMS = ["--param", "train.optimizer.lr=loguniform(1e-4,1e-1)",
          "--param", "train.optimizer.weight_decay=loguniform(1e-6,1e-2)",
          "--param", "train.batch_size=choice(16,32,64,128)",
          "--param", "train.label_smoothing=uniform(0,0.2)"]
COUNTED = ("COMPLETE", "PRUNED")
STARTUP = 10  # TPE's random start-up trials (Optuna's default n_startup_trials)


def zoo(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoo_core.cli", "sweep", *args]


def rows_of(folder: Path) -> list[dict[str, str]]:
    with open(folder / "trials.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def counted(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["state"] in COUNTED
            or (r["state"] == "FAIL" and r["status"] in ("invalid", "error"))]


def run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def search(name: str, out: Path, args: argparse.Namespace, env: dict[str, str],
           extra: list[str]) -> dict:
    folder = out / name
    cmd = zoo(DIGITS, "--set", f"train.epochs={args.epochs}", *PARAMS, "--trials",
              str(args.trials), "--seed", str(args.seed), "--out", str(folder),
              "--no-progress", *extra)
    seconds = run(cmd, env)
    rows = rows_of(folder)
    done = [r for r in rows if r["state"] == "COMPLETE"]
    best = max(done, key=lambda r: float(r["value"]))
    # after the start-up trials both samplers share: where did each put its last trials?
    late = [float(r["value"]) for r in done if int(r["number"]) >= STARTUP]
    result = {
        "name": name, "wall_s": round(seconds, 1), "trials": len(counted(rows)),
        "complete": len(done), "pruned": sum(r["state"] == "PRUNED" for r in rows),
        "failed": sum(r["state"] == "FAIL" for r in counted(rows)),
        "epochs_trained": sum(int(r["epochs"] or 0) for r in counted(rows)),
        "best_val_top1": float(best["value"]), "best_trial": int(best["number"]),
        "tied_at_best": sum(float(r["value"]) == float(best["value"]) for r in done),
        "late_complete": len(late),
        "late_median_val_top1": statistics.median(late) if late else None,
        "best_params": {k: best[k] for k in rows[0] if k.startswith("train.")},
        "folder": str(folder)}
    print(json.dumps(result), flush=True)
    return result


def kill_and_resume(out: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    folder = out / "killed"
    n = args.small_trials
    cmd = zoo(DIGITS, "--set", "train.epochs=3", *PARAMS[:2], "--trials", str(n), "--seed",
              str(args.seed), "--out", str(folder), "--heartbeat", "1", "--no-progress")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim = n // 2
    while not (folder / "trials" / f"{victim:04d}" / "sweep_trial.json").exists():
        if proc.poll() is not None:
            raise SystemExit("the sweep ended before it could be killed")
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    seconds = run(cmd, env)
    rows = rows_of(folder)
    good = counted(rows)
    interrupted = [r for r in rows if r["status"] == "interrupted"]
    retried = [r for r in rows if r["retry_of"]]
    result = {"name": "kill -9 + same command", "target": n, "counted": len(good),
              "killed_trial": [int(r["number"]) for r in interrupted],
              "retries": {r["retry_of"]: int(r["number"]) for r in retried},
              "retry_same_params": all(
                  r["train.optimizer.lr"] == next(i["train.optimizer.lr"] for i in interrupted
                                                  if i["number"] == r["retry_of"])
                  for r in retried),
              "distinct_run_folders": len({r["run_dir"] for r in good}),
              "resume_wall_s": round(seconds, 1)}
    print(json.dumps(result), flush=True)
    return result


def two_workers(out: Path, args: argparse.Namespace, env: dict[str, str]) -> dict:
    folder = out / "workers"
    n = args.small_trials
    cmd = zoo(DIGITS, "--set", "train.epochs=3", *PARAMS[:2], "--trials", str(n),
              "--storage", f"journal://{out / 'workers-study.log'}", "--out", str(folder),
              "--heartbeat", "1", "--no-progress")
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(err[-3000:])
    rows = rows_of(folder)
    good = counted(rows)
    result = {"name": "two workers, one journal storage", "target": n, "counted": len(good),
              "recorded": len(rows), "per_worker": sorted(Counter(r["worker"] for r in good)
                                                          .values()),
              "distinct_run_folders": len({r["run_dir"] for r in good}),
              "wall_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result), flush=True)
    return result


def final(folder: Path, env: dict[str, str]) -> dict:
    seconds = run(zoo("--out", str(folder), "--final", "--no-progress"), env)
    record = json.loads((folder / "final.json").read_text())
    result = {"name": "--final", "trained_on": record["trained_on"],
              "test_top1": record["test"]["test/top1"], "val_top1_of_best": record["val_value"],
              "wall_s": round(seconds, 1)}
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--small-trials", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/zoo-sweep-bench"))
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    results = {
        "tpe": search("tpe-median", args.out, args, env, ["--sampler", "tpe", "--pruner",
                                                          "median"]),
        "random": search("random-none", args.out, args, env, ["--sampler", "random",
                                                              "--pruner", "none"]),
        "kill": kill_and_resume(args.out, args, env),
        "workers": two_workers(args.out, args, env),
    }
    results["final"] = final(Path(results["tpe"]["folder"]), env)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    t, r = results["tpe"], results["random"]
    print("\n| search | trials | pruned | epochs trained | best val top-1 (trials tied) | "
          "median val top-1 of complete trials 10-19 | wall |\n| --- | --- | --- | --- | --- | "
          "--- | --- |")
    for label, x in (("TPE + median pruner", t), ("random, no pruner", r)):
        print(f"| {label} | {x['trials']} | {x['pruned']} | {x['epochs_trained']} | "
              f"{x['best_val_top1']:.4f} ({x['tied_at_best']}) | "
              f"{x['late_median_val_top1']:.4f} ({x['late_complete']} trials) | "
              f"{x['wall_s']:.0f} s |")


if __name__ == "__main__":
    main()
