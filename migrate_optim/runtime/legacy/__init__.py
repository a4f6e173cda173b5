"""The 0.x (mmcv 1.x era) optimizer semantics as a runtime: constructors, hooks, trainer, GANs.

Everything here is our own re-implementation (no mmcv import) of what an OpenMMLab 0.x config
did with its ``optimizer``/``optimizer_config``/``fp16``/``runner``/``train_cfg`` keys, so that
``migrate-optim verify`` can train the old config next to the migrated one:

* :mod:`.constructor` — ``DefaultOptimizerConstructor``, ``build_optimizer``,
  ``build_optimizers`` (mmcv 1.7.2, mmgen/mmedit);
* :mod:`.hooks` / :mod:`.loop` — the optimizer hooks and a tiny runner that drives them;
* :mod:`.lr_hooks` — mmcv's lr/momentum updater hooks (and mmgen's ``Linear``) in runner order;
* :mod:`.trainer_rules` — per-codebase hook and run-length resolution (torch-free);
* :mod:`.gan` / :mod:`.ema` — MMGeneration 0.7.3 GAN ``train_step`` schedules and EMA hook.

Names are resolved lazily so that the torch-free :mod:`.trainer_rules` can be imported (and
used by the converter) without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    'DefaultOptimizerConstructor': 'constructor',
    'build_optimizer': 'constructor',
    'build_optimizer_constructor': 'constructor',
    'build_optimizers': 'constructor',
    'describe_param_groups': 'constructor',
    'is_dcn_layer': 'constructor',
    'ExponentialMovingAverageHook': 'ema',
    'MODEL_KINDS': 'gan',
    'GANCallbacks': 'gan',
    'GANEvent': 'gan',
    'GANStepContext': 'gan',
    'LegacyGANRunner': 'gan',
    'optimizer_actions': 'gan',
    'resolve_gan_kind': 'gan',
    'set_requires_grad': 'gan',
    'step_iterations': 'gan',
    'DistOptimizerHook': 'hooks',
    'Fp16OptimizerHook': 'hooks',
    'GradientCumulativeFp16OptimizerHook': 'hooks',
    'GradientCumulativeOptimizerHook': 'hooks',
    'Hook': 'hooks',
    'OptimizerHook': 'hooks',
    'build_optimizer_hook': 'hooks',
    'wrap_fp16_model': 'hooks',
    'LegacyRunner': 'loop',
    'LegacySchedule': 'lr_hooks',
    'LegacyScheduleError': 'lr_hooks',
    'build_lr_hook': 'lr_hooks',
    'build_momentum_hook': 'lr_hooks',
    'build_legacy_runner': 'loop',
    'LogBuffer': 'loop',
    'HOOKS': 'registry',
    'OPTIMIZER_BUILDERS': 'registry',
    'OPTIMIZERS': 'registry',
    'Registry': 'registry',
    'CODEBASES': 'trainer_rules',
    'HOOK_PARAMS': 'trainer_rules',
    'TrainLength': 'trainer_rules',
    'normalize_codebase': 'trainer_rules',
    'resolve_optimizer_hook': 'trainer_rules',
    'resolve_train_length': 'trainer_rules',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'.{module}', __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
