"""Pruning helpers, checked against the definitions: global L1 masks the
globally smallest weights, structured Ln masks each layer's lowest-norm output
channels, schedules follow their formulas, make_permanent leaves plain weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo_core.errors import ZooError
from zoo_core.export.prune import (
    default_layers,
    make_permanent,
    prune_to,
    sparsity_report,
    sparsity_schedule,
)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5))


def test_default_layers_leave_the_classifier_whole():
    model = small_cnn()
    assert [n for n, _ in default_layers(model)] == ["0", "2", "6"]
    assert [n for n, _ in default_layers(model, skip_last_linear=False)] == ["0", "2", "6", "8"]


def test_global_l1_masks_the_globally_smallest_weights():
    model = small_cnn()
    layers = default_layers(model)
    weights = torch.cat([m.weight.detach().abs().flatten() for _, m in layers])
    k = round(0.6 * weights.numel())
    threshold = weights.sort().values[k - 1]  # the k-th smallest magnitude
    prune_to(model, 0.6)
    rep = sparsity_report(model, layers)
    assert rep.zeros == k and rep.overall == pytest.approx(0.6, abs=1 / rep.total)
    for _, m in layers:
        mask = m.weight_mask.bool()
        w = m.weight_orig.detach().abs()
        assert (w[~mask] <= threshold).all() and (w[mask] >= threshold).all()
        assert torch.equal(m.weight, m.weight_orig * m.weight_mask)
    # layers differ: global pruning takes more from the layer with small weights
    assert len({round(v["sparsity"], 3) for v in rep.per_layer.values()}) > 1
    assert sparsity_report(model).per_layer["8"]["sparsity"] == 0.0  # classifier untouched


def test_pruning_in_steps_keeps_what_was_pruned_and_reaches_each_target():
    model = small_cnn()
    layers = default_layers(model)
    prune_to(model, 0.3)
    first = {n: m.weight_mask.clone() for n, m in layers}
    prune_to(model, 0.7)
    rep = sparsity_report(model, layers)
    assert rep.overall == pytest.approx(0.7, abs=1 / rep.total)
    for n, m in layers:
        assert (m.weight_mask[first[n] == 0] == 0).all()
    prune_to(model, 0.5)  # lowering the target does not un-prune
    assert sparsity_report(model, layers).zeros == rep.zeros


def test_ln_structured_masks_each_layers_lowest_norm_channels():
    model = small_cnn()
    layers = default_layers(model)
    norms = {n: m.weight.detach().flatten(1).norm(p=2, dim=1) for n, m in layers}
    prune_to(model, 0.25, method="ln_structured", n=2, dim=0)
    for n, m in layers:
        channels = m.weight.shape[0]
        dead = (m.weight.detach().flatten(1) == 0).all(1)
        assert int(dead.sum()) == round(0.25 * channels)
        expect = norms[n].argsort()[: round(0.25 * channels)]
        assert set(torch.nonzero(dead).flatten().tolist()) == set(expect.tolist())
    prune_to(model, 0.5, method="ln_structured")
    for _, m in layers:
        assert int((m.weight.detach().flatten(1) == 0).all(1).sum()) == round(
            0.5 * m.weight.shape[0])


def test_schedules_follow_their_formulas():
    cubic = sparsity_schedule(0.8, 6, start=1, end=4)
    assert cubic[0] == 0.0 and cubic[4] == cubic[5] == 0.8
    n = 4
    for e in range(1, 4):
        k = e - 1 + 1
        assert cubic[e] == pytest.approx(0.8 + (0.0 - 0.8) * (1 - k / n) ** 3)
    assert all(a <= b for a, b in zip(cubic, cubic[1:], strict=False))
    # cubic prunes early: its first step is larger than a linear ramp's
    linear = sparsity_schedule(0.8, 6, start=1, end=4, kind="linear")
    assert linear[1] == pytest.approx(0.2) and cubic[1] > linear[1]
    assert sparsity_schedule(0.5, 3, kind="constant") == [0.5, 0.5, 0.5]
    with pytest.raises(ZooError, match="start <= end"):
        sparsity_schedule(0.5, 3, start=2, end=1)
    with pytest.raises(ZooError, match=r"\[0, 1\)"):
        prune_to(small_cnn(), 1.0)


def test_make_permanent_leaves_plain_weights_and_the_same_outputs():
    model = small_cnn().eval()
    prune_to(model, 0.5)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        before = model(x)
    changed = make_permanent(model)
    assert changed == ["0.weight", "2.weight", "6.weight"]
    keys = set(model.state_dict())
    assert not any(k.endswith(("_orig", "_mask")) for k in keys) and "0.weight" in keys
    assert isinstance(model[0].weight, nn.Parameter)
    with torch.no_grad():
        assert torch.equal(model(x), before)
    rep = sparsity_report(model, default_layers(model))
    assert rep.overall == pytest.approx(0.5, abs=1 / rep.total)
    assert not any(v["pruned"] for v in rep.per_layer.values())
    assert rep.lines()[-1].startswith("overall: 50.0%")
