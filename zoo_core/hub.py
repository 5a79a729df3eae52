"""Weight sources: the Hugging Face Hub (``hf://``), plain URLs with a sha256,
and local files or folders.

The Hugging Face environment (``HF_ENDPOINT``, ``HF_HOME``/``HF_HUB_CACHE``,
``HF_HUB_OFFLINE``, ``HF_TOKEN``) is read at call time and handed to
``huggingface_hub`` explicitly, because the library itself reads it once,
at import. Hub files stay in the Hugging Face cache (shared with timm and
transformers); URL downloads are verified and converted once to
safetensors under ``ZOO_HOME/weights``.

Every problem a user can cause ends as a :class:`~zoo_core.errors.WeightsError`
that names the source and says what to do; tokens never appear in messages.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from zoo_core import weights_cache
from zoo_core.atomic import atomic_open, atomic_path
from zoo_core.errors import WeightsError
from zoo_core.types import ResolvedWeights
from zoo_core.weights_files import (
    PICKLE_SUFFIXES,
    SAFETENSORS_SUFFIX,
    check_safetensors,
    convert_to_safetensors,
    is_sha256_spec,
    sha256_file,
    sha256_matches,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
#: what ``hf://org/repo`` without a file name loads, best first
PREFERRED_FILES = ("model.safetensors", "pytorch_model.bin")
_TRUE = {"1", "true", "yes", "on"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
# torchvision/torch.hub style: <name>-<first 8+ hex digits of the sha256>.<ext>
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z.]+$")


# -- environment, read at call time --------------------------------------------

def _env_true(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in _TRUE


def offline_from_env() -> bool:
    """``HF_HUB_OFFLINE`` (or transformers' ``TRANSFORMERS_OFFLINE``) is set."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def hf_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_home() -> Path:
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    return hf_home() / "hub"


def hf_token() -> str | None:
    """``HF_TOKEN``, else the token file ``huggingface-cli login`` wrote under HF_HOME."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = (os.environ.get(var) or "").strip()
        if value:
            return value
    path = Path(os.environ.get("HF_TOKEN_PATH") or hf_home() / "token").expanduser()
    try:
        value = path.read_text().strip()
    except OSError:
        return None
    return value or None


def scrub(text: str) -> str:
    """Remove the Hub token (and anything shaped like one) from a message."""
    text = re.sub(r"\bhf_[A-Za-z0-9]{16,}\b", "hf_***", text)
    token = hf_token()
    if token and len(token) >= 8:
        text = text.replace(token, "***")
    return text


# -- URIs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class HubRef:
    """``hf://org/repo[@revision][/path/in/repo]``, validated."""

    repo_id: str
    revision: str | None = None
    filename: str | None = None

    @property
    def uri(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        path = f"/{self.filename}" if self.filename else ""
        return f"hf://{self.repo_id}{rev}{path}"


def check_repo_id(repo_id: str) -> str:
    """Refuse repo ids that are not ``org/name`` or that could escape the cache."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts) or ".." in repo_id \
            or "--" in repo_id:
        raise WeightsError(
            f"Invalid Hub repo id {repo_id!r}: expected 'org/name' made of letters, digits, "
            "'-', '_' and '.', without '..' or '--'."
        )
    return repo_id


def check_relative_path(path: str, what: str = "file name") -> str:
    """Refuse absolute paths, backslashes and '..': a file in a repo stays in the cache."""
    segments = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or "\0" in path or ":" in path
            or any(s in ("", ".", "..") for s in segments)):
        raise WeightsError(
            f"Refusing the {what} {path!r}: it must be a relative path inside the repo, "
            "without '..', '.', empty segments, ':' or backslashes."
        )
    return path


def check_revision(revision: str) -> str:
    if not _REVISION.match(revision) or ".." in revision or "//" in revision \
            or revision.endswith("/"):
        raise WeightsError(
            f"Invalid revision {revision!r}: use a branch, a tag or a commit hash "
            "(letters, digits, '.', '_', '-', '/'; no '..')."
        )
    return revision


def parse_hf(uri: str) -> HubRef:
    """Parse ``hf://org/repo[@rev][/file]``; a revision with '/' is written URL-encoded."""
    if not uri.startswith("hf://"):
        raise WeightsError(f"{uri!r} is not an hf:// URI.")
    parts = uri[len("hf://"):].split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise WeightsError(f"{uri!r}: expected hf://org/repo[@revision][/file].")
    name, revision = parts[1], None
    if "@" in name:
        name, revision = name.split("@", 1)
        revision = unquote(revision)
        check_revision(revision)
    repo_id = check_repo_id(f"{parts[0]}/{name}")
    filename = "/".join(parts[2:]) or None
    if filename is not None:
        check_relative_path(unquote(filename))
        filename = unquote(filename)
    return HubRef(repo_id, revision, filename)


def is_uri(value: str) -> bool:
    """A weights URI or a path, as opposed to a tag name."""
    return "://" in value or value.startswith(("/", "./", "../", "~")) or \
        value.endswith((SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES)) or os.path.exists(value)


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


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


def _remove_cached(pointer: Path) -> None:
    """Drop a snapshot entry and the blob behind it (a download that failed checks)."""
    blob = pointer.resolve()
    for p in (pointer, blob):
        try:
            p.unlink()
        except OSError:
            pass


def _verify_hub_file(pointer: Path, ref: HubRef, filename: str) -> str:
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
        _remove_cached(pointer)
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
    _verify_hub_file(Path(path), ref, "config.json")
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        _remove_cached(Path(path))
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
    digest = _verify_hub_file(path, ref, filename)
    pinned = HubRef(ref.repo_id, ref.revision, filename)
    config = hub_config(ref, commit, offline=offline) if "/" not in filename else {}
    local = _as_safetensors(path, digest, pinned.uri, advice=(
        f"It was removed from the cache; if it fails again after `zoo pull {pinned.uri}`, "
        "the file in the repo itself is broken."))
    return ResolvedWeights(uri=pinned.uri, path=local, sha256=digest, revision=commit,
                           config=config)


def _as_safetensors(path: Path, digest: str, source: str, advice: str) -> Path:
    """Safetensors are checked in place; pickles are converted once into ZOO_HOME."""
    if path.name.endswith(SAFETENSORS_SUFFIX):
        try:
            check_safetensors(path, advice=advice)
        except WeightsError:
            if path.is_symlink() or hf_cache_dir() in path.parents:
                _remove_cached(path)
            raise
        return path
    target = weights_cache.converted_file(digest)
    if not target.exists():
        convert_to_safetensors(path, target, {"source": source, "source_sha256": digest})
    else:
        check_safetensors(target)
    return target


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
    name = weights_cache.safe_filename(Path(urlsplit(url).path).name or "weights")
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
                f"({weights_cache.weights_dir()}); run `zoo pull {url}` where the network "
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
    entry = weights_cache.url_entry(uri)
    cached = weights_cache.read_url_entry(entry)
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
            f"{uri.split('#')[0]} is not in zoo's cache ({weights_cache.weights_dir()}) and "
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
    weights_cache.write_url_entry(entry, {
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
