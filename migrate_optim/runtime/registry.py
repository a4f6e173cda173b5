"""A small name → class registry, and the three registries of MMEngine's optimizer API.

Configs name classes by string (``dict(type='SGD', lr=0.1)``); a :class:`Registry` maps those
names to classes and builds instances from such dicts. ``OPTIMIZERS`` is filled with every
``torch.optim`` optimizer on import, the way MMEngine does it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch


class Registry:
    """Map names to classes (or other callables) and build objects from config dicts."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module_dict: dict[str, Callable[..., Any]] = {}

    @property
    def name(self) -> str:
        """The registry's name, used in error messages."""
        return self._name

    @property
    def module_dict(self) -> dict[str, Callable[..., Any]]:
        """The registered name → class mapping (the live dict)."""
        return self._module_dict

    def __len__(self) -> int:
        return len(self._module_dict)

    def __contains__(self, name: object) -> bool:
        return name in self._module_dict

    def __iter__(self) -> Iterator[str]:
        return iter(self._module_dict)

    def __repr__(self) -> str:
        return f"Registry(name={self._name!r}, items={sorted(self._module_dict)})"

    def _register(
        self, module: Callable[..., Any], name: str | Sequence[str] | None, force: bool
    ) -> None:
        if not callable(module):
            raise TypeError(f"module must be callable, but got {type(module)}")
        names = [module.__name__] if name is None else [name] if isinstance(name, str) else name
        for key in names:
            if not force and key in self._module_dict:
                existing = self._module_dict[key]
                raise KeyError(
                    f"{key} is already registered in {self._name} "
                    f"(by {getattr(existing, '__module__', '?')})"
                )
            self._module_dict[key] = module

    def register_module(
        self,
        name: str | Sequence[str] | None = None,
        force: bool = False,
        module: Callable[..., Any] | None = None,
    ) -> Any:
        """Register ``module`` under ``name`` (default: its ``__name__``).

        Used as a decorator (``@REG.register_module()``) it returns a decorator; called with
        ``module=`` it registers at once and returns the module. An existing name raises
        ``KeyError`` unless ``force=True``.
        """
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, but got {type(force)}")
        if not (
            name is None
            or isinstance(name, str)
            or (isinstance(name, Sequence) and all(isinstance(n, str) for n in name))
        ):
            raise TypeError(f"name must be None, a str or a sequence of str, got {type(name)}")
        if module is not None:
            self._register(module, name, force)
            return module

        def decorator(cls: Callable[..., Any]) -> Callable[..., Any]:
            self._register(cls, name, force)
            return cls

        return decorator

    def get(self, name: str) -> Callable[..., Any] | None:
        """Return the class registered as ``name``, or ``None``.

        A scoped name such as ``'mmdet.SGD'`` falls back to its last component, since this
        runtime has a single scope.
        """
        found = self._module_dict.get(name)
        if found is None and "." in name:
            found = self._module_dict.get(name.rsplit(".", 1)[1])
        return found

    def build(self, cfg: Mapping[str, Any], default_args: Mapping[str, Any] | None = None) -> Any:
        """Instantiate ``cfg['type']`` (a registered name or a class) with the other keys.

        ``default_args`` fill keys missing from ``cfg``. ``cfg`` itself is not modified.
        """
        if not isinstance(cfg, Mapping):
            raise TypeError(f"cfg must be a dict, but got {type(cfg)}")
        args = dict(cfg)
        if default_args is not None:
            for key, value in default_args.items():
                args.setdefault(key, value)
        if "type" not in args:
            raise KeyError(f'`cfg` or `default_args` must contain the key "type", got {cfg}')
        # MMEngine's scope marker has no meaning in a single-scope runtime.
        args.pop("_scope_", None)
        obj_type = args.pop("type")
        if isinstance(obj_type, str):
            obj_cls = self.get(obj_type)
            if obj_cls is None:
                raise KeyError(f"{obj_type} is not in the {self._name} registry")
        elif callable(obj_type):
            obj_cls = obj_type
        else:
            raise TypeError(f"type must be a str or a class, but got {type(obj_type)}")
        return obj_cls(**args)


OPTIMIZERS = Registry("optimizer")
OPTIM_WRAPPERS = Registry("optim_wrapper")
OPTIM_WRAPPER_CONSTRUCTORS = Registry("optimizer wrapper constructor")


def register_torch_optimizers() -> list[str]:
    """Register every :class:`torch.optim.Optimizer` subclass in ``torch.optim``.

    Like MMEngine, torch's ``Adafactor`` is registered as ``'TorchAdafactor'`` because MMEngine
    keeps ``'Adafactor'`` for the transformers implementation. Returns the registered names.
    """
    names = []
    for attr in dir(torch.optim):
        if attr.startswith("__"):
            continue
        obj = getattr(torch.optim, attr)
        if inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer):
            name = "TorchAdafactor" if attr == "Adafactor" else attr
            OPTIMIZERS.register_module(name=name, module=obj, force=True)
            names.append(name)
    return names


TORCH_OPTIMIZERS = register_torch_optimizers()
