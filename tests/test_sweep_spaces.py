"""`zoo sweep` without training: the space language, its refine grids, the checks
a sweep makes before it starts (every problem at once, exit 2), and the slot rule
that keeps a sweep at exactly N trials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._engine_helpers import RECIPES, cli
from zoo_core.sweep import SweepError
from zoo_core.sweep.spaces import (
    Choice,
    IntRange,
    LogUniform,
    Uniform,
    parse_param,
    parse_params,
    parse_space,
    toml_literal,
)
from zoo_core.sweep.spec import build_spec

DIGITS = str(RECIPES / "digits_lenet5.toml")


def test_spaces_parse_and_print_back():
    assert parse_space("loguniform(1e-4, 1e-1)") == LogUniform(1e-4, 0.1)
    assert parse_space(" uniform(0,0.5) ") == Uniform(0.0, 0.5)
    assert parse_space("int(1,4)") == IntRange(1, 4)
    assert parse_space("choice(16,32,64)") == Choice((16, 32, 64))
    assert parse_space('choice("adamw", sgd, true, 0.5)') == Choice(("adamw", "sgd", True, 0.5))
    for text in ("loguniform(0.0001,0.1)", "uniform(0,0.5)", "int(1,4)",
                 'choice(16,"sgd",true)'):
        assert parse_space(text).text() == text
        assert parse_space(parse_space(text).text()) == parse_space(text)
    key, space = parse_param('train.optimizer."lr"=loguniform(1e-4,1e-1)')
    assert key == "train.optimizer.lr" and space == LogUniform(1e-4, 0.1)
    assert toml_literal("sgd") == '"sgd"' and toml_literal(1e-05) == "1e-05"


@pytest.mark.parametrize("text, message", [
    ("logunifrom(1e-4,1e-1)", "unknown space 'logunifrom'. Did you mean 'loguniform'"),
    ("loguniform(1e-4)", "takes 2 numbers"),
    ("loguniform(0,1)", "both ends must be > 0"),
    ("uniform(0.5,0.1)", "low must be below high"),
    ("uniform(a,1)", "'a' is not a number"),
    ("int(1.5,4)", "two whole numbers"),
    ("int(5,4)", "low is above high"),
    ("choice()", "at least one value"),
    ("choice(1,2,1)", "repeat: 1"),
    ("choice([1,2],3)", "numbers, strings or booleans"),
    ("0.001", "is not a search space"),
])
def test_space_errors_say_what_to_write(text: str, message: str):
    with pytest.raises(ValueError, match="(?s)" + message.replace("(", r"\(")):
        parse_space(text)


def test_param_problems_are_all_collected():
    spaces, problems = parse_params(["a.b=int(1,2)", "nokey", "a.b=int(1,3)", "c=choise(1)"])
    assert list(spaces) == ["a.b"]
    assert len(problems) == 3
    assert "expected KEY=SPACE" in problems[0] and "given twice" in problems[1]
    assert "Did you mean 'choice'" in problems[2]


def test_refine_grids_follow_the_documented_rules():
    values, note = LogUniform(1e-4, 1e-1).refine(0.00123456)
    assert values == [0.000617, 0.00123, 0.00247] and note is None
    values, note = LogUniform(1e-4, 1e-1).refine(0.08)
    assert values == [0.04, 0.08, 0.1] and "high end" in note  # clipped to the range
    values, _ = Uniform(0.0, 0.5).refine(0.2)
    assert values == [0.15, 0.2, 0.25]
    values, note = IntRange(1, 4).refine(1)
    assert values == [1, 2] and "low end" in note
    assert IntRange(1, 4).refine(3)[0] == [2, 3, 4]
    assert Choice((16, 32, 64, 128)).refine(64)[0] == [32, 64, 128]
    assert Choice((16, 32, 64, 128)).refine(16)[0] == [16, 32]


def test_build_spec_lists_every_problem_at_once():
    with pytest.raises(SweepError) as info:
        build_spec(DIGITS, overrides=["train.epochs=1"], sampler="tpee", metric="test/top1",
                   params=["train.optimizer.lrr=loguniform(1e-4,1e-1)",
                           "train.batch_size=choise(16,32)", "train.epochs=int(1,3)",
                           "train.label_smoothing=uniform(0.1,2)", "recipe.seed=int(0,3)"])
    text = str(info.value)
    assert "has 8 problems" in text, text
    for expected in ("unknown key 'lrr' in [train.optimizer]. Did you mean 'lr'?",
                     "Did you mean 'choice'?",
                     "train.epochs: also given with --set",
                     "value 2.0): train.label_smoothing",  # only the high end is invalid
                     "recipe.seed: cannot be searched",
                     "'tpee' is not one of tpe, random, grid. Did you mean 'tpe'?",
                     "validation metrics only", "how many trials?"):
        assert expected in text, expected


def test_build_spec_reads_the_recipe_sweep_section(tmp_path: Path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'extends = "{DIGITS}"\n[recipe]\nname = "sectioned"\n'
                      '[sweep]\ntrials = 7\nsampler = "random"\nmetric = "val/loss"\n'
                      '[sweep.params]\n"train.optimizer.lr" = "loguniform(1e-4,1e-1)"\n'
                      '"train.batch_size" = "choice(16,32)"\n')
    spec = build_spec(recipe, overrides=[], params=["train.batch_size=choice(32,64)"],
                      pruner="none")
    assert (spec.trials, spec.sampler, spec.pruner, spec.metric, spec.direction) == (
        7, "random", "none", "val/loss", "min")
    assert spec.params["train.batch_size"] == Choice((32, 64))  # the command line wins
    assert spec.study == "sectioned" and spec.trial_overrides({"train.batch_size": 32})[-1] \
        == "train.batch_size=32"
    recipe.write_text(recipe.read_text().replace("trials = 7", "trails = 7"))
    with pytest.raises(SweepError, match="unknown key 'trails'. Did you mean 'trials'"):
        build_spec(recipe, overrides=[], params=[])


def test_grid_sampler_needs_discrete_spaces_and_sizes_itself():
    spec = build_spec(DIGITS, overrides=[], params=["train.batch_size=choice(16,32)",
                                                    "train.epochs=int(1,3)"], sampler="grid")
    assert spec.trials == 6 and spec.grid() == {"train.batch_size": [16, 32],
                                                "train.epochs": [1, 2, 3]}
    with pytest.raises(SweepError, match="grid sampler needs"):
        build_spec(DIGITS, overrides=[], params=["train.optimizer.lr=uniform(0.1,0.2)"],
                   sampler="grid")


def test_cli_errors_exit_2_without_traceback(tmp_path: Path):
    res = cli("sweep", DIGITS, "--param", "train.optimizer.lrr=loguniform(1e-4,1e-1)",
              "--trials", "2", "--out", str(tmp_path / "s"))
    assert res.exit_code == 2 and "Did you mean 'lr'?" in res.output
    assert "Traceback" not in res.output
    res = cli("sweep", "--out", str(tmp_path / "nothing"))
    assert res.exit_code == 2 and "Missing RECIPE" in res.output
    res = cli("sweep", "--refine", str(tmp_path))
    assert res.exit_code == 2 and "not a sweep folder" in res.output
    res = cli("sweep", DIGITS, "--param", "train.epochs=int(1,2)", "--trials", "2",
              "--storage", "nonsense")
    assert res.exit_code == 2 and "not a storage URL" in res.output


def test_slot_rule_admits_exactly_n_trials():
    """Trials are numbered in creation order; one runs only if fewer than N trials
    below it hold a slot. Killed (interrupted) and surplus trials hold none."""
    import optuna
    from optuna.trial import TrialState

    from zoo_core.sweep.slots import holds_slot, slots_taken_before

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study()
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def add(state: TrialState, status: str | None = None) -> None:
        study.add_trial(optuna.trial.create_trial(
            state=state, params={"x": 0.5}, distributions=dist,
            value=0.5 if state == TrialState.COMPLETE else None,
            user_attrs={"zoo_status": status} if status else {}))

    add(TrialState.COMPLETE)               # 0 holds
    add(TrialState.FAIL, "interrupted")    # 1 killed: its retry holds its slot
    add(TrialState.FAIL, "invalid")        # 2 an invalid draw uses up a trial
    add(TrialState.WAITING)                # 3 the retry of 1
    add(TrialState.FAIL, "surplus")        # 4 never ran
    trials = study.get_trials(deepcopy=False)
    assert [holds_slot(t) for t in trials] == [True, False, True, True, False]
    assert slots_taken_before(trials, 5) == 3  # with N = 3, a trial numbered 5 does not run


def test_help_imports_neither_torch_nor_optuna():
    code = ("import sys\nfrom zoo_core.cli import cli\n"
            "for argv in (['--help'], ['sweep', '--help']):\n"
            "    try:\n        cli.main(argv, standalone_mode=False)\n"
            "    except SystemExit:\n        pass\n"
            "print('torch' in sys.modules, 'optuna' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Search hyperparameters with Optuna" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_a_dead_workers_trial_is_failed_and_its_grid_point_retried():
    """reap_stale on a trial whose liveness stamp is old: FAIL ("interrupted"), and a
    waiting retry with the same parameters and grid point, which the next ask runs."""
    import time

    import optuna

    from zoo_core.sweep.slots import STALE_BEATS, reap_stale

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    grid = {"x": [1, 2, 3]}
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid, seed=0))
    dead = study.ask()
    x = dead.suggest_categorical("x", grid["x"])
    dead.set_user_attr("zoo_beat", time.time() - 10 * STALE_BEATS)
    alive = study.ask()
    alive.suggest_categorical("x", grid["x"])
    alive.set_user_attr("zoo_beat", time.time())
    reaped: list[tuple[int, int | None]] = []
    assert reap_stale(study, 1.0, lambda t, r: reaped.append((t.number, r))) == [0]
    assert reaped == [(0, 2)]  # trial 0 retried as trial 2; the live trial 1 is untouched
    frozen = study.trials
    assert frozen[0].state.name == "FAIL" and frozen[0].user_attrs["zoo_status"] == "interrupted"
    assert frozen[1].state.name == "RUNNING"
    assert frozen[2].state.name == "WAITING" and frozen[2].user_attrs["zoo_retry_of"] == 0
    retry = study.ask()
    assert retry.number == 2 and retry.suggest_categorical("x", grid["x"]) == x
    study.tell(retry, 0.0)
    study.tell(alive, 0.0)
    last = study.ask()  # the grid's third point, not a repeat
    seen = {t.params["x"] for t in study.trials if t.state.name == "COMPLETE"}
    assert last.suggest_categorical("x", grid["x"]) not in seen
