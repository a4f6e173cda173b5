"""Registry, the torch optimizer registration and print_log."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch

from migrate_optim.runtime import (
    OPTIM_WRAPPER_CONSTRUCTORS,
    OPTIM_WRAPPERS,
    OPTIMIZERS,
    AmpOptimWrapper,
    DefaultOptimWrapperConstructor,
    MultiOptimWrapperConstructor,
    OptimWrapper,
    Registry,
    print_log,
)


class Thing:
    def __init__(self, a=1, b=2):
        self.a, self.b = a, b


def test_register_as_decorator_and_call():
    reg = Registry("things")

    @reg.register_module()
    class A(Thing):
        pass

    @reg.register_module(name=["B1", "B2"])
    class B(Thing):
        pass

    assert reg.register_module(module=Thing) is Thing
    assert reg.get("A") is A and reg.get("B1") is B and reg.get("B2") is B
    assert reg.get("Thing") is Thing
    assert "A" in reg and len(reg) == 4 and set(reg) == {"A", "B1", "B2", "Thing"}
    assert reg.get("missing") is None
    assert reg.get("scope.A") is A
    assert reg.module_dict["A"] is A
    assert reg.name == "things"


def test_duplicate_names_need_force():
    reg = Registry("things")
    reg.register_module(module=Thing)
    with pytest.raises(KeyError, match="already registered"):
        reg.register_module(module=Thing)

    class Other(Thing):
        pass

    reg.register_module(name="Thing", force=True, module=Other)
    assert reg.get("Thing") is Other
    with pytest.raises(TypeError):
        reg.register_module(force=1)
    with pytest.raises(TypeError):
        reg.register_module(name=3)
    with pytest.raises(TypeError):
        reg.register_module(module=42)


def test_build():
    reg = Registry("things")
    reg.register_module(module=Thing)
    cfg = {"type": "Thing", "a": 5}
    obj = reg.build(cfg, default_args={"a": 0, "b": 7})
    assert (obj.a, obj.b) == (5, 7)
    assert cfg == {"type": "Thing", "a": 5}
    assert isinstance(reg.build({"type": Thing, "_scope_": "mmdet"}), Thing)
    assert reg.build({"a": 3}, default_args={"type": "Thing"}).a == 3
    with pytest.raises(KeyError, match="not in the things registry"):
        reg.build({"type": "Nope"})
    with pytest.raises(KeyError, match="type"):
        reg.build({"a": 1})
    with pytest.raises(TypeError):
        reg.build({"type": 3})
    with pytest.raises(TypeError):
        reg.build([("type", "Thing")])


def test_every_torch_optimizer_is_registered():
    expected = {
        name
        for name in dir(torch.optim)
        if inspect.isclass(getattr(torch.optim, name))
        and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
    }
    for name in expected:
        key = "TorchAdafactor" if name == "Adafactor" else name
        assert OPTIMIZERS.get(key) is getattr(torch.optim, name)
    assert OPTIMIZERS.get("SGD") is torch.optim.SGD
    assert {"SGD", "Adam", "AdamW", "RMSprop"} <= set(OPTIMIZERS)


def test_wrappers_and_constructors_are_registered():
    assert OPTIM_WRAPPERS.get("OptimWrapper") is OptimWrapper
    assert OPTIM_WRAPPERS.get("AmpOptimWrapper") is AmpOptimWrapper
    assert (
        OPTIM_WRAPPER_CONSTRUCTORS.get("DefaultOptimWrapperConstructor")
        is DefaultOptimWrapperConstructor
    )
    assert (
        OPTIM_WRAPPER_CONSTRUCTORS.get("MultiOptimWrapperConstructor")
        is MultiOptimWrapperConstructor
    )
    assert {"PGGANOptimWrapperConstructor", "SinGANOptimWrapperConstructor"} <= set(
        OPTIM_WRAPPER_CONSTRUCTORS
    )


def test_print_log_destinations(capsys, caplog):
    caplog.set_level(logging.DEBUG)
    print_log("to stdout")
    assert capsys.readouterr().out == "to stdout\n"

    print_log("current info", logger="current")
    print_log("current warning", logger="current", level=logging.WARNING)
    named = logging.getLogger("some.logger")
    print_log("via object", logger=named, level=logging.ERROR)
    print_log("via name", logger="other.logger")
    print_log("dropped", logger="silent")
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        ("migrate_optim.runtime", logging.INFO, "current info"),
        ("migrate_optim.runtime", logging.WARNING, "current warning"),
        ("some.logger", logging.ERROR, "via object"),
        ("other.logger", logging.INFO, "via name"),
    ]
    assert capsys.readouterr().out == ""
    with pytest.raises(TypeError):
        print_log("bad", logger=3)
