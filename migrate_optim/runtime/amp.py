"""``AmpOptimWrapper``: ``OptimWrapper`` with autocast and a gradient scaler.

Semantics: docs/fp16.md#ampoptimwrapper.

Unlike MMEngine (CUDA/NPU/MLU/MUSA only) this also trains on CPU. The device is the device type
of the optimizer's first parameter at construction time, so build the wrapper after moving the
model. Autocast uses that device type; its dtype defaults to ``float16`` on CUDA (torch's
default) and to ``bfloat16`` on CPU. The scaler is always ``torch.amp.GradScaler(device)``
(``ShardedGradScaler`` with ``use_fsdp=True``), on CPU too: bfloat16 does not need loss scaling,
but multiplying by a power of two is exact, so keeping the scaler costs nothing numerically and
preserves every observable of the CUDA behaviour: the ``loss_scale`` options, skipped steps on
inf/NaN gradients, scale growth/back-off and the ``'loss_scaler'`` state dict entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn

from migrate_optim.runtime._checks import require
from migrate_optim.runtime.optim_wrapper import OptimWrapper
from migrate_optim.runtime.registry import OPTIM_WRAPPERS


def _device_type_of(optimizer: torch.optim.Optimizer) -> str:
    for group in optimizer.param_groups:
        for param in group["params"]:
            return param.device.type
    return "cpu"


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(OptimWrapper):
    """Mixed-precision optimizer wrapper.

    ``loss_scale`` is ``'dynamic'`` (a default ``GradScaler``), a ``float`` (static scaling: the
    scaler starts at that value and is reset to it after every step) or a ``dict`` of
    ``GradScaler`` arguments; anything else, ``int`` included, raises ``TypeError`` as in MMEngine.
    ``dtype`` (a name from :attr:`valid_dtypes` or a ``torch.dtype``) is the autocast dtype.
    Other keyword arguments go to :class:`OptimWrapper`.
    """

    valid_dtypes = ("float16", "bfloat16", "float32", "float64")

    def __init__(
        self,
        loss_scale: str | float | dict = "dynamic",
        dtype: str | torch.dtype | None = None,
        use_fsdp: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device_type = _device_type_of(self.optimizer)
        self._scale_update_param: float | None = None

        if use_fsdp:
            from torch.distributed.fsdp.sharded_grad_scaler import ShardedGradScaler

            scaler_type: Any = ShardedGradScaler
        else:
            scaler_type = torch.amp.GradScaler

        if isinstance(loss_scale, str) and loss_scale == "dynamic":
            self.loss_scaler = scaler_type(self.device_type)
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            self.loss_scaler = scaler_type(self.device_type, init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            self.loss_scaler = scaler_type(**{"device": self.device_type, **loss_scale})
        else:
            raise TypeError(
                f'loss_scale must be of type float, dict, or "dynamic", but got {loss_scale}'
            )

        if isinstance(dtype, str):
            require(
                dtype in self.valid_dtypes,
                f"dtype should be any of {self.valid_dtypes}, got {dtype}",
            )
            dtype = getattr(torch, dtype)
        require(
            dtype is None or isinstance(dtype, torch.dtype),
            f"dtype should be None or a torch.dtype, got {dtype}",
        )
        # As configured (None = device default), mirroring MMEngine's attribute.
        self.cast_dtype: torch.dtype | None = dtype
        if dtype is None:
            dtype = torch.bfloat16 if self.device_type == "cpu" else None
        self._autocast_dtype = dtype

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """Back-propagate the scaled loss and count the iteration."""
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs: Any) -> None:
        """Unscale and clip if configured, step through the scaler, update the scale."""
        if self.clip_grad_kwargs:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grad()
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    def state_dict(self) -> dict:
        """The optimizer state dict plus ``'loss_scaler'`` (the scaler's state dict)."""
        state = super().state_dict()
        state["loss_scaler"] = self.loss_scaler.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Load optimizer and, when present, scaler state (the argument is left unchanged)."""
        state = dict(state_dict)
        scaler_state = state.pop("loss_scaler", None)
        if scaler_state is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        super().load_state_dict(state)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """The parent's ``no_sync`` context plus autocast on the wrapper's device."""
        with (
            super().optim_context(model),
            torch.autocast(device_type=self.device_type, dtype=self._autocast_dtype),
        ):
            yield
