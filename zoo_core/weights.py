"""Pretrained weights: resolve a source, build a model, load it strictly.

The public surface (contract A in the project notes):

* :func:`resolve` turns a weights URI into a verified local file:
  ``hf://org/repo[@rev][/file]``, ``https://...`` with a sha256, a local file
  or ``save_pretrained`` folder, or any scheme a plugin adds through the
  ``resolve_weights`` hook (asked first).
* :func:`create_model` builds a registry component (``arch``, ``arch.tag``,
  ``plugin:arch`` or a timm-format Hub repo ``hf://org/repo``) and loads its
  weights: the classifier is dropped when ``num_classes`` differs, the rest
  loads strictly, and any other mismatch is one clear error.
* :func:`save_model` / :func:`load_model` write and read the saved-model
  folder (``config.json`` + ``model.safetensors``) that runs produce and
  ``zoo push`` publishes.
* :func:`pull` prefetches what a name, tag, URI or recipe needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import UnknownNameError, WeightsError, ZooError, suggestion
from zoo_core.hub import (
    hub_download,
    is_uri,
    offline_from_env,
    parse_hf,
    resolve_hf,
    resolve_local,
    resolve_url,
    scheme_of,
)
from zoo_core.types import ResolvedWeights, WeightTag
from zoo_core.weights_files import (
    check_safetensors,
    load_state_dict,
    save_safetensors,
    sha256_file,
    sha256_matches,
)

if TYPE_CHECKING:
    from torch import Tensor, nn

    from zoo_core.registry import Component

__all__ = [
    "LoadedModel", "resolve", "resolve_tag", "create_model", "load_state_dict", "load_weights",
    "save_model", "load_model", "pull", "pull_recipe", "weights_source", "is_cached",
]

log = logging.getLogger("zoo.weights")

DATA_CONFIG_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
_NO_WEIGHTS = {"none", "false", "random", "scratch", ""}


@dataclass
class LoadedModel:
    """A built model plus where its weights came from."""

    model: nn.Module
    data_config: dict[str, Any]
    lock: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


# -- resolving ----------------------------------------------------------------------

def _plugin_resolve(uri: str, offline: bool) -> ResolvedWeights | None:
    from zoo_core.plugins import plugin_set

    hook = plugin_set().pm.hook.resolve_weights
    # pluggy calls the most recently registered implementation first
    for impl in reversed(hook.get_hookimpls()):
        try:
            result = impl.function(uri=uri, offline=offline)
        except ZooError:
            raise
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise WeightsError(
                f"Plugin {impl.plugin_name!r} failed while resolving {uri}: "
                f"{type(exc).__name__}{': ' + text if text else ''}. "
                "Report it to the plugin's author; `zoo plugins` lists it."
            ) from exc
        if result is None:
            continue
        if not isinstance(result, ResolvedWeights) or not Path(result.path).is_file():
            raise WeightsError(
                f"Plugin {impl.plugin_name!r} resolved {uri} to "
                f"{getattr(result, 'path', result)!r}, which is not an existing file."
            )
        digest = sha256_file(result.path)
        if result.sha256 and not sha256_matches(digest, result.sha256):
            raise WeightsError(
                f"{result.path} (from plugin {impl.plugin_name!r} for {uri}) has sha256 {digest}, "
                f"not the {result.sha256} the plugin announced."
            )
        if str(result.path).endswith(".safetensors"):
            check_safetensors(result.path)
        return ResolvedWeights(uri=result.uri or uri, path=Path(result.path), sha256=digest,
                               revision=result.revision, config=dict(result.config))
    return None


def resolve(uri: str, *, offline: bool | None = None, sha256: str | None = None) -> ResolvedWeights:
    """A weights URI -> a verified local file.

    ``offline=None`` follows ``HF_HUB_OFFLINE``. ``sha256`` (full, or a prefix
    of 8+ hex digits) is required for http(s) URLs unless the URL carries
    ``#sha256=`` or a torchvision-style hash in its file name.
    """
    offline = offline_from_env() if offline is None else offline
    found = _plugin_resolve(uri, offline)
    if found is not None:
        return found
    scheme = scheme_of(uri)
    if scheme == "hf":
        return resolve_hf(uri, offline=offline)
    if scheme in ("http", "https"):
        return resolve_url(uri, sha256=sha256, offline=offline)
    if scheme == "file":
        return resolve_local(uri, sha256=sha256)
    raise WeightsError(
        f"No installed plugin handles weights URIs of the form '{scheme}://' ({uri}). zoo itself "
        "reads hf://, https:// (with a sha256) and local paths; `zoo plugins` lists plugins."
    )


def resolve_tag(tag: WeightTag, *, offline: bool | None = None) -> ResolvedWeights:
    return resolve(tag.source, offline=offline, sha256=tag.sha256)


# -- choosing weights for a component -----------------------------------------------

def weights_source(component: Component, name_tag: str | None,
                   weights: str | bool | None) -> tuple[str, str | None, WeightTag | None] | None:
    """(uri, sha256, tag) for what ``weights`` asks of ``component``; None = random init."""
    if weights is None or weights is False:
        return None
    if isinstance(weights, str) and weights.strip().lower() in _NO_WEIGHTS:
        return None
    if weights is True or (isinstance(weights, str) and weights.strip().lower() == "default"):
        if not component.weights:
            raise WeightsError(
                f"{component.kind} {component.name!r} has no pretrained weights; use "
                "weights='none' to train from scratch, or give a weights URI."
            )
        tag = component.weight(name_tag)
        return tag.source, tag.sha256, tag
    assert isinstance(weights, str)
    if is_uri(weights):
        return weights, None, None
    tag = component.weight(weights)
    return tag.source, tag.sha256, tag


def _lock_entry(rw: ResolvedWeights) -> dict[str, Any]:
    return {"uri": rw.uri, "revision": rw.revision, "sha256": rw.sha256, "path": str(rw.path)}


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


def _data_config(model: nn.Module, *layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model's own data config, overridden by what the weights say, in order."""
    from zoo_core.modules import data_config

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
    return component.create(**kwargs)


