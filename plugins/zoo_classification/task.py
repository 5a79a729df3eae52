"""The classification task: image -> class, cross-entropy, top-k/F1/confusion.

A :class:`~zoo_core.engine.task.SupervisedTask` with one role, ``net``, plus
what transfer learning needs: the modes (feature extraction, fine-tuning,
partial freezing, scratch), ``[[stages]]`` that change mode and learning
rate, per-stage learning-rate multipliers, and the frozen-feature cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from zoo_classification.metrics import ClassificationMeter
from zoo_classification.model import build_classifier, parts_of, uses_own_classifier, wrap_with_head
from zoo_classification.schema import SECTIONS
from zoo_classification.transfer import (
    CachedHeadNet,
    FrozenBackboneNet,
    ModelParts,
    frozen_path_matches,
    frozen_stage_count,
    set_train_mode,
    stage_map,
)
from zoo_core.api import (
    Direction,
    ModelRef,
    ModelSpec,
    Phase,
    Role,
    SupervisedTask,
    TaskData,
    decay_groups,
    image_datasets,
    names_own_config,
    read_image,
)
from zoo_core.errors import DataError, ZooError
from zoo_core.nn import add_input_dropout


class PredictOptions(BaseModel):
    """``zoo predict RUN IMAGE... [--topk K]``."""

    model_config = ConfigDict(extra="forbid")
    topk: int = Field(default=5, ge=1, description="how many classes to show per image")


def _architecture(name: str, model: nn.Module) -> str:
    """The registry name of the backbone (what timm calls the architecture)."""
    pretrained = getattr(model, "pretrained_cfg", None) or {}
    if names_own_config(name):
        arch = pretrained.get("architecture")
        if not arch:
            raise ZooError(f"Cannot tell which architecture {name} holds: its config.json "
                           "names none.")
        return str(arch)
    from zoo_core.plugins import registry

    return registry().get("backbone", name).component.name


def _checkpoint_labels(lock: list[dict[str, Any]]) -> list[str] | None:
    """The class names a saved zoo model was trained on (config.json beside its weights)."""
    for entry in lock:
        path = entry.get("path")
        config = Path(path).parent / "config.json" if path else None
        if config is None or not config.is_file():
            continue
        try:
            names = json.loads(config.read_text(encoding="utf-8")).get("label_names")
        except (OSError, ValueError):
            continue
        if isinstance(names, list):
            return [str(n) for n in names]
    return None


def _align_labels(data: TaskData, labels: list[str]) -> TaskData:
    """Renumber the data's classes to a saved model's label order."""
    from zoo_core.data.sources import SubsetSource

    if list(data.classes) == labels:
        return data
    unknown = [c for c in data.classes if c not in labels]
    if unknown:
        raise DataError(
            f"The data has classes the model does not know: {', '.join(unknown[:10])}"
            f"{' ...' if len(unknown) > 10 else ''}. The model predicts: "
            f"{', '.join(labels[:20])}{' ...' if len(labels) > 20 else ''}."
        )
    label_map = {i: labels.index(c) for i, c in enumerate(data.classes)}
    splits = {k: SubsetSource(v, range(len(v)), label_map=label_map, classes=labels)
              for k, v in data.splits.items()}
    return TaskData(splits, data.name, list(labels), list(data.notes))


def _example_input(data_config: Mapping[str, Any]) -> torch.Tensor:
    c, h, w = data_config["input_size"]
    gen = torch.Generator().manual_seed(0)
    return torch.randn(2, c, h, w, generator=gen)


class ClassificationTask(SupervisedTask):
    name = "classification"
    sections = SECTIONS
    roles: ClassVar[dict[str, Role]] = {"net": Role("backbone", description="the classifier")}
    main_role = "net"
    progress_keys = ("loss", "top1")
    curves: ClassVar[dict[str, tuple[str, ...]]] = {
        "loss.png": ("loss",), "accuracy.png": ("top1", "top5")}
    PredictOptions = PredictOptions
    folder_dataset = "imagefolder"

    def __init__(self) -> None:
        self.classes: list[str] = []
        self.cache_notes: list[dict[str, Any]] = []
        self.parts: ModelParts | None = None
        self.stages: Any = None
        self.frozen_path_ok = False
        self.deterministic = True
        self._net: nn.Module | None = None
        self._eval_net: nn.Module | None = None
        self._phase: Phase | None = None

    # -- the recipe --------------------------------------------------------------------
    def metrics(self) -> dict[str, Direction]:
        out: dict[str, Direction] = {"loss": "min", "top1": "max"}
        for k in self.recipe.eval.topk:
            out[f"top{k}"] = "max"
        out.update(f1_macro="max", mean_class_acc="max")
        return out

    def default_monitor(self) -> str:
        return "val/top1"

    def backbone(self, recipe: Any) -> tuple[str | None, str, dict[str, Any], str]:
        """(name, weights, backbone cfg, recipe path) from [models.net] or [model]."""
        m = recipe.model
        entry = recipe.models.get("net")
        cfg: dict[str, Any] = {}
        if m.in_chans is not None:
            cfg["in_chans"] = m.in_chans
        if m.drop_rate is not None:
            cfg["drop_rate"] = m.drop_rate
        if entry is not None:
            from zoo_core.api import default_weights

            weights = default_weights("backbone", entry.name, entry.weights)
            return entry.name, weights, {**cfg, **entry.cfg}, "models.net"
        return m.backbone, m.weights, cfg, "model"

    def resolve(self, recipe: Any) -> None:
        entry = recipe.models.get("net")
        if entry is not None and recipe.model.mode == "scratch":
            if entry.weights in (None, "default"):
                entry.weights = "none"
            elif entry.weights != "none":
                raise ValueError(f"mode 'scratch' trains from random initialisation, but "
                                 f"models.net.weights = {entry.weights!r}")
        stages = recipe.stages
        if not stages:
            return
        total = sum(s.epochs for s in stages)
        if "epochs" in recipe.train.model_fields_set and recipe.train.epochs != total:
            raise ValueError(
                f"train.epochs = {recipe.train.epochs} but the stages add up to {total} epochs; "
                "remove train.epochs (it is the sum of the stages) or make them agree")
        recipe.train.epochs = total
        for i, stage in enumerate(stages):
            if stage.name is None:
                stage.name = f"stage{i + 1}"
            if stage.mode == "scratch" and i > 0:
                raise ValueError(f"stages[{i}].mode: 'scratch' can only be the first stage")

    def model_refs(self, recipe: Any) -> dict[str, ModelRef]:
        name, weights, _, path = self.backbone(recipe)
        if name is None:
            return {}
        return {"net": ModelRef("backbone", name, weights, path)}

    def raw_problems(self, raw: Mapping[str, Any]) -> Iterable[Any]:
        from zoo_core.recipe.checks import component_cfg_problems, model_name_problems

        yield from super().raw_problems(raw)
        m = raw.get("model") if isinstance(raw.get("model"), Mapping) else {}
        net = (raw.get("models") or {}).get("net") if isinstance(raw.get("models"), Mapping) \
            else None
        if net is not None and ("backbone" in m or "weights" in m):
            yield ("error", "model.backbone", "the network is named twice: in [models.net] and "
                   "in [model]; keep [models.net] (name, weights) and [model] for the head "
                   "and the transfer mode")
        elif net is None and m.get("backbone") is None:
            yield ("error", "model.backbone", "required key is missing: name the backbone, "
                   "e.g. \"resnet18\" (see `zoo list backbone`).")
        elif net is None:
            yield from model_name_problems("backbone", m.get("backbone"),
                                           m.get("weights", "default"), "model.backbone",
                                           "model.weights")
        head = m.get("head", "linear")
        yield from model_name_problems("head", head, "none", "model.head", "model.head")
        yield from component_cfg_problems("head", head, m.get("head_cfg", {}), "model.head_cfg",
                                          reserved=("in_features", "num_classes"))

    def check_recipe(self, recipe: Any) -> Iterable[Any]:
        m = recipe.model
        name, weights, _, _ = self.backbone(recipe)
        if name is not None and weights == "none" and m.mode in ("feature_extract", "partial"):
            yield ("warning", "model.mode", (
                f"mode {m.mode!r} freezes a randomly initialised backbone (weights = "
                "\"none\"): its features are noise. Use pretrained weights or mode 'scratch'."))
        if recipe.data.classes is not None and m.num_classes is not None \
                and len(recipe.data.classes) != m.num_classes:
            yield ("error", "model.num_classes", (
                f"{m.num_classes} classes, but data.classes keeps {len(recipe.data.classes)}; "
                "drop model.num_classes (it follows the data) or make them agree."))

    def describe(self, recipe: Any) -> list[tuple[str, str]]:
        m = recipe.model
        name, weights, _, _ = self.backbone(recipe)
        rows = [("model", f"{name or '-'} + {m.head} head, mode {m.mode}, weights {weights}")]
        if recipe.stages:
            rows.append(("stages", "; ".join(
                f"{s.name}: {s.epochs} ep" + (f" {s.mode}" if s.mode else "")
                + (f" lr {s.lr:g}" if s.lr else "") for s in recipe.stages)))
        t = recipe.train
        rows.append(("optimizer", f"{t.optimizer.name} lr {t.optimizer.lr:g}, weight decay "
                                  f"{t.optimizer.weight_decay:g}, schedule {t.schedule.name}"))
        return rows

    # -- data --------------------------------------------------------------------------------
    def build_data(self, ctx: Any) -> TaskData:
        from zoo_core.data.datasets import load_splits

        raw = load_splits(self.recipe)
        data = TaskData(dict(raw.splits), raw.name, list(raw.classes), list(raw.notes))
        saved = ctx.saved.get(self.main_role)
        if saved is not None:
            labels = saved.get("label_names") or [str(i) for i in
                                                  range(int(saved.get("num_classes") or 0))]
            data = _align_labels(data, [str(n) for n in labels])
        self.classes = list(data.classes)
        return data

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        from zoo_core.data.transforms import is_deterministic

        augment = self.recipe.data.augment
        self.deterministic = is_deterministic(augment)
        return image_datasets(data.splits, specs[self.main_role].data_config, augment,
                              seed=self.recipe.recipe.seed)

    # -- the model ---------------------------------------------------------------------------
    def build_model(self, backbone: str, num_classes: int, head: str = "linear",
                    head_cfg: dict[str, Any] | None = None,
                    backbone_cfg: dict[str, Any] | None = None) -> nn.Module:
        """The architecture alone (``zoo_core.weights.load_model`` rebuilds saved runs)."""
        return build_classifier(backbone, num_classes, head, head_cfg, backbone_cfg)

    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        from zoo_core.data.transforms import resolve_data_config
        from zoo_core.weights import create_model

        recipe = self.recipe
        m = recipe.model
        classes = list(data.classes)
        num_classes = m.num_classes or len(classes)
        if num_classes != len(classes):
            raise ZooError(f"model.num_classes = {m.num_classes}, but the data has "
                           f"{len(classes)} classes; remove model.num_classes.")
        name, weights, bcfg, _ = self.backbone(recipe)
        assert name is not None
        head_cfg = dict(m.head_cfg or {})
        own = uses_own_classifier(m.head, head_cfg)
        use = None if m.mode == "scratch" or weights == "none" else weights
        loaded = create_model("backbone", name, weights=use,
                              num_classes=num_classes if own else 0, **bcfg)
        body: Any = loaded.model  # timm's interface, beyond nn.Module's typing
        if own and not (hasattr(body, "get_classifier") and hasattr(body, "forward_features")):
            raise ZooError(f"Backbone {name!r} has no get_classifier/forward_features "
                           "(timm's interface), so it cannot be used as a classifier.")
        notes = []
        if own and loaded.lock:
            trained_for = _checkpoint_labels(loaded.lock)
            if trained_for is not None and trained_for != classes:
                # same shape, other classes: a head for them would only mislead the start
                body.reset_classifier(num_classes)
                notes.append("new classifier: the checkpoint's was trained on other classes")
        if own:
            model: nn.Module = body
            if head_cfg.get("dropout"):
                add_input_dropout(body.get_classifier(), head_cfg["dropout"])
        else:
            model = wrap_with_head(body, num_classes, m.head, head_cfg)
        arch = _architecture(name, body)
        data_config = resolve_data_config(loaded.data_config, image_size=recipe.data.image_size,
                                          in_chans=bcfg.get("in_chans"))
        pretrained_cfg: dict[str, Any] = {k: data_config[k] for k in
                          ("input_size", "mean", "std", "interpolation", "crop_pct", "crop_mode")
                          if k in data_config}
        pretrained_cfg["num_classes"] = num_classes
        save_config: dict[str, Any] = {
            "num_classes": num_classes,
            "pretrained_cfg": pretrained_cfg,
            "label_names": classes,
            "zoo": {
                "builder": {"kind": "task", "name": self.name},
                "model": {"backbone": arch, "num_classes": num_classes, "head": m.head,
                          "head_cfg": head_cfg, "backbone_cfg": bcfg},
                "task": self.name,
                "role": self.main_role,
                "main_role": self.main_role,
                "tags": self.card_tags(),
                "base": {"name": name, "weights": "none" if use is None else weights},
                "recipe": {"name": recipe.name, "backbone": name, "weights": weights,
                           "mode": m.mode, "dataset": recipe.data.dataset},
            },
        }
        if own:  # timm can load this folder as `architecture` with `num_classes`
            save_config["architecture"] = arch
            if bcfg:
                save_config["model_args"] = bcfg
        report = loaded.report or {}
        if report.get("dropped") or report.get("dropped_classifier"):
            notes.append(f"new {num_classes}-way classifier (pretrained one dropped)")
        self._setup_parts(model, data_config)
        return {"net": ModelSpec(model=model, save_config=save_config, data_config=data_config,
                                 lock=list(loaded.lock), notes=notes)}

    def _setup_parts(self, model: nn.Module, data_config: Mapping[str, Any]) -> None:
        self.parts = parts_of(model)
        self.stages = stage_map(self.parts) if self.parts is not None else None
        self.frozen_path_ok = bool(
            self.parts is not None and self.parts.features is not None
            and frozen_path_matches(self.parts, _example_input(data_config)))

    # -- phases: transfer modes and stages ------------------------------------------------------
    def phases(self) -> list[Phase]:
        r = self.recipe
        m = r.model
        unfreeze = {int(k): int(v) for k, v in (m.unfreeze_at or {}).items()}

        def info(mode: str, freeze: int, stage_lr: list[float], head_lr: float) -> dict[str, Any]:
            return {"mode": mode, "freeze_stages": freeze, "unfreeze_at": unfreeze,
                    "stage_lr_mult": stage_lr, "head_lr_mult": head_lr, "summary": f"mode {mode}"}

        if not r.stages:
            return [Phase("train", r.train.epochs, {}, info(m.mode, m.freeze_stages,
                                                            list(m.stage_lr_mult),
                                                            m.head_lr_mult))]
        phases = []
        for i, st in enumerate(r.stages):
            opt: dict[str, Any] = {}
            if st.lr is not None:
                opt["lr"] = st.lr
            if st.weight_decay is not None:
                opt["weight_decay"] = st.weight_decay
            mode = st.mode or m.mode
            phase_info = info(
                mode, st.freeze_stages if st.freeze_stages is not None else m.freeze_stages,
                list(st.stage_lr_mult if st.stage_lr_mult is not None else m.stage_lr_mult),
                st.head_lr_mult if st.head_lr_mult is not None else m.head_lr_mult)
            if st.lr is not None:
                phase_info["summary"] += f", lr {st.lr:g}"
            phases.append(Phase(st.name or f"stage{i + 1}", st.epochs, {"net": opt}, phase_info))
        return phases

    def param_groups(self, role: str, model: nn.Module, opt: Mapping[str, Any],
                     phase: Phase) -> list[dict[str, Any]]:
        lr, wd = float(opt["lr"]), float(opt["weight_decay"])
        if self.stages is None:
            return decay_groups(model.parameters(), lr=lr, weight_decay=wd)
        mults = list(phase.info["stage_lr_mult"])
        n = self.stages.num_stages
        if len(mults) > n:
            raise ZooError(
                f"model.stage_lr_mult has {len(mults)} multipliers, but this backbone has "
                f"{n} stages (from its feature_info). Give at most {n}, earliest stage first; "
                "missing ones are 1.0.")
        mults += [1.0] * (n - len(mults))
        groups = []
        for k, params in enumerate(self.stages.params):
            groups += decay_groups(params, lr=lr, weight_decay=wd, name=f"stage{k}",
                                   lr_mult=mults[k])
        groups += decay_groups(self.stages.excluded_params, lr=lr, weight_decay=wd,
                               name="head", lr_mult=phase.info["head_lr_mult"])
        groups += decay_groups(self.stages.other_params, lr=lr, weight_decay=wd, name="other")
        return groups

    def _frozen(self, phase: Phase, epoch_in_run: int | None = None) -> int:
        if self.stages is None:
            return 0
        info = phase.info
        n = frozen_stage_count(info["mode"], info["freeze_stages"], self.stages.num_stages)
        if info["mode"] == "partial" and epoch_in_run is not None:
            for at, frozen in sorted(info["unfreeze_at"].items()):
                if epoch_in_run + 1 >= at:
                    n = min(frozen, self.stages.num_stages)
        return n

    def start_phase(self, phase: Phase, ctx: Any) -> None:
        from zoo_core.nn import freeze_stages

        mode = phase.info["mode"]
        if self.stages is None and mode in {"feature_extract", "partial"}:
            raise ZooError(f"Mode {mode!r} needs a model with a backbone and a head; this "
                           "model could not be split into the two.")
        self._phase = phase
        if self.stages is not None:
            freeze_stages(self.stages, self._frozen(phase))
        if mode == "feature_extract" and self.frozen_path_ok and self.parts is not None:
            self._net = FrozenBackboneNet(self.parts)
        else:
            # None: ctx.models[net] at each step (the engine's DDP wrapper with several
            # processes, so that DDP itself averages the gradients)
            self._net = None
        self._eval_net = None
        self._feature_cache(phase, ctx)

    def start_epoch(self, epoch: int, ctx: Any) -> None:
        from zoo_core.nn import freeze_stages

        if self.stages is None or self.parts is None or self._phase is None:
            ctx.models[self.main_role].train()
            return
        frozen = self._frozen(self._phase, epoch)
        freeze_stages(self.stages, frozen)
        set_train_mode(self.parts, self.stages, self._phase.info["mode"], frozen)

    # -- the frozen-feature cache -------------------------------------------------------------
    def cache_decision(self, ctx: Any) -> tuple[bool, str]:
        """Whether this phase can train on cached features, and why (not)."""
        setting = self.recipe.train.feature_cache
        mode = self._phase.info["mode"] if self._phase is not None else self.recipe.model.mode
        if setting is False:
            return False, "train.feature_cache = false"
        if mode != "feature_extract":
            return False, f"mode {mode!r} trains the backbone"
        if not self.frozen_path_ok:
            return False, "this model's head(pooled features) does not reproduce its output"
        if not self.deterministic:
            return False, "training transforms are random ([data.augment])"
        if ctx.hooks is not None and ctx.hooks.modifies_inputs:
            return False, "a regularizer changes the inputs every step"
        return True, "backbone frozen and training inputs deterministic"

    def _feature_cache(self, phase: Phase, ctx: Any) -> None:
        import time

        from zoo_classification.feature_cache import FeatureLoader, compute_features
        from zoo_core.data.loaders import make_loader

        ok, reason = self.cache_decision(ctx)
        relevant = phase.info["mode"] == "feature_extract" or \
            self.recipe.train.feature_cache is True
        note: dict[str, Any] = {"phase": phase.name, "used": ok, "reason": reason,
                                "seconds": 0.0, "samples": 0}
        if not ok:
            if self.recipe.train.feature_cache is True:
                note["reason"] = f"feature_cache = true, but not possible: {reason}"
            if relevant:
                ctx.log(f"feature cache off: {note['reason']}")
        else:
            assert self.parts is not None
            loaders = ctx.extras["loaders"]
            total = sum(len(ld) for ld in loaders.values())
            done = [0]

            def tick(_: int) -> None:
                done[0] += 1
                ctx.report_progress("features", done[0], total)

            ctx.report_progress("features", 0, total)
            t0 = time.perf_counter()
            r = self.recipe
            for split, loader in loaders.items():
                if split == "train":  # in order, with the (deterministic) training transform
                    loader = make_loader(loader.dataset, batch_size=r.eval.batch_size,
                                         shuffle=False, num_workers=loader.num_workers,
                                         pin_memory=loader.pin_memory)
                fs = compute_features(
                    self.parts, loader, device=ctx.device, precision=ctx.precision,
                    channels_last=r.train.channels_last, policy=ctx.extras["policy"],
                    should_stop=ctx.should_stop, on_batch=tick)
                batch = r.train.batch_size if split == "train" else r.eval.batch_size
                ctx.loader_overrides[split] = FeatureLoader(
                    fs, batch_size=batch, shuffle=split == "train", seed=r.recipe.seed)
                note["samples"] += len(fs)
            note["seconds"] = round(time.perf_counter() - t0, 3)
            self._net = CachedHeadNet(self.parts)
            self._eval_net = self._net
            ctx.log(f"feature cache: {note['samples']} samples through the frozen backbone "
                    f"once, in {note['seconds']:.1f}s; the head trains on them from now on")
        if relevant and not any(n["phase"] == phase.name for n in self.cache_notes):
            self.cache_notes.append(note)

    # -- steps --------------------------------------------------------------------------------
    def net(self, ctx: Any) -> nn.Module:
        if torch.is_grad_enabled():
            return self._net if self._net is not None else ctx.models[self.main_role]
        return self._eval_net if self._eval_net is not None else ctx.models[self.main_role]

    def forward(self, net: nn.Module, batch: dict[str, Any]) -> Any:
        return net(batch["features"] if "features" in batch else batch["image"])

    def loss(self, outputs: Any, batch: dict[str, Any], training: bool) -> torch.Tensor:
        # label smoothing regularizes training; evaluation reports the plain cross-entropy
        smoothing = float(self.recipe.train.label_smoothing) if training else 0.0
        return F.cross_entropy(outputs.float(), batch["label"], label_smoothing=smoothing)

    def step_metrics(self, outputs: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"top1": (outputs.detach().argmax(dim=1) == batch["label"]).float().mean()}

    def meter(self, split: str) -> ClassificationMeter:
        num_classes = len(self.classes)
        if split == "train":
            return ClassificationMeter(num_classes, (1,), confusion=False)
        return ClassificationMeter(num_classes, self.recipe.eval.topk, confusion=True)

    def update_meter(self, meter: Any, outputs: Any, batch: dict[str, Any],
                     loss: torch.Tensor) -> None:
        meter.update_logits(outputs, batch["label"], loss)

    # -- the end of a run -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"cache_notes": self.cache_notes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cache_notes = list(state.get("cache_notes", []))

    def eval_tables(self, meter: Any) -> list[tuple[str, list[str], list[list[Any]]]]:
        details = meter.details(self.classes)
        if not details.get("classes") or len(details["classes"]) > 40:
            return []
        return [("per class", ["class", "accuracy", "F1", "support"],
                 [[c, a, f, s] for c, a, f, s in zip(
                     details["classes"], details["per_class_acc"], details["per_class_f1"],
                     details["support"], strict=True)])]

    def finish(self, ctx: Any, folder: Path, split: str, meter: Any) -> list[str]:
        from zoo_classification.plots import confusion
        from zoo_core.api import RunFolder
        from zoo_core.api import markdown_table as table

        lines: list[str] = []
        for note in self.cache_notes:
            if note.get("used"):
                lines.append(
                    f"Frozen-feature cache ({note['phase']}): {note['samples']} images went "
                    f"through the frozen backbone once ({note['seconds']:.2f} s); later epochs "
                    "trained the head on cached features.")
            elif note.get("reason"):
                lines.append(f"Frozen-feature cache ({note['phase']}): off - {note['reason']}.")
        details = meter.details(self.classes)
        if details.get("confusion_matrix"):
            run = RunFolder(folder)
            classes = details["classes"]
            run.write_table("per_class.csv", ["class", "accuracy", "f1", "support"],
                            list(zip(classes, details["per_class_acc"], details["per_class_f1"],
                                     details["support"], strict=False)))
            run.write_table("confusion_matrix.csv", ["true \\ predicted", *classes],
                            [[c, *row] for c, row in zip(classes, details["confusion_matrix"],
                                                         strict=True)])
            confusion(details["confusion_matrix"], classes, folder / "confusion_matrix.png",
                      title=f"confusion matrix ({split})")
            rows = list(zip(classes, details["per_class_acc"], details["per_class_f1"],
                            details["support"], strict=False))
            if lines:
                lines.append("")
            if len(rows) > 40:
                rows = sorted(rows, key=lambda row: (row[1] is None, row[1] or 0.0))[:20]
                lines.append("Per class (the 20 weakest; all in per_class.csv):")
            else:
                lines.append("Per class (also in per_class.csv):")
            lines += ["", *table(["class", "accuracy", "F1", "support"], rows), "",
                      "![confusion_matrix.png](confusion_matrix.png)"]
        return lines

    def card_tags(self) -> list[str]:
        return ["image-classification"]

    # -- zoo predict ------------------------------------------------------------------------------
    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        from zoo_core.data.transforms import eval_transform, image_mode

        saved = models[self.main_role]
        if not inputs:
            raise ZooError("zoo predict: give one or more image files to classify.")
        transform = eval_transform(saved.data_config)
        mode = image_mode(saved.data_config)
        tensors = []
        for name in inputs:
            tensors.append(transform(read_image(name, mode)))
        labels = saved.config.get("label_names") or []
        device = next(saved.model.parameters()).device
        results = []
        for start in range(0, len(tensors), 32):
            x = torch.stack(tensors[start:start + 32]).to(device)
            logits = saved.model(x)
            if logits.ndim != 2:
                raise ZooError(f"{saved.folder} does not output class scores (got shape "
                               f"{tuple(logits.shape)}).")
            probs = torch.softmax(logits.float(), dim=1).cpu()
            top = probs.topk(min(options.topk, probs.shape[1]), dim=1)
            for i in range(probs.shape[0]):
                preds = [{"class": labels[j] if j < len(labels) else str(j), "index": int(j),
                          "probability": float(v)}
                         for v, j in zip(top.values[i].tolist(), top.indices[i].tolist(),
                                         strict=True)]
                results.append({"image": inputs[start + i], "predictions": preds})
        return results

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        return [(item["image"], ["class", "probability"],
                 [[p["class"], f"{p['probability']:.4f}"] for p in item["predictions"]])
                for item in results]

    # -- zoo bench RECIPE --------------------------------------------------------------------------
    def bench_hints(self, row: Mapping[str, Any], ctx: Any) -> list[str]:
        ok, reason = self.cache_decision(ctx)
        mode = self.recipe.model.mode
        tips = []
        if row["bottleneck"] == "data loading":
            if ok and self.recipe.train.feature_cache is False:
                tips.append("set train.feature_cache = true: the frozen backbone's features are "
                            "computed once and later epochs skip loading and the backbone")
            elif ok:
                tips.append("zoo run will use the frozen-feature cache, so this loading cost is "
                            "paid once, in the first pass")
            elif mode != "feature_extract":
                tips.append("mode = \"feature_extract\" (frozen backbone) enables the "
                            "frozen-feature cache, which pays for loading once")
            else:
                tips.append(f"the frozen-feature cache is off: {reason}")
        elif mode == "fine_tune" and self.recipe.train.epochs > 1:
            tips.append("mode = \"feature_extract\" with the frozen-feature cache trains only "
                        "the head, if fine-tuning is not essential")
        return tips


__all__ = ["ClassificationTask"]
