"""Community SR architectures through spandrel: published weights, detected and loaded.

zoo reads the file itself (safetensors, or ``torch.load(weights_only=True)``:
spandrel's own file reader is never used) and hands the tensors to
``spandrel.ModelLoader().load_from_state_dict``, which recognises the
architecture and its hyperparameters from the keys and shapes.

A :class:`CommunitySR` is built from its registry entry's cfg (random init,
for ``zoo bench`` or training from scratch). When weights are loaded into it
(``zoo_core.weights.create_model`` calls ``checkpoint_filter`` first), the
network is rebuilt as the weights describe it: any cfg key that was set must
agree with the weights (the task's ``scale``, say), the rest follows them.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from zoo_core.errors import WeightsError, ZooError, suggestion
from zoo_sr.community_table import BY_ARCH_ID, BY_NAME, ArchSpec

__all__ = ["CommunitySR", "build_community", "read_state_dict", "load_community_sr",
           "detect"]

# BasicSR/Real-ESRGAN/SwinIR files wrap their tensors in one of these keys
_WRAPPERS = ("params_ema", "params-ema", "params", "state_dict", "model_state_dict", "model",
             "net", "module")


def _model_class(spec: ArchSpec) -> type[nn.Module]:
    return getattr(importlib.import_module(f"spandrel.architectures.{spec.arch_id}"), spec.arch_id)


def _norm(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_norm(v) for v in value)
    return value


class CommunitySR(nn.Module):
    """One spandrel architecture behind zoo's SR interface (``scale``, ``in_chans``,
    ``example_input``); the network itself is ``self.net``."""

    def __init__(self, spec: ArchSpec, **cfg: Any):
        super().__init__()
        self.arch = spec.name
        self._spec = spec
        self.requested = dict(cfg)
        self.detected: dict[str, Any] = {}
        cls = _model_class(spec)
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        kwargs = dict(spec.defaults)
        for key, value in cfg.items():
            if key == "scale":
                kwargs[spec.scale_kw] = int(value)
            elif key == "in_chans":
                if spec.in_kw is None:
                    if int(value) != 3:
                        raise ZooError(f"{spec.name} works on RGB images only, not "
                                       f"in_chans={value}.")
                    continue
                kwargs[spec.in_kw] = int(value)
                if spec.out_kw:
                    kwargs[spec.out_kw] = int(value)
            elif key in params:
                kwargs[key] = value
            else:
                raise ZooError(
                    f"{spec.name} has no cfg key {key!r}.{suggestion(key, params)} Its keys are "
                    f"scale, in_chans and the arguments of spandrel's {cls.__name__}: "
                    f"{', '.join(params)}."
                )
        if spec.in_kw and spec.out_kw and spec.in_kw in kwargs and spec.out_kw not in kwargs:
            kwargs[spec.out_kw] = kwargs[spec.in_kw]
        try:
            self.net = cls(**kwargs)
        except Exception as exc:
            raise ZooError(
                f"spandrel's {cls.__name__} cannot be built with {kwargs}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}. "
                f"Check the cfg of {spec.name}."
            ) from None
        hyper = getattr(self.net, "hyperparameters", {}) or kwargs
        self.scale = int(hyper.get(spec.scale_kw, kwargs.get(spec.scale_kw, 1)))
        self.in_chans = int(hyper.get(spec.in_kw, 3)) if spec.in_kw else 3

    @classmethod
    def from_descriptor(cls, desc: Any) -> CommunitySR:
        """Wrap a network spandrel has already built and loaded."""
        spec = BY_ARCH_ID.get(desc.architecture.id)
        if spec is None:
            raise WeightsError(
                f"These weights are for spandrel's {desc.architecture.id} architecture, which zoo "
                f"does not register as an sr model (registered: {', '.join(sorted(BY_NAME))})."
            )
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model.arch, model._spec, model.requested = spec.name, spec, {}
        model._adopt(desc)
        return model

    def forward(self, x: Tensor) -> Tensor:
        # some of these networks scale their input in place (RCAN: x *= rgb_range)
        return self.net(x.clone())

    def example_input(self, batch_size: int) -> Tensor:
        """A batch of 64x64 LR patches (a multiple of every window size here)."""
        return torch.rand(batch_size, self.in_chans, 64, 64)

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, scale={self.scale}, in_chans={self.in_chans}"

    # -- loading published weights -------------------------------------------------

    def checkpoint_filter(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Detect the architecture of ``state``, rebuild ``self.net`` to match it and
        return its tensors under our keys. Called by ``zoo_core.weights.load_weights``."""
        state = dict(state)
        if state and all(k.startswith("net.") for k in state):  # a zoo-saved CommunitySR
            state = {k[4:]: v for k, v in state.items()}
        desc = detect(state)
        found = desc.architecture.id
        if found != self._spec.arch_id:
            other = BY_ARCH_ID.get(found)
            hint = (f"use name = '{other.name}' for them" if other else
                    "zoo does not register that architecture as an sr model")
            raise WeightsError(
                f"These weights are for spandrel's {found} architecture "
                f"({', '.join(desc.tags) or 'no tags'}, x{desc.scale}), not the "
                f"{self._spec.arch_id} that '{self.arch}' is; {hint}."
            )
        self._adopt(desc, self._check_agrees(desc))
        return {f"net.{k}": v for k, v in self.net.state_dict().items()}

    def _adopt(self, desc: Any, net: nn.Module | None = None) -> None:
        net = desc.model if net is None else net
        old = self._modules.get("net")
        param = next(iter(old.parameters()), None) if old is not None else None
        if param is not None:
            net = net.to(device=param.device)
        self.net = net
        self.scale = int(desc.scale)
        self.in_chans = int(desc.input_channels)
        self.detected = {"architecture": desc.architecture.id, "tags": list(desc.tags),
                         "scale": int(desc.scale), "purpose": desc.purpose,
                         "hyperparameters": dict(getattr(net, "hyperparameters", {}) or {})}

    def _check_agrees(self, desc: Any) -> nn.Module:
        """Every cfg key that was set must agree with the weights. ``scale`` and
        ``in_chans`` are compared with what spandrel detected; another key that
        differs from the detected hyperparameters is accepted when the network
        rebuilt with it still takes every tensor of the weights (spandrel cannot
        read e.g. a window size or ``img_size`` from shapes, and falls back to the
        class default), which then replaces spandrel's network."""
        found = {"scale": int(desc.scale), "in_chans": int(desc.input_channels)}
        hyper = dict(getattr(desc.model, "hyperparameters", {}) or {})
        clashes, overrides = [], {}
        for key, want in self.requested.items():
            if key in found:
                if int(want) != found[key]:
                    clashes.append(f"{key}={want!r} (the weights have {found[key]!r})")
            elif key in hyper and _norm(hyper[key]) != _norm(want):
                overrides[key] = want
        net = desc.model
        if overrides and not clashes:
            try:
                net = _model_class(self._spec)(**{**hyper, **overrides})
                net.load_state_dict(desc.model.state_dict(), strict=True)
            except Exception:
                clashes += [f"{k}={v!r} (the weights have {hyper[k]!r})"
                            for k, v in overrides.items()]
        if clashes:
            raise WeightsError(
                f"The {desc.architecture.id} weights disagree with the cfg of "
                f"'{self.arch}': {'; '.join(clashes)}. Remove those keys from the model's cfg "
                "(the architecture follows the weights), or pick weights made for them."
            )
        return net


