"""The conversion rules, one module per rule, each with a stable id and a docstring citing the spec.

A rule module defines ``RULE_ID`` (the id of its main finding; a module may define further
``*_ID`` constants for distinct findings, all listed in its ``FINDING_IDS``) and
``apply(t: Translation) -> None``, which reads ``t.cfg`` (the effective 0.x config) and writes
1.x keys with ``t.set`` / ``t.remove`` and findings with ``t.note`` / ``t.todo``.
:func:`rules` lists them in the order they run: later rules see what earlier ones wrote through
``t.get``.
"""

from __future__ import annotations

from types import ModuleType


def rules() -> list[ModuleType]:
    """Every rule module, in the order they run."""
    from migrate_optim.convert.rules import (
        gan_ema,
        gan_optimizer,
        gan_runner,
        gan_train_cfg,
        lr_config,
        momentum_config,
        optimizer,
        optimizer_hook,
        paramwise,
        train_loop,
    )

    # GAN rules: per-module optimizers right after the single-optimizer rule (it skips them);
    # train_cfg (which adds accumulative_counts to the sub-wrappers) before EMA (which needs the
    # converted schedule) and the runner (fp16 sub-wrappers, the loop train_cfg); paramwise
    # last, so that it sees every sub-wrapper's paramwise_cfg. The schedule rules (MO3xx) run
    # after the GAN runner (it writes mmgen's loop) and read the wrappers the others built.
    return [
        optimizer,
        gan_optimizer,
        optimizer_hook,
        gan_train_cfg,
        gan_ema,
        gan_runner,
        train_loop,
        lr_config,
        momentum_config,
        paramwise,
    ]
