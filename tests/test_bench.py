"""zoo bench on tiny models: schema, sweeps, protocol, OOM, errors."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._bench_helpers import BenchTestModels
from zoo_core.cli import cli

FAST = ("--iters", "2", "--warmup", "1", "--device", "cpu")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def models(fresh_plugins):
    """The test models, registered in-process the way a plugin object is."""
    plugin = BenchTestModels()
    fresh_plugins.plugin_set().add("bench_test_models", plugin)
    return plugin


def bench_json(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "report.json"
    res = run("bench", *args, *FAST, "--out", str(out))
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text())


# -- sweeps --------------------------------------------------------------------


def test_expand_sweep_is_the_product_in_the_order_written():
    from zoo_core.bench.models import BenchSpec, expand_sweep

    specs = expand_sweep(["a", "b"], [8, 32], ["fp32", "bfloat16"], [False, True], [False])
    assert len(specs) == 2 * 2 * 2 * 2
    assert specs[0] == BenchSpec("a", 8, "fp32", False, False)
    assert specs[1] == BenchSpec("a", 8, "fp32", True, False)
    assert specs[-1] == BenchSpec("b", 32, "bf16", True, False)  # alias normalised
    assert [s.model for s in specs[:8]] == ["a"] * 8  # one model's runs stay together
    assert len(expand_sweep(["a", "a"], [8, 8], ["fp32", "float32"])) == 1


def test_expand_sweep_rejects_bad_values():
    from zoo_core.bench.models import expand_sweep
    from zoo_core.errors import ZooError

    with pytest.raises(ZooError, match="Did you mean 'bf16'"):
        expand_sweep(["a"], [8], ["bf61"])
    with pytest.raises(ZooError, match="positive"):
        expand_sweep(["a"], [0])


def test_cli_sweep_expands_every_option(tmp_path, models):
    doc = bench_json(tmp_path, "bench_tiny_mlp", "-b", "2,4", "--precision", "fp32",
                     "--precision", "bf16", "--channels-last", "--no-channels-last",
                     "--mode", "infer")
    combos = [(r["requested_batch_size"], r["precision"], r["channels_last"])
              for r in doc["rows"]]
    assert combos == [(b, p, c) for b in (2, 4) for p in ("fp32", "bf16") for c in (True, False)]
    assert all(r["error"] is None and r["infer_samples_per_sec"] > 0 for r in doc["rows"])
    assert all(r["train_samples_per_sec"] is None for r in doc["rows"])  # infer only
    assert doc["settings"]["precisions"] == ["fp32", "bf16"]


# -- the report schema ----------------------------------------------------------


def test_reports_schema_and_figures(tmp_path, models):
    from zoo_core.bench.report import COLUMNS

    outs = {ext: tmp_path / f"r.{ext}" for ext in ("csv", "json", "md", "png")}
    res = run("bench", "bench_tiny_mlp", "-b", "4", *FAST,
              *[a for p in outs.values() for a in ("--out", str(p))])
    assert res.exit_code == 0, res.output
    assert "bench_tiny_mlp" in res.output  # the live table

    with outs["csv"].open() as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        (row,) = list(reader)
    # timm's column names, so the CSV joins with timm's results/benchmark-*.csv
    for col in ("infer_samples_per_sec", "infer_step_time", "infer_batch_size", "infer_img_size",
                "infer_gmacs", "train_samples_per_sec", "train_step_time", "param_count"):
        assert row[col] != "", col
    assert float(row["infer_gmacs"]) == pytest.approx(1920 / 1e9)  # counted, not guessed
    assert row["infer_img_size"] == "8" and row["infer_batch_size"] == "4"

    doc = json.loads(outs["json"].read_text())
    (r,) = doc["rows"]
    assert set(r) == set(COLUMNS)
    assert r["params"] == 1930 and r["param_count"] == 0.0  # timm's unit is millions
    # forward 2*1920 FLOPs; backward only the weight gradient (the input needs none)
    assert r["train_gflops"] == pytest.approx(2 * 2 * 1920 / 1e9)
    for p in ("infer", "train"):
        assert r[f"{p}_samples_per_sec"] > 0
        assert 0 < r[f"{p}_step_time_p50"] <= r[f"{p}_step_time_p95"]
        assert r[f"{p}_peak_mem_mb"] > 0
        assert r[f"{p}_mfu"] == pytest.approx(r[f"{p}_tflops"] / r["peak_tflops"], rel=0.01)
    assert r["infer_latency_ms"] > 0
    assert r["peak_tflops"] > 0
    env = doc["environment"]
    for key in ("torch_version", "device_name", "cpu_model", "num_threads", "memory_basis"):
        assert env[key] not in (None, ""), key
    assert env["peak_tflops"]["fp32"] == r["peak_tflops"]
    assert doc["settings"]["compile"] == [False] and doc["settings"]["precisions"] == ["fp32"]

    md = outs["md"].read_text()
    assert "torch_version:" in md and "| model | batch | precision |" in md
    assert "bench_tiny_mlp" in md
    assert outs["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_follows_timms_protocol(tmp_path, models):
    doc = bench_json(tmp_path, "bench_probe", "-b", "4", "--channels-last", "--precision", "bf16",
                     "--no-latency")
    assert doc["rows"][0]["error"] is None
    calls = [c for c in models.seen if c["batch"] == 4]
    infer = [c for c in calls if not c["training"]]
    train = [c for c in calls if c["training"]]
    assert len(infer) == len(train) == 1 + 2  # warm-up + timed
    assert all(c["inference_mode"] and not c["grad"] for c in infer)
    assert all(c["grad"] and not c["inference_mode"] for c in train)
    assert all(c["channels_last"] and c["autocast"] for c in calls)


# -- failures ------------------------------------------------------------------


def test_oom_retries_with_a_smaller_batch_and_says_so(tmp_path, models):
    doc = bench_json(tmp_path, "bench_oom_net", "-b", "8")
    (r,) = doc["rows"]
    assert r["error"] is None
    assert r["requested_batch_size"] == 8
    assert r["infer_batch_size"] == 2 and r["train_batch_size"] == 2
    assert "infer: out of memory at batch 8, 4; ran at 2" in r["notes"]
    assert "train: out of memory at batch 8, 4; ran at 2" in r["notes"]


def test_a_failing_model_records_its_error_and_the_sweep_continues(tmp_path, models):
    doc = bench_json(tmp_path, "bench_always_oom", "bench_broken_net", "bench_not_a_module",
                     "bench_tiny_mlp", "-b", "2")
    rows = {r["model"]: r for r in doc["rows"]}
    assert "out of memory even at batch 1" in rows["bench_always_oom"]["error"]
    assert rows["bench_broken_net"]["error"] == "ValueError: broken on purpose"
    assert "not one nn.Module" in rows["bench_not_a_module"]["error"]
    assert rows["bench_tiny_mlp"]["error"] is None
    assert rows["bench_tiny_mlp"]["train_samples_per_sec"] > 0


def test_other_kinds_and_non_logit_outputs(tmp_path, models):
    doc = bench_json(tmp_path, "bench_tiny_seg", "-b", "2", "--mode", "train")
    (r,) = doc["rows"]
    assert r["error"] is None and r["kind"] == "segmentation"
    assert r["train_samples_per_sec"] > 0 and r["train_img_size"] == 16


def test_unknown_model_is_a_clear_error_with_did_you_mean(models):
    res = run("bench", "bench_tiny_mlpp", *FAST)
    assert res.exit_code == 2
    assert "Unknown model 'bench_tiny_mlpp'" in res.output
    assert "Did you mean 'bench_tiny_mlp'" in res.output
    assert "Traceback" not in res.output


def test_unknown_builtin_model_and_bad_out_file(tmp_path):
    res = run("bench", "lenet", *FAST)
    assert res.exit_code == 2 and "'lenet5'" in res.output
    res = run("bench", "lenet5", *FAST, "--out", str(tmp_path / "r.xlsx"))
    assert res.exit_code == 2 and ".csv" in res.output


# -- --best --------------------------------------------------------------------


def test_best_reports_the_fastest_configuration_per_model(tmp_path, models):
    doc = bench_json(tmp_path, "bench_tiny_mlp", "lenet5", "-b", "1,16", "--mode", "infer",
                     "--precision", "fp32", "--no-channels-last", "--best")
    assert [r["model"] for r in doc["rows"]] == ["bench_tiny_mlp", "lenet5"]
    assert len(doc["sweep"]) == 4
    for best in doc["rows"]:
        mine = [r["infer_samples_per_sec"] for r in doc["sweep"] if r["model"] == best["model"]]
        assert best["infer_samples_per_sec"] == max(mine)


def test_best_without_options_sweeps_layouts_and_fast_precisions(tmp_path, models):
    from zoo_core.bench.models import default_precisions, resolve_device

    doc = bench_json(tmp_path, "bench_tiny_mlp", "-b", "2", "--mode", "infer", "--best",
                     "--no-latency")
    precs = default_precisions(resolve_device("cpu"))
    assert {(r["precision"], r["channels_last"]) for r in doc["sweep"]} == {
        (p, c) for p in precs for c in (False, True)}
    assert len(doc["rows"]) == 1


# -- the measuring parts -----------------------------------------------------


def test_timed_loop_keeps_before_outside_the_clock():
    from zoo_core.bench.measure import timed_loop

    calls = {"step": 0, "before": 0}

    def step():
        calls["step"] += 1
        time.sleep(0.002)

    def before():
        calls["before"] += 1
        time.sleep(0.02)

    t = timed_loop(step, batch_size=4, warmup=2, iters=5, clock=time.perf_counter,
                   before=before)
    assert calls == {"step": 7, "before": 7}
    assert len(t.step_times) == 5 and min(t.step_times) >= 0.002
    per_step_wall = 4 / t.samples_per_sec  # whole run / steps, befores included
    assert per_step_wall >= t.mean_ms / 1000 + 0.02


def test_memory_meter_sees_a_large_allocation():
    import torch

    from zoo_core.bench.measure import MemoryMeter

    meter = MemoryMeter(torch.device("cpu"))
    meter.reset()
    base = meter.peak_mb()
    big = torch.ones(64 * 2**20)  # 256 MiB, touched
    grown = meter.peak_mb()
    del big
    assert grown - base > 200
    if meter.basis == "process_rss_peak":  # resettable: the next phase starts afresh
        meter.reset()
        assert meter.peak_mb() < grown - 200


def test_matmul_peak_is_measured_and_cached():
    import torch

    from zoo_core.bench.measure import matmul_peak

    cpu = torch.device("cpu")
    first = matmul_peak(cpu, "fp32", sizes=(128,), min_time=0.01)
    assert first > 1e8  # any CPU manages 0.1 GFLOP/s on a 128x128 matmul
    cached = matmul_peak(cpu, "fp32")
    assert cached == matmul_peak(cpu, "fp32")


def test_a_model_without_parameters_is_timed_in_inference_only():
    """`bicubic` (an SR baseline) has nothing to train: its row says so instead of failing."""
    from zoo_core.bench.models import BenchSettings, BenchSpec, Runner

    runner = Runner(BenchSettings(device="cpu", mode="both", warmup=1, iters=2))
    row = runner.run(BenchSpec("bicubic", batch_size=1, precision="fp32"))
    assert row.get("error") in (None, "") and row["infer_samples_per_sec"] > 0
    assert row.get("train_samples_per_sec") in (None, "")
    assert "no trainable parameters" in row["notes"]


def test_default_image_size_is_timms_the_weights_test_size():
    """timm's benchmark.py times at the weights' test size (resnet50.a1_in1k: 288 px);
    weights without one give their input size; --img-size overrides both."""
    import torch

    from zoo_core.bench.models import example_input, resolve_model

    for name, size in (("resnet50", 288), ("resnet50.tv_in1k", 224)):
        target = resolve_model(name)
        model = target.build()
        x = example_input(model, target, 1, None, torch.device("cpu"))
        assert tuple(x.shape) == (1, 3, size, size), name
    target = resolve_model("resnet50")
    x = example_input(target.build(), target, 1, 160, torch.device("cpu"))
    assert tuple(x.shape) == (1, 3, 160, 160)


def test_every_model_kind_benches_with_its_example_input():
    """A GAN's generator (noise in) and discriminator (images in) time like a backbone."""
    from zoo_core.bench.models import BenchSettings, BenchSpec, Runner

    runner = Runner(BenchSettings(device="cpu", mode="both", warmup=1, iters=2))
    for name in ("dcgan_generator", "dcgan_discriminator"):
        row = runner.run(BenchSpec(name, batch_size=2, precision="fp32"))
        assert row["kind"] == "gan" and not row.get("error"), row.get("error")
        assert row["infer_samples_per_sec"] > 0 and row["train_samples_per_sec"] > 0
