"""The GAN task on the engine: two roles, two optimizers, alternating steps, the ganhacks
as [task] switches, artifacts, predict, and the recipe language around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import RECIPES, cli, write_recipe
from zoo_core.engine.pipeline import build_pipeline
from zoo_core.errors import RecipeError
from zoo_core.recipe import load_recipe

# small and fast: 16 px digits, narrow networks, no FID unless a test asks for it
TINY = """
[recipe]
name = "tiny_gan"
task = "gan"
seed = 0

[data]
dataset = "digits"
image_size = 16
val_fraction = 0.1
num_workers = 0

[models.generator]
name = "dcgan_generator"
cfg = {{ nz = 16, ngf = 8 }}

[models.discriminator]
name = "dcgan_discriminator"
cfg = {{ ndf = 8 }}

[train]
epochs = {epochs}
batch_size = 16
max_steps_per_epoch = {steps}

[task]
fid = {{ n_samples = 0 }}
{task}
"""


def tiny(tmp_path: Path, *, epochs: int = 1, steps: int = 3, task: str = "",
         name: str = "gan.toml") -> Path:
    return write_recipe(tmp_path / name, TINY.format(epochs=epochs, steps=steps, task=task))


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], model: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in model.state_dict().items()
               if v.is_floating_point() and "running" not in k)


def test_defaults_are_the_dcgan_tutorials(tmp_path):
    """Adam lr 2e-4, betas (0.5, 0.999) for both networks, vanilla (BCE) loss, N(0, 1) z."""
    recipe = load_recipe(tiny(tmp_path))
    pipe = build_pipeline(recipe, "cpu")
    pipe.configure_phase(0)
    assert set(pipe.optimizers) == {"generator", "discriminator"}
    for opt in pipe.optimizers.values():
        assert isinstance(opt, torch.optim.Adam)
        group = opt.param_groups[0]
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)
    assert recipe.task.loss == "vanilla" and recipe.task.z_distribution == "normal"
    assert pipe.specs["generator"].model.nz == 16  # the recipe's cfg reached the factory
    # the data decided: 16 px, one channel (digits are grayscale), unconditional
    assert pipe.specs["discriminator"].model.pretrained_cfg["input_size"] == (1, 16, 16)
    # an [optimizers.<role>] table overrides the task's default key by key
    recipe = load_recipe(tiny(tmp_path), ["optimizers.generator.lr=1e-3"])
    pipe = build_pipeline(recipe, "cpu")
    pipe.configure_phase(0)
    assert pipe.optimizers["generator"].param_groups[0]["lr"] == 1e-3
    assert pipe.optimizers["generator"].param_groups[0]["betas"] == (0.5, 0.999)
    assert pipe.optimizers["discriminator"].param_groups[0]["lr"] == 2e-4


def test_a_step_updates_both_networks_and_keeps_gradients_apart(tmp_path):
    pipe = build_pipeline(load_recipe(tiny(tmp_path)), "cpu")
    batch = next(iter(pipe.train_loader))
    pipe.configure_phase(0)
    pipe.start_epoch(0)
    g, d = pipe.specs["generator"].model, pipe.specs["discriminator"].model
    g0, d0 = _params(g), _params(d)
    values = pipe.train_step(batch)
    assert set(values) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert _changed(g0, g) and _changed(d0, d)
    # after the step every gradient was zeroed: nothing leaks into the next step
    assert all(p.grad is None for p in [*g.parameters(), *d.parameters()])
    # the generator's backward leaves the discriminator's gradients alone
    ctx = pipe.ctx
    d.zero_grad(set_to_none=True)
    with torch.no_grad():
        marker = {n: torch.full_like(p, 7.0) for n, p in d.named_parameters()}
    for n, p in d.named_parameters():
        p.grad = marker[n].clone()
    z = torch.randn(4, 16)
    fake = g(z)
    ctx.backward(-d(fake).mean(), "generator")
    assert all(torch.equal(p.grad, marker[n]) for n, p in d.named_parameters())
    assert all(p.grad is not None for p in g.parameters())


SWITCHES = {
    "label_smoothing": "label_smoothing = 0.1",
    "label_noise": "label_noise = 0.2",
    "label_flip": "label_flip = 0.3",
    "instance_noise": "instance_noise = { sigma = 0.1, decay_epochs = 5 }",
    "uniform_z": 'z_distribution = "uniform"',
    "mixed_batches": "separate_batches = false",
    "saturating_g_loss": "non_saturating = false",
    "lsgan": 'loss = "lsgan"',
    "hinge": 'loss = "hinge"',
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_ganhack_switch_changes_the_training_step(tmp_path, switch):
    """Same seed, same batch: a switch that reaches the step changes what it computes."""
    results = []
    for task in ("", SWITCHES[switch]):
        recipe = load_recipe(tiny(tmp_path, task=task, name=f"{switch}{bool(task)}.toml"))
        pipe = build_pipeline(recipe, "cpu")
        batch = next(iter(pipe.train_loader))
        pipe.configure_phase(0)
        pipe.start_epoch(0)
        torch.manual_seed(123)
        values = pipe.train_step(batch)
        results.append((values, _params(pipe.specs["generator"].model)))
    (base, g_base), (on, g_on) = results
    differs = {k for k in base if not torch.equal(base[k], on[k])}
    if switch in ("saturating_g_loss",):  # only the generator's loss formula changes
        assert differs == {"g_loss"}
    else:
        assert "d_loss" in differs, differs
    assert any(not torch.equal(g_base[k], g_on[k]) for k in g_base)


def test_d_steps_train_the_generator_every_nth_batch(tmp_path):
    pipe = build_pipeline(load_recipe(tiny(tmp_path, task="d_steps = 2")), "cpu")
    batches = iter(pipe.train_loader)
    pipe.configure_phase(0)
    pipe.start_epoch(0)
    g = pipe.specs["generator"].model
    before = _params(g)
    assert "g_loss" not in pipe.train_step(next(batches))
    assert not _changed(before, g)
    assert "g_loss" in pipe.train_step(next(batches))
    assert _changed(before, g)


def test_task_options_and_roles_are_validated_with_did_you_mean(tmp_path):
    path = tiny(tmp_path, task='los = "hinge"\nlabel_smoothing = 0.7')
    path.write_text(path.read_text().replace("[models.discriminator]",
                                             "[models.discrimnator]"))
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    text = "\n".join(err.value.problems)
    assert "task.los: unknown key 'los' in [task]. Did you mean 'loss'?" in text
    assert "task.label_smoothing: Input should be less than 0.5" in text
    from zoo_core.recipe import load_and_validate

    with pytest.raises(RecipeError) as err:
        load_and_validate(path, ["task.los=\"vanilla\"", "task.label_smoothing=0.1"])
    assert any(p.startswith("models.discrimnator: task 'gan' has no model role "
                            "'discrimnator'. Did you mean 'discriminator'?")
               for p in err.value.problems)
    # keys the task fills from the data are refused
    with pytest.raises(RecipeError) as err:
        load_and_validate(tiny(tmp_path, name="r.toml"), ["models.generator.cfg.channels=3"])
    assert "'channels' is set by zoo from the model and data" in str(err.value)


def test_monitors_are_checked_against_the_tasks_metrics(tmp_path):
    from zoo_core.recipe import load_and_validate

    with pytest.raises(RecipeError) as err:
        load_and_validate(RECIPES / "digits_lenet5.toml",
                          ['train.checkpoint.monitor="val/lozz"'])
    assert err.value.problems[0].startswith(
        "train.checkpoint.monitor: task 'classification' reports no metric 'lozz', so "
        "'val/lozz' would never be measured. Did you mean 'val/loss'")
    with pytest.raises(RecipeError) as err:
        load_and_validate(tiny(tmp_path), ['train.early_stopping.monitor="val/top1"',
                                           "train.early_stopping.enabled=true"])
    assert "task 'gan' reports no metric 'top1'" in str(err.value)
    # FID off: no metric to pick the best epoch by, so the last epoch is kept
    recipe = load_recipe(tiny(tmp_path))
    assert recipe.train.checkpoint.monitor is None
    recipe = load_recipe(tiny(tmp_path), ["task.fid.n_samples=100"])
    assert recipe.train.checkpoint.monitor.startswith("val/fid_")
    assert recipe.train.checkpoint.mode == "min"


def test_run_folder_samples_and_predict(tmp_path):
    out = tmp_path / "run"
    result = cli("run", str(tiny(tmp_path, epochs=2, task="conditional = true\nn_samples = 20")),
                 "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    for role in ("generator", "discriminator"):
        assert (out / "models" / role / "model.safetensors").is_file()
    grids = sorted(p.name for p in (out / "artifacts").glob("*.png"))
    assert grids == ["samples_epoch001.png", "samples_epoch002.png"]
    from PIL import Image
    from zoo_gan.samples import grid_size

    # one row per digit: 10 rows of 2 samples at 16 px
    assert Image.open(out / "artifacts" / grids[-1]).size == grid_size(20, 2, 16, 16)[:2]
    for png in ("losses.png", "d_outputs.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake",
            "train/lr_generator", "train/lr_discriminator"} <= set(rows[0])
    assert rows[0]["artifacts"] == ["artifacts/samples_epoch001.png"]
    report = (out / "report.md").read_text()
    assert "models/generator/" in report and "artifacts/samples_epoch002.png" in report

    samples = tmp_path / "samples"
    result = cli("predict", str(out), "--n", "8", "--label", "3", "--out", str(samples),
                 "--json")
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)
    assert item["n"] == 8 and item["label"] == 3 and Path(item["file"]).is_file()
    bad = cli("predict", str(out), "--label", "12", "--out", str(samples))
    assert bad.exit_code == 2 and "classes 0..9" in bad.output
    typo = cli("predict", str(out), "--nn", "4")
    assert typo.exit_code == 2 and "Did you mean 'n'" in typo.output
    assert "Traceback" not in bad.output + typo.output


def test_shipped_gan_recipes_validate():
    for name in ("digits_dcgan.toml", "digits_cgan.toml"):
        result = cli("validate", str(RECIPES / name))
        assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_a_gan_run_killed_mid_run_resumes_to_the_same_weights(tmp_path):
    """kill -9 a two-optimizer run after its first checkpoint; `zoo run --resume` ends
    with the same generator, discriminator and optimizer states as a run never stopped."""
    import os
    import signal
    import subprocess
    import time

    from tests._engine_helpers import ZOO, checkpoint_state, subprocess_env

    recipe = tiny(tmp_path, epochs=3, steps=40, task="label_flip = 0.1\n"
                  "instance_noise = { sigma = 0.1, decay_epochs = 2 }")
    args = [str(recipe), "--no-progress"]
    env = subprocess_env()
    straight = tmp_path / "straight"
    done = subprocess.run([ZOO, "run", *args, "--out", str(straight)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([ZOO, "run", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 240
    while not ckpt.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no first epoch"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    state = checkpoint_state(killed)
    assert not state.get("finished") and state["epoch"] in (1, 2)
    resumed = subprocess.run([ZOO, "run", "--resume", str(killed), "--no-progress"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = checkpoint_state(straight), checkpoint_state(killed)
    for role in ("generator", "discriminator"):
        assert a["models"][role].keys() == b["models"][role].keys()
        assert all(torch.equal(a["models"][role][k], b["models"][role][k])
                   for k in a["models"][role]), role
        sa, sb = a["optimizers"][role]["state"], b["optimizers"][role]["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa), role
    def rows(run: Path) -> list[dict]:
        timing = ("train/epoch_time_s", "train/samples_per_s")
        return [{k: v for k, v in json.loads(line).items() if k not in timing}
                for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert rows(killed) == rows(straight) and len(rows(killed)) == 4  # 3 epochs + final
