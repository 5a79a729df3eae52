"""The reconstruction task: autoencoders and denoising autoencoders (role ``net``).

Each step corrupts the clean batch with the recipe's noise switches
(``[task.noise]``: Gaussian, salt-and-pepper, random masking; drawn from
torch's global RNG, which the engine reseeds per epoch) and trains the
autoencoder to give back the clean image. Evaluation corrupts with a fixed
seed, so every epoch sees the same noisy inputs, and reports the
reconstruction's PSNR/MSE beside the noisy input's (the baseline a denoiser
must beat) and their difference, ``psnr_gain``. Artifacts: noisy |
reconstruction | clean grids of fixed validation images. At the end the
encoder is saved to ``RUN/models/encoder/`` as a backbone folder, so a
classification recipe starts from it (``backbone = "RUN/models/encoder"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from zoo_core.api import (
    Direction,
    Meter,
    ModelSpec,
    Role,
    SupervisedTask,
    TaskData,
    image_channels,
    read_image,
)
from zoo_core.errors import ZooError
from zoo_reconstruction.options import ReconstructionOptions

#: filled from the data: a recipe's cfg may not set them
RESERVED = ("in_chans", "image_size")
ENCODER_ROLE = "encoder"  # saved beside the trained roles, in models/encoder/


class PredictOptions(BaseModel):
    """``zoo predict RUN IMAGE... [--out DIR] [--noise] [--seed N]``."""

    model_config = ConfigDict(extra="forbid")
    noise: bool = Field(default=False, description="corrupt the images with the run's noise "
                                                   "first (shows what the model removes)")
    seed: int = Field(default=0, ge=0, description="seed of that noise")


def _loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred, target = pred.float(), target.float()
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target, beta=0.1)
    return F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target)


class ReconstructionTaskMeter(Meter):
    """PSNR/MSE of the reconstruction and of the noisy input, and the mean loss."""

    def __init__(self, noisy: bool):
        from zoo_core.api import MeanMeter
        from zoo_reconstruction.metrics import ReconstructionMeter

        self.recon = ReconstructionMeter()
        self.noisy = ReconstructionMeter() if noisy else None
        self.losses = MeanMeter()
        self.generator: torch.Generator | None = None

    def update(self, values: Mapping[str, Any], count: int) -> None:
        self.losses.update(values, count)

    def compute(self) -> dict[str, float]:
        out = {**self.losses.compute(), **self.recon.compute()}
        if self.noisy is not None:
            base = self.noisy.compute()
            out.update({f"noisy_{k}": v for k, v in base.items()})
            out["psnr_gain"] = out["psnr"] - base["psnr"]
        return out


class ReconstructionTask(SupervisedTask):
    name = "reconstruction"
    Options = ReconstructionOptions
    roles: ClassVar[dict[str, Role]] = {
        "net": Role("autoencoder", default="conv_autoencoder", reserved=RESERVED,
                    description="the autoencoder (image in [0, 1] -> reconstruction)")}
    main_role = "net"
    progress_keys = ("loss", "psnr")
    curves: ClassVar[dict[str, tuple[str, ...]]] = {
        "loss.png": ("loss",), "psnr.png": ("psnr", "noisy_psnr")}
    PredictOptions = PredictOptions
    folder_dataset = "images"

    def __init__(self) -> None:
        self.channels = 3
        self.image_size = 64
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- the recipe ---------------------------------------------------------------------
    def metrics(self) -> dict[str, Direction]:
        out: dict[str, Direction] = {"loss": "min", "psnr": "max", "mse": "min",
                                     "psnr_global": "max"}
        if self.options.noise.on:
            out.update(noisy_psnr="max", noisy_mse="min", noisy_psnr_global="max",
                       psnr_gain="max")
        return out

    def default_monitor(self) -> str:
        return "val/psnr"

    def check_recipe(self, recipe: Any) -> Iterable[Any]:
        o: ReconstructionOptions = recipe.task
        if o.loss == "bce":
            entry = recipe.models.get("net")
            if entry is not None and entry.cfg.get("output") == "none":
                yield ("error", "task.loss", "'bce' needs outputs in [0, 1]: remove "
                       "models.net.cfg.output = \"none\" or use 'mse'/'l1'")
        if o.noise.mask_patch is not None and not o.noise.mask:
            yield ("warning", "task.noise.mask_patch", "has no effect without task.noise.mask")
        if recipe.data.augment.noise:
            yield ("warning", "data.augment.noise", "corrupts input and target alike; the "
                   "denoising noise belongs in [task.noise] (input only)")

    def describe(self, recipe: Any) -> list[tuple[str, str]]:
        rows = super().describe(recipe)
        o: ReconstructionOptions = recipe.task
        rows.append(("reconstruction", f"noise {o.noise.describe()}; loss {o.loss}"))
        return rows

    # -- data ----------------------------------------------------------------------------
    def build_data(self, ctx: Any) -> TaskData:
        from zoo_core.data.datasets import load_splits
        from zoo_core.plugins import registry

        raw = load_splits(self.recipe)
        saved = ctx.saved.get(self.main_role)
        if saved is not None:
            cfg = (saved.get("zoo") or {}).get("model") or {}
            self.channels = int(cfg.get("in_chans", 3))
            size = cfg.get("image_size", 64)
        else:
            first = raw.splits["train"].sample(0)["image"]
            self.channels = image_channels(first)
            ref = self.model_refs(self.recipe)[self.main_role]
            size = self.recipe.data.image_size or registry().get(
                "autoencoder", ref.name).component.default_cfg.get("image_size", 64)
        self.image_size = int(size if isinstance(size, int) else size[0])
        return TaskData(dict(raw.splits), raw.name, [], list(raw.notes))

    def data_config(self) -> dict[str, Any]:
        """[0, 1] images of the run's size: the autoencoder normalises for its encoder."""
        c, s = self.channels, self.image_size
        return {"input_size": (c, s, s), "mean": (0.0,) * c, "std": (1.0,) * c,
                "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center"}

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        from zoo_core.api import image_datasets

        return image_datasets(data.splits, self.data_config(), self.recipe.data.augment,
                              seed=self.recipe.recipe.seed, keys=("image",))

    # -- the model -----------------------------------------------------------------------
    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        from zoo_core.plugins import registry
        from zoo_core.weights import create_model

        ref = self.model_refs(self.recipe)[self.main_role]
        entry = self.recipe.models.get(self.main_role)
        cfg = dict(entry.cfg) if entry is not None else {}
        cfg.update(in_chans=self.channels, image_size=self.image_size)
        loaded = create_model("autoencoder", ref.name,
                              weights=None if ref.weights == "none" else ref.weights, **cfg)
        model = loaded.model
        arch = registry().get("autoencoder", ref.name).component
        built = {**arch.default_cfg, **cfg}
        if "encoder_weights" in built:  # a saved model must not fetch its encoder's again
            built["encoder_weights"] = "none"
        o = self.options
        save_config = {
            "pretrained_cfg": self.data_config(),
            "reconstruction": {"noise": o.noise.model_dump(), "loss": o.loss},
            "zoo": {"builder": {"kind": "autoencoder", "name": arch.name}, "model": built,
                    "task": self.name, "role": self.main_role, "main_role": self.main_role,
                    "tags": self.card_tags(), "base": {"name": ref.name,
                                                       "weights": ref.weights}},
        }
        lock = list(loaded.lock) + list(getattr(model, "encoder_lock", []) or [])
        return {self.main_role: ModelSpec(model, save_config, self.data_config(), lock)}

    # -- steps ---------------------------------------------------------------------------
    def corrupt(self, clean: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        from zoo_reconstruction.noise import corrupt

        switches = self.options.noise.switches()
        return corrupt(clean, switches, generator=generator) if switches else clean

    def forward(self, net: Any, batch: dict[str, Any]) -> Any:
        return net(self.corrupt(batch["image"]))

    def loss(self, outputs: Any, batch: dict[str, Any], training: bool) -> torch.Tensor:
        return _loss(self.options.loss, outputs, batch["image"])

    def step_metrics(self, outputs: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        from zoo_reconstruction.metrics import psnr_per_image

        return {"psnr": psnr_per_image(outputs.detach(), batch["image"]).mean()}

    def meter(self, split: str) -> ReconstructionTaskMeter:
        return ReconstructionTaskMeter(self.options.noise.on)

    def eval_step(self, batch: dict[str, Any], ctx: Any, meter: Meter) -> None:
        assert isinstance(meter, ReconstructionTaskMeter)
        clean = batch["image"]
        if meter.generator is None:  # the same noisy inputs every evaluation
            meter.generator = torch.Generator(device=clean.device).manual_seed(
                self.options.eval_seed)
        noisy = self.corrupt(clean, meter.generator)
        with ctx.autocast():
            recon = self.net(ctx)(noisy)
        recon = recon.float()
        meter.losses.update({"loss": self.loss(recon, batch, False)}, int(clean.shape[0]))
        meter.recon.update(recon, clean)
        if meter.noisy is not None:
            meter.noisy.update(noisy, clean)

    # -- artifacts and the end of a run ----------------------------------------------------
    def _fixed_inputs(self, ctx: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self._fixed is None:
            loaders = ctx.extras.get("loaders") or {}
            split = next((s for s in ("val", "test", "train") if s in loaders), None)
            if split is None:
                return None
            dataset = loaders[split].dataset
            items = [dataset[i] for i in range(min(self.options.n_samples, len(dataset)))]
            images = [it["image"] for it in items if isinstance(it, dict)]
            if not images:
                return None
            clean = torch.stack(images)
            gen = torch.Generator().manual_seed(self.options.sample_seed)
            self._fixed = (clean, self.corrupt(clean, gen))
        return self._fixed

    def artifacts(self, epoch: int, ctx: Any, folder: Path) -> list[str]:
        o = self.options
        last = epoch == int(self.recipe.train.epochs)
        if not o.n_samples or not (last or (o.sample_every and epoch % o.sample_every == 0)):
            return []
        fixed = self._fixed_inputs(ctx)
        if fixed is None:
            return []
        from zoo_reconstruction.artifacts import write_rows

        clean, noisy = fixed
        with ctx.evaluating(), ctx.autocast():
            recon = ctx.models[self.main_role](noisy.to(ctx.device)).float().cpu()
        name = f"reconstructions_epoch{epoch:03d}.png"
        rows = [noisy, recon, clean] if o.noise.on else [recon, clean]
        write_rows(folder / name, rows)
        return [name]

    def finish(self, ctx: Any, folder: Path, split: str, meter: Meter) -> list[str]:
        from zoo_core.api import markdown_table as table

        assert isinstance(meter, ReconstructionTaskMeter)
        s = meter.compute()
        lines = [f"Reconstruction of the {split} images (noise: "
                 f"{self.options.noise.describe()}; the evaluation noise is seeded):", ""]
        rows = [["reconstruction", s["psnr"], s["psnr_global"], s["mse"]]]
        if meter.noisy is not None:
            rows.insert(0, ["noisy input", s["noisy_psnr"], s["noisy_psnr_global"],
                            s["noisy_mse"]])
        lines += table(["vs the clean image", "PSNR (dB)", "PSNR of the mean MSE", "MSE"], rows)
        if meter.noisy is not None:
            lines += ["", f"Denoising gain: {s['psnr_gain']:+.2f} dB PSNR over the noisy input."]
        model = ctx.models[self.main_role]
        if self.options.export_encoder and getattr(model, "encoder_name", None):
            from zoo_core.weights.saved import MODELS_DIR
            from zoo_reconstruction.transfer import encoder_config, export_encoder

            target = folder / MODELS_DIR / ENCODER_ROLE
            export_encoder(model, target)
            arch = encoder_config(model)["architecture"]
            lines += ["", f"The encoder is in `{MODELS_DIR}/{ENCODER_ROLE}/` (a `{arch}` "
                      "backbone). Start a classification recipe from it with `[model] "
                      f"backbone = \"{target}\"`."]
        grids = sorted((folder / "artifacts").glob("reconstructions_epoch*.png"))
        if grids:
            what = "noisy | reconstruction | clean" if meter.noisy is not None \
                else "reconstruction | clean"
            lines += ["", f"Rows: {what} (after the last epoch):", "",
                      f"![{grids[-1].name}](artifacts/{grids[-1].name})"]
        return lines

    def eval_tables(self, meter: Meter) -> list[tuple[str, list[str], list[list[Any]]]]:
        assert isinstance(meter, ReconstructionTaskMeter)
        s = meter.compute()
        rows = [["reconstruction", s["psnr"], s["mse"]]]
        if meter.noisy is not None:
            rows.insert(0, ["noisy input", s["noisy_psnr"], s["noisy_mse"]])
        return [("vs the clean image", ["", "PSNR (dB)", "MSE"], rows)]

    def card_tags(self) -> list[str]:
        return ["image-to-image", "autoencoder"]

    # -- zoo predict -----------------------------------------------------------------------
    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        from PIL import Image

        from zoo_core.atomic import atomic_path
        from zoo_reconstruction.metrics import psnr_per_image
        from zoo_reconstruction.noise import corrupt

        if not inputs:
            raise ZooError("zoo predict: give one or more image files to reconstruct.")
        saved = models[self.main_role]
        channels = int(saved.data_config["input_size"][0])
        noise = (saved.config.get("reconstruction") or {}).get("noise") or {}
        if options.noise and not any(noise.get(k) for k in ("gaussian", "salt_pepper", "mask")):
            raise ZooError("--noise: this model was trained without noise ([task.noise]).")
        folder = out if out is not None else Path(".")
        folder.mkdir(parents=True, exist_ok=True)
        device = next(saved.model.parameters()).device
        gen = torch.Generator().manual_seed(options.seed)

        def save(t: torch.Tensor, path: Path) -> None:
            arr = (t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).squeeze(-1).numpy()
            with atomic_path(path) as tmp:
                Image.fromarray(arr).save(tmp, format="PNG")

        results = []
        for name in inputs:
            path = Path(name).expanduser()
            img = read_image(name, "L" if channels == 1 else "RGB")
            from torchvision.transforms.v2 import functional as TF

            clean = TF.to_dtype(TF.to_image(img), torch.float32, scale=True)[None]
            x = clean
            result: dict[str, Any] = {"image": name}
            if options.noise:
                from zoo_reconstruction.options import NoiseOptions

                x = corrupt(clean, NoiseOptions.model_validate(noise).switches(), generator=gen)
                save(x[0], folder / f"{path.stem}_noisy.png")
                result["noisy"] = str(folder / f"{path.stem}_noisy.png")
                result["noisy_psnr"] = float(psnr_per_image(x, clean)[0])
            recon = saved.model(x.to(device)).float().cpu()
            target = folder / f"{path.stem}_reconstruction.png"
            save(recon[0], target)
            result["reconstruction"] = str(target)
            result["psnr"] = float(psnr_per_image(recon, clean)[0])
            results.append(result)
        return results

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        header = ["image", "PSNR vs the clean image", "written to"]
        rows = []
        for r in results:
            if "noisy_psnr" in r:
                rows.append([r["image"] + " (noisy)", f"{r['noisy_psnr']:.2f} dB", r["noisy"]])
            rows.append([r["image"], f"{r['psnr']:.2f} dB", r["reconstruction"]])
        return [("", header, rows)]


__all__ = ["ReconstructionTask"]
