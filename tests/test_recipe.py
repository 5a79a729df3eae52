"""The recipe language: schema, extends, --set, registry names, availability."""

from __future__ import annotations

import socket
import threading

import pytest

from tests._recipe_helpers import MINIMAL, toy_plugin, write  # noqa: F401 (fixture)
from zoo_core.errors import RecipeError
from zoo_core.recipe import (
    Recipe,
    load_and_validate,
    load_recipe,
    load_resolved,
    parse_override,
    recipe_class,
    recipe_from_dict,
    task_of,
    validate_recipe,
    weights_status,
)

# every test here sees the toy plugin (task, data sets, backbone, regularizer) beside the built-ins
pytestmark = pytest.mark.usefixtures("toy_plugin")


def errors_of(path, overrides=(), strict=False) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_and_validate(path, list(overrides), strict=strict)
    assert str(info.value).startswith(f"Recipe {path} has {len(info.value.problems)} problem")
    return info.value.problems


def one_error(path, overrides=(), strict=False) -> str:
    problems = errors_of(path, overrides, strict)
    assert len(problems) == 1, problems
    return problems[0]


# --- a valid recipe and its defaults ---------------------------------------------------


def test_minimal_recipe_resolves_dependent_defaults(tmp_path):
    path = write(tmp_path, "quick.toml", MINIMAL + """
        [train]
        batch_size = 16
        [train.early_stopping]
        enabled = true
        monitor = "val/top1"
    """)
    recipe, notes = load_and_validate(path)
    assert notes == []
    assert recipe.source == str(path)
    assert recipe.name == "quick"  # the file stem
    assert recipe.data.split_seed == recipe.recipe.seed == 0
    assert recipe.eval.batch_size == 16  # follows train.batch_size
    assert recipe.train.early_stopping.mode == "max"  # inferred from a top1 monitor
    assert recipe.train.checkpoint.mode == "max"
    assert recipe.model.mode == "fine_tune" and recipe.model.head == "linear"
    assert recipe.data.augment.deterministic


def test_resolved_recipe_round_trips_through_toml(tmp_path):
    path = write(tmp_path, "full.toml", MINIMAL + """
        [data.augment]
        random_resized_crop = true
        hflip = 0.5
        [train]
        precision = "bf16"
        [[train.regularizers]]
        name = "toy_l2"
        weight = 0.01
        [[stages]]
        epochs = 2
        mode = "feature_extract"
        [[stages]]
        epochs = 3
        lr = 1e-4
    """)
    recipe, _ = load_and_validate(path)
    assert recipe.train.epochs == 5  # the sum of the stages
    assert [s.name for s in recipe.stages] == ["stage1", "stage2"]
    assert recipe.data.augment.random_resized_crop.scale == [0.08, 1.0]
    assert recipe.train.regularizers[0].cfg == {"weight": 0.01}
    resolved = tmp_path / "run" / "recipe.toml"
    resolved.parent.mkdir()
    resolved.write_text(recipe.to_toml())
    again = load_resolved(resolved)
    assert again.to_dict() == recipe.to_dict()
    assert again.name == "full"  # the name is stored, not taken from recipe.toml's stem
    assert validate_recipe(again) == []


# --- unknown keys, types, enums, required ---------------------------------------------


def test_typo_key_names_the_path_and_the_right_key(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + "[train]\nepocs = 3\n")
    msg = one_error(path)
    assert msg.startswith("train.epocs: unknown key 'epocs' in [train].")
    assert "Did you mean 'epochs'?" in msg
    assert "Valid keys:" in msg and "batch_size" in msg


def test_typo_section_and_nested_key(tmp_path):
    path = write(tmp_path, "r.toml",
                 MINIMAL + "[trian]\nepochs = 3\n[train.optimizer]\nlearning_rate = 0.1\n")
    problems = errors_of(path)
    assert len(problems) == 2
    assert any(p.startswith("trian: unknown key 'trian' at the top level. Did you mean 'train'?")
               for p in problems)
    assert any(p.startswith("train.optimizer.learning_rate: unknown key") for p in problems)


def test_bad_type_is_not_coerced(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + '[train]\nepochs = "3"\n')
    assert one_error(path) == "train.epochs: Input should be a valid integer (got '3')."