def build_community(name: str, **cfg: Any) -> CommunitySR:
    """The factory of each community entry: ``name``'s spandrel class, random init."""
    return CommunitySR(BY_NAME[name], **cfg)


def detect(state: Mapping[str, Tensor]) -> Any:
    """spandrel's descriptor for a state dict, or a :class:`WeightsError` that says why not."""
    import spandrel

    try:
        desc = spandrel.ModelLoader().load_from_state_dict(dict(state))
    except spandrel.UnsupportedModelError:
        keys = sorted(state)
        shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        raise WeightsError(
            f"spandrel does not recognise these weights ({len(keys)} tensors: {shown}) as any "
            "architecture it supports, so zoo cannot load them as a community SR model. Check "
            "that the file holds an SR network's weights (not a discriminator's or an optimizer "
            "state), or use the zoo model they were trained with (e.g. srresnet)."
        ) from None
    except Exception as exc:
        raise WeightsError(
            "spandrel recognised these weights but could not load them "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); the file "
            "may be truncated or edited."
        ) from None
    if not isinstance(desc, spandrel.ImageModelDescriptor):
        raise WeightsError(f"These weights are for spandrel's {desc.architecture.id}, a "
                           f"{type(desc).__name__}, not an image-to-image SR network.")
    return desc


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Tensors of a weights file, unwrapping BasicSR-style ``{"params_ema": ...}``.

    safetensors through ``zoo_core.weights.load_state_dict``; a pickle only
    through ``torch.load(weights_only=True)``, so no code in a file runs.
    """
    import pickle
    import warnings

    from zoo_core.weights import load_state_dict

    p = Path(path)
    if p.is_dir() or p.name.endswith(".safetensors"):
        return load_state_dict(p)
    if not p.is_file():
        raise WeightsError(f"Weights file {p} does not exist.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise WeightsError(
            f"Refusing to load {p}: it is a pickle that needs more than tensors to unpickle "
            f"({first}); zoo reads checkpoints only with torch.load(weights_only=True). Convert "
            "it to safetensors in a trusted environment and use that file."
        ) from None
    except Exception as exc:
        raise WeightsError(f"torch could not read the weights file {p} "
                           f"({type(exc).__name__}); it may be damaged.") from None
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict):
        raise WeightsError(f"{p} holds a {type(obj).__name__}, not a state dict of tensors.")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    if not tensors:
        raise WeightsError(f"{p} holds no tensors.")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


def load_community_sr(source: str | os.PathLike[str] | Mapping[str, Tensor]) -> CommunitySR:
    """Any community SR weights (a file or a state dict) -> a ready :class:`CommunitySR`
    in eval mode, the architecture chosen by spandrel's detection."""
    state = read_state_dict(source) if not isinstance(source, Mapping) else dict(source)
    if state and all(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items()}
    return CommunitySR.from_descriptor(detect(state)).eval()
