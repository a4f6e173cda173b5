"""``BaseOptimWrapper``: what every optimizer wrapper shares (docs/optimizers.md#optimwrapper).

Besides the abstract update interface this holds the "base parameter settings" pseudo group:
when the optimizer has more than one param group, a dummy group carrying the optimizer's
``defaults`` is exposed after the real groups, so that parameter schedulers also drive (and
logs can show) a base learning rate that is independent of any per-group multiplier.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

import torch
from torch.optim import Optimizer


class BaseOptimWrapper(metaclass=ABCMeta):
    """Abstract optimizer wrapper: state dicts, param groups, lr/momentum read-out."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_param_settings: dict[str, Any] | None
        if len(optimizer.param_groups) > 1:
            self.base_param_settings = {"params": torch.tensor([0.0], dtype=torch.float)}
            self.base_param_settings.update(**optimizer.defaults)
        else:
            self.base_param_settings = None

    @abstractmethod
    def update_params(self, *args: Any, **kwargs: Any) -> None:
        """Compute gradients from a loss and update the parameters."""

    @abstractmethod
    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """Back-propagate ``loss``."""

    @abstractmethod
    def zero_grad(self, **kwargs: Any) -> None:
        """Reset the gradients of the optimized parameters."""

    @abstractmethod
    def step(self, **kwargs: Any) -> None:
        """Apply one optimizer step."""

    def state_dict(self) -> dict:
        """The optimizer's state dict, plus ``base_param_settings`` when the pseudo group exists."""
        state = self.optimizer.state_dict()
        if self.base_param_settings is not None:
            state["base_param_settings"] = self.base_param_settings
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a dict produced by :meth:`state_dict` (the argument itself is left unchanged)."""
        state = dict(state_dict)
        base = state.pop("base_param_settings", None)
        if base is not None:
            self.base_param_settings = base
        self.optimizer.load_state_dict(state)

    @property
    def param_groups(self) -> list[dict]:
        """The optimizer's param groups, followed by the pseudo group when it exists."""
        if self.base_param_settings is not None:
            return self.optimizer.param_groups + [self.base_param_settings]
        return self.optimizer.param_groups

    @property
    def defaults(self) -> dict:
        """The optimizer's ``defaults``."""
        return self.optimizer.defaults

    def get_lr(self) -> dict[str, list[float]]:
        """``{'lr': [lr of each real group]}``, after ``'base_lr'`` if the pseudo group exists."""
        result: dict[str, list[float]] = {}
        if self.base_param_settings is not None:
            result["base_lr"] = [self.base_param_settings["lr"]]
        result["lr"] = [group["lr"] for group in self.optimizer.param_groups]
        return result

    def get_momentum(self) -> dict[str, list[float]]:
        """``{'momentum': [...]}``: each group's ``momentum``, else ``betas[0]``, else 0."""
        momentum = []
        for group in self.optimizer.param_groups:
            if "momentum" in group:
                momentum.append(group["momentum"])
            elif "betas" in group:
                momentum.append(group["betas"][0])
            else:
                momentum.append(0)
        return {"momentum": momentum}
