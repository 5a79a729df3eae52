"""A third-party task that is not classification: predict an image's mean colour.

The target of each image is computed from its own pixels (the mean of each
channel, in [0, 1], of the image the network sees), the loss is MSE, and the
metrics are errors, so lower is better. The network is any registry backbone
with one output per channel (the plugin's ``tinynet`` by default). Everything
comes from ``zoo_core.api``; the engine does the rest (optimizers, loop,
checkpoints, resume, the run folder, ``zoo eval`` and ``zoo predict``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from zoo_core import api
from zoo_core.api import Direction, Meter, ModelSpec, Role, SupervisedTask, TaskData


class Options(BaseModel):
    """The recipe's ``[task]`` section."""

    model_config = ConfigDict(extra="forbid", strict=True)
    loss: Literal["mse", "l1"] = "mse"


class ErrorMeter(Meter):
    """Mean absolute and root-mean-square error over every channel of every image."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, name: str, value: torch.Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0) + value.detach().float()

    def compute(self) -> dict[str, float]:
        if not self.count:
            return {}
        n = float(self.sums["n"])
        return {"loss": float(self.sums["loss"]) / self.count,
                "mae": float(self.sums["abs"]) / n, "rmse": (float(self.sums["sq"]) / n) ** 0.5}


def _with_target(transform: Any, mean: torch.Tensor, std: torch.Tensor) -> Any:
    """A sample transform that adds the target: the channel means of the image the
    network sees, before normalisation (so augmentation changes both alike)."""

    def apply(sample: dict[str, Any]) -> dict[str, Any]:
        image = transform(sample)["image"]
        pixels = image * std[:, None, None] + mean[:, None, None]
        return {"image": image, "target": pixels.mean(dim=(1, 2))}

    return apply


class BrightnessTask(SupervisedTask):
    """Image -> mean colour per channel (``[models.net]``: any backbone)."""

    name = "brightness"
    Options = Options
    roles: ClassVar[dict[str, Role]] = {
        "net": Role("backbone", default="tinynet", reserved=("num_classes",),
                    description="image -> one number per channel")}
    progress_keys = ("loss", "mae")
    curves: ClassVar[dict[str, tuple[str, ...]]] = {"loss.png": ("loss",),
                                                    "error.png": ("mae", "rmse")}
    target_key = "target"

    def metrics(self) -> dict[str, Direction]:
        return {"loss": "min", "mae": "min", "rmse": "min"}

    def default_monitor(self) -> str:
        return "val/mae"

    def build_data(self, ctx: Any) -> TaskData:
        raw = api.load_splits(self.recipe)
        return TaskData(dict(raw.splits), raw.name, notes=list(raw.notes))

    def build_models(self, data: TaskData, ctx: Any) -> dict[str, ModelSpec]:
        entry = self.recipe.models.get("net")
        name = entry.name if entry else str(self.roles["net"].default)
        weights = entry.weights if entry else "none"
        cfg = dict(entry.cfg) if entry else {}
        chans = int(cfg.get("in_chans", 3))  # one output per input channel
        loaded = api.create_model("backbone", name, weights=None if weights == "none"
                                  else weights, num_classes=chans, **cfg)
        data_config = api.resolve_data_config(loaded.data_config,
                                              image_size=self.recipe.data.image_size,
                                              in_chans=chans)
        builder = api.get("backbone", name).component.qualified_name
        save_config = {
            "num_classes": chans,
            "pretrained_cfg": {k: data_config[k] for k in ("input_size", "mean", "std",
                                                           "interpolation", "crop_pct")},
            "zoo": {"builder": {"kind": "backbone", "name": builder},
                    "model": {**cfg, "num_classes": chans}, "task": self.name, "role": "net",
                    "main_role": "net", "tags": self.card_tags()},
        }
        return {"net": ModelSpec(loaded.model, save_config, data_config, list(loaded.lock))}

    def datasets(self, data: TaskData, specs: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
        dc = specs["net"].data_config
        mean, std = torch.tensor(dc["mean"]), torch.tensor(dc["std"])
        out = {}
        for split, source in data.splits.items():
            train = split == "train"
            tf = api.train_transform(dc, self.recipe.data.augment) if train \
                else api.eval_transform(dc)
            sample = _with_target(api.for_sample(tf, api.image_mode(dc)), mean, std)
            out[split] = api.SampleDataset(source, sample, random=train,
                                           seed=self.recipe.recipe.seed)
        return out

    def loss(self, outputs: Any, batch: dict[str, Any], training: bool) -> torch.Tensor:
        fn = F.mse_loss if self.options.loss == "mse" else F.l1_loss
        return fn(outputs.float(), batch["target"])

    def step_metrics(self, outputs: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"mae": (outputs.detach().float() - batch["target"]).abs().mean()}

    def meter(self, split: str) -> ErrorMeter:
        return ErrorMeter()

    def update_meter(self, meter: Meter, outputs: Any, batch: dict[str, Any],
                     loss: torch.Tensor) -> None:
        assert isinstance(meter, ErrorMeter)
        err = outputs.detach().float() - batch["target"]
        n = api.batch_size(batch)
        meter.count += n
        meter.add("loss", loss * n)
        meter.add("abs", err.abs().sum())
        meter.add("sq", err.pow(2).sum())
        meter.add("n", torch.tensor(err.numel()))

    def card_tags(self) -> list[str]:
        return ["image-regression", self.name]

    def predict(self, models: Mapping[str, Any], inputs: Sequence[str], options: Any,
                out: Path | None) -> list[dict[str, Any]]:
        """``zoo predict RUN img.png...``: predicted and measured mean colour."""
        saved = models["net"]
        if not inputs:
            raise api.ZooError("zoo predict: give one or more image files.")
        dc = saved.data_config
        mean, std = torch.tensor(dc["mean"]), torch.tensor(dc["std"])
        sample = _with_target(api.for_sample(api.eval_transform(dc), api.image_mode(dc)),
                              mean, std)
        net: nn.Module = saved.model
        device = next(net.parameters()).device
        results = []
        for name in inputs:
            if not Path(name).is_file():
                raise api.DataError(f"Image {name!r} does not exist.")
            item = sample({"image": api.open_image(Path(name))})
            pred = net(item["image"][None].to(device))[0].float().cpu()
            results.append({"image": name, "predicted": [round(float(v), 4) for v in pred],
                            "measured": [round(float(v), 4) for v in item["target"]]})
        return results

    def render_predictions(self, results: list[dict[str, Any]]
                           ) -> list[tuple[str, list[str], list[list[Any]]]]:
        return [("mean colour", ["image", "predicted", "measured"],
                 [[r["image"], r["predicted"], r["measured"]] for r in results])]
