"""``OptimWrapperDict``: named optimizer wrappers managed together.

Semantics: docs/optimizers.md#optimwrapperdict.

GAN-style models step each wrapper themselves; the container only saves/loads all states at
once and reports every wrapper's lr and momentum under ``'<name>.'``-prefixed keys. Stepping the
container is ambiguous (which loss? which scaler?), so the update methods raise
``NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn

from migrate_optim.runtime._checks import require
from migrate_optim.runtime.optim_wrapper import OptimWrapper


class OptimWrapperMissingError(KeyError, AssertionError):
    """A name is not in the ``OptimWrapperDict``.

    A ``KeyError`` for dict-like use, and an ``AssertionError`` like MMEngine's ``assert``.
    """


class OptimWrapperDict(OptimWrapper):
    """A read-mostly dict of :class:`OptimWrapper` (``OptimWrapperDict(gen=w1, disc=w2)``).

    It subclasses :class:`OptimWrapper`, as in MMEngine, so code testing
    ``isinstance(x, OptimWrapper)`` accepts it, but it has no optimizer of its own.
    """

    def __init__(self, **optim_wrapper_dict: OptimWrapper) -> None:
        for key, value in optim_wrapper_dict.items():
            require(
                isinstance(value, OptimWrapper),
                f"OptimWrapperDict only accepts OptimWrapper instances, but got {key}: "
                f"{type(value)}",
            )
        self.optim_wrappers: dict[str, OptimWrapper] = dict(optim_wrapper_dict)

    def update_params(
        self,
        loss: torch.Tensor,
        step_kwargs: dict | None = None,
        zero_kwargs: dict | None = None,
    ) -> None:
        """Not supported: call ``update_params`` on the wrapper the loss belongs to."""
        raise NotImplementedError("`update_params` should be called by each optimizer separately")

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """Not supported: each wrapper may scale the loss differently."""
        raise NotImplementedError("`backward` should be called by each optimizer separately")

    def step(self, **kwargs: Any) -> None:
        """Not supported: call ``step`` on each wrapper."""
        raise NotImplementedError("`step` should be called by each optimizer separately")

    def zero_grad(self, **kwargs: Any) -> None:
        """Zero the gradients of every wrapper (the keyword arguments are not forwarded)."""
        for wrapper in self.optim_wrappers.values():
            wrapper.zero_grad()

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Not supported: enter the context of the wrapper being trained."""
        raise NotImplementedError("`optim_context` should be called by each optimizer separately")
        yield  # pragma: no cover - makes this a generator, like the method it overrides

    def initialize_count_status(self, model: nn.Module, init_counts: int, max_counts: int) -> None:
        """Do nothing: the container cannot know which model part each wrapper trains."""
        return

    @property
    def param_groups(self) -> dict[str, list[dict]]:  # type: ignore[override]
        """``{name: wrapper.param_groups}``."""
        return {name: wrapper.param_groups for name, wrapper in self.optim_wrappers.items()}

    def get_lr(self) -> dict[str, list[float]]:
        """``{'<name>.base_lr': ..., '<name>.lr': ...}`` for every wrapper."""
        result: dict[str, list[float]] = {}
        for name, wrapper in self.optim_wrappers.items():
            lrs = wrapper.get_lr()
            if "base_lr" in lrs:
                result[f"{name}.base_lr"] = lrs["base_lr"]
            result[f"{name}.lr"] = lrs["lr"]
        return result

    def get_momentum(self) -> dict[str, list[float]]:
        """``{'<name>.momentum': ...}`` for every wrapper."""
        return {
            f"{name}.momentum": wrapper.get_momentum()["momentum"]
            for name, wrapper in self.optim_wrappers.items()
        }

    def state_dict(self) -> dict:
        """``{name: wrapper.state_dict()}``."""
        return {name: wrapper.state_dict() for name, wrapper in self.optim_wrappers.items()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load each saved entry into the wrapper of the same name (every name must exist)."""
        for name in state_dict:
            if name not in self.optim_wrappers:
                raise OptimWrapperMissingError(
                    f"Mismatched state_dict: cannot find {name} in OptimWrapperDict"
                )
        for name, wrapper_state in state_dict.items():
            self.optim_wrappers[name].load_state_dict(wrapper_state)

    def items(self) -> Iterator[tuple[str, OptimWrapper]]:
        """Iterate over ``(name, wrapper)`` pairs."""
        yield from self.optim_wrappers.items()

    def values(self) -> Iterator[OptimWrapper]:
        """Iterate over the wrappers."""
        yield from self.optim_wrappers.values()

    def keys(self) -> Iterator[str]:
        """Iterate over the names."""
        yield from self.optim_wrappers.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.optim_wrappers)

    def __getitem__(self, key: str) -> OptimWrapper:
        if key not in self.optim_wrappers:
            raise OptimWrapperMissingError(
                f"Cannot find {key} in OptimWrapperDict, please check your optimizer constructor."
            )
        return self.optim_wrappers[key]

    def __contains__(self, key: object) -> bool:
        return key in self.optim_wrappers

    def __len__(self) -> int:
        return len(self.optim_wrappers)

    def __repr__(self) -> str:
        return "".join(
            f"name: {name}\n{wrapper!r}" for name, wrapper in self.optim_wrappers.items()
        )
