"""The segmentation task: image -> per-pixel classes, one model (role ``net``).

A :class:`~zoo_core.engine.task.SupervisedTask`: the recipe's ``[task]``
(:class:`~zoo_segmentation.options.SegmentationOptions`) says which mask
values are which class, the loss (a weighted sum of smp's losses), the
training crop and joint augmentation, how images larger than the crop are
tiled at evaluation, and whether the encoder starts frozen. Metrics are IoU
and Dice per class and averaged (micro, macro), pixel accuracy and the loss
(:class:`~zoo_segmentation.metrics.SegmentationMeter`, equal to smp's).
Artifacts: overlays (image | truth | prediction) of fixed validation images
each epoch, and at the end a per-image IoU table. ``zoo predict`` writes each
image's mask (in the training masks' own values) and an overlay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from zoo_core.api import (
    Direction,
    Meter,
    ModelRef,
    ModelSpec,
    Phase,
    Role,
    SupervisedTask,
    TaskData,
)
from zoo_core.data.sources import Source
from zoo_core.errors import DataError, ZooError
from zoo_segmentation.inference import Tiling, display_index, predicted_mask, segment
from zoo_segmentation.labels import LabelSpec
from zoo_segmentation.options import SegmentationOptions

#: what the task fills from the data: a recipe's cfg may not set them
RESERVED = ("in_chans", "num_classes")
PER_IMAGE_CSV = "per_image_iou.csv"


class PredictOptions(BaseModel):
    """``zoo predict RUN IMAGE... [--out DIR] [--threshold T] [--tile N] [--no-overlay]``."""

    model_config = ConfigDict(extra="forbid")
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0,
                                    description="binary/multilabel; default: the run's")
    tile: int | None = Field(default=None, ge=8, description="tile side; default: the run's")
    overlap: int | None = Field(default=None, ge=0, description="tile overlap")
    overlay: bool = Field(default=True, description="also write image | mask | overlay")


class RepeatedSource(Source):
    """Every sample of ``base`` ``times`` times (more random crops per epoch)."""

    def __init__(self, base: Source, times: int):
        self.base, self.times = base, int(times)
        self.classes = list(base.classes)

    def __len__(self) -> int:
        return len(self.base) * self.times

    def sample(self, index: int) -> dict[str, Any]:
        return self.base.sample(index % len(self.base))

    def describe(self, index: int) -> str:
        return self.base.describe(index % len(self.base))


class SegmentationTaskMeter(Meter):
    """Pixel counts (IoU, Dice, accuracy) and the mean loss terms of one split."""

    def __init__(self, labels: LabelSpec, threshold: float, per_image: bool):
        from zoo_core.api import MeanMeter
        from zoo_segmentation.metrics import SegmentationMeter

        self.seg = SegmentationMeter(labels.mode, labels.num_outputs, list(labels.class_names),
                                     threshold=threshold, ignore_index=labels.ignore_index,
                                     per_image=per_image)
        self.losses = MeanMeter()

    def update(self, values: Mapping[str, Any], count: int) -> None:
        self.losses.update(values, count)

    def add(self, logits: torch.Tensor, mask: torch.Tensor, losses: Mapping[str, Any],
            names: Sequence[str] | None) -> None:
        self.losses.update(losses, int(mask.shape[0]))
        self.seg.update(logits, mask, names)

    def compute(self) -> dict[str, float]:
        return {**self.losses.compute(), **self.seg.compute()}


def _encoder_of(model: nn.Module) -> nn.Module | None:
    """The encoder of a zoo U-Net (``model.encoder``) or an smp model
    (``model.net.encoder.model``); None for networks without one (unet_classic)."""
    encoder = getattr(model, "encoder", None)
    if isinstance(encoder, nn.Module):
        return encoder
    net = getattr(model, "net", None)
    inner = getattr(getattr(net, "encoder", None), "model", None)
    return inner if isinstance(inner, nn.Module) else None


class SegmentationTask(SupervisedTask):
    name = "segmentation"
    Options = SegmentationOptions
    roles: ClassVar[dict[str, Role]] = {
        "net": Role("segmentation", default="unet", reserved=RESERVED,
                    description="the segmentation network (logits per pixel)")}
    main_role = "net"
    progress_keys = ("loss",)
    curves: ClassVar[dict[str, tuple[str, ...]]] = {
        "loss.png": ("loss",), "iou.png": ("iou_macro", "dice_macro"),
        "pixel_accuracy.png": ("pixel_accuracy",)}
    PredictOptions = PredictOptions
    folder_dataset = "segfolder"
    target_key = "mask"

    def __init__(self) -> None:
        self._labels: LabelSpec | None = None
        self.channels = 3
        self._criterion: Any = None
        self.data_config: dict[str, Any] = {}
        self._terms: dict[str, torch.Tensor] = {}
        self._stages: Any = None
        self._frozen = 0
        self._overlay_samples: list[dict[str, Any]] | None = None

    # -- the recipe ---------------------------------------------------------------------
    @property
    def labels(self) -> LabelSpec:
        """The recipe's classes (or, evaluating a saved model, the model's own)."""
        if self._labels is None:
            o = self.options
            self._labels = LabelSpec.from_options(o.mode, o.classes, o.values, o.ignore_index)
        return self._labels

    def _has_labels(self) -> bool:
        return self._labels is not None or self.options.classes is not None \
            or self.options.values is not None

    def metrics(self) -> dict[str, Direction]:
        out: dict[str, Direction] = {"loss": "min"}
        weights = self.options.loss_weights()
        if len(weights) > 1:
            out.update({f"loss_{k}": "min" for k in weights})
        for key in ("iou_micro", "iou_macro", "dice_micro", "dice_macro", "pixel_accuracy"):
            out[key] = "max"
        if self._has_labels():
            try:
                names = self.labels.class_names
            except DataError:
                names = ()
            for name in names:
                out[f"iou/{name}"] = "max"
                out[f"dice/{name}"] = "max"
        return out

    def default_monitor(self) -> str:
        return "val/iou_macro"

    def check_recipe(self, recipe: Any) -> Iterable[Any]:
        o: SegmentationOptions = recipe.task
        if o.classes is None and o.values is None:
            yield ("error", "task.values", "say which mask values are which class: "
                   "task.values = {0 = \"background\", 255 = \"object\"} or task.classes = "
                   "[\"background\", \"object\"] (pixel value i is class i)")
        else:
            try:
                LabelSpec.from_options(o.mode, o.classes, o.values, o.ignore_index)
            except DataError as exc:
                yield ("error", "task.values" if o.values is not None else "task.classes",
                       str(exc))
        weights = o.loss_weights()
        if "ce" in weights and o.mode != "multiclass":
            yield ("error", "task.loss", f"'ce' (softmax cross-entropy) is for multiclass "
                   f"masks; with mode {o.mode!r} use 'bce'")
        if "bce" in weights and o.mode == "multiclass":
            yield ("error", "task.loss", "'bce' is for binary and multilabel masks; with mode "
                   "'multiclass' use 'ce'")
        unknown = sorted(set(o.loss_options) - set(weights))
        if unknown:
            yield ("error", "task.loss_options", f"options for {', '.join(unknown)}, which "
                   f"task.loss does not weigh ({', '.join(weights)})")
        tile = o.tiling.tile or (max(o.crop_size) if isinstance(o.crop_size, list)
                                 else o.crop_size)
        if o.tiling.overlap is not None and tile and o.tiling.overlap >= tile:
            yield ("error", "task.tiling.overlap", f"overlap {o.tiling.overlap} must be smaller "
                   f"than the tile ({tile})")
        if o.augment.scale is not None and o.crop_size is None:
            yield ("error", "task.augment.scale", "a random resized crop needs task.crop_size "
                   "(its output size)")
        if o.freeze_encoder_epochs >= recipe.train.epochs and o.freeze_encoder_epochs:
            yield ("warning", "task.freeze_encoder_epochs", f"the encoder stays frozen for all "
                   f"{recipe.train.epochs} epochs")
        if o.freeze_encoder_stages is not None and not o.freeze_encoder_epochs:
            yield ("warning", "task.freeze_encoder_stages", "has no effect without "
                   "task.freeze_encoder_epochs")
        enc = self._encoder_ref(recipe)
        if enc is not None and enc.weights.strip().lower() not in ("none", "false", ""):
            from zoo_core.recipe import Problem
            from zoo_core.recipe.checks import weights_problems

            for p in weights_problems(ModelRef("backbone", enc.name, enc.weights, "")):
                yield Problem(f"models.{self.main_role}.cfg.encoder_weights", p.message,
                              p.level)
        if not recipe.data.augment.deterministic:
            yield ("warning", "data.augment", "is ignored by segmentation: image and mask "
                   "are augmented together by [task.augment] (flips, rotation, elastic, crops)")

    def _encoder_ref(self, recipe: Any) -> ModelRef | None:
        """The backbone a ``unet``/smp model's cfg names, and its weights."""
        from zoo_core.plugins import registry

        ref = self.model_refs(recipe).get(self.main_role)
        from zoo_core.api import names_own_config

        if ref is None or names_own_config(ref.name):
            return None
        entry = recipe.models.get(self.main_role)
        try:
            defaults = registry().get("segmentation", ref.name).component.default_cfg
        except ZooError:
            return None
        cfg = {**defaults, **(dict(entry.cfg) if entry is not None else {})}
        if "encoder" not in cfg:
            return None
        weights = cfg.get("encoder_weights") or "none"
        return ModelRef("backbone", str(cfg["encoder"]), str(weights),
                        f"models.{self.main_role}.cfg.encoder")

    def describe(self, recipe: Any) -> list[tuple[str, str]]:
        rows = super().describe(recipe)
        enc = self._encoder_ref(recipe)
        if enc is not None:
            rows.append(("encoder", f"{enc.name}, weights {enc.weights}"))
        o: SegmentationOptions = recipe.task
        loss = " + ".join(f"{w:g} {k}" for k, w in o.loss_weights().items())
        crop = "whole images" if o.crop_size is None else f"{o.crop_size} crops"
        rows.append(("segmentation", f"mode {o.mode}, loss {loss}, {crop}"
                     + (f", encoder frozen for {o.freeze_encoder_epochs} epochs"
                        if o.freeze_encoder_epochs else "")))
        return rows

    def tiling(self) -> Tiling:
        o = self.options
        crop = o.crop_size if not isinstance(o.crop_size, list) else max(o.crop_size)
        t = o.tiling
        return Tiling(t.enabled, t.tile or crop, t.overlap, t.blend, t.batch_size)

    # -- data ----------------------------------------------------------------------------
    def build_data(self, ctx: Any) -> TaskData:
        from zoo_core.data.datasets import load_splits

        saved = ctx.saved.get(self.main_role)
        if saved is not None and not (self.options.classes or self.options.values):
            own = saved.get("segmentation") or {}
            self._labels = LabelSpec.from_options(
                own.get("mode", "multiclass"), own.get("classes"), own.get("values"),
                int(own.get("ignore_index", 255)))
        elif not self._has_labels():
            raise ZooError("The recipe does not say which mask values are which class: set "
                           "task.values or task.classes.")
        raw = load_splits(self.recipe)
        splits = dict(raw.splits)
        if saved is not None:
            self.channels = int(((saved.get("zoo") or {}).get("model") or {}).get("in_chans", 3))
        else:
            first = splits["train"].sample(0)["image"]
            shape = getattr(first, "shape", None)
            self.channels = int(shape[0]) if shape is not None and len(shape) == 3 else (
                1 if getattr(first, "mode", "RGB") in ("L", "I", "I;16", "1", "F") else 3)
            self.channels = 1 if self.channels == 1 else 3
        notes = list(raw.notes)
        repeats = self.options.epoch_repeats
        if repeats > 1 and saved is None:
            splits["train"] = RepeatedSource(splits["train"], repeats)
            notes.append(f"each training image is drawn {repeats} times per epoch")
        return TaskData(splits, raw.name, list(self.labels.class_names), notes)

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        from zoo_core.data.dataset import SampleDataset
        from zoo_segmentation.samples import build_transform, is_random

        o = self.options
        cfg = specs[self.main_role].data_config
        c = self.channels
        mean = tuple(cfg.get("mean", (0.5,) * c))[:c]
        std = tuple(cfg.get("std", (0.5,) * c))[:c]
        self.data_config = {**cfg, "mean": mean, "std": std}
        out = {}
        for split, source in data.splits.items():
            train = split == "train"
            if not train and self.recipe.data.image_size is None \
                    and int(self.recipe.eval.batch_size) > 1:
                _check_one_size(source, split)
            tf = build_transform(self.labels, c, train=train, crop_size=o.crop_size,
                                 augment=o.augment, mean=mean, std=std,
                                 resize=self.recipe.data.image_size)
            out[split] = SampleDataset(source, tf, random=train and is_random(o.crop_size,
                                                                               o.augment),
                                       seed=self.recipe.recipe.seed)
        return out

    # -- the model -----------------------------------------------------------------------
    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        from zoo_core.plugins import registry
        from zoo_core.weights import create_model

        ref = self.model_refs(self.recipe)[self.main_role]
        entry = self.recipe.models.get(self.main_role)
        cfg = dict(entry.cfg) if entry is not None else {}
        cfg.update(in_chans=self.channels, num_classes=self.labels.num_outputs)
        loaded = create_model("segmentation", ref.name,
                              weights=None if ref.weights == "none" else ref.weights, **cfg)
        model = loaded.model
        arch = registry().get("segmentation", ref.name).component
        built = dict(getattr(model, "rebuild_cfg", None) or {**arch.default_cfg, **cfg})
        pretrained = dict(getattr(model, "pretrained_cfg", {}) or {})
        data_config = {k: pretrained[k] for k in ("input_size", "mean", "std", "interpolation",
                                                  "crop_pct") if k in pretrained}
        o = self.options
        save_config = {
            "pretrained_cfg": {**data_config, "num_classes": self.labels.num_outputs},
            "label_names": list(self.labels.class_names),
            "segmentation": {
                "mode": o.mode, "classes": o.classes, "values": o.values,
                "ignore_index": o.ignore_index, "threshold": o.threshold,
                "image_size": self.recipe.data.image_size,
                "tile": self.tiling().tile, "overlap": self.tiling().overlap,
                "blend": o.tiling.blend, "in_chans": self.channels},
            "zoo": {"builder": {"kind": "segmentation", "name": arch.name}, "model": built,
                    "task": self.name, "role": self.main_role, "main_role": self.main_role,
                    "tags": self.card_tags(), "base": {"name": ref.name,
                                                       "weights": ref.weights}},
        }
        lock = list(loaded.lock) + list(getattr(model, "encoder_lock", []) or [])
        notes = []
        enc_weights = cfg.get("encoder_weights")
        if enc_weights not in (None, "none"):
            notes.append(f"encoder weights {enc_weights}")
        self._stages = self._stage_map(model) if o.freeze_encoder_epochs else None
        return {self.main_role: ModelSpec(model, save_config, data_config, lock, notes)}

    def _stage_map(self, model: nn.Module) -> Any:
        from zoo_core.nn import StageMap
        from zoo_segmentation.encoders import stage_info

        encoder = _encoder_of(model)
        if encoder is None:
            raise ZooError(f"task.freeze_encoder_epochs: {type(model).__name__} has no "
                           "pretrained encoder to freeze (unet_classic trains from scratch); "
                           "remove the key or use unet over a backbone.")
        stages = StageMap(encoder, model=model)
        wanted = self.options.freeze_encoder_stages
        listed = len(stage_info(encoder)[0])
        if wanted is not None and (stages.num_stages != listed or wanted > listed):
            raise ZooError(
                f"task.freeze_encoder_stages = {wanted}: this encoder's {listed} stages "
                + ("cannot be told apart by name (its features_only wrapper renamed them); "
                   "freeze the whole encoder (leave freeze_encoder_stages out)"
                   if stages.num_stages != listed else f"are fewer than {wanted}") + ".")
        return stages

    # -- phases: an optional frozen encoder first ---------------------------------------------
    def phases(self) -> list[Phase]:
        o = self.options
        total = int(self.recipe.train.epochs)
        frozen = min(o.freeze_encoder_epochs, total)
        if not frozen:
            return [Phase("train", total, {}, {"frozen": 0})]
        stages = o.freeze_encoder_stages
        what = "the encoder" if stages is None else f"{stages} encoder stage(s)"
        phases = [Phase("frozen_encoder", frozen, {}, {"frozen": stages or -1,
                                                       "summary": f"{what} frozen"})]
        if total > frozen:
            phases.append(Phase("train", total - frozen, {}, {"frozen": 0,
                                                              "summary": "everything trains"}))
        return phases

    def start_phase(self, phase: Phase, ctx: Any) -> None:
        from zoo_core.nn import freeze_stages

        if self._stages is None:
            self._frozen = 0
            return
        n = int(phase.info.get("frozen", 0))
        self._frozen = self._stages.num_stages if n < 0 else n
        freeze_stages(self._stages, self._frozen)

    def start_epoch(self, epoch: int, ctx: Any) -> None:
        from zoo_core.nn import set_stage_modes

        model = ctx.models[self.main_role]
        if self._stages is None or not self._frozen:
            model.train()
            return
        set_stage_modes(model, self._stages, self._frozen)

    # -- steps ---------------------------------------------------------------------------
    @property
    def criterion(self) -> Any:
        """The recipe's weighted sum of smp losses (made on first use)."""
        if self._criterion is None:
            from zoo_segmentation.losses import combined_loss

            o = self.options
            self._criterion = combined_loss(o.loss_weights(), o.mode,
                                            ignore_index=o.ignore_index,
                                            options=o.loss_options)
        return self._criterion

    def loss(self, outputs: Any, batch: dict[str, Any], training: bool) -> torch.Tensor:
        terms = self.criterion.terms(outputs.float(), batch["mask"])
        self._terms = {k: v for k, v in terms.items() if k != "loss"} \
            if len(self.criterion.losses) > 1 else {}
        return terms["loss"]

    def step_metrics(self, outputs: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return dict(self._terms)

    def meter(self, split: str) -> SegmentationTaskMeter:
        return SegmentationTaskMeter(self.labels, self.options.threshold,
                                     per_image=split != "train")

    def eval_step(self, batch: dict[str, Any], ctx: Any, meter: Meter) -> None:
        assert isinstance(meter, SegmentationTaskMeter)
        net = self.net(ctx)
        with ctx.autocast():
            logits = segment(net, batch["image"], self.tiling())
        loss = self.loss(logits, batch, False)
        meter.add(logits.float(), batch["mask"], {"loss": loss.detach(), **self._terms},
                  batch.get("name"))

    # -- artifacts and the end of a run ----------------------------------------------------
    def _fixed_samples(self, ctx: Any) -> list[dict[str, Any]]:
        """The first validation images (test when there is no validation split)."""
        if self._overlay_samples is None:
            loaders = ctx.extras.get("loaders") or {}
            split = next((s for s in ("val", "test") if s in loaders), None)
            samples: list[dict[str, Any]] = []
            if split is not None:
                dataset = loaders[split].dataset
                for i in range(min(self.options.overlays, len(dataset))):
                    item = dataset[i]
                    if isinstance(item, dict):
                        samples.append(item)
            self._overlay_samples = samples
        return self._overlay_samples

    def artifacts(self, epoch: int, ctx: Any, folder: Path) -> list[str]:
        o = self.options
        last = epoch == int(self.recipe.train.epochs)
        if not o.overlays or not (last or (o.overlay_every and epoch % o.overlay_every == 0)):
            return []
        samples = self._fixed_samples(ctx)
        if not samples:
            return []
        from zoo_segmentation.artifacts import write_overlays

        images, truths, preds = [], [], []
        model = ctx.models[self.main_role]
        with ctx.evaluating():
            for s in samples:
                x = s["image"][None].to(ctx.device)
                with ctx.autocast():
                    logits = segment(model, x, self.tiling())
                pred = predicted_mask(logits.float(), o.mode, o.threshold)[0].cpu()
                img, truth, pred = _shrink(s["image"], s["mask"], pred, o.overlay_size)
                images.append(img)
                truths.append(display_index(truth, o.mode, o.ignore_index))
                preds.append(display_index(pred, o.mode, o.ignore_index))
        name = f"overlays_epoch{epoch:03d}.png"
        write_overlays(folder / name, images, truths, preds, mean=self.data_config.get("mean"),
                       std=self.data_config.get("std"), ignore_index=o.ignore_index)
        return [name]

    def finish(self, ctx: Any, folder: Path, split: str, meter: Meter) -> list[str]:
        from zoo_core.api import markdown_table as table
        from zoo_segmentation.artifacts import write_iou_table

        assert isinstance(meter, SegmentationTaskMeter)
        scores = meter.compute()
        names = self.labels.class_names
        lines = [f"Per class on the {split} split (IoU and Dice over all its pixels):", "",
                 *table(["class", "IoU", "Dice"],
                        [[n, scores.get(f"iou/{n}"), scores.get(f"dice/{n}")] for n in names]),
                 "", f"Averages: IoU micro {scores['iou_micro']:.4f}, macro "
                 f"{scores['iou_macro']:.4f}; Dice micro {scores['dice_micro']:.4f}, macro "
                 f"{scores['dice_macro']:.4f}; pixel accuracy {scores['pixel_accuracy']:.4f}."]
        tiling = self.tiling()
        if tiling.enabled and tiling.tile:
            lines.append(f"Images larger than {tiling.tile} px were predicted in tiles "
                         f"({tiling.step_overlap} px overlap, {tiling.blend} blend).")
        rows = meter.seg.per_image_rows()
        if rows:
            write_iou_table(folder / PER_IMAGE_CSV, rows)
            worst = sorted(rows, key=lambda r: r["iou"])[:5]
            lines += ["", f"Per image in `{PER_IMAGE_CSV}`; the weakest:", "",
                      *table(["image", "IoU", "Dice"],
                             [[r["image"], r["iou"], r["dice"]] for r in worst])]
        overlays = sorted((folder / "artifacts").glob("overlays_epoch*.png"))
        if overlays:
            lines += ["", "Validation images after the last epoch (image | truth | prediction):",
                      "", f"![{overlays[-1].name}](artifacts/{overlays[-1].name})"]
        return lines

    def eval_tables(self, meter: Meter) -> list[tuple[str, list[str], list[list[Any]]]]:
        assert isinstance(meter, SegmentationTaskMeter)
        scores = meter.compute()
        return [("per class", ["class", "IoU", "Dice"],
                 [[n, scores.get(f"iou/{n}"), scores.get(f"dice/{n}")]
                  for n in self.labels.class_names])]

    def card_tags(self) -> list[str]:
        return ["image-segmentation"]

    # -- zoo predict -----------------------------------------------------------------------
    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        from zoo_segmentation.predict import predict_files

        if not inputs:
            raise ZooError("zoo predict: give one or more image files to segment.")
        return predict_files(models[self.main_role], inputs, options,
                             out if out is not None else Path("."))

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        return [(r["image"], ["class", "share of pixels"],
                 [[k, f"{v:.4f}"] for k, v in r["fractions"].items()]
                 + [["mask", r["mask"]]] + ([["overlay", r["overlay"]]] if r.get("overlay")
                                            else []))
                for r in results]


def _image_sizes(source: Any, limit: int = 5000) -> set[tuple[int, int]] | None:
    """The distinct image sizes of a source, from file headers, when it can tell (a
    segfolder or pets source, possibly inside the core's split subsets)."""
    indices: list[int] | None = None
    while not hasattr(source, "image_size") and hasattr(source, "base"):
        sub = list(getattr(source, "indices", range(len(source))))
        indices = sub if indices is None else [sub[i] for i in indices]
        source = source.base
    if not hasattr(source, "image_size"):
        return None
    picked = list(range(len(source))) if indices is None else indices
    return {tuple(source.image_size(i)) for i in picked[:limit]}


def _check_one_size(source: Any, split: str) -> None:
    sizes = _image_sizes(source)
    if sizes and len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
        raise DataError(
            f"The {split} images differ in size ({shown}{' ...' if len(sizes) > 4 else ''}), "
            "so they cannot share an evaluation batch. Set data.image_size to resize every "
            "image and mask to one square size, or eval.batch_size = 1 to evaluate them "
            "one by one at their own size.")


def _shrink(image: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor, size: int
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image (bilinear) and masks (nearest) scaled so the longest side is ``size``."""
    h, w = int(image.shape[-2]), int(image.shape[-1])
    scale = size / max(h, w)
    if scale >= 1:
        return image, truth, pred
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    img = F.interpolate(image[None].float(), size=hw, mode="bilinear", align_corners=False,
                        antialias=True)[0]

    def nearest(m: torch.Tensor) -> torch.Tensor:
        x = m.float()[None] if m.ndim == 3 else m.float()[None, None]
        y = F.interpolate(x, size=hw, mode="nearest")[0]
        return (y if m.ndim == 3 else y[0]).long()

    return img, nearest(truth), nearest(pred)


__all__ = ["SegmentationTask"]
