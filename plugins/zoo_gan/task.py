"""The GAN task: a generator and a discriminator, two optimizers, alternating steps.

Each batch, as the PyTorch DCGAN tutorial's loop: the discriminator learns
from a real batch and a generated one (``discriminator_step``: fakes
detached, targets from the ganhacks switches, optional instance noise), then
the generator learns to fool it (``generator_step``; every ``d_steps``-th
batch). ``ctx.backward(loss, role)`` keeps each loss's gradients in its own
network. A conditional GAN (``[task] conditional = true``) gets the data's
labels: G embeds them with z, D sees them as a plane or through a projection.

Evaluation measures FID/KID of generated against real images of the split
(on Inception when its weights are present, else a named fallback network)
and, with ``[task] classifier`` set, the conditional accuracy: the share of
samples a trained classifier assigns to the requested class. Every
``sample_every`` epochs a grid from fixed noise goes to ``artifacts/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from zoo_core.api import Direction, Meter, ModelSpec, Role, Task, TaskData, image_channels
from zoo_core.errors import ZooError
from zoo_gan.options import GanOptions

#: the DCGAN tutorial's optimizer, for both networks
TUTORIAL_ADAM = {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999], "weight_decay": 0.0}
#: what the task fills from the data: the recipe may not set them
RESERVED = ("image_size", "channels", "num_classes")


class PredictOptions(BaseModel):
    """``zoo predict RUN --n 64 [--label 3] [--seed 0] [--out DIR]``."""

    model_config = ConfigDict(extra="forbid")
    n: int = Field(default=64, ge=1, le=4096, description="how many samples")
    label: int | None = Field(default=None, ge=0, description="the class (conditional GAN)")
    seed: int = Field(default=0, ge=0, description="seed of the noise")


class GanMeter(Meter):
    """FID/KID of generated vs real images, and conditional accuracy, for one split."""

    def __init__(self, task: GanTask, metrics: Any | None, classifier: Any | None):
        self.task = task
        self.metrics = metrics
        self.classifier = classifier
        self.real = 0
        self.hits = 0
        self.judged = 0

    def update(self, values: Mapping[str, Any], count: int) -> None:
        raise NotImplementedError("the GAN meter is fed by GanTask.eval_step")

    # several processes (DDP): Meter.reduce adds these counts up; FID/KID (torchmetrics)
    # gather their own states in compute()
    def state_dict(self) -> dict[str, Any]:
        return {"real": self.real, "hits": self.hits, "judged": self.judged}

    def load_state_dict(self, state: dict[str, Any], device: Any = None) -> None:
        self.real, self.hits, self.judged = (int(state[k]) for k in ("real", "hits", "judged"))

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.metrics is not None and self.metrics.n_real >= 2:
            out.update(self.metrics.compute())
        if self.judged:
            out["cond_acc"] = self.hits / self.judged
        return out


class GanTask(Task):
    name = "gan"
    Options = GanOptions
    roles: ClassVar[dict[str, Role]] = {
        "generator": Role("gan", default="dcgan_generator", optimizer=TUTORIAL_ADAM,
                          reserved=RESERVED, description="maps noise (and a label) to images"),
        "discriminator": Role("gan", default="dcgan_discriminator", optimizer=TUTORIAL_ADAM,
                              reserved=RESERVED, description="scores images real or fake"),
    }
    main_role = "generator"
    progress_keys = ("d_loss", "g_loss")
    curves: ClassVar[dict[str, tuple[str, ...]]] = {
        "losses.png": ("d_loss", "g_loss"), "d_outputs.png": ("d_real", "d_fake")}
    PredictOptions = PredictOptions
    folder_dataset = "images"

    def __init__(self) -> None:
        self.channels = 3
        self.image_size = 64
        self.num_classes = 0
        self.nz = 100
        self.device = torch.device("cpu")
        self._fixed: tuple[torch.Tensor, torch.Tensor | None, int] | None = None
        self._epoch: int | None = None
        self._feature_net: Any = None
        self._classifier: Any = None
        self._preprocess: Any = None

    # -- the recipe ---------------------------------------------------------------------
    def metrics(self) -> dict[str, Direction]:
        out: dict[str, Direction] = {"d_loss": "min", "g_loss": "min", "d_real": "max",
                                     "d_fake": "min"}
        name = self.fid_name()
        if name is not None:
            out[f"fid_{name}"] = "min"
            if self.options.fid.kid:
                out[f"kid_{name}"] = "min"
                out[f"kid_{name}_std"] = "min"
        if self.options.classifier:
            out["cond_acc"] = "max"
        return out

    def default_monitor(self) -> str | None:
        name = self.fid_name()
        return f"val/fid_{name}" if name is not None else None

    def fid_name(self) -> str | None:
        """The feature network FID/KID are named after (None: FID is off)."""
        from zoo_gan.metrics import feature_name

        fid = self.options.fid
        return feature_name(fid.feature, fid.weights) if fid.n_samples > 0 else None

    def check_recipe(self, recipe: Any) -> Iterable[Any]:
        o = recipe.task
        if o.classifier and not o.conditional:
            yield ("error", "task.classifier", "conditional accuracy needs a conditional GAN "
                   "(task.conditional = true): an unconditional generator takes no label")
        if o.classifier and not Path(o.classifier).expanduser().exists():
            yield ("error", "task.classifier", f"{o.classifier} does not exist: give a run "
                   "folder or a saved model folder of a classifier trained on this data")
        size = recipe.data.image_size
        if size is not None and (size < 8 or size & (size - 1)):
            yield ("error", "data.image_size", f"a DCGAN makes square images whose size is a "
                   f"power of two (8, 16, 32, 64, 128 ...); got {size}")

    def describe(self, recipe: Any) -> list[tuple[str, str]]:
        rows = super().describe(recipe)
        o = recipe.task
        hacks = [f"loss {o.loss}"]
        if o.label_smoothing:
            hacks.append(f"label smoothing {o.label_smoothing:g}")
        if o.label_noise:
            hacks.append(f"label noise {o.label_noise:g}")
        if o.label_flip:
            hacks.append(f"label flip {o.label_flip:g}")
        if o.instance_noise.sigma:
            hacks.append(f"instance noise {o.instance_noise.sigma:g}")
        if not o.separate_batches:
            hacks.append("mixed real/fake batches")
        if o.d_steps > 1:
            hacks.append(f"{o.d_steps} D steps per G step")
        rows.append(("gan", ("conditional, " if o.conditional else "") + ", ".join(hacks)))
        return rows

    # -- data ------------------------------------------------------------------------------
    def build_data(self, ctx: Any) -> TaskData:
        from zoo_core.data.datasets import load_splits

        self.device = ctx.device
        raw = load_splits(self.recipe)
        if self.options.conditional and not raw.classes:
            raise ZooError(f"task.conditional = true needs labelled data; data set "
                           f"{raw.name!r} has no classes. Use a labelled data set (class "
                           "folders: dataset = \"imagefolder\") or an unconditional GAN.")
        train = raw.splits["train"]
        first = next((train.sample(i)["image"] for i in range(min(len(train), 1))), None)
        saved = ctx.saved.get(self.main_role)
        if saved is not None:  # evaluating a saved generator: its own shape decides
            cfg = (saved.get("zoo") or {}).get("model") or {}
            self.channels = int(cfg.get("channels", 3))
            self.image_size = int(cfg.get("image_size", 64))
        else:
            self.channels = image_channels(first)
            self.image_size = int(self.recipe.data.image_size or 64)
        self.num_classes = len(raw.classes) if self.options.conditional else 0
        return TaskData(dict(raw.splits), raw.name, list(raw.classes), list(raw.notes))

    def data_config(self) -> dict[str, Any]:
        """Images as the tutorial feeds them: resized, center-cropped, in [-1, 1]."""
        c, s = self.channels, self.image_size
        return {"input_size": (c, s, s), "mean": (0.5,) * c, "std": (0.5,) * c,
                "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center"}

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        from zoo_core.api import image_datasets

        keys = ("image", "label") if self.num_classes > 0 else ("image",)
        return image_datasets(data.splits, self.data_config(), self.recipe.data.augment,
                              seed=self.recipe.recipe.seed, keys=keys)

    # -- models ------------------------------------------------------------------------------
    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        from zoo_core.weights import create_model

        specs = {}
        refs = self.model_refs(self.recipe)
        for role, spec in self.roles.items():
            entry = self.recipe.models.get(role)
            name, weights = refs[role].name, refs[role].weights
            cfg = dict(entry.cfg) if entry is not None else {}
            cfg.update(image_size=self.image_size, channels=self.channels,
                       num_classes=self.num_classes)
            loaded = create_model(spec.kind, name, weights=None if weights == "none" else weights,
                                  **cfg)
            model = loaded.model
            if role == "generator":
                self.nz = int(getattr(model, "nz", cfg.get("nz", 100)))
            from zoo_core.plugins import registry

            arch = registry().get(spec.kind, name).component
            built_cfg = {**arch.default_cfg, **cfg}
            save_config = {
                "pretrained_cfg": self.data_config(),
                "label_names": list(data.classes) if self.num_classes else [],
                "zoo": {"builder": {"kind": spec.kind, "name": arch.name},
                        "model": built_cfg, "task": self.name, "role": role,
                        "main_role": self.main_role, "tags": self.card_tags(),
                        "base": {"name": name, "weights": weights}},
            }
            specs[role] = ModelSpec(model, save_config, self.data_config(), list(loaded.lock))
        return specs

    # -- training ----------------------------------------------------------------------------
    def _sigma(self, ctx: Any) -> float:
        from zoo_gan.hacks import instance_noise_sigma

        noise = self.options.instance_noise
        if not noise.sigma:
            return 0.0
        steps = max(len(ctx.extras["loaders"]["train"]), 1)
        position = ctx.epoch + (ctx.global_step % steps) / steps
        return instance_noise_sigma(position, noise.sigma, noise.decay_epochs, noise.schedule)

    def _generate(self, g: Any, n: int, device: torch.device, labels: torch.Tensor | None
                  ) -> torch.Tensor:
        from zoo_gan.hacks import sample_z

        z = sample_z(n, self.nz, self.options.z_distribution, device=device)
        return g(z) if labels is None else g(z, labels)

    def train_step(self, batch: dict[str, Any], ctx: Any) -> dict[str, torch.Tensor]:
        from zoo_gan.hacks import (
            discriminator_step,
            discriminator_targets,
            generator_step,
            is_generator_step,
            sample_labels,
        )

        o = self.options
        g, d = ctx.models["generator"], ctx.models["discriminator"]
        real = batch["image"]
        n = real.shape[0]
        real_labels = batch["label"] if self.num_classes else None
        fake_labels = (sample_labels(n, self.num_classes, device=real.device)
                       if self.num_classes else None)
        sigma = self._sigma(ctx)
        real_t, fake_t = discriminator_targets(n, n, smoothing=o.label_smoothing,
                                               noise=o.label_noise, flip=o.label_flip,
                                               device=real.device)
        with ctx.autocast():
            fake = self._generate(g, n, real.device, fake_labels)
            dstep = discriminator_step(d, real, fake, loss=o.loss, real_targets=real_t,
                                       fake_targets=fake_t, real_labels=real_labels,
                                       fake_labels=fake_labels, separate=o.separate_batches,
                                       sigma=sigma)
        ctx.backward(dstep.loss, "discriminator")
        ctx.step("discriminator")
        values = {"d_loss": dstep.loss.detach(), "d_real": self._score(dstep.real_logits),
                  "d_fake": self._score(dstep.fake_logits)}
        if is_generator_step(ctx.global_step, o.d_steps):
            with ctx.autocast():
                g_loss = generator_step(d, fake, loss=o.loss, non_saturating=o.non_saturating,
                                        labels=fake_labels, sigma=sigma)
            values["g_loss"] = ctx.backward(g_loss, "generator").detach()
            ctx.step("generator")
        return values

    def _score(self, logits: torch.Tensor) -> torch.Tensor:
        """D's mean output: a probability for the vanilla loss (the tutorial's D(x)), the
        raw score for lsgan and hinge."""
        logits = logits.detach().float()
        return (torch.sigmoid(logits) if self.options.loss == "vanilla" else logits).mean()

    # -- evaluation ------------------------------------------------------------------------------
    def _metrics(self, device: torch.device) -> Any:
        if self.fid_name() is None:
            return None
        from zoo_gan.metrics import GanMetrics, build_feature_net

        fid = self.options.fid
        if self._feature_net is None:
            self._feature_net, _ = build_feature_net(fid.feature, weights=fid.weights)
        return GanMetrics(feature_net=self._feature_net, kid=fid.kid,
                          kid_subset_size=fid.kid_subset_size, batch_size=fid.batch_size,
                          device=device)

    def _load_classifier(self, device: torch.device) -> None:
        if self._classifier is not None or not self.options.classifier:
            return
        from zoo_core.weights import load_model

        loaded = load_model(self.options.classifier)
        self._classifier = loaded.model.to(device).eval()
        cfg = loaded.data_config
        c, h, w = cfg["input_size"]
        mean = torch.tensor(cfg["mean"], device=device).view(1, -1, 1, 1)
        std = torch.tensor(cfg["std"], device=device).view(1, -1, 1, 1)

        def preprocess(x: torch.Tensor) -> torch.Tensor:
            x = (x.float() + 1) / 2  # the generator's [-1, 1] -> [0, 1]
            if x.shape[1] != c:
                x = x.mean(dim=1, keepdim=True).expand(-1, c, -1, -1)
            x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear",
                                                align_corners=False, antialias=True)
            return (x - mean) / std

        self._preprocess = preprocess

    def start_epoch(self, epoch: int, ctx: Any) -> None:
        super().start_epoch(epoch, ctx)
        self._epoch = epoch + 1

    def meter(self, split: str) -> GanMeter:
        self._load_classifier(self.device)
        every = self.options.fid.every
        # during training FID/KID come every `every` epochs (they cost a feature pass over
        # real and generated images); the last epoch and the final evaluation always
        due = self._epoch is None or self._epoch % every == 0 \
            or self._epoch == int(self.recipe.train.epochs)
        return GanMeter(self, self._metrics(self.device) if due else None, self._classifier)

    def eval_step(self, batch: dict[str, Any], ctx: Any, meter: Meter) -> None:
        from zoo_gan.hacks import sample_labels
        from zoo_gan.metrics import conditional_accuracy

        assert isinstance(meter, GanMeter)
        real = batch["image"]
        limit = self.options.fid.n_samples
        n = min(real.shape[0], max(limit - meter.real, 0)) if meter.metrics is not None \
            else real.shape[0]
        if n <= 0 and meter.classifier is None:
            return
        n = max(n, 0)
        g = ctx.models["generator"]
        if meter.metrics is not None and n > 0:
            labels = batch["label"][:n] if self.num_classes else None
            fake = self._generate(g, n, real.device, labels).float()
            meter.metrics.update(real[:n].float(), real=True)
            meter.metrics.update(fake, real=False)
            meter.real += n
        if meter.classifier is not None and self.num_classes:
            labels = sample_labels(real.shape[0], self.num_classes, device=real.device)
            fake = self._generate(g, real.shape[0], real.device, labels).float()
            acc = conditional_accuracy(meter.classifier, fake, labels,
                                       preprocess=self._preprocess)
            meter.hits += round(acc * real.shape[0])
            meter.judged += real.shape[0]

    # -- artifacts and the end of a run ------------------------------------------------------------
    def _fixed_inputs(self) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        from zoo_gan.samples import fixed_inputs

        if self._fixed is None:
            o = self.options
            self._fixed = fixed_inputs(o.n_samples, self.nz, num_classes=self.num_classes,
                                       distribution=o.z_distribution, seed=o.sample_seed)
        return self._fixed

    def artifacts(self, epoch: int, ctx: Any, folder: Path) -> list[str]:
        every = self.options.sample_every
        last = epoch == int(self.recipe.train.epochs)
        if not every or (epoch % every and not last):
            return []
        from zoo_gan.samples import generate, save_sample_grid

        z, labels, nrow = self._fixed_inputs()
        images = generate(ctx.models["generator"], z, labels)
        name = f"samples_epoch{epoch:03d}.png"
        save_sample_grid(images, folder / name, nrow=nrow)
        return [name]

    def finish(self, ctx: Any, folder: Path, split: str, meter: Meter) -> list[str]:
        grids = sorted((folder / "artifacts").glob("samples_epoch*.png"))
        lines = []
        if self._feature_net is not None:
            lines.append(f"FID/KID on {self._feature_net.name} features of {split} images "
                         f"and as many generated ones (at most {self.options.fid.n_samples}).")
        if grids:
            lines += ["", f"Samples from fixed noise after the last epoch "
                      f"({'one row per class' if self.num_classes else 'unconditional'}):", "",
                      f"![{grids[-1].name}](artifacts/{grids[-1].name})"]
        return lines

    def card_tags(self) -> list[str]:
        if self.num_classes:
            return ["image-generation", "gan", "conditional-gan"]
        return ["unconditional-image-generation", "gan"]

    # -- zoo predict -----------------------------------------------------------------------------
    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        from zoo_gan.hacks import sample_z
        from zoo_gan.samples import generate, save_sample_grid

        if inputs:
            raise ZooError("zoo predict of a GAN takes no input files: it samples "
                           f"(--n N, --label L); got {', '.join(inputs[:3])}.")
        saved = models["generator"]
        model = saved.model
        cfg = (saved.config.get("zoo") or {}).get("model") or {}
        num_classes = int(cfg.get("num_classes", 0))
        nz = int(cfg.get("nz", 100))
        z_dist = self.options.z_distribution if self.recipe is not None else "normal"
        gen = torch.Generator().manual_seed(options.seed)
        z = sample_z(options.n, nz, z_dist, generator=gen)
        labels = None
        names = saved.config.get("label_names") or []
        if num_classes:
            label = options.label
            if label is None:
                labels = torch.arange(options.n) % num_classes
            elif label >= num_classes:
                raise ZooError(f"--label {label}: this generator knows classes 0.."
                               f"{num_classes - 1} ({', '.join(map(str, names[:12]))}).")
            else:
                labels = torch.full((options.n,), label, dtype=torch.long)
        elif options.label is not None:
            raise ZooError("--label needs a conditional generator; this one is unconditional.")
        images = generate(model, z, labels, train_mode=False)
        folder = out if out is not None else Path(".")
        suffix = f"_label{options.label}" if options.label is not None else ""
        path = folder / f"samples{suffix}.png"
        nrow = num_classes if num_classes and options.label is None else \
            max(1, round(options.n ** 0.5))
        save_sample_grid(images, path, nrow=nrow)
        return [{"file": str(path), "n": options.n, "label": options.label,
                 "size": list(images.shape[1:])}]

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        return [("", ["samples", "label", "written to"],
                 [[r["n"], "-" if r["label"] is None else r["label"], r["file"]]
                  for r in results])]


__all__ = ["GanTask"]
