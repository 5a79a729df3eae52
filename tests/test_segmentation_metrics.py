"""Segmentation losses (smp's, behind one convention) and metrics (equal to smp.metrics)."""

from __future__ import annotations

import csv

import pytest
import segmentation_models_pytorch as smp
import torch

from zoo_core.errors import UnknownNameError, ZooError


def _data(mode: str, classes: int, n: int = 7, h: int = 13, w: int = 17, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, h, w, generator=g)
    if mode == "multiclass":
        mask = torch.randint(0, classes, (n, h, w), generator=g)
    elif mode == "binary":
        mask = torch.randint(0, 2, (n, h, w), generator=g)
    else:
        mask = torch.randint(0, 2, (n, classes, h, w), generator=g)
    return logits, mask


def _smp_stats(logits, mask, mode, classes, ignore_index=None):
    if mode == "multiclass":
        return smp.metrics.get_stats(logits.argmax(1), mask, mode, num_classes=classes,
                                     ignore_index=ignore_index)
    target = mask.unsqueeze(1) if mode == "binary" else mask
    return smp.metrics.get_stats(torch.sigmoid(logits), target, mode, threshold=0.5)


@pytest.mark.parametrize("mode,classes", [("binary", 1), ("multiclass", 4), ("multilabel", 3)])
def test_meter_equals_smp_metrics_over_uneven_batches(mode, classes):
    from zoo_segmentation.metrics import SegmentationMeter

    logits, mask = _data(mode, classes)
    meter = SegmentationMeter(mode, classes)
    for lo, hi in ((0, 1), (1, 4), (4, 7)):
        meter.update(logits[lo:hi], mask[lo:hi])
    got = meter.compute()
    stats = _smp_stats(logits, mask, mode, classes)
    for red in ("micro", "macro"):
        assert got[f"iou_{red}"] == pytest.approx(
            float(smp.metrics.iou_score(*stats, reduction=red)), abs=1e-6)
        assert got[f"dice_{red}"] == pytest.approx(
            float(smp.metrics.f1_score(*stats, reduction=red)), abs=1e-6)
    per_class = smp.metrics.iou_score(*[s.sum(0, keepdim=True) for s in stats],
                                      reduction="none")[0]
    names = [str(i) for i in range(1 if mode == "binary" else classes)]
    assert [got[f"iou/{c}"] for c in names] == pytest.approx(per_class.tolist(), abs=1e-6)
    # pixel accuracy against its definition
    if mode == "multiclass":
        ref = (logits.argmax(1) == mask).float().mean()
    else:
        pred = (torch.sigmoid(logits) >= 0.5).long()
        ref = (pred == (mask.unsqueeze(1) if mode == "binary" else mask)).float().mean()
    assert got["pixel_accuracy"] == pytest.approx(float(ref), abs=1e-6)


def test_counts_equal_smp_with_ignore_index():
    from zoo_segmentation.metrics import confusion_counts

    logits, mask = _data("multiclass", 5, seed=3)
    mask[:, :4] = 255
    ours = confusion_counts(logits.argmax(1), mask, "multiclass", 5, ignore_index=255)
    theirs = _smp_stats(logits, mask, "multiclass", 5, ignore_index=255)
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


def test_iou_and_dice_by_hand():
    """A 2x3 binary example: tp=2, fp=1, fn=1 -> IoU 2/4, Dice 4/6."""
    from zoo_segmentation.metrics import SegmentationMeter

    truth = torch.tensor([[[1, 1, 0], [1, 0, 0]]])
    pred = torch.tensor([[[1, 1, 1], [0, 0, 0]]])
    logits = (pred.float() * 2 - 1)[:, None] * 5
    meter = SegmentationMeter("binary", class_names=["cell"])
    meter.update(logits, truth)
    got = meter.compute()
    assert got["iou/cell"] == pytest.approx(0.5)
    assert got["dice/cell"] == pytest.approx(4 / 6)
    assert got["pixel_accuracy"] == pytest.approx(4 / 6)


def test_meter_state_merges_by_summing(tmp_path):
    from zoo_segmentation.artifacts import write_iou_table
    from zoo_segmentation.metrics import SegmentationMeter

    logits, mask = _data("multiclass", 3, n=6)
    whole = SegmentationMeter("multiclass", 3, ["a", "b", "c"], per_image=True)
    whole.update(logits, mask, names=[f"img{i}" for i in range(6)])
    left = SegmentationMeter("multiclass", 3, ["a", "b", "c"], per_image=True)
    right = SegmentationMeter("multiclass", 3, ["a", "b", "c"], per_image=True)
    left.update(logits[:2], mask[:2], names=["img0", "img1"])
    right.update(logits[2:], mask[2:], names=[f"img{i}" for i in range(2, 6)])
    restored = SegmentationMeter("multiclass", 3, ["a", "b", "c"], per_image=True)
    restored.load_state_dict(left.state_dict())
    restored.merge(right.state_dict())
    assert restored.compute() == whole.compute()
    rows = restored.per_image_rows()
    assert [r["image"] for r in rows] == [f"img{i}" for i in range(6)]
    # one image's IoU equals smp's on that image alone
    stats = _smp_stats(logits[3:4], mask[3:4], "multiclass", 3)
    assert rows[3]["iou"] == pytest.approx(float(smp.metrics.iou_score(*stats,
                                                                        reduction="macro")))
    path = write_iou_table(tmp_path / "iou.csv", rows)
    table = list(csv.DictReader(path.open()))
    assert len(table) == 6 and table[0]["image"] == "img0"
    assert float(table[3]["iou/b"]) == pytest.approx(rows[3]["iou/b"], abs=1e-6)
    with pytest.raises(ValueError):
        SegmentationMeter("multiclass", 4).load_state_dict(whole.state_dict())


