"""The registry on its own: lookup, tags, qualified names, did-you-mean."""

from __future__ import annotations

import pytest

from zoo_core.errors import UnknownNameError, ZooError
from zoo_core.registry import Component, Registry, canonical_kind
from zoo_core.types import WeightTag


def _comp(name: str, plugin: str = "p", kind: str = "backbone", **kw) -> Component:
    return Component(kind=kind, name=name, factory=lambda **cfg: cfg, plugin=plugin, **kw)


def test_lookup_tags_and_defaults():
    reg = Registry()
    tags = {"a": WeightTag("a", "hf://org/a"), "b": WeightTag("b", "hf://org/b")}
    reg.add(_comp("net", _weights=tags, default_tag="b", default_cfg={"width": 8}))
    got = reg.get("backbones", "net.a")
    assert got.component.name == "net" and got.tag == "a"
    assert got.component.weight(got.tag).source == "hf://org/a"
    assert reg.get("backbone", "net").component.weight().tag == "b"
    assert reg.get("backbone", "net").component.create(depth=2) == {"width": 8, "depth": 2}


def test_arch_names_with_dots_are_not_mistaken_for_tags():
    reg = Registry()
    reg.add(_comp("vit.small"))
    assert reg.get("backbone", "vit.small").tag is None


def test_unknown_name_suggests_close_matches():
    reg = Registry()
    for name in ("resnet50", "resnet18", "alexnet"):
        reg.add(_comp(name))
    with pytest.raises(UnknownNameError) as err:
        reg.get("backbone", "resnet5O")
    assert "resnet50" in str(err.value) and "zoo list backbone" in str(err.value)


def test_unknown_tag_suggests_tags():
    reg = Registry()
    reg.add(_comp("net", _weights={"in1k": WeightTag("in1k", "x")}))
    with pytest.raises(UnknownNameError, match="in1k"):
        reg.get("backbone", "net.in1kk")


def test_lazy_weights_are_read_once():
    calls = []

    def provide():
        calls.append(1)
        return {"t": WeightTag("t", "hf://o/r")}

    comp = _comp("net", _weights=provide)
    assert comp.weights["t"].source == "hf://o/r"
    assert comp.weight("t").tag == "t"
    assert calls == [1]


def test_duplicates_are_ambiguous_until_qualified():
    reg = Registry()
    reg.add(_comp("net", plugin="first"))
    reg.add(_comp("net", plugin="second"))
    with pytest.raises(ZooError) as err:
        reg.get("backbone", "net")
    assert "'first'" in str(err.value) and "'second'" in str(err.value)
    assert reg.get("backbone", "second:net").component.plugin == "second"
    assert reg.conflicts() == {("backbone", "net"): ["first", "second"]}
    with pytest.raises(UnknownNameError, match="provided by"):
        reg.get("backbone", "third:net")


def test_same_plugin_cannot_register_a_name_twice():
    reg = Registry()
    reg.add(_comp("net"))
    with pytest.raises(ZooError, match="twice"):
        reg.add(_comp("net"))


def test_list_filters_with_globs_and_substrings():
    reg = Registry()
    for name in ("resnet18", "resnet50", "alexnet"):
        reg.add(_comp(name))
    reg.add(_comp("linear", kind="head"))
    assert [c.name for c in reg.list("backbone", "resnet*")] == ["resnet18", "resnet50"]
    assert [c.name for c in reg.list("backbone", "net5")] == ["resnet50"]
    assert {c.kind for c in reg.list()} == {"backbone", "head"}


def test_kind_spellings():
    assert canonical_kind("Backbones") == "backbone"
    with pytest.raises(UnknownNameError, match="backbone"):
        canonical_kind("backbonez")
