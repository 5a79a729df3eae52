"""The Hugging Face Hub (``hf://org/repo[@rev][/file]``): download, verify, read config.json.

Hub files stay in the Hugging Face cache (shared with timm and transformers);
every problem ends as a :class:`~zoo_core.errors.WeightsError` that names the
source and says what to do; tokens never appear in messages.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zoo_core.errors import WeightsError
from zoo_core.types import ResolvedWeights
from zoo_core.weights.cache import as_safetensors, remove_hf_entry
from zoo_core.weights.files import sha256_file
from zoo_core.weights.uris import (
    _HEX40,
    _HEX64,
    PREFERRED_FILES,
    HubRef,
    check_relative_path,
    hf_cache_dir,
    hf_endpoint,
    hf_token,
    parse_hf,
    scrub,
)

# -- the Hub ----------------------------------------------------------------------

class MissingHubFile(WeightsError):
    """The repo exists but has no such file."""


class NotCached(WeightsError):
    """The file is not cached and the Hub cannot be asked (offline or unreachable)."""


def _hub_error(exc: BaseException, ref: HubRef, filename: str, offline: bool) -> WeightsError:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{ref.repo_id}@{ref.revision or 'main'}"
    endpoint = hf_endpoint()
    pull = f"`zoo pull {HubRef(ref.repo_id, ref.revision).uri}`"
    if isinstance(exc, GatedRepoError):
        msg = (f"The Hub repo {ref.repo_id!r} at {endpoint} is gated: accept its terms on the "
               "Hub and set HF_TOKEN to a token of that account.")
    elif isinstance(exc, RepositoryNotFoundError):
        msg = (f"The Hub repo {ref.repo_id!r} was not found at {endpoint} (or it is private and "
               "no valid HF_TOKEN was given). Check the name, or set HF_ENDPOINT if it lives on "
               "another hub.")
    elif isinstance(exc, RevisionNotFoundError):
        msg = (f"The Hub repo {ref.repo_id!r} has no revision {ref.revision!r}. Use an existing "
               "branch, tag or commit hash.")
    elif isinstance(exc, RemoteEntryNotFoundError):
        return MissingHubFile(scrub(
            f"The Hub repo {where} has no file {filename!r}. Check the file name in the URI."))
    elif isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        from huggingface_hub import constants

        if offline:
            reason = "offline mode is on (HF_HUB_OFFLINE)"
        elif constants.is_offline_mode():
            # huggingface_hub read HF_HUB_OFFLINE when it was imported and still blocks requests
            reason = ("this Python process started with HF_HUB_OFFLINE set, so huggingface_hub "
                      "refuses all requests (start a new process without it)")
        else:
            reason = f"the Hub at {endpoint} could not be reached"
        return NotCached(scrub(
            f"{filename!r} of {where} is not in the Hugging Face cache ({hf_cache_dir()}) "
            f"and {reason}. Run {pull} on a machine with network access first "
            "(then copy the cache folders, see docs/weights.md)."))
    elif isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "?"
        msg = (f"The Hub at {endpoint} answered HTTP {status} for {filename!r} of {where}. "
               "Try again later, or check HF_ENDPOINT and HF_TOKEN.")
    elif isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        msg = (f"The download of {filename!r} from {where} was cut short (the size does not "
               f"match). Nothing was kept in the cache; run {pull} again.")
    else:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = (f"Could not fetch {filename!r} of {where} from {endpoint}: {first[:300]}. "
               f"Check the network or run {pull} where the Hub is reachable.")
    return WeightsError(scrub(msg))


def verify_hub_file(pointer: Path, ref: HubRef, filename: str) -> str:
    """Check a Hub file against its etag (sha256 for LFS files, git oid otherwise)."""
    blob = pointer.resolve()
    etag = blob.name
    digest = sha256_file(blob)
    ok = True
    if _HEX64.match(etag):
        ok = digest == etag
    elif _HEX40.match(etag):
        data = blob.read_bytes() if blob.stat().st_size < (64 << 20) else None
        if data is not None:
            ok = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == etag
    if not ok:
        remove_hf_entry(pointer)
        raise WeightsError(
            f"The download of {filename!r} from {ref.repo_id} is corrupt: its sha256 "
            f"{digest[:16]}... does not match the {etag[:16]}... the Hub announced. It was "
            f"deleted from the cache; run `zoo pull {HubRef(ref.repo_id, ref.revision).uri}` "
            "again, and if it keeps failing the mirror at HF_ENDPOINT serves bad data."
        )
    return digest


_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def endpoint_reachable(endpoint: str, timeout: float = 5.0) -> bool:
    """A TCP connect to the endpoint; True when a proxy is configured (we cannot tell)."""
    import socket

    if any(os.environ.get(v) for v in _PROXY_VARS):
        return True
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_pointer(ref: HubRef, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(ref.repo_id, filename, cache_dir=str(hf_cache_dir()),
                                   revision=ref.revision)
    return found if isinstance(found, str) else None


def hub_download(ref: HubRef, filename: str, *, offline: bool) -> tuple[Path, str]:
    """One verified file from the Hub or its cache -> (path, commit hash)."""
    from huggingface_hub import hf_hub_download

    check_relative_path(filename)
    if not offline and _cached_pointer(ref, filename) is None \
            and not endpoint_reachable(hf_endpoint()):
        # huggingface_hub would retry with back-off for half a minute before giving up
        raise NotCached(
            f"{filename!r} of {ref.repo_id}@{ref.revision or 'main'} is not in the Hugging "
            f"Face cache ({hf_cache_dir()}) and the Hub at {hf_endpoint()} could not be "
            f"reached. Run `zoo pull {HubRef(ref.repo_id, ref.revision).uri}` on a machine "
            "with network access first (then copy the cache folders, see docs/weights.md)."
        )
    token = None if offline else hf_token()
    try:
        path = Path(hf_hub_download(
            ref.repo_id, filename, revision=ref.revision, cache_dir=str(hf_cache_dir()),
            endpoint=hf_endpoint(), token=token or False, local_files_only=offline,
        ))
    except WeightsError:
        raise
    except Exception as exc:  # huggingface_hub's errors, network errors
        raise _hub_error(exc, ref, filename, offline) from None
    # .../snapshots/<commit>/<filename>
    return path, path.parents[filename.count("/")].name


def _missing_entry(exc: BaseException) -> bool:
    from huggingface_hub.errors import EntryNotFoundError

    return isinstance(exc, EntryNotFoundError)


def hub_config(ref: HubRef, revision: str, *, offline: bool) -> dict[str, Any]:
    """``config.json`` of a repo at ``revision`` (a commit), or {} when it has none."""
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            ref.repo_id, "config.json", revision=revision, cache_dir=str(hf_cache_dir()),
            endpoint=hf_endpoint(), token=(None if offline else hf_token()) or False,
            local_files_only=offline,
        )
    except Exception as exc:
        if _missing_entry(exc):
            return {}
        raise _hub_error(exc, ref, "config.json", offline) from None
    verify_hub_file(Path(path), ref, "config.json")
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        remove_hf_entry(Path(path))
        raise WeightsError(
            f"config.json of {ref.repo_id}@{revision} is not valid JSON; it was removed from "
            "the cache. Fix the repo or pin a revision that has a good one."
        ) from None
    if not isinstance(config, dict):
        raise WeightsError(f"config.json of {ref.repo_id}@{revision} is not a JSON object.")
    return config


def resolve_hf(uri: str, *, offline: bool) -> ResolvedWeights:
    """``hf://org/repo[@rev][/file]`` -> a verified local safetensors file."""
    ref = parse_hf(uri)
    candidates = (ref.filename,) if ref.filename else PREFERRED_FILES
    errors: list[WeightsError] = []
    for filename in candidates:
        try:
            path, commit = hub_download(ref, filename, offline=offline)
        except (MissingHubFile, NotCached) as exc:
            if ref.filename is not None:
                raise
            errors.append(exc)  # try the next preferred file name
            continue
        break
    else:
        not_cached = [e for e in errors if isinstance(e, NotCached)]
        if not_cached:
            raise not_cached[0]
        raise MissingHubFile(
            f"The Hub repo {ref.repo_id}@{ref.revision or 'main'} has none of "
            f"{', '.join(PREFERRED_FILES)}. Name the weights file in the URI, e.g. "
            f"hf://{ref.repo_id}/weights.safetensors."
        )
    digest = verify_hub_file(path, ref, filename)
    pinned = HubRef(ref.repo_id, ref.revision, filename)
    config = hub_config(ref, commit, offline=offline) if "/" not in filename else {}
    local = as_safetensors(path, digest, pinned.uri, advice=(
        f"It was removed from the cache; if it fails again after `zoo pull {pinned.uri}`, "
        "the file in the repo itself is broken."))
    return ResolvedWeights(uri=pinned.uri, path=local, sha256=digest, revision=commit,
                           config=config)


def hub_repo_config(uri: str, offline: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.json of a Hub repo (no weights) -> (config, lock entry)."""
    ref = parse_hf(uri)
    path, commit = hub_download(ref, "config.json", offline=offline)

    digest = verify_hub_file(path, ref, "config.json")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise WeightsError(f"config.json of {uri} is not valid JSON.") from None
    return config, {"uri": f"{ref.uri}/config.json" if not ref.filename else ref.uri,
                    "revision": commit, "sha256": digest, "path": str(path)}
