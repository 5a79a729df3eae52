"""Resolving a weights URI to a verified local file, choosing a component's weights,
and prefetching (``zoo pull``).

:func:`resolve` asks plugins first (the ``resolve_weights`` hook), then reads
``hf://``, ``https://`` (with a sha256) and local paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo_core.errors import UnknownNameError, WeightsError, ZooError, suggestion
from zoo_core.types import ResolvedWeights, WeightTag
from zoo_core.weights.files import check_safetensors, sha256_file, sha256_matches
from zoo_core.weights.hub import hub_repo_config, resolve_hf
from zoo_core.weights.uris import is_model_path, is_uri, offline_from_env, parse_hf, scheme_of
from zoo_core.weights.urls import resolve_local, resolve_url

if TYPE_CHECKING:
    from zoo_core.registry import Component

_NO_WEIGHTS = {"none", "false", "random", "scratch", ""}


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
    """Whether ``uri`` can be loaded without network (cheap: no hashing). For a URL,
    the cached file must also carry the sha256 asked for (``sha256``, the URL's
    ``#sha256=`` or its torchvision-style name); a plugin's scheme is asked offline."""
    from zoo_core.weights import cache
    from zoo_core.weights.uris import PREFERRED_FILES, hf_cache_dir
    from zoo_core.weights.urls import expected_sha256

    scheme = scheme_of(uri)
    if scheme == "hf":
        from huggingface_hub import try_to_load_from_cache

        ref = parse_hf(uri)
        files = (ref.filename,) if ref.filename else PREFERRED_FILES
        return any(isinstance(try_to_load_from_cache(
            ref.repo_id, f, cache_dir=str(hf_cache_dir()), revision=ref.revision), str)
            for f in files)
    if scheme in ("http", "https"):
        expected = expected_sha256(uri, sha256)  # a URL with no known hash is an error
        entry = cache.read_url_entry(cache.url_entry(uri))
        return entry is not None and sha256_matches(entry["sha256"], expected)
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



def pull_recipe(path: str | Path, *, offline: bool | None = None) -> list[ResolvedWeights]:
    """Prefetch the weights a recipe's ``[model]`` uses (``backbone`` and ``weights``).

    The recipe is read with its ``extends`` chain but not validated, so that a
    recipe can be prefetched even where a plugin it names is missing.
    """
    from zoo_core.recipe.reading import read_tables

    tables, problems = read_tables(path)
    if problems:
        raise WeightsError(f"Cannot read recipe {path}: " + " ".join(map(str, problems)))
    model = tables.get("model") or {}
    backbone = model.get("backbone")
    weights = model.get("weights", "default")
    if not backbone:
        return []
    if is_model_path(str(backbone)) and weights in (True, "default"):
        return [resolve(str(backbone), offline=offline)]  # the folder's own file, checked
    if isinstance(weights, str) and weights.strip().lower() in _NO_WEIGHTS:
        if str(backbone).startswith("hf://"):
            # random init still needs the repo's config.json to know the architecture
            hub_repo_config(str(backbone), offline_from_env() if offline is None else offline)
        return []
    if isinstance(weights, str) and is_uri(weights):
        return [resolve(weights, offline=offline)]
    if str(backbone).startswith("hf://"):
        if weights in (True, "default"):
            return [resolve(str(backbone), offline=offline)]
        hub_repo_config(str(backbone), offline_from_env() if offline is None else offline)
        return []
    from zoo_core.plugins import registry

    resolved = registry().get("backbone", str(backbone))
    picked = weights_source(resolved.component, resolved.tag, weights)
    if picked is None:
        return []
    return [resolve(picked[0], offline=offline, sha256=picked[1])]
