"""Plain URLs with a sha256, and local files or folders.

URL downloads are verified and converted once to safetensors under
``ZOO_HOME/weights``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zoo_core.atomic import atomic_open, atomic_path
from zoo_core.errors import WeightsError
from zoo_core.types import ResolvedWeights
from zoo_core.weights import cache
from zoo_core.weights.files import (
    SAFETENSORS_SUFFIX,
    check_safetensors,
    convert_to_safetensors,
    is_sha256_spec,
    sha256_file,
    sha256_matches,
)
from zoo_core.weights.uris import _HASH_IN_NAME

# -- URLs ---------------------------------------------------------------------------

def expected_sha256(url: str, sha256: str | None) -> str:
    """The hash a URL's file must have: given, ``#sha256=``, or the torchvision file-name prefix."""
    if sha256:
        if not is_sha256_spec(sha256):
            raise WeightsError(f"{sha256!r} is not a sha256 (64 hex digits, or a prefix of 8+).")
        return sha256.lower()
    fragment = urlsplit(url).fragment
    m = re.search(r"(?:^|&)sha256=([0-9a-fA-F]+)", fragment)
    if m and is_sha256_spec(m[1]):
        return m[1].lower()
    name = Path(urlsplit(url).path).name
    m = _HASH_IN_NAME.search(name)
    if m:
        return m[1]
    raise WeightsError(
        f"No sha256 for {url}: zoo downloads URLs only with a known hash. Append "
        "'#sha256=<64 hex digits>' to the URL (a prefix of 8+ digits is accepted, as in "
        "torchvision's 'name-<hash>.pth' file names) or set sha256 on the weight tag."
    )


def _download(url: str, target_dir: Path, expected: str) -> tuple[Path, str]:
    """Stream ``url`` to a temporary file in ``target_dir``, verifying its sha256."""
    name = cache.safe_filename(Path(urlsplit(url).path).name or "weights")
    clean_url = url.split("#", 1)[0]
    request = urllib.request.Request(clean_url, headers={"User-Agent": "zoo-toolkit"})
    dest = target_dir / name
    with atomic_path(dest) as tmp:
        h = hashlib.sha256()
        try:
            with urllib.request.urlopen(request, timeout=60) as resp, open(tmp, "wb") as out:
                announced = resp.headers.get("Content-Length")
                got = 0
                while block := resp.read(1 << 20):
                    h.update(block)
                    out.write(block)
                    got += len(block)
        except urllib.error.HTTPError as exc:
            raise WeightsError(
                f"Downloading {clean_url} failed: HTTP {exc.code} ({exc.reason}). Check the URL."
            ) from None
        except http.client.IncompleteRead as exc:
            raise WeightsError(
                f"The download of {clean_url} was cut short ({len(exc.partial)} bytes "
                "received). Nothing was kept; run `zoo pull` again."
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsError(
                f"Could not download {clean_url} ({reason}). It is not in zoo's cache "
                f"({cache.weights_dir()}); run `zoo pull {url}` where the network "
                "reaches it, then copy the cache (see docs/weights.md)."
            ) from None
        if announced is not None and got != int(announced):
            raise WeightsError(
                f"The download of {clean_url} was cut short ({got} of {announced} bytes). "
                "Nothing was kept; run `zoo pull` again."
            )
        digest = h.hexdigest()
        if not sha256_matches(digest, expected):
            raise WeightsError(
                f"The file at {clean_url} has sha256 {digest}, but {expected} was expected. "
                "It was not kept. The URL now serves different bytes (or a proxy altered "
                "them): check the source, and update the sha256 only if you trust the new file."
            )
    return dest, digest


def resolve_url(uri: str, *, sha256: str | None, offline: bool) -> ResolvedWeights:
    """``https://...`` with a sha256 -> verified, converted once to safetensors in ZOO_HOME."""
    expected = expected_sha256(uri, sha256)
    entry = cache.url_entry(uri)
    cached = cache.read_url_entry(entry)
    if cached is not None and sha256_matches(cached["sha256"], expected):
        target = entry / "model.safetensors"
        advice = f"Run `zoo cache remove {uri.split('#')[0]}` and `zoo pull` it again."
        check_safetensors(target, advice=advice)
        if sha256_file(target) != cached["safetensors_sha256"]:
            raise WeightsError(
                f"The cached file {target} was modified since it was converted (its sha256 "
                f"changed). {advice}"
            )
        return ResolvedWeights(uri=uri, path=target, sha256=cached["sha256"], revision=None)
    if offline:
        raise WeightsError(
            f"{uri.split('#')[0]} is not in zoo's cache ({cache.weights_dir()}) and "
            f"offline mode is on (HF_HUB_OFFLINE). Run `zoo pull {uri}` on a machine with "
            "network access first, then copy the cache (see docs/weights.md)."
        )
    entry.mkdir(parents=True, exist_ok=True)
    raw, digest = _download(uri, entry, expected)
    target = entry / "model.safetensors"
    try:
        if raw.name.endswith(SAFETENSORS_SUFFIX):
            check_safetensors(raw, advice="It was not kept; the file at the URL is broken.")
            os.replace(raw, target)
            converted = sha256_file(target)
        else:
            converted = convert_to_safetensors(raw, target, {"source": uri.split("#")[0],
                                                             "source_sha256": digest})
    finally:
        raw.unlink(missing_ok=True)
    cache.write_url_entry(entry, {
        "url": uri.split("#")[0], "sha256": digest, "filename": raw.name,
        "safetensors_sha256": converted, "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                  time.gmtime()),
    })
    return ResolvedWeights(uri=uri, path=target, sha256=digest, revision=None)


# -- local files ------------------------------------------------------------------

def resolve_local(uri: str, *, sha256: str | None = None) -> ResolvedWeights:
    """A file (safetensors or a weights_only pickle) or a save_pretrained-style folder."""
    raw = uri[len("file://"):] if uri.startswith("file://") else uri
    path = Path(raw).expanduser()
    if not path.exists():
        raise WeightsError(f"Weights path {path} does not exist.")
    config: dict[str, Any] = {}
    if path.is_dir() and not (path / "model.safetensors").exists():
        from zoo_core.weights.saved import find_model_folder, is_model_folder, roles_in

        if roles_in(path) or is_model_folder(path / "model"):  # a run folder
            path = find_model_folder(path)
    if path.is_dir():
        cfg_file, weights = path / "config.json", path / "model.safetensors"
        if not weights.exists():
            raise WeightsError(
                f"{path} is a folder without model.safetensors; a weights folder holds "
                "config.json and model.safetensors (the save_pretrained layout)."
            )
        if cfg_file.exists():
            try:
                config = json.loads(cfg_file.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise WeightsError(f"{cfg_file} is not valid JSON.") from None
        path = weights
    digest = sha256_file(path)
    if sha256 and not sha256_matches(digest, sha256):
        raise WeightsError(f"{path} has sha256 {digest}, but {sha256} was expected.")
    if path.name.endswith(SAFETENSORS_SUFFIX):
        check_safetensors(path, advice="Replace it with a good copy.")
    return ResolvedWeights(uri=str(path), path=path, sha256=digest, config=config)


def write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_open(path) as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
