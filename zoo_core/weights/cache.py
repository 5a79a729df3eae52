"""What is cached, where, and how to free it.

Two caches hold weights:

* the Hugging Face hub cache (``HF_HUB_CACHE``, default ``HF_HOME/hub``):
  every ``hf://`` file, in the layout timm and transformers share;
* zoo's own folder ``ZOO_HOME/weights``:
  ``url/<host>/<file>-<key>/`` one folder per URL, holding the verified
  download converted to ``model.safetensors`` plus ``source.json``;
  ``converted/<sha256>/model.safetensors``: Hub pickles (``.bin``) converted
  once, keyed by the sha256 of the original.

Both are written atomically, so neither ever holds a half file.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zoo_core.atomic import atomic_open
from zoo_core.errors import WeightsError
from zoo_core.paths import zoo_home
from zoo_core.weights.files import (
    SAFETENSORS_SUFFIX,
    check_safetensors,
    convert_to_safetensors,
    safetensors_metadata,
)
from zoo_core.weights.uris import hf_cache_dir, parse_hf


def weights_dir() -> Path:
    return zoo_home() / "weights"


def safe_filename(name: str, limit: int = 100) -> str:
    """A file name that cannot leave its folder: [A-Za-z0-9._-] only, no leading dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:limit]
    return cleaned or "weights"


def _inside(path: Path, root: Path) -> Path:
    if not path.resolve().is_relative_to(root.resolve()):
        raise WeightsError(f"Refusing cache path {path}: it lies outside {root}.")
    return path


def url_entry(url: str) -> Path:
    """The cache folder of one URL (the #fragment does not count)."""
    clean = url.split("#", 1)[0]
    parts = urlsplit(clean)
    host = safe_filename(parts.hostname or "host") + (f"_{parts.port}" if parts.port else "")
    stem = safe_filename(Path(parts.path).name or "weights", limit=60)
    key = hashlib.sha256(clean.encode()).hexdigest()[:12]
    return _inside(weights_dir() / "url" / host / f"{stem}-{key}", weights_dir())


def read_url_entry(entry: Path) -> dict[str, Any] | None:
    meta, target = entry / "source.json", entry / "model.safetensors"
    if not (meta.is_file() and target.is_file()):
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not {"sha256", "safetensors_sha256"} <= set(data):
        return None
    return data


def write_url_entry(entry: Path, meta: dict[str, Any]) -> None:
    with atomic_open(entry / "source.json") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)


def converted_file(source_sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", source_sha256):
        raise WeightsError(f"Not a sha256: {source_sha256!r}.")
    return weights_dir() / "converted" / source_sha256 / "model.safetensors"


# -- listing -------------------------------------------------------------------

@dataclass
class CacheEntry:
    """One cached source, as ``zoo cache list`` shows it."""

    source: str
    where: str  # "hf" (Hugging Face cache) or "zoo" (ZOO_HOME/weights)
    path: Path
    size: int
    revisions: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "cache": self.where, "path": str(self.path),
                "size": self.size, "revisions": self.revisions, "files": self.files}


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _scan_hf() -> list[Any]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound


    root = hf_cache_dir()
    if not root.is_dir():
        return []
    try:
        return [r for r in scan_cache_dir(root).repos if r.repo_type == "model"]
    except CacheNotFound:
        return []


