"""Backbone stages from timm's ``feature_info``, and freezing them.

Each ``feature_info`` entry names the module that ends a stage; every
parameter belongs to the first stage whose module subtree ends at or after
it, in module definition order. Modules after the last stage (a final conv or
norm before pooling) belong to the last stage. Anything passed as
``exclude`` (a classifier head, a decoder) is never part of a stage.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def feature_modules(backbone: nn.Module) -> list[str]:
    """The module names that end each stage, from ``feature_info``."""
    info = getattr(backbone, "feature_info", None)
    if info is None:
        return []
    if hasattr(info, "module_name"):  # timm's FeatureInfo (features_only models)
        return list(info.module_name())
    names = []
    for entry in info:
        name = entry.get("module") if isinstance(entry, dict) else None
        if name:
            names.append(name)
    return names


class StageMap:
    """Which stage each module and parameter of ``backbone`` belongs to.

    ``model`` (default: the backbone) is the whole network; its parameters that
    are neither in a stage nor in ``exclude`` are ``other_params``.
    """

    def __init__(self, backbone: nn.Module, exclude: Iterable[nn.Module] = (),
                 model: nn.Module | None = None):
        excluded = list(exclude)
        skip_params = {id(p) for m in excluded for p in m.parameters()}
        skip_modules = {id(sub) for m in excluded for sub in m.modules()}
        modules = list(backbone.named_modules())
        pos = {name: i for i, (name, _) in enumerate(modules)}
        ends: list[int] = []
        for name in feature_modules(backbone):
            if name not in pos:
                continue
            end = max(i for i, (n, _) in enumerate(modules)
                      if n == name or n.startswith(name + "."))
            if not ends or end > ends[-1]:
                ends.append(end)
        self.num_stages = max(len(ends), 1)

        def stage_at(index: int) -> int:
            for k, end in enumerate(ends):
                if index <= end:
                    return k
            return self.num_stages - 1

        self.module_stage: dict[int, int] = {}
        for i, (_, module) in enumerate(modules):
            if id(module) not in skip_modules and i > 0:
                self.module_stage[id(module)] = stage_at(i)
        self.params: list[list[nn.Parameter]] = [[] for _ in range(self.num_stages)]
        seen: set[int] = set()
        for name, param in backbone.named_parameters():
            if id(param) in skip_params or id(param) in seen:
                continue
            seen.add(id(param))
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            self.params[stage_at(pos.get(owner, 0))].append(param)
        self.excluded_params = [p for m in excluded for p in m.parameters()]
        known = seen | skip_params
        whole = model if model is not None else backbone
        self.other_params = [p for p in whole.parameters() if id(p) not in known]


def freeze_stages(stages: StageMap, frozen: int) -> None:
    """Parameters of the first ``frozen`` stages stop training; everything else trains."""
    for k, params in enumerate(stages.params):
        for p in params:
            p.requires_grad_(k >= frozen)
    for p in stages.excluded_params + stages.other_params:
        p.requires_grad_(True)


def set_stage_modes(model: nn.Module, stages: StageMap, frozen: int) -> None:
    """``model`` in train mode, except the modules of frozen stages (BatchNorm statistics
    and dropout of a frozen stage stay as they are)."""
    model.train()
    if frozen <= 0:
        return
    for module in model.modules():
        stage = stages.module_stage.get(id(module))
        if stage is None or stage >= frozen:
            continue
        if any(p.requires_grad for p in module.parameters()):
            continue  # an ancestor of something that trains
        module.training = False
