"""The README.md model card that ``zoo push`` publishes.

Front matter the Hub understands (license, library, base model, data sets,
tags) and a body that states what a reader needs to trust the weights: the
base model, the data set, the metrics, the recipe, the license and the
sha256 of every file. Tokens are scrubbed from everything that goes in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zoo_core.weights.uris import scrub


@dataclass
class CardFacts:
    """Everything a card says, gathered by :mod:`zoo_core.publish`."""

    repo_id: str
    architecture: str | None
    builder: str | None
    num_classes: int | None
    task: str | None
    license: str
    dataset: str | None = None
    base_model: str | None = None  # registry name or URI the training started from
    base_weights: list[dict[str, Any]] = field(default_factory=list)  # lock entries
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe_toml: str | None = None
    file_hashes: dict[str, str] = field(default_factory=dict)
    data_config: dict[str, Any] = field(default_factory=dict)
    label_names: Sequence[str] | None = None
    timm_compatible: bool = False
    #: the task's tags (``Task.card_tags``); the first is the Hub's pipeline tag
    task_tags: Sequence[str] = ()


def _yaml_scalar(value: Any) -> str:
    # JSON strings are valid YAML scalars and quote everything that needs it
    return json.dumps(value) if isinstance(value, str) else str(value)


def _front_matter(facts: CardFacts) -> str:
    lines = ["---", f"license: {_yaml_scalar(facts.license)}"]
    lines.append(f"library_name: {'timm' if facts.timm_compatible else 'zoo'}")
    tags = ["zoo", "pytorch", "safetensors"]
    if facts.timm_compatible:
        tags.append("timm")
    if facts.task_tags:
        tags += list(facts.task_tags)
        lines.append(f"pipeline_tag: {_yaml_scalar(facts.task_tags[0])}")
    lines.append("tags:")
    lines += [f"- {_yaml_scalar(t)}" for t in tags]
    hub_bases = [w["uri"] for w in facts.base_weights if str(w.get("uri", "")).startswith("hf://")]
    if hub_bases:
        repo = hub_bases[0][len("hf://"):].split("@")[0].split("/")
        lines.append(f"base_model: {_yaml_scalar('/'.join(repo[:2]))}")
    if facts.dataset:
        lines.append("datasets:")
        lines.append(f"- {_yaml_scalar(facts.dataset)}")
    lines.append("---")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# bookkeeping fields of a metrics record, not measurements
_NOT_METRICS = {"epoch", "step", "event", "split", "time", "elapsed", "seconds", "lr"}


def _metrics_table(metrics: Mapping[str, Any]) -> list[str]:
    flat: dict[str, Any] = {}

    def walk(prefix: str, obj: Any) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(f"{prefix}{k}" if not prefix else f"{prefix}/{k}", v)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            flat[prefix] = obj

    walk("", {k: v for k, v in metrics.items() if k not in _NOT_METRICS})
    if not flat:
        return ["No metrics were recorded with this model."]
    rows = ["| metric | value |", "| --- | --- |"]
    rows += [f"| {k} | {_fmt(v)} |" for k, v in sorted(flat.items())]
    return rows


def render_card(facts: CardFacts) -> str:
    """The model card as Markdown with YAML front matter."""
    out = [_front_matter(facts), "", f"# {facts.repo_id}", ""]
    what = facts.architecture or facts.builder or "a model"
    out.append(
        f"A {'`' + what + '`' if what else 'model'} "
        + (f"{facts.task} model " if facts.task else "")
        + "trained with zoo "
        + (f"on `{facts.dataset}`" if facts.dataset else "")
        + (f" with {facts.num_classes} classes" if facts.num_classes else "") + "."
    )
    out += ["", "## Model", "", "| field | value |", "| --- | --- |"]
    if facts.architecture:
        out.append(f"| architecture | `{facts.architecture}` |")
    if facts.builder:
        out.append(f"| built by | `{facts.builder}` |")
    if facts.num_classes is not None:
        out.append(f"| classes | {facts.num_classes} |")
    for key in ("input_size", "mean", "std", "interpolation", "crop_pct"):
        if key in facts.data_config:
            out.append(f"| {key} | {_fmt(facts.data_config[key])} |")
    out += ["", "## Base model", ""]
    if facts.base_model or facts.base_weights:
        if facts.base_model:
            out.append(f"Fine-tuned from `{facts.base_model}`.")
        for w in facts.base_weights:
            rev = f" at revision `{w['revision']}`" if w.get("revision") else ""
            out.append(f"- `{w.get('uri')}`{rev}, sha256 `{w.get('sha256')}`")
    else:
        out.append("Trained from random initialisation (no pretrained weights).")
    out += ["", "## Data set", "", f"`{facts.dataset}`" if facts.dataset else "Not recorded."]
    if facts.label_names:
        shown = ", ".join(str(n) for n in list(facts.label_names)[:20])
        more = len(facts.label_names) - 20
        out.append("")
        out.append(f"Classes: {shown}" + (f" and {more} more" if more > 0 else "") + ".")
    out += ["", "## Metrics", ""] + _metrics_table(facts.metrics)
    out += ["", "## Recipe", ""]
    if facts.recipe_toml:
        out += ["```toml", facts.recipe_toml.rstrip(), "```"]
    else:
        out.append("Not recorded.")
    out += ["", "## Files and hashes", "", "| file | sha256 |", "| --- | --- |"]
    out += [f"| {name} | `{digest}` |" for name, digest in sorted(facts.file_hashes.items())]
    out += ["", "## How to use", "", "```python", "from zoo_core.weights import load_model",
            "", f'loaded = load_model("hf://{facts.repo_id}")', "model = loaded.model.eval()",
            "```"]
    if facts.timm_compatible:
        out += ["", "Or with timm alone:", "", "```python", "import timm", "",
                f'model = timm.create_model("hf-hub:{facts.repo_id}", pretrained=True)', "```"]
    out += ["", "## License", "", f"`{facts.license}`"
            + ("" if facts.license != "other" else
               " (not stated when this model was pushed; ask the author)")
            + ". The base weights come with their own license terms.", ""]
    return scrub("\n".join(out))