def list_cache() -> list[CacheEntry]:
    """Every cached weights source, Hub repos first."""
    out: list[CacheEntry] = []
    for repo in sorted(_scan_hf(), key=lambda r: r.repo_id):
        revisions = []
        files: set[str] = set()
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified):
            refs = ",".join(sorted(rev.refs))
            revisions.append(rev.commit_hash[:12] + (f" ({refs})" if refs else ""))
            files.update(f.file_name for f in rev.files)
        out.append(CacheEntry(f"hf://{repo.repo_id}", "hf", repo.repo_path, repo.size_on_disk,
                              revisions, sorted(files)))
    root = weights_dir()
    for meta_file in sorted((root / "url").glob("*/*/source.json")):
        entry = meta_file.parent
        meta = read_url_entry(entry)
        if meta is None:
            continue
        out.append(CacheEntry(str(meta.get("url")), "zoo", entry, _dir_size(entry),
                              [meta["sha256"][:12]], sorted(p.name for p in entry.iterdir())))
    for target in sorted((root / "converted").glob("*/model.safetensors")):

        try:
            source = safetensors_metadata(target).get("source", "?")
        except (OSError, ValueError):
            source = "?"
        out.append(CacheEntry(f"{source} (converted)", "zoo", target.parent,
                              _dir_size(target.parent), [target.parent.name[:12]],
                              ["model.safetensors"]))
    return out


# -- removing -------------------------------------------------------------------

def _remove_converted(prefix: str) -> list[CacheEntry]:
    """Converted copies whose source starts with ``prefix``."""

    removed = []
    for target in (weights_dir() / "converted").glob("*/model.safetensors"):
        try:
            source = safetensors_metadata(target).get("source", "")
        except (OSError, ValueError):
            continue
        if source == prefix or source.startswith(prefix.rstrip("/") + "/") \
                or source.startswith(prefix + "@"):
            size = _dir_size(target.parent)
            shutil.rmtree(target.parent)
            removed.append(CacheEntry(source, "zoo", target.parent, size))
    return removed


def remove(uri: str) -> list[CacheEntry]:
    """Free the cache of one source URI; returns what was removed (possibly nothing)."""

    removed: list[CacheEntry] = []
    if uri.startswith("hf://"):
        ref = parse_hf(uri)
        for repo in _scan_hf():
            if repo.repo_id != ref.repo_id:
                continue
            if ref.revision is None:
                size = repo.size_on_disk
                shutil.rmtree(repo.repo_path)
                removed.append(CacheEntry(f"hf://{repo.repo_id}", "hf", repo.repo_path, size))
                continue
            wanted = [r.commit_hash for r in repo.revisions
                      if r.commit_hash.startswith(ref.revision) or ref.revision in r.refs]
            if wanted:
                from huggingface_hub import scan_cache_dir


                strategy = scan_cache_dir(hf_cache_dir()).delete_revisions(*wanted)
                strategy.execute()
                removed.append(CacheEntry(f"hf://{repo.repo_id}@{ref.revision}", "hf",
                                          repo.repo_path, strategy.expected_freed_size,
                                          [w[:12] for w in wanted]))
        removed += _remove_converted(f"hf://{ref.repo_id}" + (
            f"@{ref.revision}" if ref.revision else ""))
        return removed
    if "://" in uri:
        entry = url_entry(uri)
        if entry.exists():
            size = _dir_size(entry)
            shutil.rmtree(entry)
            removed.append(CacheEntry(uri.split("#", 1)[0], "zoo", entry, size))
        return removed
    raise WeightsError(
        f"{uri!r} is a local path; zoo does not cache local files, so there is nothing to remove."
    )


def remove_hf_entry(pointer: Path) -> None:
    """Drop a snapshot entry and the blob behind it (a download that failed checks)."""
    blob = pointer.resolve()
    for p in (pointer, blob):
        try:
            p.unlink()
        except OSError:
            pass



def as_safetensors(path: Path, digest: str, source: str, advice: str) -> Path:
    """Safetensors are checked in place; pickles are converted once into ZOO_HOME."""
    if path.name.endswith(SAFETENSORS_SUFFIX):
        try:
            check_safetensors(path, advice=advice)
        except WeightsError:
            if path.is_symlink() or hf_cache_dir() in path.parents:
                remove_hf_entry(path)
            raise
        return path
    target = converted_file(digest)
    if not target.exists():
        convert_to_safetensors(path, target, {"source": source, "source_sha256": digest})
    else:
        check_safetensors(target)
    return target


