"""MMEngine 0.10.7's parameter schedulers (``mmengine.optim.scheduler``), our own implementation.

Same names, arguments and per-step values as MMEngine (facts from
``mmengine==0.10.7: mmengine/optim/scheduler/param_scheduler.py``, ``lr_scheduler.py``,
``momentum_scheduler.py``, ``registry/build_functions.py :: build_scheduler_from_cfg`` and
``runner/runner.py :: _build_param_scheduler / build_param_scheduler``;
docs/schedules.md#two-execution-models):

* a scheduler writes ``param_groups[i][param_name]``; it records ``initial_<name>`` in each group
  (``setdefault``, so the first scheduler of a chain fixes the base values) and calls
  :meth:`_ParamScheduler.step` once when constructed (global step 0). The runner then steps
  ``by_epoch=False`` schedulers after every iteration and ``by_epoch=True`` ones after every
  epoch (``ParamSchedulerHook``); a scheduler acts at global step ``g`` iff
  ``begin <= g < end``, with ``last_step = g - begin``. The value written at step ``g`` is the
  value used by iteration (epoch) ``g``.
* values are *chainable*: most ``_get_value`` implementations update the group's current value
  recursively, so schedulers acting on the same group compose (warmup × decay).
* ``build_iter_from_epoch`` (``convert_to_iter_based=True``) multiplies ``begin``, ``end`` and
  the period arguments by the loader length.

Works on anything with ``param_groups`` (a list of dicts) — a torch optimizer or a plain stand-in
(:class:`GroupsOptimizer`) for fast whole-schedule tracing; momentum schedulers also read the
optimizer's ``defaults``. No torch import. MMEngine's optimizer ``step`` counter and its
call-order warnings are not reproduced (they never change a value). MMagic's
``LinearLrInterval`` (docs/schedules.md#linearlrinterval) is included because MMagic configs
name it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from migrate_optim.runtime.registry import Registry

__all__ = [
    "INF",
    "PARAM_SCHEDULERS",
    "ConstantLR",
    "ConstantMomentum",
    "ConstantParamScheduler",
    "CosineAnnealingLR",
    "CosineAnnealingMomentum",
    "CosineAnnealingParamScheduler",
    "CosineRestartLR",
    "CosineRestartMomentum",
    "CosineRestartParamScheduler",
    "ExponentialLR",
    "ExponentialMomentum",
    "ExponentialParamScheduler",
    "GroupsOptimizer",
    "LinearLR",
    "LinearLrInterval",
    "LinearMomentum",
    "LinearParamScheduler",
    "MultiStepLR",
    "MultiStepMomentum",
    "MultiStepParamScheduler",
    "OneCycleLR",
    "OneCycleParamScheduler",
    "PolyLR",
    "PolyMomentum",
    "PolyParamScheduler",
    "ScheduleLoop",
    "StepLR",
    "StepMomentum",
    "StepParamScheduler",
    "build_param_scheduler",
    "build_scheduler",
]

#: MMEngine's "no end" (``int(1e9)``).
INF = int(1e9)

#: name → scheduler class, like ``mmengine.registry.PARAM_SCHEDULERS``.
PARAM_SCHEDULERS = Registry("parameter scheduler")


class GroupsOptimizer:
    """A stand-in optimizer: only ``param_groups`` (dicts) and ``defaults``.

    Enough for every scheduler and legacy hook here; tracing a 160k-iteration schedule on it
    costs no tensor work.
    """

    def __init__(self, param_groups: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]):
        self.param_groups = [dict(g) for g in param_groups]
        self.defaults = dict(defaults)

    def __repr__(self) -> str:
        return f"GroupsOptimizer({self.param_groups!r})"


def _epoch_length(epoch_length: Any) -> int:
    if not isinstance(epoch_length, int) or isinstance(epoch_length, bool) or epoch_length <= 0:
        raise ValueError(f"`epoch_length` must be a positive integer, but got {epoch_length}.")
    return epoch_length


class _ParamScheduler:
    """Base class: range handling, base values and the step counter (MMEngine semantics).

    Subclasses implement :meth:`_get_value` (the values for the current ``last_step``) and may
    override :meth:`_iter_args` to scale their period arguments for ``convert_to_iter_based``.
    """

    #: keyword arguments holding a step count, scaled by ``build_iter_from_epoch``.
    _period_args: tuple[str, ...] = ()

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(
                f"``optimizer`` should be an Optimizer, but got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.param_name = param_name
        if end <= begin:
            raise ValueError(f"end should be larger than begin, but got begin={begin}, end={end}")
        self.begin = begin
        self.end = end
        self.by_epoch = by_epoch
        if not isinstance(last_step, int) or last_step < -1:
            raise ValueError(f"last_step must be an int >= -1, got {last_step!r}")
        key = f"initial_{param_name}"
        if last_step == -1:
            for group in optimizer.param_groups:
                group.setdefault(key, group[param_name])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if key not in group:
                    raise KeyError(
                        f"param '{key}' is not specified in param_groups[{i}] when resuming "
                        "an optimizer"
                    )
        self.base_values = [group[key] for group in optimizer.param_groups]
        self.last_step = last_step
        self._global_step = -1
        self.verbose = verbose
        self._last_value: list[Any] = []
        self.step()

    # -- MMEngine API --------------------------------------------------------------------------
    @classmethod
    def build_iter_from_epoch(
        cls,
        *args: Any,
        begin: int = 0,
        end: int = INF,
        by_epoch: bool = True,
        epoch_length: int | None = None,
        **kwargs: Any,
    ) -> _ParamScheduler:
        """An iteration-based instance from epoch-based arguments (``convert_to_iter_based``)."""
        if not by_epoch:
            raise ValueError(
                "Only epoch-based kwargs whose `by_epoch=True` can be converted to iter-based."
            )
        length = _epoch_length(epoch_length)
        for name in cls._period_args:
            if kwargs.get(name) is not None:
                kwargs[name] = cls._scale_period(name, kwargs[name], length)
        begin = int(begin * length)
        if end != INF:
            end = int(end * length)
        return cls(*args, begin=begin, end=end, by_epoch=False, **kwargs)

    @staticmethod
    def _scale_period(name: str, value: Any, length: int) -> Any:
        if isinstance(value, (list, tuple)):
            return [v * length for v in value]
        return value * length

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (MMEngine's checkpoint content)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.__dict__.update(state_dict)

    def get_last_value(self) -> list[Any]:
        """The values of every group after the last :meth:`step`."""
        return self._last_value

    def _get_value(self) -> list[Any]:
        raise NotImplementedError

    def _current(self) -> list[Any]:
        name = self.param_name
        return [group[name] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance the global step; inside ``[begin, end)`` write the next values."""
        self._global_step += 1
        groups = self.optimizer.param_groups
        name = self.param_name
        if self.begin <= self._global_step < self.end:
            self.last_step += 1
            values = self._get_value()
            for group, value in zip(groups, values):
                group[name] = value
            # One value per group, just written: the snapshot MMEngine re-reads.
            self._last_value = list(values)
        else:
            self._last_value = [group[name] for group in groups]


