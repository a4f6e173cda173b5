"""The conversion rules: every public module here is one rule, run by :func:`rules` in ``ORDER``.

A rule module defines ``apply(t: Translation) -> None``, which reads ``t.cfg`` (the effective
0.x config) and writes 1.x keys with ``t.set`` / ``t.remove`` and findings with ``t.note`` /
``t.todo``, passing a member of :class:`~migrate_optim.convert.findings.FindingId` (the
catalogue says which rule owns which id). Its docstring cites the spec. Later rules see what
earlier ones wrote through ``t.get``.

Helpers shared by several rules live in private modules (``_gan``: GAN classes, ``train_cfg``
reading, sub-wrappers; ``_pggan`` and ``_singan``: the ``train_cfg`` families the GAN
``train_cfg`` rule delegates to). A new rule is a new public module plus its name in ``ORDER``.

Each rule also declares ``KEYS``: every top-level key it may consume (remove, take as a source
of a 1.x key, or mark with a TODO), and ``GAN_KEYS`` for keys it consumes only where the GAN
rules apply. ``convert``'s text prefilter (:mod:`migrate_optim.convert.prefilter`) decides
without libcst that a file mentioning none of them stays as it is; :func:`check_consumed`
turns an undeclared key into an internal error rather than a silently skipped file.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType
from typing import TYPE_CHECKING

from migrate_optim.convert.rules import _gan

if TYPE_CHECKING:
    from migrate_optim.convert.translation import Translation

#: Every rule, in the order they run. GAN rules: per-module optimizers right after the
#: single-optimizer rule (it skips them); train_cfg (which adds accumulative_counts to the
#: sub-wrappers) before EMA (which needs the converted schedule) and the runner (fp16
#: sub-wrappers, the loop train_cfg); the schedule rules after the GAN runner (it writes the
#: mmgen loop) and reading the wrappers the others built; paramwise last, so that it sees every
#: sub-wrapper's paramwise_cfg.
ORDER = (
    "optimizer",
    "gan_optimizer",
    "optimizer_hook",
    "gan_train_cfg",
    "gan_ema",
    "gan_runner",
    "train_loop",
    "lr_config",
    "momentum_config",
    "paramwise",
)


def rule_names() -> list[str]:
    """The public modules of this package (each must be a rule listed in ``ORDER``)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


@functools.cache
def _ordered_rules() -> tuple[ModuleType, ...]:
    """The rule modules of ``ORDER``, imported and checked once.

    Raises RuntimeError when a public module is missing from ``ORDER`` or ``ORDER`` names a
    module that does not exist: a rule that is never run would fail silently.
    """
    found = rule_names()
    if sorted(ORDER) != found:
        raise RuntimeError(
            f"convert/rules: public modules {found} do not match ORDER {sorted(ORDER)}; "
            "list every rule in ORDER and prefix helper modules with `_`"
        )
    modules = [importlib.import_module(f"{__name__}.{name}") for name in ORDER]
    for module in modules:
        if not callable(getattr(module, "apply", None)):
            raise RuntimeError(f"{module.__name__} is public but defines no apply(t)")
    return tuple(modules)


@functools.cache
def consumable_keys() -> tuple[frozenset[str], frozenset[str]] | None:
    """(keys some rule may consume, keys consumed only where the GAN rules apply), or None
    when a rule declares no ``KEYS`` (the prefilter is then off: nothing is skipped)."""
    always: set[str] = set()
    gan: set[str] = set()
    for module in _ordered_rules():
        keys = getattr(module, "KEYS", None)
        if keys is None:
            return None
        always.update(keys)
        gan.update(getattr(module, "GAN_KEYS", ()))
    return frozenset(always), frozenset(gan - always)


def check_consumed(consumed: set[str], t: Translation) -> None:
    """Raise RuntimeError if the rules consumed a key that no rule declares (see ``KEYS``)."""
    declared = consumable_keys()
    if declared is None:
        return
    always, gan = declared
    extra = consumed - always
    if extra and not (extra <= gan and _gan.applies(t)):
        raise RuntimeError(
            f"convert/rules consumed {sorted(extra)}, which no rule declares in KEYS "
            "(or GAN_KEYS outside a GAN config): declare it, or the prefilter skips such files"
        )


def rules() -> list[ModuleType]:
    """Every rule module, in the order they run (see ``ORDER``)."""
    return list(_ordered_rules())
