"""A small name -> class registry, standing in for mmcv 1.x's ``Registry``/``build_from_cfg``.

Only what the 0.x optimizer path needs: ``OPTIMIZERS`` (every ``torch.optim`` optimizer),
``OPTIMIZER_BUILDERS`` (optimizer constructors) and ``HOOKS`` (the optimizer hooks). Building
follows mmcv's ``build_from_cfg`` contract: the config is copied, ``type`` is popped (a name or a
class), the remaining keys are keyword arguments, and ``default_args`` fill missing keys only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch


class Registry:
    """Maps names to classes (or factories) and builds them from config dicts."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, Callable[..., Any]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def register(
        self, obj: Callable[..., Any] | None = None, *, name: str | None = None, force: bool = False
    ) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator."""

        def _add(target: Callable[..., Any]) -> Callable[..., Any]:
            key = name or target.__name__
            if key in self._entries and not force and self._entries[key] is not target:
                raise KeyError(f'{key} is already registered in {self.name}')
            self._entries[key] = target
            return target

        if obj is None:
            return _add
        return _add(obj)

    def get(self, key: str) -> Callable[..., Any]:
        """Return the entry registered as ``key``; ``KeyError`` (as mmcv) when unknown."""
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f'{key} is not in the {self.name} registry') from None

    def build(self, cfg: Mapping[str, Any], default_args: Mapping[str, Any] | None = None) -> Any:
        """Instantiate ``cfg['type']`` with the other keys of ``cfg`` (plus ``default_args``)."""
        if not isinstance(cfg, Mapping):
            raise TypeError(f'cfg must be a dict, but got {type(cfg)}')
        args = dict(cfg)
        if default_args is not None:
            for key, value in default_args.items():
                args.setdefault(key, value)
        if 'type' not in args:
            raise KeyError(f'`cfg` or `default_args` must contain the key "type", but got {cfg}')
        obj_type = args.pop('type')
        if isinstance(obj_type, str):
            obj_cls = self.get(obj_type)
        elif callable(obj_type):
            obj_cls = obj_type
        else:
            raise TypeError(f'type must be a str or a class, but got {type(obj_type)}')
        return obj_cls(**args)


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
