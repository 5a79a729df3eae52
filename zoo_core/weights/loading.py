"""Building a model and loading weights into it strictly; the saved-model folder.

* :func:`create_model` builds a registry component (``arch``, ``arch.tag``,
  ``plugin:arch`` or a timm-format Hub repo ``hf://org/repo``) and loads its
  weights: the classifier is dropped when ``num_classes`` differs, the rest
  loads strictly, and any other mismatch is one clear error.
* :func:`save_model` / :func:`load_model` write and read the saved-model
  folder (``config.json`` + ``model.safetensors``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.atomic import atomic_open
from zoo_core.errors import UnknownNameError, WeightsError
from zoo_core.weights.files import load_state_dict, save_safetensors
from zoo_core.weights.hub import hub_repo_config
from zoo_core.weights.sources import _NO_WEIGHTS, _lock_entry, resolve, weights_source
from zoo_core.weights.uris import names_own_config, offline_from_env
from zoo_core.weights.urls import resolve_local

if TYPE_CHECKING:
    from torch import Tensor, nn

    from zoo_core.registry import Component

log = logging.getLogger("zoo.weights")

DATA_CONFIG_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")


@dataclass
class LoadedModel:
    """A built model plus where its weights came from."""

    model: nn.Module
    data_config: dict[str, Any]
    lock: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


# -- loading into a module ------------------------------------------------------------

def _classifier_prefixes(model: nn.Module) -> set[str]:
    """Module paths of the classifier: timm's ``pretrained_cfg['classifier']`` and
    whatever ``get_classifier()`` returns."""
    prefixes: set[str] = set()
    cfg = getattr(model, "pretrained_cfg", None) or {}
    named = cfg.get("classifier") if isinstance(cfg, Mapping) else None
    if isinstance(named, str):
        prefixes.add(named)
    elif isinstance(named, (list, tuple)):
        prefixes.update(str(n) for n in named)
    getter = getattr(model, "get_classifier", None)
    if callable(getter):
        try:
            clf = getter()
        except Exception:  # a backbone without a classifier may raise here
            clf = None
        if clf is not None:
            for path, module in model.named_modules():
                if module is clf and path:
                    prefixes.add(path)
                    break
    return prefixes


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def _listing(keys: Iterable[str], limit: int = 8) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _first_conv_keys(model: nn.Module) -> list[str]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    named = cfg.get("first_conv") if isinstance(cfg, Mapping) else None
    if isinstance(named, str):
        return [f"{named}.weight"]
    if isinstance(named, (list, tuple)):
        return [f"{n}.weight" for n in named]
    from torch import nn

    for path, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return [f"{path}.weight"]
    return []


def _adapt_first_conv(model: nn.Module, state: dict[str, Tensor],
                      own: Mapping[str, Tensor]) -> str | None:
    """Fit RGB stem weights to another ``in_chans`` (as timm does): sum them for one
    channel, repeat and rescale them for more. Only the input-channel axis may differ."""
    for key in _first_conv_keys(model):
        if key not in state or key not in own:
            continue
        w, target = state[key], own[key]
        if w.dim() != 4 or target.dim() != 4 or w.shape == target.shape:
            continue
        if w.shape[0] != target.shape[0] or w.shape[2:] != target.shape[2:]:
            continue
        c_ckpt, c_model = w.shape[1], target.shape[1]
        wf = w.float()
        if c_model == 1:
            new = wf.sum(dim=1, keepdim=True)
        else:
            reps = -(-c_model // c_ckpt)
            new = wf.repeat(1, reps, 1, 1)[:, :c_model] * (c_ckpt / c_model)
        state[key] = new.to(w.dtype)
        return key.rsplit(".", 1)[0]
    return None


def load_weights(model: nn.Module, state: dict[str, Tensor], *, source: str = "checkpoint",
                 drop_classifier: bool = True, features_only: bool = False) -> dict[str, Any]:
    """Load ``state`` into ``model``: strict, except a classifier that does not fit.

    The checkpoint's classifier is dropped when its shapes differ from the
    model's (another ``num_classes``, or none); with ``features_only`` the
    checkpoint's keys the truncated model lacks are dropped too. Any other
    missing, unexpected or mis-shaped key raises one :class:`WeightsError`.
    Returns a report (``missing``, ``unexpected``, ``dropped``, ``message``).
    """
    filt = getattr(model, "checkpoint_filter", None)
    if callable(filt):
        state = filt(state)
    state = dict(state)
    own = model.state_dict()
    dropped: list[str] = []
    keep_random: set[str] = set()
    notes: list[str] = []
    if drop_classifier:
        for prefix in sorted(_classifier_prefixes(model)):
            ck = {k for k in state if _under(k, prefix)}
            mk = {k for k in own if _under(k, prefix)}
            if not ck:
                if mk:  # a checkpoint without a classifier (an exported encoder)
                    keep_random |= mk
                    notes.append(f"the checkpoint has no classifier; the model's '{prefix}' "
                                 "starts from random init")
                continue
            fits = ck == mk and all(tuple(state[k].shape) == tuple(own[k].shape) for k in ck)
            if fits:
                continue
            state_shapes = {k: tuple(state[k].shape) for k in ck}
            for k in ck:
                del state[k]
            dropped += sorted(ck)
            keep_random |= mk
            w = next((k for k in sorted(ck) if k.endswith("weight")), None)
            ck_classes = int(state_shapes[w][0]) if w and state_shapes[w] else None
            mine = next((k for k in sorted(mk) if k.endswith("weight")), None)
            my_classes = int(own[mine].shape[0]) if mine and own[mine].dim() else None
            notes.append(
                f"dropped the checkpoint's classifier '{prefix}'"
                + (f" ({ck_classes} classes)" if ck_classes else "")
                + (f"; the model's ({my_classes} classes) starts from random init" if mk
                   and my_classes else "; the model has none" if not mk else "")
            )
    adapted = _adapt_first_conv(model, state, own)
    if adapted:
        notes.append(f"adapted the input convolution {adapted} to the model's input channels")
    if features_only:
        state = _flattened_names(state, own)
        extra = sorted(k for k in state if k not in own)
        for k in extra:
            del state[k]
        if extra:
            dropped += extra
            notes.append(f"dropped {len(extra)} tensors the features_only model does not use")
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if mismatched:
        raise WeightsError(
            f"The weights from {source} do not fit the model: {len(mismatched)} tensor(s) have "
            f"other shapes ({'; '.join(mismatched[:6])}{' ...' if len(mismatched) > 6 else ''}). "
            "They were made for another architecture or configuration; pick weights for this "
            "model or change its config (e.g. in_chans)."
        )
    result = model.load_state_dict(state, strict=False)
    missing = sorted(set(result.missing_keys) - keep_random)
    unexpected = sorted(result.unexpected_keys)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing from the checkpoint ({_listing(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} not in the model ({_listing(unexpected)})")
        raise WeightsError(
            f"The weights from {source} do not match the model: " + "; ".join(parts) + ". "
            "They were made for another architecture (or a modified one); pick weights for "
            "this model, e.g. from `zoo info <name>`."
        )
    message = f"loaded {len(state)} tensors from {source}" + (
        "; " + "; ".join(notes) if notes else "")
    log.info(message)
    return {"missing": sorted(keep_random), "unexpected": [], "dropped": dropped,
            "message": message}


def _flattened_names(state: dict[str, Tensor], own: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Checkpoint keys renamed the way timm's feature wrappers flatten nested stages
    (``stages.0.x`` is the features_only model's ``stages_0.x``)."""
    renamed = dict(state)
    for key in own:
        if key in state:
            continue
        head, _, rest = key.partition(".")
        candidates = [f"{head[:i]}.{head[i + 1:]}" + (f".{rest}" if rest else "")
                      for i, ch in enumerate(head) if ch == "_"]
        found = [c for c in candidates if c in state]
        if len(found) == 1:
            renamed[key] = renamed.pop(found[0])
    return renamed


