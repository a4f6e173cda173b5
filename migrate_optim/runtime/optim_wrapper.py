"""``OptimWrapper``: one optimizer plus gradient accumulation and clipping.

Semantics: docs/optimizers.md#optimwrapper.

The update protocol is MMEngine's: ``update_params(loss)`` = ``scale_loss`` → ``backward`` (counts
the iteration) → on update iterations ``step`` (clip, then ``optimizer.step``) → ``zero_grad``.
With ``accumulative_counts = k`` the loss is divided by ``k`` and the step happens every ``k``
iterations; after :meth:`OptimWrapper.initialize_count_status` the last ``max_counts % k``
iterations form a shorter final window whose losses are divided by that remainder instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim import Optimizer

from migrate_optim.runtime._checks import require
from migrate_optim.runtime.base import BaseOptimWrapper
from migrate_optim.runtime.log import print_log
from migrate_optim.runtime.registry import OPTIM_WRAPPERS


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` is or contains a batch-norm layer (``SyncBatchNorm`` included)."""
    return any(isinstance(m, _BatchNorm) for m in model.modules())


@OPTIM_WRAPPERS.register_module()
class OptimWrapper(BaseOptimWrapper):
    """Wrap a torch optimizer with MMEngine's update protocol.

    ``clip_grad`` is ``None`` or a non-empty dict: ``type`` (``'norm'``, the default, for
    :func:`torch.nn.utils.clip_grad_norm_`, or ``'value'`` for
    :func:`torch.nn.utils.clip_grad_value_`) plus that function's keyword arguments. Where MMEngine
    logs the clipped gradient norm to its ``MessageHub`` as ``train/grad_norm``, this wrapper keeps
    the latest one in :attr:`last_grad_norm`.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        accumulative_counts: int = 1,
        clip_grad: dict | None = None,
    ) -> None:
        require(accumulative_counts > 0, "accumulative_counts must be >= 1")
        super().__init__(optimizer)
        self._accumulative_counts = accumulative_counts

        self.clip_func: Any = None
        self.grad_name: str | None = None
        if clip_grad is not None:
            require(
                isinstance(clip_grad, dict) and clip_grad,
                "clip_grad must be None or a non-empty dict of arguments for "
                "torch.nn.utils.clip_grad_norm_ / clip_grad_value_",
            )
            # Copied so that a config dict shared between wrappers keeps its `type`.
            clip_grad = dict(clip_grad)
            clip_type = clip_grad.pop("type", "norm")
            if clip_type == "norm":
                self.clip_func = torch.nn.utils.clip_grad_norm_
                self.grad_name = "grad_norm"
            elif clip_type == "value":
                self.clip_func = torch.nn.utils.clip_grad_value_
                self.grad_name = "grad_value"
            else:
                raise ValueError(f'type of clip_grad should be "norm" or "value", got {clip_type}')
            require(clip_grad, "clip_grad must contain arguments besides `type`")
        self.clip_grad_kwargs = clip_grad
        self._last_grad_norm: torch.Tensor | None = None

        self._inner_count = 0
        # Total number of iterations (set by initialize_count_status); -1 = unknown, in which
        # case every window is a full `accumulative_counts` long.
        self._max_counts = -1
        self._remainder_counts = -1

    # -- the update protocol -------------------------------------------------------------------

    def update_params(
        self,
        loss: torch.Tensor,
        step_kwargs: dict | None = None,
        zero_kwargs: dict | None = None,
    ) -> None:
        """Back-propagate ``loss`` and, on update iterations, step and zero the gradients."""
        loss = self.scale_loss(loss)
        self.backward(loss)
        if self.should_update():
            if step_kwargs:
                self.step(**step_kwargs)
            else:
                self.step()
            if zero_kwargs:
                self.zero_grad(**zero_kwargs)
            else:
                self.zero_grad()

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """``loss.backward(**kwargs)`` and count the iteration (subclasses must count too)."""
        loss.backward(**kwargs)
        self._inner_count += 1

    def zero_grad(self, **kwargs: Any) -> None:
        """``optimizer.zero_grad(**kwargs)``."""
        self.optimizer.zero_grad(**kwargs)

    def step(self, **kwargs: Any) -> None:
        """Clip the gradients if configured, then ``optimizer.step(**kwargs)``."""
        if self.clip_grad_kwargs:
            self._clip_grad()
        self.optimizer.step(**kwargs)

    def _clip_grad(self) -> None:
        params = [
            p
            for group in self.optimizer.param_groups
            for p in group["params"]
            if p.requires_grad and p.grad is not None
        ]
        if params:
            result = self.clip_func(params, **self.clip_grad_kwargs)
            # clip_grad_value_ returns None; only the norm is worth keeping.
            if result is not None:
                self._last_grad_norm = result

    @property
    def last_grad_norm(self) -> float | None:
        """Total gradient norm measured by the latest norm clipping (``None`` before any)."""
        if self._last_grad_norm is None:
            return None
        return float(self._last_grad_norm)

    # -- accumulation bookkeeping --------------------------------------------------------------

    def initialize_count_status(self, model: nn.Module, init_counts: int, max_counts: int) -> None:
        """Set the iteration counter and the total, so the final partial window still steps.

        Warns when ``init_counts`` is not a multiple of ``accumulative_counts`` (a resume in the
        middle of a window loses that window's earlier gradients) and when accumulating over a
        model with batch norm (statistics are per micro-batch).
        """
        self._inner_count = init_counts
        self._max_counts = max_counts
        if self._inner_count % self._accumulative_counts != 0:
            print_log(
                "Resumed iteration number is not divisible by `accumulative_counts`: the "
                "gradients of the interrupted accumulation window are lost, which may change "
                "the result slightly.",
                logger="current",
                level=logging.WARNING,
            )
        if has_batch_norm(model) and self._accumulative_counts > 1:
            print_log(
                "Gradient accumulation may slightly decrease performance because the model "
                "has BatchNorm layers.",
                logger="current",
                level=logging.WARNING,
            )
        self._remainder_counts = self._max_counts % self._accumulative_counts

    def should_update(self) -> bool:
        """Whether the iteration just back-propagated ends an accumulation window."""
        return (
            self._inner_count % self._accumulative_counts == 0
            or self._inner_count == self._max_counts
        )

    def should_sync(self) -> bool:
        """Whether the coming iteration (not yet counted) ends a window, so DDP must all-reduce."""
        count = self._inner_count + 1
        return count % self._accumulative_counts == 0 or count == self._max_counts

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Divide ``loss`` by the length of the current accumulation window.

        Without accumulation the loss is returned as is (MMEngine divides by 1, which changes
        no value but costs an extra autograd node).
        """
        acc = self._accumulative_counts
        if acc == 1:
            return loss
        if self._max_counts == -1:
            factor = acc
        elif self._inner_count < self._max_counts - self._remainder_counts:
            factor = acc
        else:
            factor = self._remainder_counts
            require(
                factor > 0,
                "loss factor must be positive: initialize_count_status was called with "
                "inconsistent init_counts/max_counts",
            )
        return loss / factor

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Context for the forward pass: ``model.no_sync()`` on iterations that do not update.

        Applies only to models that have ``no_sync`` (DistributedDataParallel); otherwise it is
        an empty context.
        """
        if not self.should_sync() and hasattr(model, "no_sync"):
            with model.no_sync():
                yield
        else:
            yield

    @property
    def inner_count(self) -> int:
        """Number of iterations back-propagated so far (the accumulation counter)."""
        return self._inner_count

    def __repr__(self) -> str:
        return (
            f"Type: {type(self).__name__}\n"
            f"_accumulative_counts: {self._accumulative_counts}\n"
            f"optimizer: \n{self.optimizer!r}\n"
        )
