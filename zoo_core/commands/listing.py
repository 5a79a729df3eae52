"""`zoo list`, `zoo info`, `zoo plugins`."""

from __future__ import annotations

from typing import Any

import click

from zoo_core.commands._output import emit_json, emit_table
from zoo_core.errors import UnknownNameError, suggestion
from zoo_core.registry import KINDS, Component, canonical_kind


@click.command("list")
@click.argument("kind", required=False)
@click.option("--filter", "-f", "pattern", help="Glob on names, e.g. 'resnet*'.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(kind: str | None, pattern: str | None, as_json: bool) -> None:
    """List registered components, of one KIND or all."""
    from zoo_core.plugins import registry

    items = registry().list(canonical_kind(kind) if kind else None, pattern)
    if as_json:
        emit_json([{"kind": c.kind, "name": c.name, "plugin": c.plugin,
                    "description": c.description} for c in items])
        return
    title = f"{len(items)} {kind or 'components'}" + (f" matching {pattern!r}" if pattern else "")
    emit_table(title, ["kind", "name", "plugin", "description"],
               ([c.kind, c.name, c.plugin, c.description] for c in items))


def component_info(comp: Component, tag: str | None = None) -> dict[str, Any]:
    """What `zoo info` reports; builds the component (no weights) to count parameters."""
    info: dict[str, Any] = {
        "name": comp.name,
        "kind": comp.kind,
        "plugin": comp.plugin,
        "description": comp.description,
        "default_cfg": comp.default_cfg,
        "default_tag": comp.default_tag,
        "tag": tag,
        "weights": {
            t: {"source": w.source, "sha256": w.sha256, "num_classes": w.num_classes,
                "license": w.license, "data_config": w.data_config, "metrics": w.metrics}
            for t, w in sorted(comp.weights.items())
        },
        "param_count": None,
        "data_config": None,
    }
    if comp.kind in {"backbone", "gan", "sr", "segmentation"}:
        from zoo_core.nn.modules import count_params, data_config

        model = comp.create()
        info["param_count"] = count_params(model)
        info["data_config"] = data_config(model)
    return info


@click.command()
@click.argument("name")
@click.option("--kind", help="Kind to look in when a name exists in several.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(name: str, kind: str | None, as_json: bool) -> None:
    """Show one component: kind, plugin, parameters, data config, weight tags."""
    from zoo_core.plugins import registry

    reg = registry()
    found = [reg.get(kind, name)] if kind else reg.find(name)
    if not found:
        arch = name.split(":")[-1]
        raise UnknownNameError(
            f"Unknown component {name!r}.{suggestion(arch, reg.all_names())} See `zoo list`."
        )
    infos = [component_info(r.component, r.tag) for r in found]
    if as_json:
        emit_json(infos[0] if len(infos) == 1 else infos)
        return
    for inf in infos:
        rows = [
            ["kind", inf["kind"]], ["plugin", inf["plugin"]],
            ["description", inf["description"]],
            ["parameters", f"{inf['param_count']:,}" if inf["param_count"] is not None else "-"],
            ["default config", inf["default_cfg"] or "-"],
            ["data config", inf["data_config"] or "-"],
            ["default tag", inf["default_tag"] or "-"],
        ]
        emit_table(inf["name"], ["field", "value"], rows)
        if inf["weights"]:
            emit_table(f"{inf['name']}: weight tags", ["tag", "source", "sha256"],
                       ([t, w["source"], (w["sha256"] or "")[:16]]
                        for t, w in inf["weights"].items()))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all", "show_all", is_flag=True, help="Also list what each plugin provides.")
def plugins(as_json: bool, show_all: bool) -> None:
    """Installed plugins: version, status and what each provides per kind."""
    from zoo_core.plugins import plugin_set

    ps = plugin_set()
    ps.registry  # noqa: B018 - run the registration hooks so failures show up
    reports = sorted(ps.reports.values(), key=lambda r: (not r.builtin, r.name))
    if as_json:
        emit_json([r.as_dict() for r in reports])
        return
    rows = []
    for r in reports:
        status = r.status if r.status == "ok" else f"{r.status}: {r.error}"
        if r.warnings:
            status += "\n" + "\n".join(f"warning: {w}" for w in r.warnings)
        provides = ", ".join(
            f"{k}: " + (", ".join(v) if show_all or len(v) <= 5 else f"{len(v)}")
            for k, v in sorted(r.provides.items(), key=lambda kv: KINDS.index(kv[0]))
        )
        rows.append([r.name, r.version or "-", status, provides or "-"])
    emit_table(f"{len(reports)} plugins", ["plugin", "version", "status", "provides"], rows)
