"""``zoo push``: publish a saved model (or the best model of a run) to the Hub.

The upload is one commit holding ``config.json``, ``model.safetensors`` and
a ``README.md`` model card. ``--dry-run DIR`` writes the very same folder
locally instead. The model is rebuilt and loaded strictly before anything
is uploaded, so a broken folder never reaches the Hub.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo_core.atomic import atomic_open, atomic_path
from zoo_core.errors import WeightsError
from zoo_core.weights.card import CardFacts, render_card
from zoo_core.weights.files import check_safetensors, sha256_file
from zoo_core.weights.uris import (
    check_repo_id,
    check_revision,
    hf_endpoint,
    hf_token,
    offline_from_env,
    scrub,
)

PUSHED_FILES = ("config.json", "model.safetensors", "README.md")
_RECIPE_FILES = ("recipe.resolved.toml", "resolved_recipe.toml", "recipe.toml")
_METRIC_FILES = ("metrics.json", "summary.json", "final_metrics.json", "results.json",
                 "eval.json")
_LOCK_FILES = ("weights.lock.json", "weights_lock.json", "lock.json", "weights.lock")


@dataclass
class PushResult:
    repo_id: str
    folder: Path | None  # the dry-run folder
    commit: str | None = None
    url: str | None = None
    files: tuple[str, ...] = PUSHED_FILES

    def as_dict(self) -> dict[str, Any]:
        return {"repo": self.repo_id, "folder": str(self.folder) if self.folder else None,
                "commit": self.commit, "url": self.url, "files": list(self.files)}


def find_saved_model(path: str | Path, role: str | None = None) -> tuple[Path, Path]:
    """(saved-model folder, folder to read run records from) for a run or model folder."""
    from zoo_core.weights.saved import find_model_folder, run_of

    root = Path(path)
    if not root.is_dir():
        raise WeightsError(f"{root} is not a folder; `zoo push` takes a run folder or a saved "
                           "model folder (config.json + model.safetensors).")
    folder = find_model_folder(root, role)
    return folder, run_of(folder) or folder


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _first(folders: tuple[Path, ...], names: tuple[str, ...]) -> Path | None:
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def _metrics(folders: tuple[Path, ...], config: dict[str, Any]) -> dict[str, Any]:
    zoo = config.get("zoo") or {}
    for candidate in (zoo.get("metrics"), config.get("metrics")):
        if isinstance(candidate, dict) and candidate:
            return candidate
    found = _first(folders, _METRIC_FILES)
    if found is not None:
        data = _read_json(found)
        if isinstance(data, dict):
            return data
    jsonl = _first(folders, ("metrics.jsonl",))
    if jsonl is not None:
        lines = [ln for ln in jsonl.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for line in reversed(lines):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def _lock(folders: tuple[Path, ...], config: dict[str, Any]) -> list[dict[str, Any]]:
    zoo = config.get("zoo") or {}
    data: Any = zoo.get("lock")
    if not data:
        found = _first(folders, _LOCK_FILES)
        data = _read_json(found) if found is not None else None
    if isinstance(data, dict):
        data = data.get("weights") or data.get("lock") or []
    return [d for d in data or [] if isinstance(d, dict)]


def _recipe(folders: tuple[Path, ...], config: dict[str, Any]) -> tuple[str | None, dict]:
    found = _first(folders, _RECIPE_FILES)
    if found is not None:
        text = found.read_text(encoding="utf-8")
        try:
            import tomllib

            return text, tomllib.loads(text)
        except Exception:
            return text, {}
    recipe = (config.get("zoo") or {}).get("recipe")
    if isinstance(recipe, dict) and recipe:
        import tomli_w

        try:
            return tomli_w.dumps(recipe), recipe
        except (TypeError, ValueError):
            return json.dumps(recipe, indent=2), recipe
    return None, {}


def timm_compatible(config: dict[str, Any], tensors: dict[str, dict[str, Any]]) -> bool:
    """Would ``timm.create_model('hf-hub:...')`` build this architecture and load these tensors?"""
    arch = config.get("architecture")
    if not arch:
        return False
    try:
        import timm
        import torch
    except ImportError:
        return False
    if not timm.is_model(str(arch)):
        return False
    kwargs = {k: v for k, v in (config.get("model_args") or {}).items() if k != "num_classes"}
    try:
        with torch.device("meta"):
            model = timm.create_model(str(arch), num_classes=config.get("num_classes", 1000),
                                      **kwargs)
    except Exception:
        return False
    want = {k: list(v.shape) for k, v in model.state_dict().items()}
    have = {k: list(v["shape"]) for k, v in tensors.items()}
    return want == have


def _license(explicit: str | None, config: dict[str, Any], recipe: dict[str, Any]) -> str:
    for value in (explicit, config.get("license"), (config.get("zoo") or {}).get("license"),
                  (recipe.get("recipe") or {}).get("license")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "other"


def prepare_folder(path: str | Path, out: str | Path, *, repo_id: str,
                   license: str | None = None, role: str | None = None) -> Path:
    """Write config.json, model.safetensors and README.md for ``repo_id`` into ``out``."""
    from zoo_core.weights import load_model

    model_dir, run_dir = find_saved_model(path, role)
    tensors = check_safetensors(model_dir / "model.safetensors")
    load_model(model_dir)  # rebuilds and loads strictly: never publish a broken folder
    config = _read_json(model_dir / "config.json")
    if not isinstance(config, dict):
        raise WeightsError(f"{model_dir / 'config.json'} is not a JSON object.")
    folders = (model_dir, run_dir) if run_dir != model_dir else (model_dir,)
    recipe_text, recipe = _recipe(folders, config)
    zoo = config.get("zoo") or {}
    builder = zoo.get("builder") or {}
    # what training started from: the model's own record, else a wave-1 recipe's [model]
    model_section = zoo.get("base") or recipe.get("model") or {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.safetensors") as tmp:
        shutil.copyfile(model_dir / "model.safetensors", tmp)
    with atomic_open(out / "config.json") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    base = model_section.get("name", model_section.get("backbone"))
    base_weights = model_section.get("weights", "default")
    if str(base_weights).lower() in ("none", "false", "random", "scratch"):
        base = None  # trained from scratch: the card says so
    elif base and base_weights not in (None, True, "default"):
        base = f"{base} (weights: {base_weights})"
    facts = CardFacts(
        repo_id=repo_id,
        architecture=config.get("architecture"),
        builder=f"{builder.get('kind')}:{builder.get('name')}" if builder else None,
        num_classes=config.get("num_classes"),
        task=zoo.get("task") or (recipe.get("recipe") or {}).get("task"),
        license=_license(license, config, recipe),
        dataset=(recipe.get("data") or {}).get("dataset"),
        base_model=base,
        base_weights=_lock(folders, config),
        metrics=_metrics(folders, config),
        recipe_toml=recipe_text,
        file_hashes={n: sha256_file(out / n) for n in ("config.json", "model.safetensors")},
        data_config=dict(config.get("pretrained_cfg") or {}),
        label_names=config.get("label_names"),
        timm_compatible=timm_compatible(config, tensors),
        task_tags=list(zoo.get("tags") or []),
    )
    with atomic_open(out / "README.md") as fh:
        fh.write(render_card(facts))
    return out


def _push_error(exc: BaseException, repo_id: str) -> WeightsError:
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = hf_endpoint()
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            return WeightsError(
                f"The Hub at {endpoint} refused to write to {repo_id!r} (HTTP {status}). Check "
                "that HF_TOKEN is a write token of an account allowed to write to "
                f"{repo_id.split('/')[0]!r}."
            )
        return WeightsError(f"The Hub at {endpoint} answered HTTP {status} while pushing to "
                            f"{repo_id!r}. Nothing was committed; try again later.")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return WeightsError(scrub(
        f"Could not push to {repo_id!r} at {endpoint}: {first[:300]}. Check the network and "
        "HF_ENDPOINT; nothing was committed."
    ))


def push(path: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         dry_run: str | Path | None = None, license: str | None = None,
         message: str | None = None, role: str | None = None) -> PushResult:
    """Upload a run's best model or a saved model to ``repo_id`` as one commit."""
    check_repo_id(repo_id)
    if revision:
        check_revision(revision)
    if dry_run is not None:
        folder = prepare_folder(path, dry_run, repo_id=repo_id, license=license, role=role)
        return PushResult(repo_id, folder)
    if offline_from_env():
        raise WeightsError("Cannot push while HF_HUB_OFFLINE is set. Unset it, or use "
                           "--dry-run DIR to write the folder locally.")
    token = hf_token()
    if not token:
        raise WeightsError(
            "Pushing needs a Hub write token: set HF_TOKEN (or run `hf auth login`). "
            "Use --dry-run DIR to write the folder without uploading."
        )
    from huggingface_hub import CommitOperationAdd, HfApi

    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        folder = prepare_folder(path, tmp, repo_id=repo_id, license=license, role=role)
        api = HfApi(endpoint=hf_endpoint(), token=token)
        ops = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
               for name in PUSHED_FILES]
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            info = api.create_commit(
                repo_id, operations=ops, revision=revision,
                commit_message=message or f"Upload {Path(path).name} with zoo",
            )
        except Exception as exc:  # huggingface_hub and network errors
            raise _push_error(exc, repo_id) from None
    return PushResult(repo_id, None, commit=info.oid, url=info.commit_url)
