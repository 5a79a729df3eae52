"""Data sets, splits, transforms, loaders and bad-image handling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from tests._engine_helpers import make_image_folder
from zoo_core.data.dataset import BadImagePolicy, Batch, SampleDataset, collate
from zoo_core.data.imagefolder import scan_image_folder
from zoo_core.data.loaders import EpochSampler, make_loader
from zoo_core.data.sources import BadSample, FileSource
from zoo_core.data.splits import keep_classes, per_class_subset, prepare_splits, stratified_split
from zoo_core.data.transforms import (
    eval_transform,
    for_sample,
    is_deterministic,
    resolve_data_config,
    train_transform,
)
from zoo_core.errors import DataError


def test_stratified_split_is_seeded_disjoint_and_stratified():
    labels = [c for c in range(4) for _ in range(25)]
    parts = stratified_split(labels, {"val": 0.2, "test": 0.2}, seed=3)
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(100))
    for name, expected in (("train", 15), ("val", 5), ("test", 5)):
        counts = Counter(labels[i] for i in parts[name])
        assert counts == dict.fromkeys(range(4), expected), name
    assert parts == stratified_split(labels, {"val": 0.2, "test": 0.2}, seed=3)
    assert parts["val"] != stratified_split(labels, {"val": 0.2, "test": 0.2}, seed=4)["val"]


def test_small_classes_still_reach_validation_and_keep_a_training_image():
    labels = [0, 0, 1, 1, 1, 2]
    parts = stratified_split(labels, {"val": 0.1}, seed=0)
    assert {labels[i] for i in parts["val"]} == {0, 1}  # class 2 has one image: train only
    assert {labels[i] for i in parts["train"]} == {0, 1, 2}


def test_per_class_subset_is_few_shot_and_seeded():
    labels = [c for c in range(3) for _ in range(10)]
    picked = per_class_subset(labels, 4, seed=1)
    assert Counter(labels[i] for i in picked) == {0: 4, 1: 4, 2: 4}
    assert picked == per_class_subset(labels, 4, seed=1)


def test_image_folder_flat_layout_gets_seeded_splits(tmp_path: Path):
    root = make_image_folder(tmp_path / "flat", classes=3, per_class=10)
    (root / "class_a" / ".hidden.png").write_bytes(b"x")
    (root / "class_a" / "notes.txt").write_text("not an image")
    (root / "empty_class").mkdir()
    raw = scan_image_folder(root)
    assert raw.classes == ["class_a", "class_b", "class_c"]
    assert raw.sizes() == {"train": 30}
    assert any("empty_class" in n for n in raw.notes)
    data = prepare_splits(raw, val_fraction=0.2, test_fraction=0.1, seed=0)
    assert data.sizes() == {"train": 21, "val": 6, "test": 3}
    val_labels = data.splits["val"].labels()
    assert Counter(val_labels) == {0: 2, 1: 2, 2: 2}


def test_training_on_train_and_val_keeps_the_test_split(tmp_path: Path):
    """Training on train+val (data.train_on_val) must keep the held-out test images."""
    root = make_image_folder(tmp_path / "flat", classes=3, per_class=20)
    with_val = prepare_splits(scan_image_folder(root), val_fraction=0.2, test_fraction=0.2,
                              seed=3)
    no_val = prepare_splits(scan_image_folder(root), val_fraction=0.2, test_fraction=0.2,
                            seed=3, train_on_val=True)
    test = [with_val.splits["test"].describe(i) for i in range(len(with_val.splits["test"]))]
    assert test == [no_val.splits["test"].describe(i) for i in range(len(no_val.splits["test"]))]
    assert "val" not in no_val.splits and len(no_val.splits["train"]) == 48
    train_val = {with_val.splits[s].describe(i) for s in ("train", "val")
                 for i in range(len(with_val.splits[s]))}
    assert train_val == {no_val.splits["train"].describe(i)
                         for i in range(len(no_val.splits["train"]))}


def test_a_published_validation_split_can_join_training(tmp_path: Path):
    root = make_image_folder(tmp_path / "split", classes=2, per_class=6, layout="split")
    data = prepare_splits(scan_image_folder(root), train_on_val=True, seed=0)
    assert data.sizes() == {"train": 18, "test": 6}
    train = data.splits["train"]
    assert sorted(set(train.labels())) == [0, 1]
    assert any("validation" in train.describe(i) for i in range(len(train)))


def test_image_folder_split_layout_keeps_published_splits(tmp_path: Path):
    root = make_image_folder(tmp_path / "split", classes=2, per_class=6, layout="split")
    data = prepare_splits(scan_image_folder(root), val_fraction=0.5, test_fraction=0.5, seed=0)
    assert data.sizes() == {"train": 12, "val": 6, "test": 6}  # "validation/" is val
    assert any("test_fraction ignored" in n for n in data.notes)


def test_image_folder_errors_say_what_layout_is_expected(tmp_path: Path):
    with pytest.raises(DataError, match="does not exist.*<root>/<class>"):
        scan_image_folder(tmp_path / "missing")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="holds 1 image files but no class folders"):
        scan_image_folder(tmp_path / "loose")


def test_class_filter_renumbers_and_suggests(tmp_path: Path):
    raw = scan_image_folder(make_image_folder(tmp_path / "d", classes=3, per_class=4))
    kept = keep_classes(raw, ["class_c", "class_a"])
    assert kept.classes == ["class_c", "class_a"]
    assert Counter(kept.splits["train"].labels()) == {0: 4, 1: 4}
    with pytest.raises(DataError, match="Did you mean 'class_b'"):
        keep_classes(raw, ["class_bb"])


def test_transforms_follow_the_data_config():
    cfg = resolve_data_config({"input_size": (3, 224, 224), "crop_pct": 0.875,
                               "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)},
                              image_size=64)
    assert cfg["input_size"] == (3, 64, 64)
    gray = resolve_data_config(cfg, in_chans=1)
    assert gray["input_size"] == (1, 64, 64) and gray["mean"] == (0.5,)
    from PIL import Image

    img = Image.new("RGB", (100, 80), (255, 0, 0))
    x = eval_transform(cfg)(img)
    assert x.shape == (3, 64, 64)
    assert torch.allclose(x[0], torch.full((64, 64), 2.0))  # (1 - 0.5) / 0.25
    assert is_deterministic({}) and is_deterministic(None)
    assert not is_deterministic({"hflip": 0.5})
    assert not is_deterministic({"random_resized_crop": {"scale": [0.5, 1.0]}})


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path: Path):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=6)
    src = scan_image_folder(root).splits["train"]
    cfg = resolve_data_config({"input_size": (3, 32, 32)})
    tf = train_transform(cfg, {"random_resized_crop": True, "hflip": 0.5, "rotation": 20.0,
                               "color_jitter": 0.3, "noise": 0.1, "blur": 1.0})
    ds = SampleDataset(src, for_sample(tf, "RGB"), random=True, seed=7)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = ds[(3, 0)]["image"]
    assert torch.equal(torch.get_rng_state(), before), "the caller's RNG must be untouched"
    assert torch.equal(a, ds[(3, 0)]["image"])
    assert not torch.equal(a, ds[(3, 1)]["image"])
    assert ds[(3, 0)]["label"] == src.label(3)
    # the same batches whatever the number of workers
    batches = []
    for workers in (0, 2):
        loader = make_loader(ds, batch_size=4, shuffle=True, seed=7, num_workers=workers)
        loader.sampler.set_epoch(2)
        batches.append([b["image"] for b in loader])
    assert all(torch.equal(x, y) for x, y in zip(*batches, strict=True))


def test_epoch_sampler_orders_by_epoch_and_can_start_mid_epoch():
    s = EpochSampler(20, shuffle=True, seed=1)
    s.set_epoch(0)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert sorted(i for i, _ in first) == list(range(20))
    assert [i for i, _ in first] != [i for i, _ in second]
    assert all(e == 1 for _, e in second)
    s.set_epoch(1, start=8)
    assert list(s) == second[8:] and len(s) == 12
    plain = EpochSampler(5, shuffle=False)
    assert [i for i, _ in plain] == [0, 1, 2, 3, 4]


def test_bad_images_are_reported_by_path(tmp_path: Path):
    root = make_image_folder(tmp_path / "d", classes=2, per_class=3)
    bad = root / "class_a" / "img_001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    src = scan_image_folder(root).splits["train"]
    ds = SampleDataset(src, for_sample(eval_transform(resolve_data_config(
        {"input_size": (3, 16, 16)})), "RGB"))
    items = [ds[i] for i in range(len(ds))]
    broken = [it for it in items if isinstance(it, BadSample)]
    assert len(broken) == 1 and broken[0].where == str(bad)
    batch = collate(items)
    assert isinstance(batch, Batch) and batch["image"].shape[0] == 5
    assert batch["label"].dtype == torch.long and batch.skipped == (broken[0],)
    warned: list[str] = []
    skip = BadImagePolicy("skip", warned.append)
    skip.check(batch.skipped)
    skip.check(batch.skipped)
    assert len(warned) == 1 and str(bad) in warned[0]
    with pytest.raises(DataError, match=r"img_001\.png.*bad_images = \"skip\""):
        BadImagePolicy("fail").check(batch.skipped)
    assert not collate([broken[0]])  # nothing readable: an empty batch


def test_file_source_loads_and_names_files(tmp_path: Path):
    root = make_image_folder(tmp_path / "d", classes=1, per_class=1)
    f = root / "class_a" / "img_000.png"
    src = FileSource([f], [0], ["class_a"])
    assert src.load(0).size == (32, 32) and src.describe(0) == str(f)


def test_digits_ship_with_scikit_learn():
    from zoo_datasets.datasets import digits

    data = digits()
    assert data.classes == [str(i) for i in range(10)]
    assert data.sizes() == {"train": 1797}
    img = data.splits["train"].load(0)
    assert img.size == (8, 8) and img.mode == "L"


def test_torchvision_data_set_offline_says_how_to_provide_it(tmp_path: Path):
    from zoo_datasets.datasets import flowers102

    with pytest.raises(DataError) as err:
        flowers102(root=str(tmp_path / "flowers"), download=False)
    msg = str(err.value)
    assert "data.download = false" in msg and "flowers-102/" in msg and str(tmp_path) in msg


def test_unlabelled_folders_split_at_random_and_keep_their_files(tmp_path: Path):
    from zoo_core.data.imagefolder import scan_images

    root = make_image_folder(tmp_path / "d", classes=2, per_class=10)
    data = scan_images(root)
    assert data.classes == [] and data.sizes() == {"train": 20}
    src = data.splits["train"]
    assert src.labels() is None and set(src.sample(0)) == {"image"}
    first = prepare_splits(data, val_fraction=0.25, seed=3)
    again = prepare_splits(data, val_fraction=0.25, seed=3)
    assert first.sizes() == {"train": 15, "val": 5}
    assert [first.splits["val"].describe(i) for i in range(5)] == \
        [again.splits["val"].describe(i) for i in range(5)]
    assert "stratified" not in " ".join(first.notes)
    with pytest.raises(DataError, match="no class labels"):
        prepare_splits(data, subset_per_class=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No image files"):
        scan_images(tmp_path / "empty")


def test_collate_stacks_dicts_and_a_source_error_stops_the_run():
    from zoo_core.data.sources import Source
    from zoo_core.errors import ZooError

    items = [{"image": torch.zeros(1, 2, 2), "label": 1, "weight": 0.5, "name": "a"},
             {"image": torch.ones(1, 2, 2), "label": 0, "weight": 1.5, "name": "b"}]
    batch = collate(items)
    assert batch["image"].shape == (2, 1, 2, 2) and batch["label"].tolist() == [1, 0]
    assert batch["weight"].dtype == torch.float32 and batch["name"] == ["a", "b"]

    class Broken(Source):
        def __len__(self) -> int:
            return 1

        def sample(self, index: int) -> dict:
            raise ZooError("mask 1.png is 10x10 but its image is 12x12")

        def describe(self, index: int) -> str:
            return "images/1.png"

    item = SampleDataset(Broken(), lambda s: s)[0]
    assert isinstance(item, BadSample) and item.fatal
    with pytest.raises(DataError, match=r"images/1.png: mask 1.png is 10x10"):
        BadImagePolicy("skip").check([item])  # never skipped, whatever the policy


def test_geometric_augmentation_moves_image_and_mask_together():
    from PIL import Image
    from torchvision import tv_tensors

    img = torch.zeros(3, 16, 16, dtype=torch.uint8)
    img[:, :, :4] = 255  # a bright band on the left ...
    mask = torch.zeros(1, 16, 16, dtype=torch.long)
    mask[:, :, :4] = 1  # ... and its label
    cfg = resolve_data_config({"input_size": (3, 16, 16), "crop_pct": 1.0,
                               "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)})
    tf = train_transform(cfg, {"hflip": 1.0, "rotation": 30.0})
    sample = {"image": Image.fromarray(img.permute(1, 2, 0).numpy()),
              "mask": tv_tensors.Mask(mask)}
    torch.manual_seed(0)
    out = for_sample(tf, "RGB")(sample)
    bright = out["image"][0] > 0.5
    labelled = out["mask"][0] == 1
    assert labelled.any() and labelled[:, 8:].sum() > labelled[:, :8].sum()  # flipped right
    assert (bright == labelled).float().mean() > 0.97  # same geometry for both
    assert out["mask"].dtype == torch.long and set(out["mask"].unique().tolist()) <= {0, 1}
