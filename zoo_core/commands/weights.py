"""`zoo pull`, `zoo cache list|remove`, `zoo push`."""

from __future__ import annotations

from typing import Any

import click

from zoo_core.commands._output import emit_json, emit_table
from zoo_core.errors import WeightsError, ZooError


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pull(specs: tuple[str, ...], as_json: bool) -> None:
    """Prefetch and verify weights so that later runs need no network.

    SPEC is a component name (resnet18), a name with a weight tag
    (resnet18.a1_in1k), a weights URI (hf://org/repo[@rev][/file],
    https://...#sha256=...) or a recipe file (its [model] backbone/weights).
    """
    from zoo_core.weights import pull as pull_spec

    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for spec in specs:
        try:
            for rw in pull_spec(spec):
                rows.append({"spec": spec, "uri": rw.uri, "revision": rw.revision,
                             "sha256": rw.sha256, "path": str(rw.path),
                             "size": rw.path.stat().st_size})
        except ZooError as exc:
            if len(specs) == 1:
                raise
            failed.append(f"{spec}: {exc}")
    if as_json:
        emit_json(rows)
    elif rows:
        emit_table(f"{len(rows)} weights cached and verified",
                   ["source", "revision", "sha256", "size"],
                   ([r["uri"], (r["revision"] or "")[:12], r["sha256"][:16], _size(r["size"])]
                    for r in rows))
    if failed:
        raise WeightsError(f"{len(failed)} of {len(specs)} could not be pulled:\n"
                           + "\n".join(failed))


@click.group()
def cache() -> None:
    """Show or free cached weights.

    Hub files live in the Hugging Face cache (HF_HUB_CACHE, default
    HF_HOME/hub); URL downloads, converted to safetensors, in ZOO_HOME/weights.
    """


@cache.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cache_list(as_json: bool) -> None:
    """List cached weights with their size and revisions."""
    from zoo_core.weights.cache import list_cache, weights_dir
    from zoo_core.weights.uris import hf_cache_dir

    entries = list_cache()
    if as_json:
        emit_json([e.as_dict() for e in entries])
        return
    total = sum(e.size for e in entries)
    emit_table(
        f"{len(entries)} cached sources, {_size(total)} "
        f"(Hugging Face cache: {hf_cache_dir()}; zoo: {weights_dir()})",
        ["source", "cache", "size", "revisions", "files"],
        ([e.source, e.where, _size(e.size), "\n".join(e.revisions), ", ".join(e.files)]
         for e in entries),
    )


@cache.command("remove")
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
def cache_remove(specs: tuple[str, ...]) -> None:
    """Free the cache of SPEC: hf://org/repo[@rev], a URL, a name or name.tag."""
    from zoo_core.weights import sources_for
    from zoo_core.weights.cache import remove

    freed = 0
    for spec in specs:
        removed = []
        for uri, _sha in sources_for(spec):
            removed += remove(uri)
        if not removed:
            click.echo(f"{spec}: nothing cached")
        for entry in removed:
            freed += entry.size
            click.echo(f"removed {entry.source} ({_size(entry.size)}) from {entry.path}")
    click.echo(f"freed {_size(freed)}")


@click.command()
@click.argument("path")
@click.option("--repo", "repo_id", required=True, metavar="ORG/NAME", help="Hub repo to push to.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", help="Branch to commit to (created from main if missing).")
@click.option("--dry-run", "dry_run", metavar="DIR",
              help="Write the folder that would be pushed into DIR; upload nothing.")
@click.option("--license", "license_", metavar="ID",
              help="License id for the card (e.g. apache-2.0); default: from the recipe.")
@click.option("--message", "-m", help="Commit message.")
@click.option("--model", "role", metavar="ROLE",
              help="Which of a run's models (default: the task's main one).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def push(path: str, repo_id: str, private: bool, revision: str | None, dry_run: str | None,
         license_: str | None, message: str | None, role: str | None, as_json: bool) -> None:
    """Upload a trained model (a run folder or a saved model) to the Hub as one commit.

    The commit holds config.json, model.safetensors and a README.md model card
    (base model, data set, metrics, recipe, license, weight hashes). Needs
    HF_TOKEN; HF_ENDPOINT picks the hub.
    """
    from zoo_core.weights.publish import push as do_push

    result = do_push(path, repo_id, private=private, revision=revision, dry_run=dry_run,
                     license=license_, message=message, role=role)
    if as_json:
        emit_json(result.as_dict())
    elif result.folder is not None:
        click.echo(f"wrote {', '.join(result.files)} for {repo_id} to {result.folder} "
                   "(dry run: nothing uploaded)")
    else:
        click.echo(f"pushed {', '.join(result.files)} to {repo_id} in commit "
                   f"{(result.commit or '')[:12]}: {result.url}")
