"""zoo bench reports: the column schema, CSV/JSON/Markdown files, the PNG chart
and the rich table. No torch import here.

Column names follow timm's ``benchmark.py`` where the figure is the same
(``infer_samples_per_sec``, ``infer_step_time``, ``infer_batch_size``,
``infer_img_size``, ``infer_gmacs``, ``train_samples_per_sec``,
``train_step_time``, ``param_count`` in millions), so a zoo CSV joins with
timm's ``results/benchmark-*.csv`` on ``model`` (and ``infer_img_size``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo_core.atomic import atomic_open, atomic_path
from zoo_core.errors import ZooError

SCHEMA_VERSION = 1

#: every row has every column, in this order; a figure not measured is empty
COLUMNS: tuple[str, ...] = (
    "model", "kind",
    # timm's inference columns, in timm's order
    "infer_img_size", "infer_samples_per_sec", "infer_step_time", "infer_batch_size",
    "param_count", "infer_gmacs",
    # zoo's additions for inference
    "infer_step_time_p50", "infer_step_time_p95", "infer_latency_ms",
    "infer_tflops", "infer_mfu", "infer_peak_mem_mb",
    # timm's training columns, then zoo's
    "train_img_size", "train_samples_per_sec", "train_step_time", "train_batch_size",
    "train_step_time_p50", "train_step_time_p95", "train_gflops",
    "train_tflops", "train_mfu", "train_peak_mem_mb",
    # the MFU basis and the configuration
    "peak_tflops", "params", "requested_batch_size", "precision", "channels_last", "compile",
    # environment, on every row so a CSV never travels without it
    "device", "device_name", "cpu_model", "num_threads", "torch_version", "warmup", "iters",
    "notes", "error",
)

#: what each column means, with its unit (docs and the JSON report use this)
UNITS: dict[str, str] = {
    "infer_samples_per_sec": "samples/s over the whole timed run",
    "infer_step_time": "ms, mean per step",
    "infer_step_time_p50": "ms", "infer_step_time_p95": "ms",
    "infer_latency_ms": "ms, median of batch-1 forward passes",
    "infer_gmacs": "GMACs per sample (FlopCounterMode FLOPs / 2)",
    "infer_tflops": "achieved TFLOP/s", "infer_mfu": "fraction of peak_tflops",
    "infer_peak_mem_mb": "MiB (CUDA max allocated, or process peak RSS on CPU)",
    "train_samples_per_sec": "samples/s", "train_step_time": "ms, mean per step",
    "train_step_time_p50": "ms", "train_step_time_p95": "ms",
    "train_gflops": "GFLOPs per sample, forward + backward",
    "train_tflops": "achieved TFLOP/s", "train_mfu": "fraction of peak_tflops",
    "train_peak_mem_mb": "MiB",
    "peak_tflops": "matmul probe in the row's precision, same process",
    "param_count": "millions (timm's unit)", "params": "exact count",
}


def empty_row() -> dict[str, Any]:
    return dict.fromkeys(COLUMNS)


# -- files -------------------------------------------------------------------

FORMATS = (".csv", ".json", ".md", ".png")


def check_out_path(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise ZooError(f"--out {str(path)!r}: zoo bench writes {', '.join(FORMATS)} files; "
                       f"name the file with one of those extensions.")
    return p


def write_report(path: str | Path, rows: Sequence[Mapping[str, Any]], *,
                 environment: Mapping[str, Any], settings: Mapping[str, Any],
                 all_rows: Sequence[Mapping[str, Any]] | None = None,
                 kind: str = "model") -> Path:
    """Write ``rows`` to ``path`` in the format its extension names."""
    p = check_out_path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        write_csv(p, rows, kind=kind)
    elif suffix == ".json":
        write_json(p, rows, environment=environment, settings=settings, all_rows=all_rows,
                   kind=kind)
    elif suffix == ".md":
        write_markdown(p, rows, environment=environment, settings=settings, kind=kind)
    else:
        write_chart(p, rows, environment=environment, settings=settings, kind=kind)
    return p


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], kind: str = "model") -> None:
    """Model reports always have :data:`COLUMNS`; a recipe report has its row's keys."""
    cols = list(COLUMNS) if kind == "model" else list(dict.fromkeys(k for r in rows for k in r))
    with atomic_open(path, "w", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in cols})


def _csv_value(v: Any) -> Any:
    return "" if v is None else v