def test_out_of_range_value(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + "[train.optimizer]\nlr = -0.1\n")
    assert one_error(path).startswith("train.optimizer.lr: Input should be greater than 0")


def test_bad_enum_value_suggests_the_close_one(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + '[train]\nprecision = "bf61"\n')
    assert one_error(path) == (
        "train.precision: 'bf61' is not one of fp32, bf16, fp16. Did you mean 'bf16'?")


def test_missing_required_table_and_key(tmp_path):
    path = write(tmp_path, "r.toml", '[model]\nbackbone = "toy_net"\n')
    assert one_error(path, ["recipe.task=toy_task"]) == "data: required table [data] is missing."
    path = write(tmp_path, "r2.toml", MINIMAL.replace('dataset = "toy_data"', 'root = "."'))
    msg = one_error(path)
    assert msg.startswith("data.dataset: required key is missing.")
    assert "zoo list dataset" in msg


def test_missing_backbone_unless_the_task_needs_none(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL.replace('backbone = "toy_net"', ""))
    assert one_error(path).startswith("model.backbone: required key is missing")
    # a task with its own roles and defaults needs no [model] at all
    picky = write(tmp_path, "p.toml", """
        [recipe]
        task = "picky_task"
        [data]
        dataset = "toy_data"
        [task]
        levels = 3
    """)
    recipe, _ = load_and_validate(picky)
    assert recipe.task.levels == 3 and not hasattr(recipe, "model")


def test_task_section_is_the_tasks_own_schema(tmp_path):
    picky = write(tmp_path, "p.toml", """
        [recipe]
        task = "picky_task"
        [data]
        dataset = "toy_data"
        [task]
        levels = "many"
    """)
    assert one_error(picky).startswith("task.levels: Input should be a valid integer")
    picky.write_text(picky.read_text().replace('"many"', "12"))
    assert one_error(picky) == "task.levels: picky_task takes at most 9 levels"
    picky.write_text(picky.read_text().replace("levels = 12", "levls = 3"))
    assert "task.levels: required key is missing" in " ".join(errors_of(picky))
    assert "unknown key 'levls' in [task]. Did you mean 'levels'?" in " ".join(errors_of(picky))
    # a task without options takes no [task]: keys there are not silently ignored
    path = write(tmp_path, "r.toml", MINIMAL + "[task]\nlevels = 3\n")
    assert one_error(path).startswith("task.levels: unknown key 'levels' in [task].")


def test_cross_key_rules(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + """
        [train.early_stopping]
        monitor = "top1"
        [[stages]]
        epochs = 2
        [[stages]]
        mode = "scratch"
        epochs = 1
    """)
    problems = errors_of(path)
    assert any(p.startswith("train.early_stopping.monitor: 'top1' is not a metric key")
               for p in problems)
    # the whole-recipe rule is checked once the sections themselves are valid
    path = write(tmp_path, "s.toml", MINIMAL + """
        [train]
        epochs = 10
        [[stages]]
        epochs = 2
    """)
    assert "the stages add up to 2 epochs" in one_error(path)
    path = write(tmp_path, "u.toml", MINIMAL + '[model.unfreeze_at]\n"3" = 0\n')
    assert one_error(path) == "model: unfreeze_at only applies to mode 'partial'."


def test_stage_without_epochs(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + "[[stages]]\nmode = 'fine_tune'\n")
    assert one_error(path).startswith("stages[0].epochs: required key is missing.")


# --- registry names ---------------------------------------------------------------------


def test_unknown_backbone_suggests_close_names(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL.replace('"toy_net"', '"alexnt"'))
    msg = one_error(path)
    assert msg.startswith("model.backbone: Unknown backbone 'alexnt'. Did you mean 'alexnet'")
    assert "zoo list backbone" in msg


@pytest.mark.parametrize("name", ["alexnet", "backbones:alexnet", "alexnet.tv_in1k", "resnet18"])
def test_backbone_name_forms(tmp_path, name):
    path = write(tmp_path, "r.toml", MINIMAL.replace('"toy_net"', repr(name).replace("'", '"'))
                 .replace('weights = "local"', ""))
    recipe, _ = load_and_validate(path)
    assert recipe.model.backbone == name


