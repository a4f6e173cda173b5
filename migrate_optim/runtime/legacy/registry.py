"""A small name -> class registry, standing in for mmcv 1.x's ``Registry``/``build_from_cfg``.

Only what the 0.x optimizer path needs: ``OPTIMIZERS`` (every ``torch.optim`` optimizer),
``OPTIMIZER_BUILDERS`` (optimizer constructors) and ``HOOKS`` (the optimizer hooks). Building
follows mmcv's ``build_from_cfg`` contract: the config is copied, ``type`` is popped (a name or a
class), the remaining keys are keyword arguments, and ``default_args`` fill missing keys only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from migrate_optim.runtime.registry import Registry as _Registry


class Registry(_Registry):
    """The runtime's registry with mmcv 1.x's call style.

    mmcv registered with ``@REG.register_module`` but its 0.x builders raised ``KeyError`` for
    unknown names; the 0.x side keeps that (``get`` raises) and adds ``register`` as the
    decorator-or-call form the legacy modules use.
    """

    def keys(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self.module_dict)

    def register(
        self, obj: Callable[..., Any] | None = None, *, name: str | None = None, force: bool = False
    ) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator.

        Registering the same object twice is allowed (module reloads in tests).
        """

        def _add(target: Callable[..., Any]) -> Callable[..., Any]:
            key = name or target.__name__
            same = self.module_dict.get(key) is target
            self.register_module(name=key, force=force or same, module=target)
            return target

        if obj is None:
            return _add
        return _add(obj)

    def get(self, key: str) -> Callable[..., Any]:
        """Return the entry registered as ``key``; ``KeyError`` (as mmcv) when unknown."""
        found = self.module_dict.get(key)
        if found is None:
            raise KeyError(f"{key} is not in the {self.name} registry")
        return found


OPTIMIZERS = Registry('optimizer')
OPTIMIZER_BUILDERS = Registry('optimizer builder')
HOOKS = Registry('hook')


def _register_torch_optimizers() -> None:
    # mmcv registered every class in ``torch.optim`` that subclasses ``Optimizer``; the abstract
    # base itself is of no use in a config, so it is left out here.
    for name in dir(torch.optim):
        if name.startswith('_'):
            continue
        obj = getattr(torch.optim, name)
        if (
            inspect.isclass(obj)
            and issubclass(obj, torch.optim.Optimizer)
            and obj is not torch.optim.Optimizer
        ):
            OPTIMIZERS.register(obj, name=name)


_register_torch_optimizers()
