"""`zoo bench`: model throughput sweeps, or a recipe's real pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from zoo_core.errors import ZooError


def _split(values: Sequence[str]) -> list[str]:
    """`--precision fp32,bf16 --precision fp16` -> [fp32, bf16, fp16]."""
    return [v.strip() for raw in values for v in str(raw).split(",") if v.strip()]


def _batch_sizes(values: Sequence[str]) -> list[int]:
    out = []
    for v in _split(values):
        try:
            out.append(int(v))
        except ValueError:
            raise ZooError(f"--batch-size {v!r} is not an integer.") from None
    return out


def _is_recipe(target: str) -> bool:
    return target.lower().endswith(".toml")


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="MODEL|FILE.onnx... | RECIPE.toml")
@click.option("--batch-size", "-b", "batch_sizes", multiple=True,
              help="Batch size; repeat or comma-separate to sweep "
                   "[default: 256 on cuda, 32 on cpu].")
@click.option("--img-size", type=int, help="Input height and width (model default if unset).")
@click.option("--mode", type=click.Choice(["infer", "train", "both"]), default="both",
              show_default=True, help="Time inference, a training step, or both.")
@click.option("--precision", "precisions", multiple=True,
              help="fp32, bf16 or fp16 (autocast); repeat or comma-separate to sweep "
                   "[default: fp32; with --best, every fast precision of the device].")
@click.option("--channels-last/--no-channels-last", "channels_last", multiple=True,
              default=None, help="Memory layout; give both flags to sweep NCHW and NHWC.")
@click.option("--compile/--no-compile", "compile_", multiple=True, default=None,
              help="torch.compile the model; give both flags to sweep.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--warmup", type=int, default=None,
              help="Untimed steps [default: 10; 3 for a recipe].")
@click.option("--iters", type=int, default=40, show_default=True, help="Timed steps.")
@click.option("--out", "-o", "outs", multiple=True, type=click.Path(dir_okay=False),
              help="Write the report: .csv, .json, .md or .png (chart); repeatable.")
@click.option("--best", is_flag=True,
              help="Report the fastest configuration per model; without --precision or "
                   "--channels-last it sweeps the device's precisions and both layouts.")
@click.option("--kind", help="Registry kind to look MODEL up in (default: any model kind).")
@click.option("--latency/--no-latency", default=True, show_default=True,
              help="Also time batch-1 inference.")
@click.option("--steps", type=int, default=20, show_default=True,
              help="Recipe mode: timed training steps.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Recipe mode: override a recipe key, e.g. --set data.num_workers=4.")
def bench(targets: tuple[str, ...], batch_sizes: tuple[str, ...], img_size: int | None,
          mode: str, precisions: tuple[str, ...], channels_last: tuple[bool, ...],
          compile_: tuple[bool, ...], device: str, warmup: int | None, iters: int,
          outs: tuple[str, ...], best: bool, kind: str | None, latency: bool, steps: int,
          overrides: tuple[str, ...]) -> None:
    """Throughput, latency, memory, FLOPs and MFU of MODELs, timm's protocol.

    \b
    zoo bench resnet18 resnet50 -b 8 -b 32 --device cpu --out r.csv --out r.png
    zoo bench resnet50 --precision fp32,bf16 --channels-last --no-channels-last
    zoo bench resnet18 --best              fastest precision/layout per model
    zoo bench recipes/digits.toml          the recipe's real pipeline: data vs compute
    zoo bench resnet18 model.onnx model.int8.onnx -b 1,32   onnxruntime beside torch

    Column names match timm's benchmark.py CSVs where the figure is the same.
    """
    from zoo_core.bench.report import check_out_path

    for out in outs:
        check_out_path(out)
    recipes = [t for t in targets if _is_recipe(t)]
    if recipes:
        if len(targets) != 1:
            raise ZooError("Give either one RECIPE.toml or model names to zoo bench, not both "
                           f"(got {', '.join(targets)}).")
        _bench_recipe(recipes[0], overrides=overrides, steps=steps,
                      warmup=3 if warmup is None else warmup, device=device, outs=outs)
        return
    if overrides:
        raise ZooError("--set applies to a recipe; zoo bench got model names.")
    _bench_models(list(targets), batch_sizes=batch_sizes, img_size=img_size, mode=mode,
                  precisions=precisions, channels_last=channels_last, compile_=compile_,
                  device=device, warmup=10 if warmup is None else warmup, iters=iters,
                  outs=outs, best=best, kind=kind,
                  latency=latency)


def _bench_models(models: list[str], *, batch_sizes: Sequence[str], img_size: int | None,
                  mode: str, precisions: Sequence[str], channels_last: Sequence[bool],
                  compile_: Sequence[bool], device: str, warmup: int, iters: int,
                  outs: Sequence[str], best: bool, kind: str | None, latency: bool) -> None:
    from rich.live import Live

    from zoo_core.bench import models as B
    from zoo_core.bench.measure import sig
    from zoo_core.bench.onnx import is_onnx
    from zoo_core.bench.report import write_report

    # .onnx files are timed by onnxruntime (zoo_core.bench.onnx), same protocol
    onnx_files = [m for m in models if is_onnx(m)]
    models = [m for m in models if not is_onnx(m)]
    if onnx_files and mode == "train":
        raise ZooError("ONNX files are timed for inference only; drop --mode train.")
    settings = B.BenchSettings(mode=mode, device=device, img_size=img_size, warmup=warmup,
                               iters=iters, kind=kind, latency=latency)
    runner = B.Runner(settings)
    for name in dict.fromkeys(models):
        runner.target(name)  # unknown names fail now, with did-you-mean, before any timing
    if onnx_files:
        from zoo_core.bench.onnx import graph_facts

        for f in onnx_files:
            graph_facts(f)  # a missing or unreadable file fails before any timing
    dev = runner.device
    sizes = _batch_sizes(batch_sizes) or [256 if dev.type == "cuda" else 32]
    precs = _split(precisions) or (B.default_precisions(dev) if best else ["fp32"])
    layouts = list(dict.fromkeys(channels_last)) or ([False, True] if best else [False])
    compiles = list(dict.fromkeys(compile_)) or [False]
    specs = B.expand_sweep(models, sizes, precs, layouts, compiles) if models else []

    console = _console()
    rows: list[dict[str, Any]] = []
    current: list[str] = [""]

    def render() -> Any:
        from rich.console import Group
        from rich.text import Text

        total = len(specs) + len(onnx_files) * len(sizes)
        parts: list[Any] = [_rich_table(rows, mode, f"zoo bench: {len(rows)}/{total}")]
        if current[0]:
            parts.append(Text(f"running {current[0]} ...", style="dim"))
        return Group(*parts)

    with Live(render(), console=console, refresh_per_second=4, transient=False) as live:
        def on_start(spec: B.BenchSpec) -> None:
            current[0] = spec.label
            live.update(render())

        def on_row(row: dict[str, Any]) -> None:
            rows.append(row)
            current[0] = ""
            live.update(render())

        if specs:
            B.run_sweep(specs, settings, on_start=on_start, on_row=on_row, runner=runner)
        ort_env: dict[str, Any] = {}
        if onnx_files:
            from zoo_core.bench.onnx import onnx_rows

            def on_start_onnx(label: str) -> None:
                current[0] = label
                live.update(render())

            _, ort_env = onnx_rows(onnx_files, sizes, warmup=warmup, iters=iters,
                                   latency=latency, img_size=img_size,
                                   on_start=on_start_onnx, on_row=on_row)
    console.line()

    env = {**runner.env, **ort_env}
    report_settings = {
        "mode": mode, "warmup": warmup, "iters": iters, "img_size": img_size,
        "precisions": precs, "channels_last": layouts, "compile": compiles,
        "batch_sizes": sizes, "best": best,
    }
    env = {**env, "peak_tflops": {p: sig(B.matmul_peak(dev, p) / 1e12)
                                  for p in dict.fromkeys(r["precision"] for r in rows)
                                  if p in B.PRECISIONS and not all(x.get("error") for x in rows
                                             if x["precision"] == p)}}
    shown = rows
    if best:
        shown = B.best_rows(rows, mode)
        console.print(_rich_table(shown, mode, "fastest configuration per model"))
    console.print("[dim]" + " | ".join(
        f"{k}: {env.get(k)}" for k in ("torch_version", "device_name", "num_threads",
                                       "memory_basis", "ort_execution_provider",
                                       "ort_intra_op_threads") if k in env
    ) + "[/dim]", highlight=False)
    for out in outs:
        # the chart shows the whole sweep (what --best chose among); tables show `shown`
        chart = out.lower().endswith(".png")
        path = write_report(out, rows if chart else shown, environment=env,
                            settings=report_settings,
                            all_rows=rows if best else None)
        console.print(f"wrote {path}", highlight=False)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a log file or a pipe: do not squeeze numbers to 80 columns
        console = Console(width=200)
    return console


def _rich_table(rows: Sequence[dict[str, Any]], mode: str, title: str) -> Any:
    from rich.table import Table

    from zoo_core.bench.report import table_rows

    headers, body = table_rows(rows, mode, compact=True)
    table = Table(title=title, title_justify="left")
    for h in headers:
        if h == "notes":
            table.add_column(h, overflow="fold", ratio=1)
        else:
            table.add_column(h, no_wrap=h == "model", justify="left" if h in (
                "model", "precision", "layout") else "right")
    for cells, row in zip(body, rows, strict=True):
        table.add_row(*cells, style="red" if row.get("error") else None)
    return table


def _bench_recipe(path: str, *, overrides: Sequence[str], steps: int, warmup: int,
                  device: str, outs: Sequence[str]) -> None:
    from zoo_core.bench.recipe import bench_recipe, recipe_table_rows
    from zoo_core.bench.report import write_report

    if not Path(path).is_file():
        raise ZooError(f"Recipe {path!r} does not exist.")
    console = _console()
    with console.status(f"benchmarking the pipeline of {path} ..."):
        report = bench_recipe(path, overrides=list(overrides), steps=steps, warmup=warmup,
                              device=None if device == "auto" else device)
    from rich.table import Table

    table = Table(title=f"zoo bench {path}", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in recipe_table_rows(report):
        table.add_row(k, v)
    console.print(table)
    console.print(f"[bold]bottleneck:[/bold] {report['bottleneck']}. {report['hint']}",
                  highlight=False, soft_wrap=True)
    for out in outs:
        p = write_report(out, [report["row"]], environment=report["environment"],
                         settings=report["settings"], kind="recipe")
        console.print(f"wrote {p}", highlight=False)
