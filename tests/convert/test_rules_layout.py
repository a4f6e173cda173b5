"""``convert/rules``: every public module is a rule that :func:`rules` runs, in ``ORDER``."""

from __future__ import annotations

import pytest

from migrate_optim.convert import rules as rules_package
from migrate_optim.convert.rules import ORDER, rule_names, rules


def test_every_public_module_is_a_rule_in_order() -> None:
    assert rule_names() == sorted(ORDER)
    modules = rules()
    assert [m.__name__.rsplit(".", 1)[1] for m in modules] == list(ORDER)
    for module in modules:
        assert callable(module.apply), module.__name__
        assert module.__doc__ and module.__doc__.strip(), module.__name__


def test_helper_modules_are_private() -> None:
    assert {"_gan", "_pggan", "_singan"}.isdisjoint(rule_names())


@pytest.mark.parametrize("order", [ORDER[:-1], (*ORDER, "not_a_module")])
def test_a_rule_missing_from_order_is_an_error(monkeypatch, order: tuple[str, ...]) -> None:
    monkeypatch.setattr(rules_package, "ORDER", order)
    rules_package._ordered_rules.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="do not match ORDER"):
            rules()
    finally:
        monkeypatch.undo()
        rules_package._ordered_rules.cache_clear()
    assert len(rules()) == len(ORDER)