def _register(cls: type) -> type:
    PARAM_SCHEDULERS.register_module(module=cls)
    return cls


@_register
class StepParamScheduler(_ParamScheduler):
    """Multiply by ``gamma`` every ``step_size`` steps (chainable)."""

    _period_args = ("step_size",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        step_size: int,
        gamma: float = 0.1,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        if self.last_step == 0 or self.last_step % self.step_size != 0:
            return self._current()
        return [v * self.gamma for v in self._current()]


@_register
class MultiStepParamScheduler(_ParamScheduler):
    """Multiply by ``gamma`` (per occurrence) at each milestone (chainable)."""

    _period_args = ("milestones",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        milestones: Sequence[int],
        gamma: float = 0.1,
        last_step: int = -1,
        begin: int = 0,
        end: int = INF,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        hits = self.milestones.get(self.last_step, 0)
        if not hits:
            return self._current()
        factor = self.gamma**hits
        return [v * factor for v in self._current()]


@_register
class ConstantParamScheduler(_ParamScheduler):
    """Multiply by ``factor`` at the first step, divide it out again at ``end - 1``."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        factor: float = 1.0 / 3,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor should between 0 and 1.")
        self.factor = factor
        self.total_iters = end - begin - 1
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        if self.last_step == 0:
            return [v * self.factor for v in self._current()]
        if self.last_step == self.total_iters:
            return [v * (1.0 / self.factor) for v in self._current()]
        return self._current()


@_register
class ExponentialParamScheduler(_ParamScheduler):
    """Multiply by ``gamma`` every step after the first (chainable)."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        gamma: float,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        if self.last_step == 0:
            return self._current()
        return [v * self.gamma for v in self._current()]


@_register
class CosineAnnealingParamScheduler(_ParamScheduler):
    """Cosine annealing towards ``eta_min`` (or ``base * eta_min_ratio``), recursive form."""

    _period_args = ("T_max",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        T_max: int | None = None,  # noqa: N803 - MMEngine's argument name
        eta_min: float | None = None,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
        eta_min_ratio: float | None = None,
    ) -> None:
        if eta_min is None and eta_min_ratio is None:
            eta_min = 0.0
        if (eta_min is None) == (eta_min_ratio is None):
            raise ValueError("Either `eta_min` or `eta_min_ratio should be specified")
        self.T_max = T_max or (end - begin)
        self.eta_min = eta_min
        self.eta_min_ratio = eta_min_ratio
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _floor(self, base: float) -> float:
        return self.eta_min if self.eta_min_ratio is None else base * self.eta_min_ratio

    def _get_value(self) -> list[Any]:
        t, period = self.last_step, self.T_max
        current = self._current()
        if t == 0:
            return current
        if (t - 1 - period) % (2 * period) == 0:
            # At an odd multiple of T_max the ratio below divides by zero; step up instead.
            bump = (1 - math.cos(math.pi / period)) / 2
            return [
                v + (base - self._floor(base)) * bump for base, v in zip(self.base_values, current)
            ]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        out = []
        for base, v in zip(self.base_values, current):
            floor = self._floor(base)
            out.append(ratio * (v - floor) + floor)
        return out


@_register
class LinearParamScheduler(_ParamScheduler):
    """Factor moving linearly from ``start_factor`` to ``end_factor`` over ``end - begin - 1``
    steps, applied recursively (chainable)."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if start_factor > 1.0 or start_factor < 0:
            raise ValueError("Starting multiplicative factor should between 0 and 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor should between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = end - begin - 1
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        if self.last_step == 0:
            return [v * self.start_factor for v in self._current()]
        delta = self.end_factor - self.start_factor
        factor = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_step - 1) * delta)
        return [v * factor for v in self._current()]


@_register
class PolyParamScheduler(_ParamScheduler):
    """Polynomial decay towards ``eta_min`` over ``end - begin - 1`` steps (recursive)."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        eta_min: float = 0,
        power: float = 1.0,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        self.eta_min = eta_min
        self.power = power
        self.total_iters = end - begin - 1
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        if self.last_step == 0:
            return self._current()
        coeff = (1 - 1 / (self.total_iters - self.last_step + 1)) ** self.power
        floor, name = self.eta_min, self.param_name
        return [(g[name] - floor) * coeff + floor for g in self.optimizer.param_groups]


def _annealing_cos(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _annealing_linear(start: float, end: float, pct: float) -> float:
    return (end - start) * pct + start


@_register
class OneCycleParamScheduler(_ParamScheduler):
    """The 1cycle policy (not chainable): sets ``initial_/max_/min_<name>`` in each group."""

    _period_args = ("total_steps",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        eta_max: float | Sequence[float] = 0,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if param_name != "lr":
            raise ValueError(
                f"OneCycle only works for learning rate updating, but got {param_name}"
            )
        self.eta_max = eta_max
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
            self.total_steps = total_steps
        else:
            self.total_steps = end - begin
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f'anneal_strategy must by one of "cos" or "linear", instead got {anneal_strategy}'
            )
        self.anneal_func: Callable[[float, float, float], float] = (
            _annealing_cos if anneal_strategy == "cos" else _annealing_linear
        )
        n = self.total_steps
        low, high, top = f"initial_{param_name}", f"max_{param_name}", f"min_{param_name}"
        first = float(pct_start * n) - 1
        if three_phase:
            self._phases = [
                (first, low, high),
                (float(2 * pct_start * n) - 2, high, low),
                (n - 1, low, top),
            ]
        else:
            self._phases = [(first, low, high), (n - 1, high, top)]
        groups = optimizer.param_groups
        if isinstance(eta_max, (list, tuple)):
            if len(eta_max) != len(groups):
                raise ValueError(
                    f"expected {len(groups)} values for max_{param_name}, got {len(eta_max)}"
                )
            maxima = list(eta_max)
        else:
            maxima = [eta_max] * len(groups)
        if last_step == -1:
            for group, peak in zip(groups, maxima):
                group[low] = peak / div_factor
                group[high] = peak
                group[top] = group[low] / final_div_factor
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    def _get_value(self) -> list[Any]:
        t = self.last_step
        if t > self.total_steps:
            raise ValueError(
                f"Tried to step {t + 1} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        out = []
        last = len(self._phases) - 1
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (stop, src, dst) in enumerate(self._phases):
                if t <= stop or i == last:
                    value = self.anneal_func(group[src], group[dst], (t - start) / (stop - start))
                    break
                start = stop
            out.append(value)
        return out


@_register
class CosineRestartParamScheduler(_ParamScheduler):
    """Cosine annealing with restarts at ``base * restart_weight`` (recursive inside a period;
    past the last period the value is held)."""

    _period_args = ("periods",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        periods: Sequence[int],
        restart_weights: Sequence[float] = (1,),
        eta_min: float | None = None,
        eta_min_ratio: float | None = None,
        begin: int = 0,
        end: int = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        verbose: bool = False,
    ) -> None:
        if (eta_min is None) == (eta_min_ratio is None):
            raise ValueError("Either `eta_min` or `eta_min_ratio` should be specified")
        if len(periods) != len(restart_weights):
            raise ValueError("periods and restart_weights should have the same length.")
        self.periods = list(periods)
        self.eta_min = eta_min
        self.eta_min_ratio = eta_min_ratio
        self.restart_weights = list(restart_weights)
        total = 0
        self.cumulative_periods = []
        for p in self.periods:
            total += p
            self.cumulative_periods.append(total)
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch, verbose)

    @staticmethod
    def get_position_from_periods(iteration: int, cumulative_periods: Sequence[int]) -> int | None:
        """Index of the first cumulative period end beyond ``iteration`` (None past the last)."""
        for i, period in enumerate(cumulative_periods):
            if iteration < period:
                return i
        return None

    def _get_value(self) -> list[Any]:
        idx = self.get_position_from_periods(self.last_step, self.cumulative_periods)
        current = self._current()
        if idx is None:
            return current
        weight = self.restart_weights[idx]
        restart = 0 if idx == 0 else self.cumulative_periods[idx - 1]
        period = self.periods[idx]
        t = self.last_step - restart
        out = []
        for base, v in zip(self.base_values, current):
            if t == 0:
                out.append(base * weight)
                continue
            floor = self.eta_min if self.eta_min_ratio is None else base * self.eta_min_ratio
            ratio = (1 + math.cos(math.pi * t / period)) / (
                1 + math.cos(math.pi * (t - 1) / period)
            )
            out.append(ratio * (v - floor) + floor)
        return out


# -- learning-rate and momentum front ends -----------------------------------------------------


class _LRMixin:
    def __init__(self, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(optimizer, "lr", *args, **kwargs)  # type: ignore[call-arg]


class _MomentumMixin:
    """Schedules ``momentum``; on Adam-style optimizers (``betas`` in ``defaults``) it keeps a
    ``momentum`` entry in each group and copies it into ``betas[0]`` after every step."""

    def __init__(self, optimizer: Any, *args: Any, **kwargs: Any) -> None:
        defaults = getattr(optimizer, "defaults", {})
        self.use_betas = False
        if "momentum" not in defaults:
            if "betas" not in defaults:
                raise ValueError("optimizer must support momentum when using momentum scheduler")
            self.use_betas = True
            for group in optimizer.param_groups:
                group["momentum"] = group["betas"][0]
        super().__init__(optimizer, "momentum", *args, **kwargs)  # type: ignore[call-arg]

    def step(self) -> None:
        """Step, then mirror ``momentum`` into ``betas[0]`` for Adam-style optimizers."""
        super().step()  # type: ignore[misc]
        if self.use_betas:
            for group in self.optimizer.param_groups:  # type: ignore[attr-defined]
                group["betas"] = (group["momentum"], group["betas"][1])


def _front(mixin: type, base: type, name: str) -> type:
    cls = type(name, (mixin, base), {"__doc__": f"MMEngine's ``{name}``: {base.__doc__}"})
    cls.__module__ = __name__
    return _register(cls)


ConstantLR = _front(_LRMixin, ConstantParamScheduler, "ConstantLR")
CosineAnnealingLR = _front(_LRMixin, CosineAnnealingParamScheduler, "CosineAnnealingLR")
ExponentialLR = _front(_LRMixin, ExponentialParamScheduler, "ExponentialLR")
LinearLR = _front(_LRMixin, LinearParamScheduler, "LinearLR")
MultiStepLR = _front(_LRMixin, MultiStepParamScheduler, "MultiStepLR")
StepLR = _front(_LRMixin, StepParamScheduler, "StepLR")
PolyLR = _front(_LRMixin, PolyParamScheduler, "PolyLR")
OneCycleLR = _front(_LRMixin, OneCycleParamScheduler, "OneCycleLR")
CosineRestartLR = _front(_LRMixin, CosineRestartParamScheduler, "CosineRestartLR")

ConstantMomentum = _front(_MomentumMixin, ConstantParamScheduler, "ConstantMomentum")
CosineAnnealingMomentum = _front(
    _MomentumMixin, CosineAnnealingParamScheduler, "CosineAnnealingMomentum"
)
ExponentialMomentum = _front(_MomentumMixin, ExponentialParamScheduler, "ExponentialMomentum")
LinearMomentum = _front(_MomentumMixin, LinearParamScheduler, "LinearMomentum")
MultiStepMomentum = _front(_MomentumMixin, MultiStepParamScheduler, "MultiStepMomentum")
StepMomentum = _front(_MomentumMixin, StepParamScheduler, "StepMomentum")
PolyMomentum = _front(_MomentumMixin, PolyParamScheduler, "PolyMomentum")
CosineRestartMomentum = _front(_MomentumMixin, CosineRestartParamScheduler, "CosineRestartMomentum")


@_register
class LinearLrInterval(LinearLR):  # type: ignore[misc, valid-type]
    """MMagic 1.2.0's ``LinearLrInterval`` (docs/schedules.md#linearlrinterval).

    Its first in-range step multiplies the current lr by ``start_factor``; every later step sets
    the *absolute* lr ``start_factor + (end_factor - start_factor) * f`` for every group, with
    ``f = (max(0, progress - begin) // interval) / ((end - begin) // interval)`` and ``progress``
    the MessageHub's ``iter``/``epoch``: the iteration (epoch) that has just finished, i.e.
    ``global step - 1`` in a runner. ``progress`` can be overridden with a callable
    (``progress_fn``) for use outside a runner.
    """

    def __init__(
        self, *args: Any, interval: int = 1, progress_fn: Callable[[], int] | None = None, **kw: Any
    ) -> None:
        self.interval = interval
        self.progress_fn = progress_fn
        super().__init__(*args, **kw)

    def _get_value(self) -> list[Any]:
        if self.last_step == 0:
            return [v * self.start_factor for v in self._current()]
        progress = self.progress_fn() if self.progress_fn else self._global_step - 1
        f = (max(0, progress - self.begin) // self.interval) / (
            (self.end - self.begin) // self.interval
        )
        value = self.start_factor + (self.end_factor - self.start_factor) * f
        return [value for _ in self.optimizer.param_groups]


# -- building, as MMEngine's registry and runner do ---------------------------------------------


def build_scheduler(
    cfg: Mapping[str, Any], optimizer: Any, epoch_length: int | None = None
) -> _ParamScheduler:
    """One scheduler from ``cfg`` (``build_scheduler_from_cfg``): ``convert_to_iter_based=True``
    builds through ``build_iter_from_epoch`` with ``epoch_length``."""
    args = dict(cfg)
    args.pop("_scope_", None)
    args.setdefault("optimizer", optimizer)
    if args.pop("convert_to_iter_based", False):
        kind = args.pop("type")
        cls = PARAM_SCHEDULERS.get(kind) if isinstance(kind, str) else kind
        if cls is None:
            raise KeyError(f"{kind} is not in the {PARAM_SCHEDULERS.name} registry")
        if epoch_length is None or not args.get("by_epoch", True):
            raise ValueError(
                "Only epoch-based parameter scheduler can be converted to iter-based, and "
                "`epoch_length` should be set"
            )
        return cls.build_iter_from_epoch(epoch_length=epoch_length, **args)
    return PARAM_SCHEDULERS.build(args)


def _build_list(
    cfg: Any,
    optimizer: Any,
    max_epochs: int | None,
    max_iters: int | None,
    epoch_length: int | None,
) -> list[_ParamScheduler]:
    items = cfg if isinstance(cfg, Sequence) and not isinstance(cfg, (str, Mapping)) else [cfg]
    built = []
    for item in items:
        if isinstance(item, _ParamScheduler):
            built.append(item)
            continue
        if not isinstance(item, Mapping):
            raise TypeError(f"scheduler should be a _ParamScheduler object or dict, but got {item}")
        item = dict(item)
        if max_epochs is not None and max_iters is not None:
            item.setdefault("end", max_epochs if item.get("by_epoch", True) else max_iters)
        built.append(build_scheduler(item, optimizer, epoch_length))
    return built


def build_param_scheduler(
    cfg: Any,
    optimizer: Any,
    *,
    max_epochs: int | None = None,
    max_iters: int | None = None,
    epoch_length: int | None = None,
) -> list[_ParamScheduler] | dict[str, list[_ParamScheduler]]:
    """Build ``param_scheduler`` the way MMEngine's ``Runner.build_param_scheduler`` does.

    ``optimizer``: one optimizer (→ a list of schedulers) or a mapping of wrapper name →
    optimizer, as an ``OptimWrapperDict`` (→ a dict of lists: a dict ``cfg`` without ``type`` is
    keyed by wrapper name, anything else is built once per wrapper). With a train loop known
    (``max_epochs`` and ``max_iters`` given; an iteration loop has ``max_epochs=1``), a missing
    ``end`` is filled with ``max_epochs`` (``by_epoch``) or ``max_iters``; ``epoch_length`` is
    ``len(train_dataloader)`` for ``convert_to_iter_based``.
    """
    if isinstance(optimizer, Mapping):
        out: dict[str, list[_ParamScheduler]] = {}
        for name, opt in optimizer.items():
            item = cfg[name] if isinstance(cfg, Mapping) and "type" not in cfg else cfg
            out[name] = _build_list(item, opt, max_epochs, max_iters, epoch_length)
        return out
    return _build_list(cfg, optimizer, max_epochs, max_iters, epoch_length)


class ScheduleLoop:
    """``param_scheduler`` driven as MMEngine's runner and ``ParamSchedulerHook`` drive it.

    ``epoch_loop``: ``EpochBasedTrainLoop`` (``max_epochs`` epochs of ``iters_per_epoch``) or
    ``IterBasedTrainLoop`` (``max_iters``; its ``max_epochs`` is 1, so ``by_epoch`` schedulers
    get ``end=1`` by default and never step after construction). Schedulers are built when
    :meth:`iterations` starts (``Runner.train`` builds them before the loop: their step 0 is
    the value of iteration 0); after each iteration the iteration-based ones step, after each
    epoch the epoch-based ones.
    """

    def __init__(
        self,
        optimizer: Any,
        param_scheduler: Any,
        *,
        epoch_loop: bool,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        iters_per_epoch: int = 1,
    ) -> None:
        if epoch_loop:
            if max_epochs is None:
                raise ValueError("EpochBasedTrainLoop needs max_epochs")
            max_iters = max_epochs * iters_per_epoch
        else:
            if max_iters is None:
                raise ValueError("IterBasedTrainLoop needs max_iters")
            max_epochs = 1
        self.optimizer = optimizer
        self.param_scheduler = param_scheduler
        self.epoch_loop = epoch_loop
        self.max_epochs = max_epochs
        self.max_iters = max_iters
        self.iters_per_epoch = iters_per_epoch

    def build(self) -> list[_ParamScheduler]:
        """Build the schedulers (writing the values of iteration 0); all of them, flattened."""
        if self.param_scheduler is None:
            return []
        built = build_param_scheduler(
            self.param_scheduler,
            self.optimizer,
            max_epochs=self.max_epochs,
            max_iters=self.max_iters,
            epoch_length=self.iters_per_epoch,
        )
        if isinstance(built, dict):
            return [s for items in built.values() for s in items]
        return built

    def iterations(self, limit: int | None = None) -> Iterator[int]:
        """Yield each iteration once its values are in place, stepping as the runner does."""
        schedulers = self.build()
        per_iter = [s for s in schedulers if not s.by_epoch]
        per_epoch = [s for s in schedulers if s.by_epoch]
        total = self.max_iters if limit is None else min(limit, self.max_iters)
        length = self.iters_per_epoch
        for it in range(total):
            yield it
            for scheduler in per_iter:
                scheduler.step()
            if per_iter and per_iter[0]._global_step >= per_iter[0].end:
                # Past its end a scheduler never writes again; stop stepping it (only its own
                # counters would still move). Checked on the first one: cheap and enough for the
                # usual warmup-first chains.
                per_iter = [s for s in per_iter if s._global_step < s.end]
            if self.epoch_loop and (it + 1) % length == 0:
                for scheduler in per_epoch:
                    scheduler.step()
