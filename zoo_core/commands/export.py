"""``zoo export`` and ``zoo quantize``: thin commands over :mod:`zoo_core.export`."""

from __future__ import annotations

from typing import Any

import click

from zoo_core.commands._output import emit_json, emit_table

_MODEL_HELP = ("Which model of a run folder (its role: a folder name under models/); "
               "default: the only one, or the task's main one.")


def _mb(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


@click.command("export")
@click.argument("run_or_model", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["onnx", "pt2"]), default="onnx",
              show_default=True, help="ONNX (torch.onnx dynamo exporter) or a torch.export "
                                      "PT2 archive.")
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="Output file [default: model.<format> in the model folder].")
@click.option("--opset", type=int, help="ONNX opset [default: torch's exporter default].")
@click.option("--dynamic-batch/--static", "dynamic_batch", default=True, show_default=True,
              help="Dynamic batch (and, for fully convolutional nets, height and width), or "
                   "every axis fixed to the example's shape.")
@click.option("--model", "role", help=_MODEL_HELP)
@click.option("--check/--no-check", default=True, show_default=True,
              help="Compare the export with the torch model on real (or random) inputs.")
@click.option("--tol", type=float, default=1e-4, show_default=True,
              help="Largest absolute output difference the check accepts.")
@click.option("--check-batches", type=click.IntRange(min=1), default=8, show_default=True,
              help="Batches of 16 inputs the check runs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def export(run_or_model: str, fmt: str, out: str | None, opset: int | None,
           dynamic_batch: bool, role: str | None, check: bool, tol: float, check_batches: int,
           as_json: bool) -> None:
    """Export a run's model (or a saved-model folder) to ONNX or PT2.

    \b
    zoo export runs/flowers/20250101-120000                 -> .../model/model.onnx
    zoo export runs/gan/... --model generator --format pt2
    zoo export my_model/ --out model.onnx --opset 18 --static

    The data config (mean, std, size, interpolation) goes into the file's metadata
    and a JSON file beside it. The check runs onnxruntime (or the loaded PT2
    program) against torch on the run's validation images (random inputs for a
    bare model folder) and exits with code 2 above --tol.
    """
    from zoo_core.export.parity import raise_if_failed
    from zoo_core.export.source import open_source
    from zoo_core.export.workflow import export_source

    src = open_source(run_or_model, role)
    outcome = export_source(src, out, fmt=fmt, opset=opset, dynamic_batch=dynamic_batch,
                            dynamic_spatial=None if dynamic_batch else False, check=check,
                            tol=tol, check_batches=check_batches)
    res, parity = outcome.export, outcome.parity
    if as_json:
        emit_json({"path": str(res.path), "format": res.format, "size_bytes": res.size_bytes,
                   "opset": res.opset, "inputs": res.input_shapes,
                   "dynamic_axes": res.dynamic_axes, "metadata_file": str(res.sidecar),
                   "parity": parity.to_dict() if parity else None})
    else:
        rows: list[list[Any]] = [
            ["file", str(res.path)], ["size", _mb(res.size_bytes)],
            ["format", res.format + (f" (opset {res.opset})" if res.opset else "")],
            ["inputs", "; ".join(f"{k} {v}" for k, v in res.input_shapes.items())],
            ["metadata", str(res.sidecar)], ["seconds", f"{res.seconds:.1f}"],
        ]
        if parity is not None:
            rows += [["max abs diff", f"{parity.max_abs_diff:.3g} (tolerance {parity.tol:g})"],
                     ["top-1 agreement", "-" if parity.top1_agreement is None
                      else f"{100 * parity.top1_agreement:.2f}%"],
                     ["checked on", parity.inputs], ["parity", "ok" if parity.passed
                                                     else "FAILED"]]
        else:
            rows.append(["parity", "not checked (--no-check)"])
        emit_table(f"zoo export {src.name}", ["", ""], rows)
    if parity is not None:
        raise_if_failed(parity, res.path)


@click.command("quantize")
@click.argument("run_or_model", type=click.Path())
@click.option("--method", type=click.Choice(["static", "dynamic"]), default="static",
              show_default=True, help="static: weights and activations int8, calibrated; "
                                      "dynamic: int8 weights of Linear/MatMul layers.")
@click.option("--calib", type=click.IntRange(min=1), default=10, show_default=True,
              help="Calibration batches of the recipe's training data (static).")
@click.option("--calib-batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--calibration", type=click.Choice(["minmax", "entropy", "percentile"]),
              default="minmax", show_default=True, help="How activation ranges are chosen.")
@click.option("--format", "fmt", type=click.Choice(["onnx", "pt2"]), default="onnx",
              show_default=True, help="Only onnx writes an int8 file (see docs/deploy.md).")
@click.option("--out", "-o", type=click.Path(dir_okay=False),
              help="int8 file [default: model.int8.onnx in the model folder].")
@click.option("--model", "role", help=_MODEL_HELP)
@click.option("--bench/--no-bench", default=True, show_default=True,
              help="Time torch fp32, ORT fp32 and ORT int8 at batch 1 and 32.")
@click.option("--iters", type=click.IntRange(min=1), default=40, show_default=True,
              help="Timed steps per latency figure.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def quantize(run_or_model: str, method: str, calib: int, calib_batch_size: int,
             calibration: str, fmt: str, out: str | None, role: str | None, bench: bool,
             iters: int, as_json: bool) -> None:
    """int8-quantize a run's model with ONNX Runtime and report what it costs.

    \b
    zoo quantize runs/flowers/20250101-120000 --calib 16
    zoo quantize my_mlp/ --method dynamic

    Reports the task's metrics before (torch fp32) and after (ORT int8) on the
    run's evaluation split, file sizes, and batch-1/32 latency with zoo bench's
    protocol.
    """
    from zoo_core.export.source import open_source
    from zoo_core.export.workflow import quantize_source

    src = open_source(run_or_model, role)
    rep = quantize_source(src, method=method, fmt=fmt, out=out, calib=calib,
                          calib_batch_size=calib_batch_size, calibration=calibration,
                          bench=bench, bench_iters=iters)
    if as_json:
        emit_json(rep.to_dict())
        return
    q = rep.result
    rows: list[list[Any]] = [
        ["int8 file", str(q.path)],
        ["size fp32 -> int8", f"{_mb(q.size_before)} -> {_mb(q.size_after)} "
                              f"({q.compression:.2f}x smaller)"],
        ["method", f"{q.method}" + (f", {q.calibration} calibration on {q.calib_inputs}"
                                    if q.method == "static" else "")],
    ]
    if rep.agreement is not None and rep.agreement.top1_agreement is not None:
        rows.append(["top-1 agreement int8 vs fp32",
                     f"{100 * rep.agreement.top1_agreement:.2f}% ({rep.agreement.samples} "
                     "samples)"])
    for key, before in rep.metrics_before.items():
        after = rep.metrics_after.get(key)
        rows.append([key, f"{before:.4f} -> {after:.4f}" if after is not None else
                     f"{before:.4f}"])
    emit_table(f"zoo quantize {src.name}", ["", ""], rows)
    if rep.latency_rows:
        emit_table("latency (p50 ms per batch; zoo bench protocol)",
                   ["model", "runtime", "precision", "batch", "p50 ms", "samples/s"],
                   [[r["model"], "onnxruntime" if r.get("kind") == "onnx" else "torch",
                     r.get("precision"), r.get("infer_batch_size") or r.get(
                         "requested_batch_size"), r.get("infer_step_time_p50"),
                     r.get("infer_samples_per_sec")] for r in rep.latency_rows])
    for note in rep.notes:
        click.echo(f"note: {note}", err=True)