def test_backbone_tag_and_plugin_errors(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL.replace('"toy_net"', '"alexnet.tv_in1"')
                 .replace('weights = "local"', ""))
    assert "has no weight tag 'tv_in1'. Did you mean 'tv_in1k'?" in one_error(path)
    path = write(tmp_path, "p.toml", MINIMAL.replace('"toy_net"', '"nosuchplugin:alexnet"')
                 .replace('weights = "local"', ""))
    assert "Plugin 'nosuchplugin' provides no backbone 'alexnet'" in one_error(path)


def test_unknown_weight_tag(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL.replace('weights = "local"', 'weights = "locl"'))
    msg = one_error(path)
    assert msg.startswith("model.weights: backbone 'toy_net' has no weight tag 'locl'. "
                          "Did you mean 'local'?")


def test_unknown_task_dataset_head(tmp_path):
    path = write(tmp_path, "r.toml", """
        [recipe]
        task = "toy_tsk"
        [data]
        dataset = "toy_dta"
        [model]
        backbone = "toy_net"
        weights = "local"
        head = "mpl"
    """)
    problems = errors_of(path)
    # with the task unknown, its sections ([model] here) cannot be checked: it says which
    assert problems == [
        "recipe.task: Unknown task 'toy_tsk'. Did you mean 'toy_task'? See `zoo list task`.",
        "data.dataset: Unknown dataset 'toy_dta'. Did you mean 'toy_data'? "
        "See `zoo list dataset`.",
    ]
    path.write_text(path.read_text().replace("toy_tsk", "toy_task"))
    assert errors_of(path) == [
        "data.dataset: Unknown dataset 'toy_dta'. Did you mean 'toy_data'? "
        "See `zoo list dataset`.",
        "model.head: Unknown head 'mpl'. Did you mean 'mlp'? See `zoo list head`.",
    ]


def test_head_cfg_and_regularizer_keys_are_checked(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + """
        head = "mlp"
        head_cfg = {hiden = 256, num_classes = 3}
        [[train.regularizers]]
        name = "toy_l2"
        wieght = 0.1
        [[train.regularizers]]
        name = "toyl2"
    """)
    problems = errors_of(path)
    assert problems == [
        "model.head_cfg.hiden: unknown key 'hiden' for head 'mlp'. Did you mean 'hidden'? "
        "Valid keys: dropout, hidden, layers.",
        "model.head_cfg.num_classes: 'num_classes' is set by zoo from the model and data; "
        "remove it.",
        "train.regularizers[0].wieght: unknown key 'wieght' for regularizer 'toy_l2'. "
        "Did you mean 'weight'? Valid keys: exclude_bias, weight.",
        "train.regularizers[1].name: Unknown regularizer 'toyl2'. Did you mean 'toy_l2'? "
        "See `zoo list regularizer`.",
    ]


# --- all at once --------------------------------------------------------------------------


def test_three_distinct_mistakes_are_all_reported(tmp_path):
    path = write(tmp_path, "r.toml", """
        [recipe]
        task = "toy_task"
        [data]
        dataset = "toy_data"
        [model]
        backbone = "toy_nett"
        [train]
        batchsize = 8
        [train.schedule]
        name = "cosin"
    """)
    problems = errors_of(path)
    assert len(problems) == 3, problems
    assert any(p.startswith("train.batchsize: unknown key") and "'batch_size'" in p
               for p in problems)
    assert any(p.startswith("train.schedule.name: 'cosin' is not one of") and "'cosine'" in p
               for p in problems)
    assert any(p.startswith("model.backbone: Unknown backbone 'toy_nett'. Did you mean 'toy_net'")
               for p in problems)


def test_problems_from_files_sets_and_paths_come_together(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL.replace(
        'dataset = "toy_data"', 'dataset = "toy_data"\nroot = "nope"\ndownload = false'))
    problems = errors_of(path, ["train.epochs=0", "model.mode=frozen"])
    assert len(problems) == 3, problems
    assert any(p.startswith("train.epochs (from --set): Input should be greater than or equal")
               for p in problems)
    assert any(p.startswith("model.mode (from --set): 'frozen' is not one of") for p in problems)
    assert any(p.startswith("data.root: folder nope does not exist and data.download = false")
               for p in problems)