@pytest.mark.parametrize("mode,classes", [("binary", 1), ("multiclass", 4), ("multilabel", 3)])
def test_registered_losses_are_smps(mode, classes):
    """Each registered loss gives what smp's class gives on the same (reshaped) inputs."""
    import segmentation_models_pytorch.losses as L

    from zoo_core.api import create

    logits, mask = _data(mode, classes)
    target = mask.unsqueeze(1) if mode == "binary" else mask
    refs = {"dice": L.DiceLoss(mode), "jaccard": L.JaccardLoss(mode), "focal": L.FocalLoss(mode),
            "lovasz": L.LovaszLoss(mode), "tversky": L.TverskyLoss(mode)}
    if mode == "multiclass":
        refs["soft_ce"] = L.SoftCrossEntropyLoss(smooth_factor=0.0)
    else:
        refs["soft_bce"] = L.SoftBCEWithLogitsLoss()
    for name, ref in refs.items():
        ours = create("loss", name, mode=mode)(logits, mask)
        theirs = ref(logits, target.float() if name == "soft_bce" else target)
        assert torch.isfinite(ours) and float(ours) == pytest.approx(float(theirs), rel=1e-5), name


def test_combined_loss_is_the_weighted_sum_and_trains():
    from zoo_segmentation.losses import combined_loss

    logits, mask = _data("binary", 1)
    logits.requires_grad_(True)
    loss = combined_loss({"dice": 1.0, "bce": 0.5}, "binary")
    terms = loss.terms(logits, mask)
    assert float(terms["loss"].detach()) == pytest.approx(
        float(terms["loss_dice"] + 0.5 * terms["loss_bce"]), rel=1e-6)
    terms["loss"].backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # multiclass with ignored pixels and label smoothing (smp's default None would crash)
    logits, mask = _data("multiclass", 3)
    mask[0] = 255
    mc = combined_loss({"ce": 1.0, "dice": 1.0, "focal": 2.0}, "multiclass", ignore_index=255,
                       options={"ce": {"smooth_factor": 0.1}})
    assert torch.isfinite(mc(logits, mask))


def test_loss_errors():
    from zoo_segmentation.losses import combined_loss

    with pytest.raises(ZooError, match="use 'bce'"):
        combined_loss({"ce": 1.0}, "binary")
    with pytest.raises(ZooError, match="use 'ce'"):
        combined_loss({"bce": 1.0}, "multiclass")
    with pytest.raises(UnknownNameError, match="Did you mean 'dice'"):
        combined_loss({"dicee": 1.0}, "binary")
    with pytest.raises(ZooError, match="mode"):
        combined_loss({"dice": 1.0}, "binray")
    with pytest.raises(ZooError, match="no weight"):
        combined_loss({"dice": 1.0}, "binary", options={"focal": {"gamma": 3}})


def test_binary_meter_reports_both_classes_as_smp_multiclass_does():
    """Binary logits with two class names: the negative class is scored too, exactly as
    smp's multiclass counts of the 0/1 mask score it (with ignored pixels)."""
    from zoo_segmentation.metrics import SegmentationMeter

    logits, mask = _data("binary", 1, seed=3)
    mask[0, :3] = 255  # ignored pixels count nowhere
    meter = SegmentationMeter("binary", 1, ["membrane", "cell"], ignore_index=255,
                              per_image=True)
    meter.update(logits[:3], mask[:3], names=["a", "b", "c"])
    meter.update(logits[3:], mask[3:])
    got = meter.compute()
    pred = (torch.sigmoid(logits[:, 0]) >= 0.5).long()
    stats = smp.metrics.get_stats(pred, mask, "multiclass", num_classes=2, ignore_index=255)
    summed = [s.sum(0, keepdim=True) for s in stats]
    for metric, fn in (("iou", smp.metrics.iou_score), ("dice", smp.metrics.f1_score)):
        for red in ("micro", "macro"):
            assert got[f"{metric}_{red}"] == pytest.approx(float(fn(*stats, reduction=red)),
                                                           abs=1e-6)
        per_class = fn(*summed, reduction="none")[0].tolist()
        assert [got[f"{metric}/membrane"], got[f"{metric}/cell"]] == pytest.approx(per_class)
    valid = mask != 255
    assert got["pixel_accuracy"] == pytest.approx(float((pred == mask)[valid].float().mean()))
    rows = meter.per_image_rows()
    assert [r["image"] for r in rows[:3]] == ["a", "b", "c"] and len(rows) == 7
    first = smp.metrics.iou_score(*[s[:1] for s in stats], reduction="none")[0].tolist()
    assert [rows[0]["iou/membrane"], rows[0]["iou/cell"]] == pytest.approx(first)
    assert rows[0]["iou"] == pytest.approx(sum(first) / 2)
