"""``zoo predict`` of a segmentation model: a mask PNG (and an overlay) per image.

The mask is written in the training masks' own values: with a value map
``{0 = "membrane", 255 = "cell"}`` a cell pixel is 255 again (colour keys
give a colour PNG); with ``classes`` it is the class index. Multilabel
models write one 0/255 PNG per class. Images larger than the tile are
predicted in tiles; a model trained on resized images (``data.image_size``)
sees the image resized the same way and its logits are scaled back to the
image's size before the pixels are decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from zoo_core.api import read_image
from zoo_core.atomic import atomic_path
from zoo_core.errors import DataError
from zoo_segmentation.inference import Tiling, display_index, predicted_mask, segment
from zoo_segmentation.labels import LabelSpec


def _save_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def mask_values(pred: torch.Tensor, labels: LabelSpec) -> np.ndarray:
    """(H, W) class indices -> the values the training masks used for them (the first
    value-map key of each class), uint8 grey or (H, W, 3) colour."""
    idx = pred.cpu().numpy().astype(np.int64)
    if labels.keys is None:
        return idx.astype(np.uint8 if idx.max(initial=0) < 256 else np.uint16)
    first: dict[int, Any] = {}
    for key, target in zip(labels.keys, labels.targets, strict=True):
        first.setdefault(int(target), key)
    if labels.colour:
        lut = np.zeros((len(labels.class_names), 3), np.uint8)
        for c, key in first.items():
            if c < len(lut):
                lut[c] = key
        return lut[idx]
    lut1 = np.zeros(len(labels.class_names), np.int64)
    for c, key in first.items():
        if c < len(lut1):
            lut1[c] = int(key)
    out = lut1[idx]
    return out.astype(np.uint8 if out.max(initial=0) < 256 else np.uint16)


def predict_files(saved: Any, inputs: Sequence[str], options: Any, out: Path
                  ) -> list[dict[str, Any]]:
    from zoo_segmentation.artifacts import colourise, to_display
    from zoo_segmentation.samples import as_image

    seg = saved.config.get("segmentation") or {}
    labels = LabelSpec.from_options(seg.get("mode", "multiclass"), seg.get("classes"),
                                    seg.get("values"), int(seg.get("ignore_index", 255)))
    if labels.keys is None and not labels.class_names:
        raise DataError(f"{saved.folder}/config.json does not record the model's classes.")
    mode = labels.mode
    threshold = options.threshold or float(seg.get("threshold", 0.5))
    channels = int(seg.get("in_chans", saved.data_config["input_size"][0]))
    tile = options.tile or seg.get("tile")
    overlap = options.overlap if options.overlap is not None else seg.get("overlap")
    tiling = Tiling(bool(tile), tile, overlap, str(seg.get("blend", "gaussian")))
    resize = seg.get("image_size")
    mean = torch.tensor(saved.data_config["mean"][:channels]).view(1, -1, 1, 1)
    std = torch.tensor(saved.data_config["std"][:channels]).view(1, -1, 1, 1)
    model = saved.model.eval()
    device = next(model.parameters()).device
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in inputs:
        path = Path(name).expanduser()
        image = as_image(read_image(name), channels)
        x = image.as_subclass(torch.Tensor).float()[None] / 255.0
        h, w = int(x.shape[-2]), int(x.shape[-1])
        if resize:
            x = F.interpolate(x, size=(int(resize), int(resize)), mode="bilinear",
                              align_corners=False, antialias=True)
        x = ((x - mean) / std).to(device)
        logits = segment(model, x, tiling).float()
        tiled = tiling.wants(int(x.shape[-2]), int(x.shape[-1]))
        if logits.shape[-2:] != (h, w):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        pred = predicted_mask(logits, mode, threshold)[0].cpu()
        stem = path.stem
        files = []
        if mode == "multilabel":
            for c, cname in enumerate(labels.class_names):
                f = out / f"{stem}_mask_{cname}.png"
                _save_png((pred[c].numpy() * 255).astype(np.uint8), f)
                files.append(str(f))
            fractions = {n: float(pred[c].float().mean()) for c, n in
                         enumerate(labels.class_names)}
        else:
            f = out / f"{stem}_mask.png"
            _save_png(mask_values(pred, labels), f)
            files.append(str(f))
            fractions = {n: float((pred == c).float().mean()) for c, n in
                         enumerate(labels.class_names)}
        result: dict[str, Any] = {"image": name, "mask": ", ".join(files), "size": [h, w],
                                  "tiled": tiled, "fractions": fractions}
        if options.overlay:
            shown = to_display(image.as_subclass(torch.Tensor).float() / 255.0)
            colours = colourise(display_index(pred, mode, labels.ignore_index))
            blend = (0.55 * shown + 0.45 * colours).round().astype(np.uint8)
            gap = np.full((h, 4, 3), 255, np.uint8)
            panel = np.concatenate([shown, gap, colours, gap, blend], axis=1)
            f = out / f"{stem}_overlay.png"
            _save_png(panel, f)
            result["overlay"] = str(f)
        results.append(result)
    return results