# --- extends --------------------------------------------------------------------------------


def test_extends_chain_merges_tables_and_replaces_lists(tmp_path):
    (tmp_path / "bases").mkdir()
    write(tmp_path / "bases", "root.toml", MINIMAL + """
        [train]
        epochs = 7
        batch_size = 64
        [train.optimizer]
        name = "sgd"
        lr = 0.1
        [eval]
        topk = [1, 3, 5]
    """)
    write(tmp_path / "bases", "mid.toml", """
        extends = "root.toml"
        [train.optimizer]
        lr = 0.01
        [eval]
        topk = [2]
    """)
    top = write(tmp_path, "top.toml", """
        extends = "bases/mid.toml"
        [train]
        epochs = 2
    """)
    recipe = load_recipe(top)
    assert recipe.name == "top"
    assert recipe.train.epochs == 2  # top wins
    assert recipe.train.batch_size == 64  # from the root, through the middle
    assert recipe.train.optimizer.name == "sgd" and recipe.train.optimizer.lr == 0.01
    assert recipe.eval.topk == [2]  # lists are replaced, not concatenated
    # a mistake in a base names the file it came from
    write(tmp_path / "bases", "mid.toml", 'extends = "root.toml"\n[train.optimizer]\nlr = "x"\n')
    msg = one_error(top)
    assert msg.startswith("train.optimizer.lr (from ") and "mid.toml)" in msg


def test_extends_cycle_is_detected(tmp_path):
    write(tmp_path, "a.toml", 'extends = "b.toml"\n' + MINIMAL)
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    msg = one_error(tmp_path / "a.toml")
    assert msg.startswith("extends: recipes extend each other in a cycle:")
    assert msg.count("a.toml") == 2 and "b.toml" in msg
    write(tmp_path, "self.toml", 'extends = "self.toml"\n' + MINIMAL)
    assert "cycle" in one_error(tmp_path / "self.toml")


def test_extends_missing_file_and_bad_value(tmp_path):
    path = write(tmp_path, "r.toml", 'extends = "nowhere.toml"\n' + MINIMAL)
    msg = one_error(path)
    assert msg.startswith("extends: recipe file ") and "nowhere.toml does not exist" in msg
    assert "extended by" in msg and "r.toml" in msg
    path = write(tmp_path, "n.toml", "extends = 3\n" + MINIMAL)
    assert "expected a file name" in one_error(path)


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + "[train]\nepochs = = 3\n")
    msg = one_error(path)
    assert "r.toml" in msg and "is not valid TOML" in msg and "line 10" in msg


def test_missing_recipe_file(tmp_path):
    assert "does not exist" in one_error(tmp_path / "absent.toml")


# --- --set --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, keys, value", [
    ("train.epochs=3", ["train", "epochs"], 3),
    ('data.root="x y"', ["data", "root"], "x y"),
    ("data.root=/tmp/x", ["data", "root"], "/tmp/x"),
    ("model.backbone=resnet50", ["model", "backbone"], "resnet50"),
    ("train.optimizer.betas=[0.9,0.99]", ["train", "optimizer", "betas"], [0.9, 0.99]),
    ("train.optimizer = {name='sgd', lr=0.1}", ["train", "optimizer"], {"name": "sgd", "lr": 0.1}),
    ('model.unfreeze_at."3"=0', ["model", "unfreeze_at", "3"], 0),
    ("data.download=false", ["data", "download"], False),
    ("recipe.description=", ["recipe", "description"], ""),
])
def test_parse_override(text, keys, value):
    assert parse_override(text) == (keys, value)


def test_parse_override_rejects_bad_keys():
    with pytest.raises(ValueError, match="expected key.path=value"):
        parse_override("train.epochs")
    with pytest.raises(ValueError, match="is not a key path"):
        parse_override("train..epochs=3")


