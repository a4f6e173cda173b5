"""The facts convert and verify share (``migrate_optim.facts``) mean the same on both sides."""

from __future__ import annotations

import pytest

from migrate_optim import facts
from migrate_optim.convert.rules.optimizer import is_per_module as convert_is_per_module
from migrate_optim.convert.static import SDict, parse_config
from migrate_optim.verify.plan import _is_per_module as verify_is_per_module

CASES = [
    ("dict(generator=dict(type='Adam', lr=1e-4), discriminator=dict(type='Adam', lr=4e-4))", True),
    ("dict(generator=dict(type='Adam', lr=1e-4))", True),
    ("dict(type='SGD', lr=0.01)", False),
    ("dict()", False),
    # a single optimizer whose only arguments are dicts (its type comes from a base)
    ("dict(paramwise_cfg=dict(norm_decay_mult=0.0))", False),
    ("dict(paramwise_options=dict(bias=dict(weight_decay=0.0)))", False),
    ("dict(generator=dict(type='Adam'), lr=0.01)", False),
]


@pytest.mark.parametrize(("code", "expected"), CASES)
def test_convert_and_verify_agree_on_per_module_optimizers(code: str, expected: bool) -> None:
    static = parse_config(f"optimizer = {code}\n", None).bindings["optimizer"].value
    assert isinstance(static, SDict)
    loaded = eval(code, {"dict": dict})  # the plain dict a loaded config holds
    assert convert_is_per_module(static) is expected
    assert verify_is_per_module(loaded) is expected


def test_default_constructors() -> None:
    assert facts.is_default_constructor(None)
    assert facts.is_default_constructor("DefaultOptimizerConstructor")
    assert facts.is_default_constructor("DefaultOptimWrapperConstructor")
    assert not facts.is_default_constructor(facts.MULTI_CONSTRUCTOR)
    assert not facts.is_default_constructor("LearningRateDecayOptimizerConstructor")