def _data_config(model: nn.Module, *layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model's own data config, overridden by what the weights say, in order."""
    from zoo_core.nn.modules import data_config

    overrides: dict[str, Any] = {}
    for layer in layers:
        for key in DATA_CONFIG_KEYS:
            if layer and layer.get(key) is not None:
                overrides[key] = layer[key]
    cfg = data_config(model, **overrides)
    pretrained = getattr(model, "pretrained_cfg", None)
    if isinstance(pretrained, dict) and overrides:
        # so that anything reading the model's own config sees the weights' preprocessing
        pretrained.update({k: cfg[k] for k in overrides})
    return cfg


# -- building -----------------------------------------------------------------------

def _build_from_config(config: Mapping[str, Any], *, kind: str | None = None,
                       num_classes: int | None = None, where: str = "config.json",
                       **cfg: Any) -> nn.Module:
    """Rebuild a module from a saved-model / timm-format ``config.json``."""
    from zoo_core.plugins import registry

    reg = registry()
    zoo = config.get("zoo") or {}
    builder = zoo.get("builder") if isinstance(zoo, Mapping) else None
    if builder:
        bkind, bname = builder.get("kind"), builder.get("name")
        kwargs = {**dict(zoo.get("model") or {}), **cfg}
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        if kind is not None and bkind != kind and not (kind == "backbone" and bkind == "task"):
            raise WeightsError(f"{where} describes a {bkind} ({bname!r}), not a {kind}.")
        if bkind == "task":
            return reg.get("task", bname).component.create().build_model(**kwargs)
        return reg.get(bkind, bname).component.create(**kwargs)
    arch = config.get("architecture")
    if not arch:
        raise WeightsError(
            f"{where} names no architecture: a loadable model folder or repo has config.json "
            "with 'architecture' (timm's format) or a 'zoo' builder (what `zoo run` writes)."
        )
    if kind not in (None, "backbone"):
        raise WeightsError(f"{where} describes a backbone ({arch!r}), not a {kind}.")
    kwargs = {**dict(config.get("model_args") or {}), **cfg}
    ckpt_classes = config.get("num_classes",
                              (config.get("pretrained_cfg") or {}).get("num_classes"))
    classes = num_classes if num_classes is not None else ckpt_classes
    if classes is not None:
        kwargs["num_classes"] = classes
    try:
        component = reg.get("backbone", str(arch)).component
    except UnknownNameError as exc:
        raise WeightsError(
            f"{where} names the architecture {arch!r}, which no installed plugin provides. "
            f"{exc} Install the plugin that provides it."
        ) from None
    model = component.create(**kwargs)
    pretrained = getattr(model, "pretrained_cfg", None)
    if isinstance(pretrained, dict):  # as timm's models say, so the next save says it too
        pretrained.setdefault("architecture", component.name)
    return model



def create_model(kind: str, name: str, *, weights: str | bool | None = None,
                 num_classes: int | None = None, offline: bool | None = None,
                 **cfg: Any) -> LoadedModel:
    """Build ``name`` of ``kind`` and load the weights asked for.

    ``name``: ``arch``, ``arch.tag``, ``plugin:arch``, ``hf://org/repo`` (a
    timm-format or zoo model repo) or a saved-model folder (a path). ``weights``:
    None/False/"none" -> random init; True/"default" -> the tag in ``name`` or the
    default tag (for a repo or folder: its own weights); a tag name; or a weights URI.
    """
    offline = offline_from_env() if offline is None else offline
    if names_own_config(name):
        return _create_from_repo(kind, name, weights, num_classes, offline, cfg)
    from zoo_core.plugins import registry

    resolved = registry().get(kind, name)
    comp = resolved.component
    picked = weights_source(comp, resolved.tag, weights)
    rw = tag = None
    if picked is not None:
        uri, sha, tag = picked
        rw = resolve(uri, offline=offline, sha256=sha)
    ckpt_classes = (tag.num_classes if tag else None) or (
        rw.config.get("num_classes") if rw is not None else None)
    build = dict(cfg)
    if num_classes is not None:
        build["num_classes"] = num_classes
    elif ckpt_classes is not None and "num_classes" in _factory_params(comp):
        build["num_classes"] = ckpt_classes
    model = comp.create(**build)
    report: dict[str, Any] = {}
    lock: list[dict[str, Any]] = []
    if rw is not None:
        report = load_weights(model, load_state_dict(rw.path), source=rw.uri,
                              features_only=bool(cfg.get("features_only")))
        lock.append(_lock_entry(rw))
    data_cfg = _data_config(model, tag.data_config if tag else None,
                            (rw.config.get("pretrained_cfg") if rw is not None else None))
    return LoadedModel(model=model, data_config=data_cfg, lock=lock, report=report)


def _factory_params(comp: Component) -> set[str]:
    """Keyword names the component's factory accepts (all, when it takes **kwargs)."""
    import inspect

    try:
        sig = inspect.signature(comp.factory)
    except (TypeError, ValueError):
        return {"num_classes"}
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return {"num_classes", *sig.parameters}
    return set(sig.parameters)


def _create_from_repo(kind: str, uri: str, weights: str | bool | None, num_classes: int | None,
                      offline: bool, cfg: dict[str, Any]) -> LoadedModel:
    """``hf://org/repo`` or a saved-model folder as a model name, as timm's ``hf-hub:``
    and ``local-dir:`` prefixes."""
    from zoo_core.plugins import registry

    own = weights is True or (isinstance(weights, str) and weights.strip().lower() == "default")
    lock: list[dict[str, Any]] = []
    if own:
        rw = resolve(uri, offline=offline)
        config = dict(rw.config)
        if not config:
            raise WeightsError(
                f"{uri} has no config.json, so it does not say which architecture it holds. "
                "Use it as the weights of a named backbone instead: "
                f"backbone = '<arch>', weights = '{uri}'."
            )
    elif uri.startswith("hf://"):
        config, cfg_lock = hub_repo_config(uri, offline)
        lock.append(cfg_lock)
        rw = None
    else:  # a folder: its config.json says what to build, its weights stay unread
        config, rw = _folder_config(uri), None
    model = _build_from_config(config, kind=kind, num_classes=num_classes,
                               where=f"{uri} config.json", **cfg)
    report: dict[str, Any] = {}
    if rw is None and weights not in (None, False) and not (
            isinstance(weights, str) and weights.strip().lower() in _NO_WEIGHTS):
        # another tag or URI for this repo's architecture
        arch = str(config.get("architecture"))
        comp = registry().get("backbone", arch).component
        picked = weights_source(comp, None, weights)
        if picked is not None:
            rw = resolve(picked[0], offline=offline, sha256=picked[1])
    if rw is not None:
        report = load_weights(model, load_state_dict(rw.path), source=rw.uri,
                              features_only=bool(cfg.get("features_only")))
        lock.append(_lock_entry(rw))
    data_cfg = _data_config(model, config.get("pretrained_cfg"))
    return LoadedModel(model=model, data_config=data_cfg, lock=lock, report=report)


def _folder_config(folder: str) -> dict[str, Any]:
    from zoo_core.weights.saved import is_model_folder, read_config

    path = Path(folder).expanduser()
    if not is_model_folder(path):
        raise WeightsError(f"{folder} is not a saved-model folder: config.json and "
                           "model.safetensors are expected in it.")
    return read_config(path)


# -- the saved-model folder ------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def effective_state_dict(model: nn.Module) -> dict[str, Any]:
    """``model.state_dict()`` with torch's pruning re-parametrisation folded in: a
    layer pruned with ``torch.nn.utils.prune`` (``weight_orig`` + ``weight_mask``)
    is written as the weight it computes with (``weight``), where ``weight`` was,
    so a model saved mid-pruning loads into the plain architecture."""
    state = model.state_dict()
    out: dict[str, Any] = {}
    for key, value in state.items():
        base = key[:-len("_orig")] if key.endswith("_orig") else None
        if base is not None and base + "_mask" in state:
            out[base] = (value * state[base + "_mask"]).detach()
        elif not (key.endswith("_mask") and key[:-len("_mask")] + "_orig" in state):
            out[key] = value
    return out


def save_model(folder: str | Path, model: nn.Module, config: Mapping[str, Any]) -> None:
    """Write ``config.json`` + ``model.safetensors`` into ``folder``, each atomically.

    ``config`` follows contract A: ``architecture``, ``num_classes``,
    ``pretrained_cfg``, optional ``label_names``, and a ``zoo`` object with
    the ``builder`` that :func:`load_model` uses. Missing ``num_classes`` and
    ``pretrained_cfg`` are filled in from the model. A pruned model is written
    with its effective weights (:func:`effective_state_dict`), never its masks.
    """
    from zoo_core.nn.modules import data_config

    cfg = dict(config)
    zoo = cfg.get("zoo") or {}
    if not cfg.get("architecture") and not (isinstance(zoo, Mapping) and zoo.get("builder")):
        raise ValueError("save_model needs config['architecture'] or config['zoo']['builder']")
    model_classes = getattr(model, "num_classes", None)
    if cfg.get("num_classes") is None and isinstance(model_classes, int):
        cfg["num_classes"] = model_classes
    if "pretrained_cfg" not in cfg:
        dc = data_config(model)
        cfg["pretrained_cfg"] = {k: dc[k] for k in DATA_CONFIG_KEYS if k in dc}
        if cfg.get("num_classes") is not None:
            cfg["pretrained_cfg"]["num_classes"] = cfg["num_classes"]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(effective_state_dict(model), folder / "model.safetensors")
    with atomic_open(folder / "config.json") as fh:
        json.dump(_jsonable(cfg), fh, indent=2)
        fh.write("\n")


def load_model(folder: str | Path, *, offline: bool | None = None) -> LoadedModel:
    """Rebuild and load a saved-model folder (or an ``hf://org/repo`` holding one), strictly."""
    source = str(folder)
    if source.startswith("hf://"):
        rw = resolve(source, offline=offline)
        config = dict(rw.config)
    else:
        rw = resolve_local(source)
        config = dict(rw.config)
        if not config:
            raise WeightsError(
                f"{folder} has no config.json; a saved model folder holds config.json and "
                "model.safetensors (written by `zoo run` or zoo_core.weights.save_model)."
            )
    model = _build_from_config(config, where=f"{source}/config.json")
    report = load_weights(model, load_state_dict(rw.path), source=rw.uri, drop_classifier=False)
    data_cfg = _data_config(model, config.get("pretrained_cfg"))
    return LoadedModel(model=model, data_config=data_cfg, lock=[_lock_entry(rw)], report=report)