def test_overrides_apply_in_order_and_merge_tables(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + """
        [train.optimizer]
        name = "sgd"
        momentum = 0.5
        [[stages]]
        epochs = 1
        [[stages]]
        epochs = 2
    """)
    recipe = load_recipe(path, [
        "train.optimizer={lr=0.5}", "train.optimizer.betas=[0.8,0.9]", "stages.1.epochs=4",
        "data.root=/tmp/anywhere", "recipe.seed=1", "recipe.seed=2",
        "data.augment.random_resized_crop={scale=[0.5,1.0]}",
    ])
    opt = recipe.train.optimizer
    assert (opt.name, opt.momentum, opt.lr, opt.betas) == ("sgd", 0.5, 0.5, [0.8, 0.9])
    assert [s.epochs for s in recipe.stages] == [1, 4] and recipe.train.epochs == 5
    assert recipe.data.root == "/tmp/anywhere"
    assert recipe.recipe.seed == 2 and recipe.data.split_seed == 2  # the last --set wins
    assert recipe.data.augment.random_resized_crop.scale == [0.5, 1.0]
    # the whole list can be replaced with a TOML array of inline tables
    recipe = load_recipe(path, ["stages=[{epochs=3, mode='feature_extract'}]"])
    assert [(s.epochs, s.mode) for s in recipe.stages] == [(3, "feature_extract")]


def test_override_of_unknown_key_is_rejected(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL)
    msg = one_error(path, ["train.epoch=3"])
    assert msg.startswith("train.epoch (from --set): unknown key 'epoch' in [train]. "
                          "Did you mean 'epochs'?")


def test_override_addressing_errors(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL + "[[stages]]\nepochs = 1\n")
    problems = errors_of(path, ["stages.3.epochs=2", "recipe.task.x=1", "extends=other.toml",
                                "nonsense"])
    assert len(problems) == 4, problems
    assert any(p.startswith("stages.3.epochs: --set: stages is a list of 1 item(s)")
               for p in problems)
    assert any(p.startswith("recipe.task.x: --set: recipe.task is a value ('toy_task')")
               for p in problems)
    assert "--set 'extends=other.toml': `extends` cannot be overridden; edit the file or " \
        "point zoo at the recipe you want to extend." in problems
    assert any(p.startswith("--set 'nonsense': expected key.path=value") for p in problems)


# --- weights and data availability ---------------------------------------------------------


def test_local_weights_present_and_missing(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL)
    recipe, notes = load_and_validate(path)
    assert notes == [] and weights_status(task_of(recipe).model_refs(recipe)["net"])[0] is True
    gone = write(tmp_path, "g.toml", MINIMAL.replace('"local"', '"gone"'))
    msg = one_error(gone)
    assert msg.startswith("model.weights: weights file ")
    assert "gone.safetensors does not exist" in msg
    url = write(tmp_path, "u.toml", MINIMAL.replace('"local"', '"https://example.org/w.pth"'))
    assert "No sha256 for https://example.org/w.pth" in one_error(url)
    # torchvision-style names carry their hash, as the weights layer accepts
    named = write(tmp_path, "n.toml", MINIMAL.replace(
        '"local"', '"https://example.org/w-7be5be79.pth"'))
    _, notes = load_and_validate(named, ["train.device=cpu"])
    assert [n.path for n in notes] == ["model.weights"] and "not cached" in notes[0].message