def write_json(path: Path, rows: Sequence[Mapping[str, Any]], *,
               environment: Mapping[str, Any], settings: Mapping[str, Any],
               all_rows: Sequence[Mapping[str, Any]] | None = None, kind: str = "model") -> None:
    doc: dict[str, Any] = {
        "zoo_bench": SCHEMA_VERSION,
        "kind": kind,
        "environment": dict(environment),
        "settings": dict(settings),
        "units": UNITS if kind == "model" else {},
        "rows": [dict(r) for r in rows],
    }
    if all_rows is not None:
        doc["sweep"] = [dict(r) for r in all_rows]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, default=str)
        fh.write("\n")


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _g(v: Any) -> str:
    """4 significant digits: LeNet's 0.0004166 GMACs must not print as 0.000."""
    return "-" if v is None else f"{float(v):.4g}"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.1f}%"


#: (header, function of a row) for the human-facing tables
def _model_table_spec(mode: str, compact: bool = False) -> list[tuple[str, Any]]:
    """Columns of the Markdown report; ``compact`` keeps what fits a terminal."""
    cols: list[tuple[str, Any]] = [
        ("model", lambda r: r["model"]),
        ("batch", lambda r: _batch(r)),
        ("precision", lambda r: r["precision"]),
        ("layout", lambda r: ("nhwc" if r["channels_last"] else "nchw")
         + ("+compile" if compact and r["compile"] else "")),
    ]
    if not compact:
        cols.append(("compile", lambda r: _fmt(r["compile"])))
    if mode in ("infer", "both"):
        cols.append(("infer samples/s", lambda r: _fmt(r.get("infer_samples_per_sec"), 1)))
        if compact:
            cols.append(("p50 ms", lambda r: _fmt(r.get("infer_step_time_p50"))))
        else:
            cols.append(("step ms mean/p50/p95", lambda r: _steps(r, "infer")))
        cols += [
            ("bs1 ms", lambda r: _fmt(r.get("infer_latency_ms"))),
            ("GMACs", lambda r: _g(r.get("infer_gmacs"))),
        ]
        if not compact:
            cols.append(("TFLOP/s", lambda r: _g(r.get("infer_tflops"))))
        cols += [
            ("MFU", lambda r: _pct(r.get("infer_mfu"))),
            ("mem MiB", lambda r: _fmt(r.get("infer_peak_mem_mb"), 0)),
        ]
    if mode in ("train", "both"):
        cols.append(("train samples/s", lambda r: _fmt(r.get("train_samples_per_sec"), 1)))
        if not compact:
            cols += [
                ("train step ms mean/p50/p95", lambda r: _steps(r, "train")),
                ("train TFLOP/s", lambda r: _g(r.get("train_tflops"))),
            ]
        cols.append(("train MFU", lambda r: _pct(r.get("train_mfu"))))
        if not compact:
            cols.append(("train mem MiB", lambda r: _fmt(r.get("train_peak_mem_mb"), 0)))
    cols.append(("peak TFLOP/s", lambda r: _g(r.get("peak_tflops"))))
    if not compact:
        cols.append(("params M", lambda r: _fmt(r.get("param_count"))))
    cols.append(("notes", lambda r: "; ".join(filter(None, [r.get("notes"), r.get("error")]))))
    return cols


def _batch(r: Mapping[str, Any]) -> str:
    ran = {int(b) for b in (r.get("infer_batch_size"), r.get("train_batch_size")) if b}
    req = r["requested_batch_size"]
    if ran and ran != {req}:
        return f"{req}->{'/'.join(str(b) for b in sorted(ran))}"
    return str(req)


def _steps(r: Mapping[str, Any], p: str) -> str:
    if r.get(f"{p}_step_time") is None:
        return "-"
    return "/".join(_fmt(r.get(f"{p}_step_time{s}")) for s in ("", "_p50", "_p95"))


def table_rows(rows: Sequence[Mapping[str, Any]], mode: str, compact: bool = False
               ) -> tuple[list[str], list[list[str]]]:
    spec = _model_table_spec(mode, compact)
    return [h for h, _ in spec], [[str(f(r)) for _, f in spec] for r in rows]


