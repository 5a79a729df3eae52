"""The engine: optimizers, schedules, freezing, callbacks, failures, and the
pipeline contract, driven through the classification task (its transfer modes
and feature cache live in the plugin; freezing by stage is zoo_core.nn)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import TINY_BACKBONE, make_image_folder, tiny_recipe
from zoo_core import hookimpl
from zoo_core.engine.callbacks import EarlyStopping, Monitor
from zoo_core.engine.checkpoint import load_checkpoint, save_checkpoint
from zoo_core.engine.devices import Precision, resolve_device
from zoo_core.engine.hooks import Regularizer
from zoo_core.engine.optim import EpochSchedule
from zoo_core.engine.pipeline import build_pipeline
from zoo_core.engine.run import run_recipe
from zoo_core.engine.task import Phase
from zoo_core.errors import ZooError
from zoo_core.nn import freeze_stages
from zoo_core.recipe import load_recipe


@pytest.fixture(name="folder")
def folder_fixture(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images", classes=3, per_class=8)


def _resnet_parts(num_classes: int = 3):
    from zoo_classification.model import parts_of

    from zoo_core.api import create

    model = create("backbone", TINY_BACKBONE, num_classes=num_classes)
    parts = parts_of(model)
    assert parts is not None
    return parts


def _stages(parts):
    from zoo_classification.transfer import stage_map

    return stage_map(parts)


def test_stages_come_from_feature_info():
    parts = _resnet_parts()
    stages = _stages(parts)
    assert stages.num_stages == len(parts.model.feature_info)
    first = {id(p) for p in stages.params[0]}
    assert id(parts.model.conv1[0].weight if isinstance(parts.model.conv1, torch.nn.Sequential)
              else parts.model.conv1.weight) in first
    assert {id(p) for p in stages.params[-1]} >= {id(p) for p in parts.model.layer4.parameters()}
    assert {id(p) for p in stages.excluded_params} == {id(p) for p in
                                                       parts.model.fc.parameters()}


def _phase(**info) -> Phase:
    base = {"mode": "fine_tune", "freeze_stages": 0, "unfreeze_at": {}, "stage_lr_mult": [],
            "head_lr_mult": 1.0}
    return Phase("p", 1, {}, {**base, **info})


def test_param_groups_apply_stage_multipliers_and_skip_decay_on_biases(tmp_path, folder):
    pipe = build_pipeline(_recipe(tmp_path, folder))
    task, model = pipe.task, pipe.model
    opt = {"lr": 0.1, "weight_decay": 0.05}
    groups = task.param_groups("net", model, opt, _phase(stage_lr_mult=[0.0, 0.5],
                                                          head_lr_mult=2.0))
    by_name = {g["name"]: g for g in groups}
    assert by_name["stage0"]["lr"] == 0.0 and by_name["stage1"]["lr"] == 0.05
    assert by_name["stage2"]["lr"] == pytest.approx(0.1)  # missing multipliers are 1.0
    assert by_name["head"]["lr"] == pytest.approx(0.2)
    assert all(g["weight_decay"] == 0.0 for g in groups if g["name"].endswith("/no_decay"))
    assert all(p.ndim <= 1 for g in groups if g["name"].endswith("/no_decay")
               for p in g["params"])
    with pytest.raises(ZooError, match="stage_lr_mult has 9 multipliers"):
        task.param_groups("net", model, opt, _phase(stage_lr_mult=[1.0] * 9))


def test_schedules_cosine_step_warmup_and_plateau():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 1.0, "base_lr": 1.0}], lr=1.0)
    cos = EpochSchedule(opt, {"name": "cosine", "min_lr": 0.1}, epochs=5)
    lrs = []
    for e in range(5):
        cos.set_epoch(e)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == 1.0 and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0.1
    step = EpochSchedule(opt, {"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 1},
                         epochs=6)
    assert step.factor_at(0) == 0.5  # warm-up: (0 + 1) / (1 + 1)
    assert [step.factor_at(e) for e in (1, 2, 3, 4)] == [1.0, 1.0, 0.5, 0.5]
    plateau = EpochSchedule(opt, {"name": "plateau", "patience": 1, "factor": 0.1}, epochs=9)
    cuts = [plateau.observe(v, "min") for v in (1.0, 0.9, 0.95, 0.95, 0.95)]
    assert cuts == [False, False, False, True, False]
    plateau.set_epoch(4)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    state = plateau.state_dict()
    again = EpochSchedule(opt, {"name": "plateau"}, epochs=9)
    again.load_state_dict(state)
    assert again.scale == pytest.approx(0.1)


def test_partial_mode_freezes_first_stages_and_keeps_their_norms_in_eval():
    from zoo_classification.transfer import set_train_mode

    parts = _resnet_parts()
    stages = _stages(parts)
    freeze_stages(stages, 2)
    set_train_mode(parts, stages, "partial", frozen=2)
    assert not any(p.requires_grad for k in (0, 1) for p in stages.params[k])
    assert all(p.requires_grad for k in range(2, stages.num_stages) for p in stages.params[k])
    bn_frozen = [m for m in parts.model.layer1.modules()
                 if isinstance(m, torch.nn.BatchNorm2d)]
    bn_trained = [m for m in parts.model.layer3.modules()
                  if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn_frozen and not any(m.training for m in bn_frozen)
    assert bn_trained and all(m.training for m in bn_trained)
    set_train_mode(parts, stages, "feature_extract", frozen=stages.num_stages)
    assert not parts.model.training and parts.head.training


def _recipe(tmp_path: Path, folder: Path, extra: str = "", **kw) -> object:
    return load_recipe(tiny_recipe(tmp_path / f"r{len(list(tmp_path.iterdir()))}.toml", folder,
                                   extra=extra, **kw))


def test_feature_extract_leaves_backbone_and_batchnorm_statistics_untouched(tmp_path, folder):
    recipe = _recipe(tmp_path, folder, mode="feature_extract", epochs=2)
    recipe.train.feature_cache = False  # the image path: the backbone runs every step
    start = {k: v.clone() for k, v in build_pipeline(recipe).model.state_dict().items()}
    run_recipe(recipe, out=tmp_path / "run", progress=False)
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["task"]["cache_notes"][0]["used"] is False
    final = state["models"]["net"]
    head = {k for k in final if k.startswith("fc.")}
    assert head == {"fc.weight", "fc.bias"}
    for key, value in final.items():
        if key in head:
            assert not torch.equal(value, start[key]), f"{key} should train"
        else:  # conv weights, BN affine AND running_mean/var/num_batches_tracked
            assert torch.equal(value, start[key]), f"{key} changed in feature_extract mode"


def test_feature_cache_trains_the_same_head_as_the_image_path(tmp_path, folder):
    results = {}
    for cache in (True, False):
        recipe = _recipe(tmp_path, folder, mode="feature_extract", epochs=3)
        recipe.train.feature_cache = cache
        out = tmp_path / f"run_{cache}"
        res = run_recipe(recipe, out=out, progress=False)
        state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
        assert state["task"]["cache_notes"][0]["used"] is cache
        results[cache] = (res.fit.history, state["models"]["net"])
    (h_on, s_on), (h_off, s_off) = results[True], results[False]
    assert torch.allclose(s_on["fc.weight"], s_off["fc.weight"], atol=1e-5)
    for a, b in zip(h_on, h_off, strict=True):
        assert a["val/top1"] == b["val/top1"]
        assert a["train/loss"] == pytest.approx(b["train/loss"], abs=1e-5)
    report = (tmp_path / "run_True" / "report.md").read_text()
    assert "Frozen-feature cache (train)" in report and "went through" in report


def test_random_augmentation_or_input_noise_turns_the_cache_off(tmp_path, folder):
    recipe = _recipe(tmp_path, folder, mode="feature_extract",
                     extra="[data.augment]\nhflip = 0.5\n")
    pipe = build_pipeline(recipe)
    assert pipe.task.cache_decision(pipe.ctx) == (
        False, "training transforms are random ([data.augment])")
    recipe = _recipe(tmp_path, folder, mode="feature_extract",
                     extra='[[train.regularizers]]\nname = "input_noise"\nstd = 0.1\n')
    pipe = build_pipeline(recipe)
    assert pipe.task.cache_decision(pipe.ctx)[0] is False
    pipe = build_pipeline(_recipe(tmp_path, folder, mode="fine_tune"))
    assert pipe.task.cache_decision(pipe.ctx) == (False, "mode 'fine_tune' trains the backbone")


def test_unfreeze_schedule_counts_epochs_from_one(tmp_path, folder):
    recipe = _recipe(tmp_path, folder, mode="partial")
    recipe.model.freeze_stages = 3
    recipe.model.unfreeze_at = {"2": 1, "4": 0}
    pipe = build_pipeline(recipe)
    pipe.configure_phase(0)
    task, phase = pipe.task, pipe.phases[0]
    assert [task._frozen(phase, e) for e in range(5)] == [3, 1, 1, 0, 0]
    assert not any(p.requires_grad for p in task.stages.params[0])
    pipe.start_epoch(3)
    assert all(p.requires_grad for p in pipe.model.parameters())


def test_build_pipeline_train_step_is_one_optimizer_step(tmp_path, folder):
    pipe = build_pipeline(_recipe(tmp_path, folder))
    assert set(pipe.loaders) == {"train", "val"} and pipe.loader("val") is pipe.loaders["val"]
    before = {k: v.clone() for k, v in pipe.model.state_dict().items()}
    values = pipe.train_step(next(iter(pipe.train_loader)))
    assert set(values) == {"loss", "top1"}
    assert values["loss"].ndim == 0 and math.isfinite(float(values["loss"]))
    after = pipe.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert pipe.device.type == "cpu" and pipe.precision.name == "fp32"


def test_gradient_accumulation_matches_one_large_batch(tmp_path):
    from tests._engine_helpers import RECIPES

    states = []
    for batch, accum, steps in ((16, 1, 4), (8, 2, 8)):
        recipe = load_recipe(RECIPES / "digits_lenet5.toml", [
            "train.epochs=1", f"train.batch_size={batch}", f"train.grad_accum={accum}",
            f"train.max_steps_per_epoch={steps}", 'train.optimizer.name="sgd"',
            "train.optimizer.weight_decay=0.0", 'train.schedule.name="none"'])
        run_recipe(recipe, out=tmp_path / f"acc{accum}", progress=False)
        states.append(torch.load(tmp_path / f"acc{accum}" / "checkpoints" / "last.pt",
                                 weights_only=True)["models"]["net"])
    for key in states[0]:
        assert torch.allclose(states[0][key], states[1][key], atol=1e-6), key


class _NanAfter(Regularizer):
    """A real regularizer plugin whose loss term turns NaN after some steps."""

    def __init__(self, after: int = 4):
        self.after = after
        self.calls = 0

    def loss_term(self, model):
        self.calls += 1
        return torch.tensor(float("nan")) if self.calls > self.after else None


class _NanPlugin:
    @hookimpl
    def register_regularizers(self, register):
        register("nan_after", _NanAfter, description="test: NaN loss after N steps")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, folder, fresh_plugins):
    fresh_plugins.plugin_set().add("nan_test", _NanPlugin())
    # 18 training images / batch 8 = 3 steps per epoch: NaN in epoch 2
    recipe = _recipe(tmp_path, folder, epochs=4,
                     extra='[[train.regularizers]]\nname = "nan_after"\nafter = 4\n')
    from zoo_core.engine.trainer import NonFiniteLoss

    with pytest.raises(NonFiniteLoss, match=r"nan in epoch 2.*end of epoch 1"):
        run_recipe(recipe, out=tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1 and state["step"] == 0
    assert all(torch.isfinite(v).all() for v in state["models"]["net"].values()
               if v.is_floating_point())
    assert (tmp_path / "run" / "models" / "net" / "model.safetensors").exists()
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_early_stopping_stops_and_restore_best_chooses_the_final_weights(tmp_path, folder):
    extra = """
        [train.early_stopping]
        enabled = true
        monitor = "train/lr"
        mode = "min"
        patience = 1
        restore_best = false
        """
    recipe = _recipe(tmp_path, folder, epochs=10, extra=extra)
    res = run_recipe(recipe, out=tmp_path / "run", progress=False)
    assert res.fit.stopped_early and len(res.fit.history) == 3  # constant lr never improves
    assert "it stopped the run" in (tmp_path / "run" / "report.md").read_text()
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["models"]["net"]
    from tests._engine_helpers import load_run_weights

    saved = load_run_weights(tmp_path / "run")
    assert all(torch.equal(saved[k], last[k]) for k in saved)  # restore_best = false: last


def test_early_stopping_and_monitor_bookkeeping():
    mon = Monitor("val/top1", "max", min_delta=0.01)
    assert mon.update(1, {"val/top1": 0.5}) and not mon.update(2, {"val/top1": 0.505})
    assert mon.update(3, {"val/top1": 0.6}) and mon.best_epoch == 3
    assert not mon.update(4, {"val/top1": float("nan")}) and not mon.update(5, {})
    es = EarlyStopping("val/loss", "min", patience=2)
    stops = [es.step(e, {"val/loss": v}) for e, v in enumerate([1.0, 0.9, 0.95, 0.91, 0.92])]
    assert stops == [False, False, False, False, True]


def test_checkpoints_are_weights_only_and_bad_ones_are_user_errors(tmp_path):
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint(path, {"epoch": 2, "model": {"w": torch.ones(2)}, "rng": {"x": (1, 2)}})
    assert load_checkpoint(path)["epoch"] == 2
    assert not list(path.parent.glob(".*.tmp"))
    path.write_bytes(b"garbage")
    with pytest.raises(ZooError, match="cannot be read"):
        load_checkpoint(path)
    with pytest.raises(ZooError, match="nothing to resume"):
        load_checkpoint(tmp_path / "none.pt")


def test_devices_and_precision_fail_clearly():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ZooError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ZooError, match="needs a GPU"):
        Precision("fp16", torch.device("cpu"))
    bf16 = Precision("bf16", torch.device("cpu"))
    with bf16.autocast():
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.bfloat16


def test_regularizers_l2_term_and_head_dropout():
    from zoo_core.plugins import registry

    parts = _resnet_parts()
    l2 = registry().get("regularizer", "l2").component.create(coef=0.5)
    weights = [p for p in parts.model.parameters() if p.ndim > 1]
    expected = 0.25 * sum(float(p.detach().pow(2).sum()) for p in weights)
    assert float(l2.loss_term(parts.model).detach()) == pytest.approx(expected, rel=1e-5)
    drop = registry().get("regularizer", "dropout").component.create(p=0.5)
    keys = set(parts.model.state_dict())
    drop.on_model_built(parts.model)
    assert set(parts.model.state_dict()) == keys  # timm key names unchanged
    feats = torch.ones(64, parts.head.in_features)
    parts.head.eval()
    assert torch.equal(parts.head(feats), parts.head(feats))
    parts.head.train()
    assert not torch.equal(parts.head(feats), parts.head(feats))
    with pytest.raises(ZooError, match="dropout.p"):
        registry().get("regularizer", "dropout").component.create(p=1.5)


def test_bf16_autocast_and_channels_last_train(tmp_path, folder):
    recipe = _recipe(tmp_path, folder)
    recipe.train.precision = "bf16"
    recipe.train.channels_last = True
    pipe = build_pipeline(recipe)
    assert pipe.model.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    batch = next(iter(pipe.train_loader))
    assert pipe.to_device(batch)["image"].is_contiguous(memory_format=torch.channels_last)
    values = pipe.train_step(batch)
    assert math.isfinite(float(values["loss"]))
