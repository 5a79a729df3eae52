"""report.md: what was trained, on what, how it went, and where the files are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def render(*, recipe: Any, run_path: str, device: str, precision: str, param_count: int,
           trainable: int, data_sizes: dict[str, int], classes: Sequence[str],
           data_notes: Sequence[str], model_notes: Sequence[str], lock: Sequence[dict[str, Any]],
           history: Sequence[dict[str, Any]], final: dict[str, Any], details: dict[str, Any],
           final_weights: str, stopped_early: bool, cache: Sequence[dict[str, Any]],
           plots: Sequence[str]) -> str:
    r = recipe
    split = final.get("split", "test")
    lines = [f"# {r.name}", ""]
    if r.recipe.description:
        lines += [r.recipe.description, ""]
    lines += [
        f"Run folder `{run_path}`; resolved recipe in `recipe.toml`.", "",
        "## Setup", "",
        f"- task: {r.recipe.task}; seed {r.recipe.seed}; device {device}; precision {precision}",
        f"- data: {r.data.dataset}" + (f" at `{r.data.root}`" if r.data.root else "")
        + f"; {len(classes)} classes; "
        + ", ".join(f"{k} {v}" for k, v in data_sizes.items()),
    ]
    lines += [f"  - {note}" for note in data_notes]
    lines += [
        f"- model: backbone {r.model.backbone}, weights {r.model.weights}, head {r.model.head}, "
        f"mode {r.model.mode}; {param_count:,} parameters ({trainable:,} trained at the start)",
    ]
    lines += [f"  - {note}" for note in model_notes]
    if r.stages:
        lines.append("- stages: " + "; ".join(
            f"{s.name}: {s.epochs} epochs" + (f", mode {s.mode}" if s.mode else "")
            + (f", lr {s.lr:g}" if s.lr else "") for s in r.stages))
    opt = r.train.optimizer
    lines.append(f"- training: {r.train.epochs} epochs planned, batch {r.train.batch_size}"
                 + (f" x {r.train.grad_accum} accumulated" if r.train.grad_accum > 1 else "")
                 + f", {opt.name} lr {opt.lr:g}, weight decay {opt.weight_decay:g}, "
                 f"schedule {r.train.schedule.name}")
    if r.train.regularizers:
        lines.append("- regularizers: " + ", ".join(
            f"{reg.name} {reg.cfg}" for reg in r.train.regularizers))
    if r.train.early_stopping.enabled:
        es = r.train.early_stopping
        lines.append(f"- early stopping on {es.monitor} ({es.mode}), patience {es.patience}"
                     + ("; it stopped the run" if stopped_early else ""))
    lines.append("")
    for note in cache:
        if note.get("used"):
            epochs = [row for row in history if row.get("phase") == note["phase"]]
            per_epoch = [row["train/epoch_time_s"] for row in epochs
                         if isinstance(row.get("train/epoch_time_s"), (int, float))]
            mean = sum(per_epoch) / len(per_epoch) if per_epoch else 0.0
            lines.append(
                f"Frozen-feature cache ({note['phase']}): {note['samples']} images went through "
                f"the frozen backbone once ({note['seconds']:.2f} s); each epoch then trained "
                f"the head on cached features in {mean:.3f} s on average.")
        elif note.get("reason"):
            lines.append(f"Frozen-feature cache ({note['phase']}): off - {note['reason']}.")
    if cache:
        lines.append("")
    lines += [f"## Final evaluation ({split} split, {final_weights})", ""]
    scalars = [(k, v) for k, v in final.items() if k.startswith(f"{split}/")]
    lines += _table(["metric", "value"], scalars)
    lines.append("")
    if details.get("classes"):
        rows = list(zip(details["classes"], details["per_class_acc"], details["per_class_f1"],
                        details["support"], strict=False))
        if len(rows) > 40:
            rows = sorted(rows, key=lambda row: (row[1] is None, row[1] or 0.0))[:20]
            lines.append("Per class (the 20 weakest; all in per_class.csv):")
        else:
            lines.append("Per class (also in per_class.csv):")
        lines.append("")
        lines += _table(["class", "accuracy", "F1", "support"], rows)
        lines.append("")
    lines += ["## Training curve", ""]
    keys = ["epoch", "phase", "train/loss", "train/top1", "val/loss", "val/top1",
            "train/lr", "train/epoch_time_s"]
    present = [k for k in keys if any(k in row for row in history)]
    lines += _table(present, [[row.get(k) for k in present] for row in history])
    lines.append("")
    for name in plots:
        lines += [f"![{name}]({name})", ""]
    if lock:
        lines += ["## Weights used", ""]
        lines += _table(["uri", "revision", "sha256"],
                        [[e.get("uri"), e.get("revision"), e.get("sha256")] for e in lock])
        lines.append("")
    lines += ["## Files", "",
              "- `model/`: config.json + model.safetensors (`zoo eval`, `zoo predict`, "
              "`zoo push` read it)",
              "- `metrics.jsonl`, `metrics.csv`: one row per epoch, then the final evaluation",
              "- `checkpoints/last.pt`: training state for `zoo run --resume`", ""]
    return "\n".join(lines)