def environment_lines(env: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    keys = ("torch_version", "timm_version", "device", "device_name", "cpu_model", "num_threads",
            "cuda_version", "memory_basis", "peak_tflops", "onnxruntime_version",
            "ort_execution_provider", "ort_intra_op_threads", "zoo_version", "time")
    lines = [f"{k}: {env[k]}" for k in keys if env.get(k) is not None]
    lines += [f"{k}: {v}" for k, v in settings.items() if v is not None]
    return lines


def write_markdown(path: Path, rows: Sequence[Mapping[str, Any]], *,
                   environment: Mapping[str, Any], settings: Mapping[str, Any],
                   kind: str = "model") -> None:
    out = ["# zoo bench", ""]
    out += [f"- {line}" for line in environment_lines(environment, settings)]
    out.append("")
    if kind == "model":
        headers, body = table_rows(rows, str(settings.get("mode", "both")))
    else:
        headers = list(rows[0]) if rows else []
        body = [[_fmt(r.get(h), 3) for h in headers] for r in rows]
    out.append("| " + " | ".join(headers) + " |")
    out.append("|" + "|".join("---" for _ in headers) + "|")
    for cells in body:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if kind == "model":
        out += ["", "MFU = achieved FLOP/s / peak_tflops, where peak_tflops is a matrix-multiply "
                    "probe run in the same process and precision (see docs/benchmarks.md)."]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")


def write_chart(path: Path, rows: Sequence[Mapping[str, Any]], *,
                environment: Mapping[str, Any], settings: Mapping[str, Any],
                kind: str = "model") -> None:
    """Grouped bars: samples/s per model, one bar per configuration (batch size,
    precision, layout), MFU printed on each bar; one panel per phase."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if kind != "model":
        raise ZooError("A PNG chart is drawn for model benchmarks; for a recipe use "
                       ".csv, .json or .md.")
    mode = str(settings.get("mode", "both"))
    phases = [p for p in ("infer", "train") if mode in (p, "both")]
    ok = [r for r in rows if not r.get("error")]
    models = list(dict.fromkeys(r["model"] for r in rows))
    configs = list(dict.fromkeys(_config_label(r) for r in ok)) or ["-"]
    fig, axes = plt.subplots(len(phases), 1, figsize=(max(6, 1.6 * len(models) * max(
        1, len(configs)) ** 0.5 + 3), 3.6 * len(phases)), squeeze=False)
    width = min(0.8 / len(configs), 0.35)
    for ax, phase in zip(axes[:, 0], phases, strict=True):
        for ci, cfg in enumerate(configs):
            xs, ys, mfus = [], [], []
            for mi, m in enumerate(models):
                hit = [r for r in ok if r["model"] == m and _config_label(r) == cfg]
                v = hit[0].get(f"{phase}_samples_per_sec") if hit else None
                if v is None:
                    continue
                xs.append(mi + width * (ci + 0.5 - len(configs) / 2))
                ys.append(v)
                mfus.append(hit[0].get(f"{phase}_mfu"))
            bars = ax.bar(xs, ys, width=width * 0.95, label=cfg)
            for bar, mfu in zip(bars, mfus, strict=True):
                if mfu is not None:
                    ax.annotate(f"MFU {100 * mfu:.0f}%", (bar.get_x() + bar.get_width() / 2,
                                                           bar.get_height()),
                                ha="center", va="bottom", fontsize=7, rotation=90 if len(
                                    configs) > 3 else 0)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=20 if len(models) > 4 else 0, ha="right" if len(
            models) > 4 else "center")
        ax.set_ylabel(f"{phase} samples/s")
        values = [float(v) for r in ok if (v := r.get(f"{phase}_samples_per_sec"))]
        if values and max(values) / min(values) > 20:  # lenet next to resnet50
            ax.set_yscale("log")
        ax.margins(y=0.15)
        ax.legend(fontsize=7, title="batch precision layout", title_fontsize=7)
    peak = ", ".join(sorted({f"{r['precision']} {r['peak_tflops']:.3g}" for r in ok
                             if r.get("peak_tflops")}))
    fig.suptitle(f"zoo bench on {environment.get('device_name', '?')} "
                 f"({environment.get('num_threads', '?')} threads, torch "
                 f"{environment.get('torch_version', '?')})\nMFU basis, matmul TFLOP/s: "
                 f"{peak or '-'}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _config_label(r: Mapping[str, Any]) -> str:
    batch = r.get("infer_batch_size") or r.get("train_batch_size") or r["requested_batch_size"]
    label = f"bs{batch} {r['precision']} {'nhwc' if r['channels_last'] else 'nchw'}"
    return label + (" compile" if r.get("compile") else "")
