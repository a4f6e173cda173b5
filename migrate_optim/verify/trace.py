"""What one side of a ``verify`` run observed: per-parameter settings, update steps, final values.

Both trainers (0.x in :mod:`.legacy_side`, 1.x in :mod:`.modern_side`) fill a :class:`SideTrace`
with the same normalised vocabulary, so that :mod:`.compare` can diff them field by field:

* ``params``: every parameter an optimizer holds, by its first qualified name in the model, with
  the optimizer class and the hyper-parameters of its group (only the keys the optimizer class
  takes, e.g. ``lr``, ``momentum``, ``betas``; inert group keys such as MMEngine's copied
  ``lr_mult``/``decay_mult`` do not change training and are left out);
* ``modules``: per optimizer (``''`` for a single one, else the GAN key), the clipping,
  accumulation and loss-scale settings in one normalised form (:func:`clip_spec`,
  :func:`scaler_spec`);
* ``steps``: the iterations at which each optimizer really stepped (recorded by a torch
  ``step`` post-hook, so a step skipped by a ``GradScaler`` on inf/NaN is not counted);
* ``values``: parameters and buffers after training (on CPU).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "ModuleSettings",
    "ParamSettings",
    "SideTrace",
    "StepClock",
    "clip_spec",
    "describe_optimizer",
    "jsonable",
    "parameter_names",
    "scaler_spec",
    "snapshot",
]

# Group keys that never change what an optimizer computes (bookkeeping of schedulers/constructors).
_INERT_KEYS = frozenset({"params", "initial_lr", "lr_mult", "decay_mult", "name"})


@dataclass
class ParamSettings:
    """How one parameter is optimised: its optimizer key, class and group hyper-parameters."""

    name: str
    module: str
    optimizer: str
    hyper: dict[str, Any]


@dataclass
class ModuleSettings:
    """Per-optimizer settings: clipping, accumulation, loss scale (``None`` = fp32)."""

    clip: dict[str, Any] | None = None
    accumulation: int = 1
    amp: dict[str, Any] | None = None
    optimizer: str = ""
    source: str = ""


@dataclass
class SideTrace:
    """Everything one side recorded (see the module docstring)."""

    label: str
    params: dict[str, ParamSettings] = field(default_factory=dict)
    frozen_at_build: list[str] = field(default_factory=list)
    modules: dict[str, ModuleSettings] = field(default_factory=dict)
    steps: dict[str, list[int]] = field(default_factory=dict)
    values: dict[str, torch.Tensor] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    allreduce: list[int] | None = None
    unfrozen_by_schedule: list[str] = field(default_factory=list)
    #: EMA generator state after training (``verify/ema.py``), ``ema_alt``: the 0.x variant
    #: whose first averaging copies; ``ema_cfg``: the 0.x hook or the 1.x ``ema_config``
    ema: dict[str, torch.Tensor] | None = None
    ema_alt: dict[str, torch.Tensor] | None = None
    ema_cfg: dict[str, Any] | None = None

    @classmethod
    def start(cls, label: str, model: nn.Module, notes: list[str]) -> tuple[SideTrace, set[str]]:
        """A fresh trace for one side, with the model's frozen parameters recorded.

        Returns the trace and the set of frozen names (a side checks later which of them its
        schedule unfroze).
        """
        frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
        trace = cls(label, frozen_at_build=sorted(frozen), notes=list(notes))
        return trace, frozen


class StepClock:
    """The current iteration, shared by the training loop and the optimizers' step hooks."""

    def __init__(self) -> None:
        self.iteration = 0
        self.steps: dict[str, list[int]] = {}
        self._handles: list[Any] = []

    def watch(self, optimizer: torch.optim.Optimizer, module: str) -> None:
        """Record every real ``optimizer.step()`` as ``(module, current iteration)``."""
        self.steps.setdefault(module, [])

        def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            self.steps[module].append(self.iteration)

        self._handles.append(optimizer.register_step_post_hook(hook))

    def close(self) -> None:
        """Remove the hooks (the optimizers may outlive the run)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def parameter_names(model: nn.Module) -> dict[int, str]:
    """``id(param) -> first qualified name`` (a shared parameter keeps its first name)."""
    names: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), name)
    return names


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists, dtypes and other objects as strings, floats kept."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist() if value.numel() <= 16 else f"tensor{tuple(value.shape)}"
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, torch.dtype):
        return str(value).replace("torch.", "")
    return repr(value)


def describe_optimizer(
    optimizer: torch.optim.Optimizer, module: str, names: Mapping[int, str]
) -> dict[str, ParamSettings]:
    """Per-parameter settings of ``optimizer`` (parameters named through ``names``)."""
    keys = set(optimizer.defaults) - _INERT_KEYS
    out: dict[str, ParamSettings] = {}
    for group in optimizer.param_groups:
        hyper = {k: jsonable(v) for k, v in sorted(group.items()) if k in keys}
        for param in group["params"]:
            name = names.get(id(param), f"<unnamed {tuple(param.shape)}>")
            out[name] = ParamSettings(name, module, type(optimizer).__name__, hyper)
    return out


def _defaults_of(func: Callable[..., Any]) -> dict[str, Any]:
    params = inspect.signature(func).parameters
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def clip_spec(kind: str | None, kwargs: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Clipping as ``{'type': 'norm'|'value', <all kwargs of the torch function>}`` or None.

    Defaults of :func:`torch.nn.utils.clip_grad_norm_` / ``clip_grad_value_`` are filled in so
    that ``dict(max_norm=35)`` and ``dict(max_norm=35, norm_type=2)`` compare equal.
    """
    if kwargs is None or kind is None:
        return None
    func = torch.nn.utils.clip_grad_norm_ if kind == "norm" else torch.nn.utils.clip_grad_value_
    spec: dict[str, Any] = {"type": kind}
    for key, value in {**_defaults_of(func), **dict(kwargs)}.items():
        spec[key] = (
            float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        )
    return jsonable(spec)


def scaler_spec(
    scaler: torch.amp.GradScaler | None, static: float | None, dtype: torch.dtype | None
) -> dict[str, Any] | None:
    """Loss scaling + autocast dtype, normalised: static scale or the dynamic scaler's settings."""
    if scaler is None:
        return None
    spec: dict[str, Any] = {"dtype": jsonable(dtype)}
    if static is not None:
        spec.update(mode="static", scale=float(static))
    else:
        spec.update(
            mode="dynamic",
            init_scale=float(scaler._init_scale),
            growth_factor=float(scaler._growth_factor),
            backoff_factor=float(scaler._backoff_factor),
            growth_interval=int(scaler._growth_interval),
        )
    return spec


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies (on CPU, fp32 kept) of every parameter and buffer, by qualified name."""
    out: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        out[name] = param.detach().to("cpu", copy=True)
    for name, buf in model.named_buffers():
        out[f"{name}"] = buf.detach().to("cpu", copy=True)
    return out
