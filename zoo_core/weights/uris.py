"""Weight URIs and the Hugging Face environment: parsing and checks only, no I/O.

The Hugging Face environment (``HF_ENDPOINT``, ``HF_HOME``/``HF_HUB_CACHE``,
``HF_HUB_OFFLINE``, ``HF_TOKEN``) is read at call time, because
``huggingface_hub`` itself reads it once, at import.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from zoo_core.errors import WeightsError
from zoo_core.weights.files import PICKLE_SUFFIXES, SAFETENSORS_SUFFIX

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


def is_model_path(name: str) -> bool:
    """A model *name* that is a saved-model folder (``runs/dae/models/encoder``, ``./m``,
    ``~/m``), as opposed to a registry name (``arch``, ``arch.tag``, ``plugin:arch``),
    which never holds a slash, or an ``hf://`` repo."""
    return "://" not in name and ("/" in name or os.sep in name or name.startswith(("~", ".")))


def names_own_config(name: str) -> bool:
    """A model name that carries its own config.json: ``hf://org/repo`` or a saved-model
    folder (timm's ``hf-hub:`` and ``local-dir:`` names)."""
    return name.startswith("hf://") or is_model_path(name)


def is_uri(value: str) -> bool:
    """A weights URI or a path, as opposed to a tag name."""
    return "://" in value or value.startswith(("/", "./", "../", "~")) or \
        value.endswith((SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES)) or os.path.exists(value)


def scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


