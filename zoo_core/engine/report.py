"""report.md: what was trained, on what, how it went, and where the files are.

The engine writes what every run has (setup, final evaluation, the training
curve, weights used, files); the task adds its own section (per-class
tables, sample grids...) through ``Task.finish``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A markdown table (floats with 4 decimals, None as '-')."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def render(*, recipe: Any, task: Any, run_path: str, device: str, precision: str,
           params: Mapping[str, int], data: Any, specs: Mapping[str, Any],
           lock: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]],
           final: dict[str, Any], final_weights: str, stopped_early: bool,
           plots: Sequence[str], task_section: Sequence[str]) -> str:
    r = recipe
    split = final.get("split", "test")
    lines = [f"# {r.name}", ""]
    if r.recipe.description:
        lines += [r.recipe.description, ""]
    classes = f"; {len(data.classes)} classes" if data.classes else ""
    lines += [
        f"Run folder `{run_path}`; resolved recipe in `recipe.toml`.", "",
        "## Setup", "",
        f"- task: {task.name}; seed {r.recipe.seed}; device {device}; precision {precision}",
        f"- data: {r.data.dataset}" + (f" at `{r.data.root}`" if r.data.root else "")
        + f"{classes}; " + ", ".join(f"{k} {v}" for k, v in data.sizes().items()),
    ]
    lines += [f"  - {note}" for note in data.notes]
    for label, text in task.describe(recipe):
        lines.append(f"- {label}: {text}")
    for role, spec in specs.items():
        trained = sum(p.numel() for p in spec.model.parameters() if p.requires_grad)
        lines.append(f"  - {role}: {params[role]:,} parameters ({trained:,} trainable at the "
                     "end)" + "".join(f"; {note}" for note in spec.notes))
    lines.append(f"- training: {r.train.epochs} epochs planned, batch {r.train.batch_size}"
                 + (f" x {r.train.grad_accum} accumulated" if r.train.grad_accum > 1 else ""))
    if r.train.regularizers:
        lines.append("- regularizers: " + ", ".join(
            f"{reg.name} {reg.cfg}" for reg in r.train.regularizers))
    if r.train.early_stopping.enabled:
        es = r.train.early_stopping
        lines.append(f"- early stopping on {es.monitor} ({es.mode}), patience {es.patience}"
                     + ("; it stopped the run" if stopped_early else ""))
    lines.append("")
    lines += [f"## Final evaluation ({split} split, {final_weights})", ""]
    scalars = [(k, v) for k, v in final.items() if k.startswith(f"{split}/")]
    lines += table(["metric", "value"], scalars)
    lines.append("")
    if task_section:
        lines += [*task_section, ""]
    lines += ["## Training curve", ""]
    keys = ["epoch", "phase", *(f"{s}/{k}" for s in ("train", "val")
                                for k in task.progress_keys),
            "train/lr", "train/epoch_time_s"]
    present = [k for k in keys if any(k in row for row in history)]
    lines += table(present, [[row.get(k) for k in present] for row in history])
    lines.append("")
    for name in plots:
        lines += [f"![{name}]({name})", ""]
    if lock:
        lines += ["## Weights used", ""]
        lines += table(["uri", "revision", "sha256"],
                       [[e.get("uri"), e.get("revision"), e.get("sha256")] for e in lock])
        lines.append("")
    roles = ", ".join(f"`models/{role}/`" for role, spec in specs.items() if spec.save)
    lines += ["## Files", "",
              f"- {roles}: config.json + model.safetensors (`zoo eval`, `zoo predict`, "
              "`zoo push` read them; `--model ROLE` picks one)",
              "- `metrics.jsonl`, `metrics.csv`: one row per epoch, then the final evaluation",
              "- `checkpoints/last.pt`: training state for `zoo run --resume`", ""]
    if any("artifacts" in row for row in history):
        lines.insert(-1, "- `artifacts/`: what the task drew at the end of each epoch")
    return "\n".join(lines)
