"""The super-resolution task (``task = "sr"``): SRResNet and SRGAN, BasicSR's way.

Roles: ``generator`` (kind ``sr``, default ``srresnet``; the task sets its
``scale`` and ``in_chans``) and, for SRGAN, ``discriminator`` (kind ``sr``,
e.g. ``sr_discriminator``; the task sets ``input_size`` = ``gt_size``). A run
is an SRGAN run exactly when the recipe has ``[models.discriminator]``: the
generator then also learns from the perceptual and adversarial losses, and
the discriminator trains after each generator step (BasicSR's
``SRGANModel.optimize_parameters``). Without it, the generator alone trains
on the pixel loss (SRResNet).

The generator's exponential moving average (``ema_decay``, BasicSR's
``net_g_ema``) is the task's state in checkpoints; it is what evaluation,
the artifacts and the saved ``models/generator/`` use.

Data: any data set of images (``dataset = "images"``), LR made on the fly by
MATLAB bicubic downscaling; training takes random aligned LR/HR crops with
the 8 flips/rotations, evaluation whole images cropped to a multiple of the
scale. Metrics: PSNR/SSIM on Y and RGB (BasicSR's protocol, ``zoo_sr.metrics``),
beside the bicubic baseline on the same images.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from zoo_core.api import (
    Direction,
    Meter,
    ModelRef,
    ModelSpec,
    Phase,
    Role,
    Task,
    TaskData,
)
from zoo_core.errors import DataError, ZooError
from zoo_sr.defaults import ADAM_BETAS, LR_SRGAN, LR_SRRESNET
from zoo_sr.metrics import METRIC_DIRECTIONS, SRMeter
from zoo_sr.options import (
    VGG_NETWORKS,
    PredictOptions,
    SRDataSection,
    SREvalSection,
    SROptions,
    loss_weights,
)

__all__ = ["SRTask", "SRTaskMeter", "SRTrainTransform", "SREvalTransform"]

_SSIM_WINDOW = 11
_QUALITY = tuple(METRIC_DIRECTIONS)  # psnr_y, ssim_y, psnr_rgb, ssim_rgb


# -- data --------------------------------------------------------------------------------


def _as_hr(sample: Mapping[str, Any]) -> dict[str, Any]:
    """A data set's sample (``{"image": PIL}``, labels and all) as ``{"hr": RGB image}``;
    grayscale, palette and RGBA images become RGB."""
    img = sample["hr"] if "hr" in sample else sample["image"]
    if getattr(img, "mode", "RGB") != "RGB":
        img = img.convert("RGB")
    return {"hr": img}


class SRTrainTransform:
    """Random aligned LR/HR crops (``zoo_sr.data.PairedTrainTransform``) of any image."""

    def __init__(self, scale: int, gt_size: int, augment: bool = True):
        from zoo_sr.data import PairedTrainTransform

        self.inner = PairedTrainTransform(scale, gt_size, augment=augment)

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        return self.inner(_as_hr(sample))


class SREvalTransform:
    """The whole image, mod-cropped to the scale, and its LR; an image too small to
    measure (SSIM's 11 px window after the border crop) is a :class:`DataError`."""

    def __init__(self, scale: int, crop_border: int):
        from zoo_sr.data import PairedEvalTransform

        self.inner = PairedEvalTransform(scale)
        self.need = _SSIM_WINDOW + 2 * int(crop_border)

    def __call__(self, sample: Mapping[str, Any]) -> dict[str, Any]:
        out = self.inner(_as_hr(sample))
        h, w = out["hr"].shape[-2:]
        if min(h, w) < self.need:
            raise DataError(
                f"An SR evaluation image of {w}x{h} px is too small to measure: PSNR/SSIM need "
                f"at least {self.need} px per side (an 11 px SSIM window after cutting "
                f"{(self.need - _SSIM_WINDOW) // 2} px of border). Remove it from the "
                "evaluation images.")
        return out


def _folder_source(root: str) -> Any:
    """Every image under ``root`` (any layout) as one unlabelled source."""
    from zoo_core.data.imagefolder import scan_images
    from zoo_core.data.sources import ImageFilesSource

    found = scan_images(root, name="val_root")
    files = sorted({f for src in found.splits.values() for f in src.files})
    return ImageFilesSource(files)


# -- the meter ---------------------------------------------------------------------------


class SRTaskMeter(Meter):
    """PSNR/SSIM of the model (``SRMeter``), the pixel loss, and the same figures of
    MATLAB bicubic on the same images (the baseline every SR table shows)."""

    def __init__(self, scale: int, crop_border: int, round_y: bool = False,
                 baseline: bool = True):
        self.scale = int(scale)
        self.model = SRMeter(scale, crop_border, round_y=round_y)
        self.bicubic = SRMeter(scale, crop_border, round_y=round_y) if baseline else None
        self.sums: dict[str, float] = {}
        self.count = 0
        self.per_image: list[dict[str, float]] = []

    def update(self, values: Mapping[str, Any], count: int) -> None:
        """Losses (the contract's meter interface)."""
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * count
        self.count += count

    def add(self, sr: Tensor, hr: Tensor, lr: Tensor, loss: Tensor) -> None:
        """One evaluated batch: the model's output, the HR target and the LR input."""
        from zoo_sr.resize import imresize

        figures = self.model.update(sr, hr)
        n = sr.shape[0]
        base = self.bicubic.update(imresize(lr.float(), self.scale), hr) \
            if self.bicubic is not None else None
        for i in range(n):
            row = {k: figures[k][i] for k in _QUALITY}
            if base is not None:
                row.update({f"bicubic_{k}": base[k][i] for k in _QUALITY})
            self.per_image.append(row)
        self.update({"loss": loss.detach()}, n)

    def compute(self) -> dict[str, float]:
        if not self.count:
            return {}
        out = {k: v / self.count for k, v in self.sums.items()}
        out.update(self.model.compute())
        return out

    def baseline(self) -> dict[str, float]:
        """Bicubic's figures on the same images (empty without a baseline)."""
        if self.bicubic is None or not self.bicubic.count:
            return {}
        return self.bicubic.compute()

    def state_dict(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "count": self.count,
                "model": self.model.state_dict(),
                "bicubic": self.bicubic.state_dict() if self.bicubic is not None else None,
                "per_image": list(self.per_image)}

    def load_state_dict(self, state: dict[str, Any], device: Any = None) -> None:
        self.sums = {k: float(v) for k, v in state["sums"].items()}
        self.count = int(state["count"])
        self.model.load_state_dict(state["model"])
        if self.bicubic is not None and state.get("bicubic"):
            self.bicubic.load_state_dict(state["bicubic"])
        self.per_image = list(state.get("per_image", []))


# -- the task ----------------------------------------------------------------------------


def _weights_for(kind: str, name: str, weights: str | None) -> str:
    """A role's weights: unset or ``"default"`` means random initialisation for a model
    with no published weights (``srresnet``, ``sr_discriminator``, ``bicubic``)."""
    if weights not in (None, "default"):
        return str(weights)
    from zoo_core.plugins import registry

    try:
        resolved = registry().get(kind, name)
    except ZooError:
        return "default"  # the name checks report it
    return "default" if resolved.tag is not None or resolved.component.weights else "none"


def _saved_config(weights: str) -> dict[str, Any] | None:
    """The config.json of a saved-model folder (or beside a weights file), if any."""
    p = Path(weights).expanduser()
    for folder in (p, p.parent):
        cfg = folder / "config.json"
        if cfg.is_file():
            try:
                return dict(json.loads(cfg.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                return None
    return None


def _model_scale(config: Mapping[str, Any] | None) -> int | None:
    zoo = (config or {}).get("zoo") or {}
    model = zoo.get("model") if isinstance(zoo, Mapping) else None
    scale = model.get("scale") if isinstance(model, Mapping) else None
    return int(scale) if isinstance(scale, (int, float)) else None


class SRTask(Task):
    """Single-image super-resolution: SRResNet (pixel loss) or SRGAN (with a
    discriminator); see the module doc."""

    name = "sr"
    Options = SROptions
    sections: ClassVar[dict[str, Any]] = {"data": SRDataSection, "eval": SREvalSection}
    roles: ClassVar[dict[str, Role]] = {
        "generator": Role(
            "sr", default="srresnet", reserved=("scale", "in_chans"),
            optimizer={"name": "adam", "lr": LR_SRRESNET, "betas": list(ADAM_BETAS),
                       "weight_decay": 0.0},
            description="the super-resolution network (LR -> HR)"),
        "discriminator": Role(
            "sr", default=None, reserved=("input_size", "in_chans"),
            optimizer={"name": "adam", "lr": LR_SRGAN, "betas": list(ADAM_BETAS),
                       "weight_decay": 0.0},
            description="SRGAN's critic of HR crops; its presence makes the run an SRGAN"),
    }
    main_role = "generator"
    progress_keys = ("loss", "psnr_y")
    curves: ClassVar[dict[str, tuple[str, ...]]] = {
        "loss.png": ("loss",), "psnr.png": ("psnr_y", "psnr_rgb"),
        "ssim.png": ("ssim_y", "ssim_rgb"), "adversarial.png": ("gan", "d_loss")}
    PredictOptions = PredictOptions
    folder_dataset = "images"

    def __init__(self) -> None:
        self.scale = 4
        self.evaluating = False
        self.ema: Any = None
        self.pixel: nn.Module | None = None
        self.perceptual: nn.Module | None = None
        self.adversarial: nn.Module | None = None
        self.weights: dict[str, float] = {}
        self.eval_sources: dict[str, Any] = {}
        self.eval_tf: SREvalTransform | None = None
        self.generator_name = "srresnet"

    # -- the recipe --------------------------------------------------------------------------
    def is_gan(self, recipe: Any = None) -> bool:
        """An SRGAN run: the recipe names a discriminator."""
        recipe = recipe if recipe is not None else self.recipe
        return recipe is not None and "discriminator" in recipe.models

    def setup(self, recipe: Any) -> None:
        super().setup(recipe)
        self.scale = int(recipe.task.scale)
        gan = self.is_gan(recipe)
        self.weights = loss_weights(recipe.task, gan)
        if gan:
            # BasicSR fine-tunes the generator of an SRGAN at 1e-4 (SRResNet trains at 2e-4)
            gen = self.roles[self.main_role]
            self.roles = {**self.roles, self.main_role: replace(
                gen, optimizer={**gen.optimizer, "lr": LR_SRGAN})}

    def crop_border(self) -> int:
        border = self.options.crop_border
        return self.scale if border is None else int(border)

    def metrics(self) -> dict[str, Direction]:
        out: dict[str, Direction] = {"loss": "min", "pixel": "min"}
        out.update({k: "max" for k in _QUALITY})
        if self.recipe is None:
            return out
        if self.weights.get("perceptual"):
            out["perceptual"] = "min"
        if self.is_gan():
            out.update(gan="min", d_loss="min", d_real="max", d_fake="min")
        return out

    def default_monitor(self) -> str:
        channel = self.options.channel if self.recipe is not None else "y"
        return f"val/psnr_{channel}"

    def resolve(self, recipe: Any) -> None:
        o = recipe.task
        gan = self.is_gan(recipe)
        w = loss_weights(o, gan)
        o.pixel_weight, o.perceptual_weight, o.gan_weight = w["pixel"], w["perceptual"], w["gan"]
        self.weights = w
        if w["gan"] > 0 and not gan:
            raise ValueError(
                f"task.gan_weight = {w['gan']:g} needs a discriminator: add "
                "[models.discriminator] with name = \"sr_discriminator\", or set "
                "task.gan_weight = 0")
        if gan and w["gan"] == 0:
            raise ValueError(
                "[models.discriminator] makes this an SRGAN run, but task.gan_weight = 0 "
                "would train the discriminator for nothing; give gan_weight > 0 (BasicSR: "
                "5e-3) or remove [models.discriminator]")
        if not any(w.values()):
            raise ValueError("every loss weight of task (pixel_weight, perceptual_weight, "
                             "gan_weight) is 0: nothing would train the generator")
        d = recipe.data
        if getattr(d, "val_root", None) is not None:
            if "val_fraction" in d.model_fields_set and d.val_fraction > 0:
                raise ValueError(
                    f"data.val_root names the validation images, and data.val_fraction = "
                    f"{d.val_fraction:g} would carve more from the training folder; remove "
                    "data.val_fraction (it becomes 0) or data.val_root")
            d.val_fraction = 0.0

    def model_refs(self, recipe: Any) -> dict[str, ModelRef]:
        refs: dict[str, ModelRef] = {}
        for role, spec in self.roles.items():
            entry = recipe.models.get(role)
            name = entry.name if entry is not None else spec.default
            if name is None:
                continue
            weights = _weights_for(spec.kind, name, entry.weights if entry is not None else None)
            refs[role] = ModelRef(spec.kind, name, weights, f"models.{role}")
        o = recipe.task
        if o.perceptual_weight and o.perceptual_weights != "none":
            if o.perceptual_network in VGG_NETWORKS:
                refs["perceptual"] = ModelRef("loss", "perceptual", o.perceptual_weights,
                                              "task.perceptual")
            else:
                refs["perceptual"] = ModelRef("backbone", o.perceptual_network,
                                              o.perceptual_weights, "task.perceptual")
        return refs

    def check_recipe(self, recipe: Any) -> Iterable[Any]:
        from zoo_core.plugins import registry

        o = recipe.task
        refs = self.model_refs(recipe)
        gen = refs.get("generator")
        if gen is not None:
            try:
                comp = registry().get("sr", gen.name).component
            except ZooError:
                comp = None
            if comp is not None and comp.name == "bicubic":
                yield ("error", "models.generator.name", (
                    "bicubic has no parameters to train: it is the baseline. Evaluate it with "
                    "`zoo eval bicubic --data FOLDER --set task.scale=4`, or name a network "
                    "(srresnet, esrgan, swinir...)."))
        disc = refs.get("discriminator")
        if disc is not None and disc.name == "sr_discriminator" and o.gt_size not in (128, 256):
            yield ("error", "task.gt_size", (
                f"sr_discriminator judges 128 or 256 px HR crops, and task.gt_size = "
                f"{o.gt_size}; use gt_size = 128 (BasicSR's SRGAN) or 256."))
        root = getattr(recipe.data, "val_root", None)
        if root is not None and not Path(root).expanduser().is_dir():
            yield ("error", "data.val_root", (
                f"folder {root} does not exist. Point data.val_root at a folder of "
                "validation images (e.g. Set5), or remove it to carve the validation split "
                "from data.root (data.val_fraction)."))
        # (a resolved recipe writes every [data.augment] key: look at the values)
        if not recipe.data.augment.deterministic or recipe.data.image_size is not None:
            yield ("warning", "data.augment", (
                "SR ignores data.augment and data.image_size: its crops are task.gt_size and "
                "its augmentation the 8 flips/rotations of task.augment."))

    def describe(self, recipe: Any) -> list[tuple[str, str]]:
        o = recipe.task
        rows = []
        for role, ref in self.model_refs(recipe).items():
            if role in self.roles:
                rows.append((f"model {role}", f"{ref.name}, weights {ref.weights}"))
        w = loss_weights(o, self.is_gan(recipe))
        parts = [f"pixel {o.pixel_criterion} x{w['pixel']:g}"]
        if w["perceptual"]:
            parts.append(f"perceptual {o.perceptual_network} {o.perceptual_layer} "
                         f"{o.perceptual_criterion} x{w['perceptual']:g}")
        if w["gan"]:
            parts.append(f"adversarial {o.gan_loss} x{w['gan']:g}")
        rows.append(("losses", "; ".join(parts)))
        rows.append(("sr", f"x{o.scale}, HR crops {o.gt_size} px (LR {o.gt_size // o.scale}), "
                           f"EMA {o.ema_decay:g}" if o.ema_decay else
                           f"x{o.scale}, HR crops {o.gt_size} px, no EMA"))
        return rows

    # -- data ----------------------------------------------------------------------------
    def build_data(self, ctx: Any) -> TaskData:
        from zoo_core.data.datasets import load_splits

        self.evaluating = bool(getattr(ctx, "evaluating", False) or ctx.saved)
        saved = ctx.saved.get(self.main_role)
        self.scale = self._effective_scale(saved)
        if saved is not None:
            builder = ((saved.get("zoo") or {}).get("builder") or {})
            self.generator_name = str(builder.get("name") or self.generator_name)
        raw = load_splits(self.recipe)
        splits = dict(raw.splits)
        notes = list(raw.notes)
        root = getattr(self.recipe.data, "val_root", None)
        if root is not None:
            splits["val"] = _folder_source(root)
            notes.append(f"validation images: {root}")
        return TaskData(splits, raw.name, [], notes, info={"scale": self.scale})

    def _effective_scale(self, saved: Mapping[str, Any] | None) -> int:
        """The recipe's scale, or a saved model's when the recipe did not set one."""
        o = self.options
        found = _model_scale(saved)
        if found is None or found == o.scale:
            return int(o.scale)
        if "scale" in o.model_fields_set:
            raise ZooError(
                f"The model upscales x{found}, but task.scale = {o.scale}. Leave task.scale "
                f"unset (it follows the model) or evaluate a model trained for x{o.scale}.")
        return found

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        from zoo_core.data.dataset import SampleDataset

        o = self.options
        gen = specs[self.main_role].model
        self._probe(gen, 16 if self.evaluating else o.gt_size // self.scale)
        self.eval_tf = SREvalTransform(self.scale, self.crop_border())
        train_tf = SRTrainTransform(self.scale, o.gt_size, o.augment)
        out = {}
        for split, source in data.splits.items():
            train = split == "train" and not self.evaluating
            out[split] = SampleDataset(source, train_tf if train else self.eval_tf,
                                       random=train, seed=self.recipe.recipe.seed)
            if not train:
                self.eval_sources[split] = source
        if "train" in data.splits:
            self.eval_sources.setdefault("train", data.splits["train"])
        return out

    def _probe(self, model: nn.Module, size: int) -> None:
        """Upscale a blank ``size`` px LR crop once: a model that cannot, or that does
        not upscale by the task's scale, is a clear error before any data is read."""
        from zoo_sr.tiling import model_device, run_model

        x = torch.zeros(1, 3, size, size, device=model_device(model))
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                y = run_model(model, x, what=f"The generator ({self.generator_name})",
                              shown="LR crop",
                              advice=f"use a larger task.gt_size (the LR crop is gt_size / "
                                     f"scale = {size} px) or another model")
        finally:
            model.train(was)
        got = tuple(y.shape[-2:])
        if got != (size * self.scale, size * self.scale):
            ratio = got[-1] / size
            raise ZooError(
                f"The generator ({self.generator_name}) turns a {size} px LR crop into "
                f"{got[-1]}x{got[-2]} px (x{ratio:g}), but task.scale = {self.scale}: it was "
                f"built for another scale. Use weights made for x{self.scale}, or set "
                f"task.scale = {ratio:g}.")

    # -- models ------------------------------------------------------------------------
    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        from zoo_core.plugins import registry
        from zoo_core.weights import create_model
        from zoo_sr.ema import EMA

        o = self.options
        refs = self.model_refs(self.recipe)
        specs: dict[str, ModelSpec] = {}
        for role in self.roles:
            ref = refs.get(role)
            if ref is None:
                continue
            entry = self.recipe.models.get(role)
            cfg = dict(entry.cfg) if entry is not None else {}
            if role == self.main_role:
                cfg.update(scale=self.scale, in_chans=3)
                self.generator_name = ref.name
            else:
                cfg.update(input_size=o.gt_size, in_chans=3)
            if ref.weights not in ("none", "default") and role == self.main_role:
                found = _model_scale(_saved_config(ref.weights))
                if found is not None and found != self.scale:
                    raise ZooError(
                        f"models.generator.weights = {ref.weights!r} holds an x{found} "
                        f"generator, but task.scale = {self.scale}. Start from an x{self.scale} "
                        f"run's generator or set task.scale = {found}.")
            loaded = create_model(ref.kind, ref.name,
                                  weights=None if ref.weights == "none" else ref.weights, **cfg)
            arch = registry().get(ref.kind, ref.name).component
            save_config = {"zoo": {
                "builder": {"kind": ref.kind, "name": arch.name},
                "model": {**arch.default_cfg, **cfg}, "task": self.name, "role": role,
                "main_role": self.main_role, "tags": self.card_tags(),
                "base": {"name": ref.name, "weights": ref.weights}}}
            specs[role] = ModelSpec(loaded.model, save_config, dict(loaded.data_config),
                                    list(loaded.lock))
        gen = specs[self.main_role]
        if not self.evaluating:
            if o.ema_decay > 0 and any(p.requires_grad for p in gen.model.parameters()):
                self.ema = EMA(gen.model, o.ema_decay)
                gen.notes.append(f"EMA of its weights (decay {o.ema_decay:g}) is evaluated "
                                 "and saved")
            self._build_losses(gen)
        return specs

    def _build_losses(self, gen: ModelSpec) -> None:
        """The training losses: pixel always; perceptual and adversarial when weighted."""
        from zoo_core.plugins import registry
        from zoo_core.weights import create_model

        o = self.options
        reg = registry()
        self.pixel = reg.get("loss", "pixel").component.create(criterion=o.pixel_criterion)
        if self.weights["perceptual"]:
            if o.perceptual_network in VGG_NETWORKS:
                w = o.perceptual_weights
                loaded = create_model("loss", "perceptual", weights=None if w == "none" else w,
                                      network=o.perceptual_network, layer=o.perceptual_layer,
                                      criterion=o.perceptual_criterion)
            else:
                loaded = create_model("loss", "perceptual", weights=None,
                                      network=o.perceptual_network, layer=o.perceptual_layer,
                                      criterion=o.perceptual_criterion,
                                      backbone_weights=o.perceptual_weights)
                loaded.lock.extend(getattr(loaded.model, "lock", []))
            self.perceptual = loaded.model
            gen.lock.extend(loaded.lock)
        if self.weights["gan"]:
            # the GAN plugin's loss, through the registry: no import of another plugin
            self.adversarial = reg.get("loss", f"gan_{o.gan_loss}").component.create()

    def saved_module(self, role: str, model: nn.Module) -> nn.Module:
        if role == self.main_role and self.ema is not None:
            return self.ema.module
        return model

    def generator(self, ctx: Any) -> nn.Module:
        """What evaluation runs: the EMA of the generator when there is one."""
        return self.ema.module if self.ema is not None else ctx.models[self.main_role]

    # -- training ------------------------------------------------------------------------
    def start_phase(self, phase: Phase, ctx: Any) -> None:
        for module in (self.ema, self.pixel, self.perceptual, self.adversarial):
            if module is not None:
                module.to(ctx.device)

    def train_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, Tensor]:
        w = self.weights
        g = ctx.models[self.main_role]
        lr, hr = batch["lr"], batch["hr"]
        gan = "discriminator" in ctx.models
        values: dict[str, Tensor] = {}
        with ctx.autocast():
            sr = g(lr)
            pixel = w["pixel"] * self.pixel(sr.float(), hr) if w["pixel"] else sr.new_zeros(())
            loss = pixel
            values["pixel"] = pixel.detach()
            if self.perceptual is not None:
                perceptual = w["perceptual"] * self.perceptual(sr.float(), hr)
                loss = loss + perceptual
                values["perceptual"] = perceptual.detach()
            if gan:
                d = ctx.models["discriminator"]
                adversarial = w["gan"] * self.adversarial.generator(d(sr).float())
                loss = loss + adversarial
                values["gan"] = adversarial.detach()
        values["loss"] = ctx.backward(loss, self.main_role).detach()
        if ctx.step(self.main_role) and self.ema is not None:
            self.ema.update(g)
        if gan:
            with ctx.autocast():
                real = d(hr).float()
                fake = d(sr.detach()).float()
                d_loss = self.adversarial.discriminator(real, fake)
            values["d_loss"] = ctx.backward(d_loss, "discriminator").detach()
            ctx.step("discriminator")
            values["d_real"] = real.detach().mean()
            values["d_fake"] = fake.detach().mean()
        return values

    # -- evaluation ----------------------------------------------------------------------
    def meter(self, split: str) -> SRTaskMeter:
        # bicubic evaluated is its own baseline
        return SRTaskMeter(self.scale, self.crop_border(), self.options.round_y,
                           baseline=self.generator_name != "bicubic")

    def eval_step(self, batch: dict[str, Any], ctx: Any, meter: Meter) -> None:
        from zoo_sr.losses import pixel_loss
        from zoo_sr.tiling import run_model

        lr, hr = batch["lr"], batch["hr"]
        with ctx.autocast():
            sr = run_model(self.generator(ctx), lr)
        sr = sr.float()
        if sr.shape != hr.shape:
            raise ZooError(
                f"The generator turned a {lr.shape[-1]}x{lr.shape[-2]} px image into "
                f"{sr.shape[-1]}x{sr.shape[-2]} px; x{self.scale} needs "
                f"{hr.shape[-1]}x{hr.shape[-2]}. It was built for another scale.")
        if self.pixel is None:
            self.pixel = pixel_loss(self.options.pixel_criterion)
        loss = self.pixel(sr.clamp(0.0, 1.0), hr)
        assert isinstance(meter, SRTaskMeter)
        meter.add(sr, hr, lr, loss)

    def eval_tables(self, meter: Meter) -> list[tuple[str, list[str], list[list[Any]]]]:
        assert isinstance(meter, SRTaskMeter)
        rows = self._comparison_rows(meter)
        if not rows:
            return []
        return [("beside bicubic, on the same images", ["", *_HEADERS], rows)]

    def _comparison_rows(self, meter: SRTaskMeter) -> list[list[Any]]:
        model, base = meter.compute(), meter.baseline()
        if not base:
            return []
        gain = [model[k] - base[k] for k in _QUALITY]
        return [["bicubic", *(base[k] for k in _QUALITY)],
                [self.generator_name, *(model[k] for k in _QUALITY)],
                ["gain", *gain]]

    # -- artifacts -------------------------------------------------------------------------
    def artifacts(self, epoch: int, ctx: Any, folder: Path) -> list[str]:
        name = f"epoch_{epoch:03d}.png"
        return [name] if self._compare(ctx, folder / name) else []

    def _compare(self, ctx: Any, path: Path, split: str | None = None) -> bool:
        """Side-by-side crops (bicubic | model | HR) of the first images of ``split``."""
        from zoo_sr.compare import compare_row, save_rows

        o = self.options
        split = split or ("val" if "val" in self.eval_sources else "train")
        source = self.eval_sources.get(split)
        if not o.artifact_images or source is None or self.eval_tf is None:
            return False
        rows = []
        with ctx.evaluating():
            net = self.generator(ctx)
            for i in range(min(o.artifact_images, len(source))):
                try:
                    sample = self.eval_tf(source.sample(i))
                except Exception:  # noqa: BLE001 - an unreadable image has no picture
                    continue
                rows.append(compare_row(net, sample["lr"], sample["hr"], self.scale,
                                        o.artifact_crop))
        if not rows:
            return False
        save_rows(rows, path)
        return True

    def finish(self, ctx: Any, folder: Path, split: str, meter: Meter) -> list[str]:
        from zoo_core.api import markdown_table as table
        from zoo_core.atomic import atomic_open

        assert isinstance(meter, SRTaskMeter)
        o = self.options
        rows = self._comparison_rows(meter)
        protocol = "Y rounded to integers (MATLAB)" if o.round_y else "float Y (BasicSR)"
        evaluated = ("the EMA of the generator's weights (decay "
                     f"{o.ema_decay:g})" if self.ema is not None else "the generator")
        lines = [f"x{self.scale} on the {split} split ({meter.count} images, whole, "
                 f"mod-cropped to the scale; {self.crop_border()} px border cut before the "
                 f"metrics; BT.601 {protocol}); evaluated: {evaluated}.", ""]
        if rows:
            shown = [[r[0], *(_fmt(k, v, r[0] == "gain") for k, v in zip(_QUALITY, r[1:],
                                                                         strict=True))]
                     for r in rows]
            lines += table(["", *_HEADERS], shown)
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(["method", *_QUALITY])
            writer.writerows(rows)
            with atomic_open(folder / "sr_eval.csv") as fh:
                fh.write(buf.getvalue())
            lines += ["", "Also in sr_eval.csv."]
        if self._compare(ctx, folder / "artifacts" / f"final_{split}.png", split):
            lines += ["", f"Centre crops of the {split} images, bicubic | model | HR:", "",
                      f"![side by side](artifacts/final_{split}.png)"]
        return lines

    def card_tags(self) -> list[str]:
        return ["super-resolution", "image-to-image"]

    # -- the task's state in checkpoints ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"ema": self.ema.state_dict()} if self.ema is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])

    # -- zoo predict -----------------------------------------------------------------------
    def model_inputs(self, role: str, batch: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The generator takes the LR images (export parity on the run's own data)."""
        return (batch["lr"],) if role == "generator" and "lr" in batch else None

    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        from PIL import Image

        from zoo_core.api import read_image
        from zoo_core.atomic import atomic_path
        from zoo_sr.data import to_tensor
        from zoo_sr.tiling import upscale_tiled

        saved = models[self.main_role]
        if not inputs:
            raise ZooError("zoo predict: give one or more image files to upscale.")
        if out is None:
            raise ZooError("zoo predict writes the upscaled images: give a folder with --out "
                           "DIR.")
        scale = _model_scale(saved.config) or int(getattr(saved.model, "scale", 0) or 0)
        if not scale:
            raise ZooError(f"{saved.folder}/config.json does not say the model's scale.")
        out.mkdir(parents=True, exist_ok=True)
        results: list[dict[str, Any]] = []
        used: set[str] = set()
        for name in inputs:
            p = Path(name).expanduser()
            rgb = read_image(name, "RGB")
            lr = to_tensor(rgb)
            del rgb
            up = upscale_tiled(saved.model, lr, scale, options.tile, options.overlap)
            stem = f"{p.stem}_x{scale}"
            while stem in used:
                stem += "_"
            used.add(stem)
            target = out / f"{stem}.png"
            array = up.permute(1, 2, 0).numpy()
            del up
            with atomic_path(target) as tmp:
                Image.fromarray(array).save(tmp, format="PNG")
            results.append({"image": name, "output": str(target), "scale": scale,
                            "input_size": [int(lr.shape[-1]), int(lr.shape[-2])],
                            "output_size": [int(array.shape[1]), int(array.shape[0])]})
        return results

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        return [("", ["image", "size", "upscaled", "written to"],
                 [[r["image"], "x".join(map(str, r["input_size"])),
                   "x".join(map(str, r["output_size"])), r["output"]] for r in results])]


_HEADERS = ["PSNR-Y (dB)", "SSIM-Y", "PSNR-RGB (dB)", "SSIM-RGB"]


def _fmt(metric: str, value: float, signed: bool) -> str:
    digits = 2 if "psnr" in metric else 4
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