def _hub_repo_config(uri: str, offline: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.json of a Hub repo (no weights) -> (config, lock entry)."""
    ref = parse_hf(uri)
    path, commit = hub_download(ref, "config.json", offline=offline)
    from zoo_core.hub import _verify_hub_file

    digest = _verify_hub_file(path, ref, "config.json")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise WeightsError(f"config.json of {uri} is not valid JSON.") from None
    return config, {"uri": f"{ref.uri}/config.json" if not ref.filename else ref.uri,
                    "revision": commit, "sha256": digest, "path": str(path)}


def create_model(kind: str, name: str, *, weights: str | bool | None = None,
                 num_classes: int | None = None, offline: bool | None = None,
                 **cfg: Any) -> LoadedModel:
    """Build ``name`` of ``kind`` and load the weights asked for.

    ``name``: ``arch``, ``arch.tag``, ``plugin:arch`` or ``hf://org/repo`` (a
    timm-format or zoo model repo). ``weights``: None/False/"none" -> random
    init; True/"default" -> the tag in ``name`` or the default tag (for an
    ``hf://`` name: that repo's weights); a tag name; or a weights URI.
    """
    offline = offline_from_env() if offline is None else offline
    if name.startswith("hf://"):
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
    """``hf://org/repo`` as a model name, as timm's ``hf-hub:`` prefix."""
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
    else:
        config, cfg_lock = _hub_repo_config(uri, offline)
        lock.append(cfg_lock)
        rw = None
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


# -- the saved-model folder ------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def save_model(folder: str | Path, model: nn.Module, config: Mapping[str, Any]) -> None:
    """Write ``config.json`` + ``model.safetensors`` into ``folder``, each atomically.

    ``config`` follows contract A: ``architecture``, ``num_classes``,
    ``pretrained_cfg``, optional ``label_names``, and a ``zoo`` object with
    the ``builder`` that :func:`load_model` uses. Missing ``num_classes`` and
    ``pretrained_cfg`` are filled in from the model.
    """
    from zoo_core.atomic import atomic_open
    from zoo_core.modules import data_config

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
    save_safetensors(model.state_dict(), folder / "model.safetensors")
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


# -- prefetching ------------------------------------------------------------------------

def _component_sources(spec: str) -> list[tuple[str, str | None]]:
    """(uri, sha256) for a registry name or ``name.tag`` in any kind with weights."""
    from zoo_core.plugins import registry

    reg = registry()
    found = reg.find(spec)
    if not found:
        raise UnknownNameError(
            f"{spec!r} is neither a weights URI, a recipe file nor a registered name."
            f"{suggestion(spec.split(':')[-1], reg.all_names())} See `zoo list`."
        )
    out = []
    for r in found:
        if r.component.weights:
            tag = r.component.weight(r.tag)
            out.append((tag.source, tag.sha256))
    if not out:
        kinds = ", ".join(sorted({r.component.kind for r in found}))
        raise WeightsError(f"{spec!r} ({kinds}) has no pretrained weights to pull.")
    return out


def sources_for(spec: str) -> list[tuple[str, str | None]]:
    """What ``zoo pull``/``zoo cache remove`` act on for one SPEC."""
    if spec.startswith("hf://") or "://" in spec or (is_uri(spec) and Path(spec).exists()):
        return [(spec, None)]
    return _component_sources(spec)


def is_cached(uri: str, *, sha256: str | None = None) -> bool:
    """Whether ``uri`` can be loaded without network (cheap: no hashing)."""
    from zoo_core import weights_cache
    from zoo_core.hub import hf_cache_dir

    scheme = scheme_of(uri)
    if scheme == "hf":
        from huggingface_hub import try_to_load_from_cache

        ref = parse_hf(uri)
        files = (ref.filename,) if ref.filename else ("model.safetensors", "pytorch_model.bin")
        return any(isinstance(try_to_load_from_cache(
            ref.repo_id, f, cache_dir=str(hf_cache_dir()), revision=ref.revision), str)
            for f in files)
    if scheme in ("http", "https"):
        return weights_cache.read_url_entry(weights_cache.url_entry(uri)) is not None
    if scheme == "file":
        return Path(uri.removeprefix("file://")).expanduser().exists()
    try:
        return _plugin_resolve(uri, True) is not None
    except ZooError:
        return False


def pull(spec: str, *, offline: bool | None = None) -> list[ResolvedWeights]:
    """Fetch and verify what ``spec`` needs: a name, ``name.tag``, URI or recipe file."""
    if spec.endswith(".toml"):
        if not Path(spec).is_file():
            raise WeightsError(f"Recipe file {spec} does not exist.")
        return pull_recipe(spec, offline=offline)
    return [resolve(uri, offline=offline, sha256=sha) for uri, sha in sources_for(spec)]


def _read_toml(path: Path, seen: set[Path] | None = None) -> dict[str, Any]:
    """A recipe's tables with ``extends`` applied (deep merge, the child wins)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    seen = seen or set()
    path = path.resolve()
    if path in seen:
        raise WeightsError(f"Recipe {path} extends itself (a cycle).")
    seen.add(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WeightsError(f"Cannot read recipe {path}: {exc}.") from None
    base = data.pop("extends", None)
    if not base:
        return data
    merged = _read_toml(path.parent / str(base), seen)

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
                else v
        return out

    return merge(merged, data)


def pull_recipe(path: str | Path, *, offline: bool | None = None) -> list[ResolvedWeights]:
    """Prefetch the weights a recipe's ``[model]`` uses (``backbone`` and ``weights``).

    Reads the TOML directly (with ``extends``) so that it does not depend on
    the recipe module; hook-up point for recipes whose weights live elsewhere.
    """
    model = _read_toml(Path(path)).get("model") or {}
    backbone = model.get("backbone")
    weights = model.get("weights", "default")
    if not backbone:
        return []
    if isinstance(weights, str) and weights.strip().lower() in _NO_WEIGHTS:
        if str(backbone).startswith("hf://"):
            # random init still needs the repo's config.json to know the architecture
            _hub_repo_config(str(backbone), offline_from_env() if offline is None else offline)
        return []
    if isinstance(weights, str) and is_uri(weights):
        return [resolve(weights, offline=offline)]
    if str(backbone).startswith("hf://"):
        if weights in (True, "default"):
            return [resolve(str(backbone), offline=offline)]
        _hub_repo_config(str(backbone), offline_from_env() if offline is None else offline)
        return []
    from zoo_core.plugins import registry

    resolved = registry().get("backbone", str(backbone))
    picked = weights_source(resolved.component, resolved.tag, weights)
    if picked is None:
        return []
    return [resolve(picked[0], offline=offline, sha256=picked[1])]
