"""Weight files on disk: hashing, checking, reading and converting.

Safetensors is read as data only. A pickled ``.pth``/``.bin`` is read with
``torch.load(weights_only=True)``, which refuses anything but tensors and
plain containers, so no code from a download ever runs. Every function here
names the file and says what to do when something is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.atomic import atomic_path
from zoo_core.errors import WeightsError

if TYPE_CHECKING:
    from torch import Tensor

SAFETENSORS_SUFFIX = ".safetensors"
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pth.tar")
# 100 MB of JSON header is far beyond any real checkpoint; a bigger number means garbage
_MAX_HEADER = 100 * 1024 * 1024
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
    "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_matches(actual: str, expected: str) -> bool:
    """``expected`` is a full sha256 or a prefix of at least 8 hex digits."""
    expected = expected.strip().lower()
    return len(expected) >= 8 and actual.lower().startswith(expected)


def is_sha256_spec(value: str) -> bool:
    v = value.strip().lower()
    return 8 <= len(v) <= 64 and all(c in "0123456789abcdef" for c in v)


def _bad_file(path: Path, what: str, advice: str | None = None) -> WeightsError:
    return WeightsError(
        f"The weights file {path} is damaged: {what}. "
        + (advice or "Delete it (or run `zoo cache remove` for its source) and download it "
                     "again with `zoo pull`.")
    )


def check_safetensors(path: str | os.PathLike[str],
                      advice: str | None = None) -> dict[str, dict[str, Any]]:
    """Validate a safetensors file's header against its size; return name -> {dtype, shape}.

    Catches truncated and corrupt files before any tensor is read.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise _bad_file(path, f"it is only {size} bytes long", advice)
            (n,) = struct.unpack("<Q", raw)
            if n > _MAX_HEADER or n > size - 8:
                raise _bad_file(path, "its safetensors header is invalid or cut off", advice)
            header_bytes = fh.read(n)
    except OSError as exc:
        raise WeightsError(f"Cannot read the weights file {path}: {exc.strerror or exc}.") from None
    try:
        header = json.loads(header_bytes.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("not an object")
    except (UnicodeDecodeError, ValueError):
        raise _bad_file(path, "its safetensors header is not valid JSON", advice) from None
    data_len = size - 8 - n
    tensors: dict[str, dict[str, Any]] = {}
    end_max = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = info["dtype"], [int(d) for d in info["shape"]]
            start, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise _bad_file(path, f"the header entry for {name!r} is malformed", advice) from None
        numel = 1
        for d in shape:
            numel *= d
        width = _DTYPE_BYTES.get(dtype)
        if width is not None and end - start != numel * width:
            raise _bad_file(path, f"tensor {name!r} has the wrong byte length", advice)
        if not 0 <= start <= end <= data_len:
            raise _bad_file(
                path, f"tensor {name!r} lies beyond the end of the file "
                      f"(the file is truncated: {size} bytes)", advice)
        end_max = max(end_max, end)
        tensors[name] = {"dtype": dtype, "shape": shape}
    if end_max != data_len:
        raise _bad_file(path, "its data section does not match its header "
                              f"({data_len} bytes present, {end_max} described)", advice)
    return tensors


def safetensors_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    return dict(header.get("__metadata__") or {})


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Tensors from a safetensors file, or from a pickle through ``weights_only=True``."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.exists():
        raise WeightsError(f"Weights file {path} does not exist.")
    if path.name.endswith(SAFETENSORS_SUFFIX):
        check_safetensors(path)
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # the header passed, so this is damage inside the data
            raise _bad_file(path, f"safetensors could not read it ({exc})") from None
    return _load_pickle(path)


def _load_pickle(path: Path) -> dict[str, Tensor]:
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it reads anyway; the errors below are what count
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"Refusing to load {path}: it is a pickle that needs more than tensors to "
            f"unpickle ({first[:200]}), and zoo reads checkpoints only with "
            "torch.load(weights_only=True) so that no code from a file ever runs. "
            "Convert it to safetensors in a trusted environment and use that file."
        ) from None
    except Exception as exc:  # arbitrary bytes make the unpickler fail in arbitrary ways
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise _bad_file(path, f"torch could not read it ({type(exc).__name__}"
                              f"{': ' + text if text else ''})") from None
    return _as_state_dict(obj, path)


def _as_state_dict(obj: Any, path: Path) -> dict[str, Tensor]:
    import torch

    # common checkpoint wrappers: {"state_dict": ...}, {"model": ...}, {"model_state": ...};
    # BasicSR / Real-ESRGAN / SwinIR releases keep the EMA weights in "params_ema"
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            for key in ("params_ema", "params", "state_dict", "model_state_dict", "model_state",
                        "model", "module"):
                if isinstance(obj.get(key), dict):
                    obj = obj[key]
                    break
            else:
                break
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors.")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{path} holds no tensors.")
    # DataParallel / DDP checkpoints prefix every key with "module."
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def save_safetensors(tensors: dict[str, Tensor], target: str | os.PathLike[str],
                     metadata: dict[str, str] | None = None) -> str:
    """Write tensors atomically as safetensors; returns the file's sha256.

    Tensors that share memory (tied weights) are stored as separate copies:
    safetensors refuses aliasing and loading copies back is exact.
    """
    from safetensors.torch import save_file

    seen: set[tuple[int, int]] = set()
    clean: dict[str, Tensor] = {}
    for name, t in tensors.items():
        t = t.detach().cpu()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if t.numel() and key in seen:
            t = t.clone()
        else:
            seen.add(key)
        clean[name] = t.contiguous()
    # a storage shared with a tensor not in this dict (e.g. a view) also upsets safetensors
    clean = {k: (v.clone() if v.untyped_storage().nbytes() != v.numel() * v.element_size()
                 else v) for k, v in clean.items()}
    with atomic_path(target) as tmp:
        save_file(clean, str(tmp), metadata={"format": "pt", **(metadata or {})})
        digest = sha256_file(tmp)
        check_safetensors(tmp)
    return digest


def convert_to_safetensors(source: str | os.PathLike[str], target: str | os.PathLike[str],
                           metadata: dict[str, str] | None = None) -> str:
    """Read a pickled checkpoint with weights_only and write it as safetensors (atomic)."""
    tensors = load_state_dict(source)
    return save_safetensors(tensors, target, metadata)
