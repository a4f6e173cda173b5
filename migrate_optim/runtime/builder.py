"""``build_optim_wrapper``: build from an ``optim_wrapper`` config in one call.

Semantics: docs/optimizers.md#building-a-wrapper.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch.nn as nn

from migrate_optim.runtime.optim_wrapper import OptimWrapper
from migrate_optim.runtime.registry import OPTIM_WRAPPER_CONSTRUCTORS


def build_optim_wrapper(model: nn.Module, cfg: Mapping[str, Any]) -> OptimWrapper:
    """Build the optimizer wrapper (or ``OptimWrapperDict``) that ``cfg`` describes for ``model``.

    ``cfg`` is deep-copied; its ``constructor`` (default ``'DefaultOptimWrapperConstructor'``, a
    registered name or a class) is built from ``OPTIM_WRAPPER_CONSTRUCTORS`` with the rest of the
    config as ``optim_wrapper_cfg`` and the popped ``paramwise_cfg``, then called on ``model``.
    """
    optim_wrapper_cfg = dict(copy.deepcopy(cfg))
    constructor_type = optim_wrapper_cfg.pop("constructor", "DefaultOptimWrapperConstructor")
    paramwise_cfg = optim_wrapper_cfg.pop("paramwise_cfg", None)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        {
            "type": constructor_type,
            "optim_wrapper_cfg": optim_wrapper_cfg,
            "paramwise_cfg": paramwise_cfg,
        }
    )
    return constructor(model)