def test_uncached_hub_weights_warn_offline_and_fail_strict(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = write(tmp_path, "r.toml", MINIMAL.replace('weights = "local"', ""))
    recipe, notes = load_and_validate(path)
    assert [n.level for n in notes] == ["warning"]
    warning = str(notes[0])
    assert warning.startswith("model.weights: weights toy_net.hub (hf://toy-org/toy-net) are "
                              "not cached and HF_HUB_OFFLINE is set")
    assert "`zoo pull toy_net.hub`" in warning
    msg = one_error(path, strict=True)
    assert msg == warning


def test_uncached_weights_with_a_reachable_hub_are_only_a_note(tmp_path, monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        path = write(tmp_path, "r.toml", MINIMAL.replace('weights = "local"', ""))
        _, notes = load_and_validate(path, strict=True)
    finally:
        server.close()
    assert [(n.level, n.path) for n in notes] == [("info", "model.weights")]
    assert "`zoo run` will download them" in notes[0].message


def test_weights_in_the_hf_cache_need_no_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub"
    snapshot = repo / "models--toy-org--toy-net" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"x")
    (repo / "models--toy-org--toy-net" / "refs").mkdir()
    (repo / "models--toy-org--toy-net" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(repo))
    path = write(tmp_path, "r.toml", MINIMAL.replace('weights = "local"', ""))
    _, notes = load_and_validate(path, strict=True)
    assert notes == []


def test_random_init_choices(tmp_path):
    # lenet5 ships no pretrained weights: "default" weights cannot load, as in `zoo run`
    path = write(tmp_path, "r.toml", MINIMAL.replace('"toy_net"', '"lenet5"')
                 .replace('weights = "local"', ""))
    assert one_error(path) == (
        "model.weights: backbone 'lenet5' has no pretrained weights: set weights = \"none\" "
        "to train it from random initialisation, or give a weights URI.")
    recipe, notes = load_and_validate(path, ["model.mode=scratch"], strict=True)
    assert notes == [] and recipe.model.weights == "none"
    msg = one_error(path, ["model.mode=scratch", "model.weights=hf://org/lenet"])
    assert "mode 'scratch' trains from random initialisation" in msg
    _, notes = load_and_validate(path, ["model.mode=feature_extract", "model.weights=none"])
    assert [n.path for n in notes] == ["model.mode"] and "noise" in notes[0].message


def test_data_root_missing(tmp_path):
    absent = tmp_path / "absent"
    path = write(tmp_path, "r.toml", MINIMAL.replace(
        'dataset = "toy_data"', f'dataset = "toy_data"\nroot = "{absent}"'))
    # a data set that does not say whether it downloads: a warning, an error under --strict
    _, notes = load_and_validate(path)
    assert [n.level for n in notes] == ["warning"] and "zoo pull" in notes[0].message
    assert f"{absent} does not exist: `zoo run` would need data set 'toy_data' to download " \
        "its files there" in one_error(path, strict=True)
    assert "data.download = false" in one_error(path, ["data.download=false"])
    # one that downloads
    _, notes = load_and_validate(path, ["data.dataset=remote_data"])
    assert "`zoo run` would download data set 'remote_data' there" in notes[0].message
    # one that only reads a folder: a missing folder is an error, download or not
    assert one_error(path, ["data.dataset=folder_data"]) == (
        f"data.root: folder {absent} does not exist. Point data.root at the data set's folder "
        "(`--set data.root=PATH`); data set 'folder_data' does not download.")
    (tmp_path / "file").write_text("")
    assert "is a file" in one_error(path, [f"data.root={tmp_path / 'file'}"])


def test_dataset_plugin_check_warns_about_downloads(tmp_path):
    path = write(tmp_path, "r.toml", MINIMAL.replace('"toy_data"', '"remote_data"'))
    _, notes = load_and_validate(path)
    assert [str(n) for n in notes] == [
        "data.root: remote_data would be downloaded; run `zoo pull` first"]
    assert len(errors_of(path, strict=True)) == 1


def test_recipe_built_in_code_validates_the_same():
    recipe = recipe_class("toy_task").model_validate({
        "recipe": {"task": "toy_task"}, "data": {"dataset": "toy_data"},
        "model": {"backbone": "toy_nett", "weights": "local"}})
    assert isinstance(recipe, Recipe)
    assert recipe.source is None
    problems = validate_recipe(recipe)
    assert [p.path for p in problems] == ["model.backbone"]


def test_recipe_from_dict_reports_like_a_file(tmp_path):
    recipe = load_recipe(write(tmp_path, "r.toml", MINIMAL))
    data = recipe.to_dict()
    data["eval"]["split"] = None  # None means unset, as in TOML
    again = recipe_from_dict(data, ["train.epochs=2"])
    assert again.train.epochs == 2 and again.recipe.name == "r"
    data["train"]["epocs"] = 3
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(data, ["model.mode=frozen"], source="stored recipe")
    assert str(info.value).startswith("Recipe stored recipe has 2 problems")
    problems = sorted(info.value.problems)
    assert problems[0].startswith("model.mode (from --set): 'frozen' is not one of")
    assert problems[1].startswith("train.epocs: unknown key 'epocs' in [train].")
