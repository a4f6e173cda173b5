"""mmcv 1.7.2's ``LrUpdaterHook`` / ``MomentumUpdaterHook`` families and their runner call order.

Our own implementation of what an 0.x ``lr_config``/``momentum_config`` did (facts from
``mmcv==1.7.2: mmcv/runner/hooks/lr_updater.py``, ``momentum_updater.py``,
``base_runner.py :: register_lr_hook/register_momentum_hook``, ``epoch_based_runner.py``,
``iter_based_runner.py``; ``mmgen==0.7.3: mmgen/core/scheduler/lr_updater.py`` and
``mmedit==0.16.1: mmedit/core/scheduler/lr_updater.py`` for the ``Linear`` policy;
docs/schedules.md#two-execution-models):

* hooks are *stateless*: ``before_run`` records each group's ``initial_lr`` as its base value;
  ``by_epoch=True`` hooks compute ``get_lr(runner.epoch)`` in ``before_train_epoch``,
  ``by_epoch=False`` hooks ``get_lr(runner.iter)`` in ``before_train_iter``;
* a warmup multiplies the regular lr of iteration ``t < warmup_iters`` by ``k(t)`` (constant
  ``r``, linear ``r + (1-r)·t/W``, exp ``r^(1-t/W)``); momentum warmups *divide* by it;
  ``warmup_by_epoch`` turns ``warmup_iters`` epochs into iterations at the first
  ``before_train_epoch``;
* ``IterBasedRunner`` calls ``before_epoch`` (not ``before_train_epoch``) once, so a
  ``by_epoch=True`` hook in an iteration runner never changes a value, and ``warmup_by_epoch``
  fails there (mmcv asserts ``warmup_iters`` is an int). Its ``register_training_hooks``
  defaults ``lr_config.by_epoch`` to False, not ``momentum_config``'s.

:class:`LegacySchedule` runs the hooks of one config over a whole schedule on any optimizer (a
torch optimizer, a dict of them for GANs, or :class:`~migrate_optim.runtime.schedulers.
GroupsOptimizer` stand-ins). Torch-free.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from migrate_optim.curves import annealing_cos, annealing_linear, warmup_factor

__all__ = [
    "LR_HOOKS",
    "MOMENTUM_HOOKS",
    "LegacySchedule",
    "LegacyScheduleError",
    "LrUpdaterHook",
    "MomentumUpdaterHook",
    "ScheduleRunner",
    "annealing_cos",
    "annealing_linear",
    "build_lr_hook",
    "build_momentum_hook",
]


class LegacyScheduleError(Exception):
    """The 0.x schedule cannot run: mmcv would raise, or the policy is not modelled here."""


def format_param(name: str, optim: Any, param: Any) -> list[Any]:
    """One value per param group of ``optim``: a number, a per-group list, or a dict by name."""
    if isinstance(param, numbers.Number):
        return [param] * len(optim.param_groups)
    if isinstance(param, (list, tuple)):
        if len(param) != len(optim.param_groups):
            raise ValueError(
                f"expected {len(optim.param_groups)} values for {name}, got {len(param)}"
            )
        return list(param)
    if name not in param:
        raise KeyError(f"{name} is not found in {param.keys()}")
    return param[name]


def _type_name(optim: Any) -> str:
    return getattr(optim, "type_name", None) or type(optim).__name__


@dataclass
class ScheduleRunner:
    """The runner state the hooks read: optimizer(s), ``epoch``, ``iter``, the run length and
    the loader length (``data_loader`` only needs ``len``)."""

    optimizer: Any
    max_iters: int
    max_epochs: int | None = None
    epoch: int = 0
    iter: int = 0
    data_loader: Any = None


def _optimizers(runner: Any) -> list[tuple[str | None, Any]]:
    opt = runner.optimizer
    if isinstance(opt, Mapping):
        return list(opt.items())
    return [(None, opt)]


def _per_key(runner: Any, fn: Callable[[str | None, Any], list[Any]]) -> Any:
    if isinstance(runner.optimizer, Mapping):
        return {k: fn(k, o) for k, o in runner.optimizer.items()}
    return fn(None, runner.optimizer)


def _map(values: Any, fn: Callable[[list[Any]], list[Any]]) -> Any:
    if isinstance(values, dict):
        return {k: fn(v) for k, v in values.items()}
    return fn(values)


def _progress(hook: Any, runner: Any) -> tuple[int, int]:
    if hook.by_epoch:
        return runner.epoch, runner.max_epochs
    return runner.iter, runner.max_iters


# ---------------------------------------------------------------------------------------------
# learning rate


class LrUpdaterHook:
    """Base of the lr hooks: base lrs, warmup, and the ``before_*`` call points."""

    priority = "VERY_HIGH"

    def __init__(
        self,
        by_epoch: bool = True,
        warmup: str | None = None,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.1,
        warmup_by_epoch: bool = False,
    ) -> None:
        if warmup is not None:
            if warmup not in ("constant", "linear", "exp"):
                raise ValueError(
                    f'"{warmup}" is not a supported type for warming up, valid types are '
                    '"constant", "linear" and "exp"'
                )
            if not warmup_iters > 0:
                raise ValueError('"warmup_iters" must be a positive integer')
            if not 0 < warmup_ratio <= 1.0:
                raise ValueError('"warmup_ratio" must be in range (0,1]')
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        self.warmup_epochs: int | None = warmup_iters if warmup_by_epoch else None
        self.warmup_iters: int | None = None if warmup_by_epoch else warmup_iters
        self.base_lr: Any = []
        self.regular_lr: Any = []

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """The regular (un-warmed) lr of one group."""
        raise NotImplementedError

    def _set_lr(self, runner: Any, lr_groups: Any) -> None:
        for key, optim in _optimizers(runner):
            values = lr_groups[key] if key is not None else lr_groups
            for group, lr in zip(optim.param_groups, values):
                group["lr"] = lr

    def get_regular_lr(self, runner: Any) -> Any:
        """Regular lr of every group (a dict of lists for a dict of optimizers)."""
        if isinstance(runner.optimizer, Mapping):
            return {k: [self.get_lr(runner, b) for b in self.base_lr[k]] for k in runner.optimizer}
        return [self.get_lr(runner, b) for b in self.base_lr]

    def _warmup_factor(self, cur_iter: int) -> float:
        return warmup_factor(self.warmup, self.warmup_ratio, self.warmup_iters, cur_iter)

    def get_warmup_lr(self, cur_iter: int) -> Any:
        """The regular lr times the warmup factor of ``cur_iter``."""
        if self.warmup == "linear":
            # mmcv computes lr * (1 - k) with k = (1 - t/W)(1 - r); keep its rounding.
            k = (1 - cur_iter / self.warmup_iters) * (1 - self.warmup_ratio)
            return _map(self.regular_lr, lambda lrs: [lr * (1 - k) for lr in lrs])
        factor = self._warmup_factor(cur_iter)
        return _map(self.regular_lr, lambda lrs: [lr * factor for lr in lrs])

    def before_run(self, runner: Any) -> None:
        """Record ``initial_lr`` (setdefault) of every group as its base lr."""

        def bases(key: str | None, optim: Any) -> list[float]:
            for group in optim.param_groups:
                group.setdefault("initial_lr", group["lr"])
            return [group["initial_lr"] for group in optim.param_groups]

        self.base_lr = _per_key(runner, bases)

    def before_train_epoch(self, runner: Any) -> None:
        """Resolve ``warmup_by_epoch``; by-epoch hooks set the epoch's regular lr."""
        if self.warmup_iters is None:
            self.warmup_iters = self.warmup_epochs * len(runner.data_loader)
        if not self.by_epoch:
            return
        self.regular_lr = self.get_regular_lr(runner)
        self._set_lr(runner, self.regular_lr)

    def before_train_iter(self, runner: Any) -> None:
        """By-iteration hooks set the regular or warmed lr; by-epoch hooks only warm up."""
        cur_iter = runner.iter
        if (
            not self.by_epoch
            and type(runner.optimizer) is not dict
            and (
                self.warmup is None
                or (type(self.warmup_iters) is int and cur_iter >= self.warmup_iters)
            )
        ):
            # Fast path (one optimizer, past any warmup): the same values as below.
            lrs = self.regular_lr = [self.get_lr(runner, b) for b in self.base_lr]
            for group, lr in zip(runner.optimizer.param_groups, lrs):
                group["lr"] = lr
            return
        if not isinstance(self.warmup_iters, int):
            raise LegacyScheduleError(
                "warmup_by_epoch=True needs an EpochBasedRunner: mmcv's before_train_iter "
                "asserts warmup_iters is an int (it is only set in before_train_epoch)"
            )
        if not self.by_epoch:
            self.regular_lr = self.get_regular_lr(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                self._set_lr(runner, self.regular_lr)
            else:
                self._set_lr(runner, self.get_warmup_lr(cur_iter))
        elif self.warmup is None or cur_iter > self.warmup_iters:
            return
        elif cur_iter == self.warmup_iters:
            self._set_lr(runner, self.regular_lr)
        else:
            self._set_lr(runner, self.get_warmup_lr(cur_iter))


class FixedLrUpdaterHook(LrUpdaterHook):
    """``policy='fixed'``: the base lr (warmup still applies)."""

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """The base lr."""
        return base_lr


def _step_exponent(step: int | list[int], progress: int) -> int:
    if isinstance(step, int):
        return progress // step
    for i, s in enumerate(step):
        if progress < s:
            return i
    return len(step)


def _check_step(step: Any) -> None:
    if isinstance(step, list):
        if not all(isinstance(s, int) and s > 0 for s in step):
            raise ValueError(f'"step" must be a list of positive ints, got {step!r}')
    elif isinstance(step, int):
        if step <= 0:
            raise ValueError(f'"step" must be positive, got {step}')
    else:
        raise TypeError('"step" must be a list or integer')


class StepLrUpdaterHook(LrUpdaterHook):
    """``policy='step'``: ``base·gamma^k`` (k: milestones passed, or ``progress // step``),
    clipped below at ``min_lr``."""

    def __init__(
        self, step: int | list[int], gamma: float = 0.1, min_lr: float | None = None, **kwargs: Any
    ) -> None:
        _check_step(step)
        self.step = step
        self.gamma = gamma
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Decayed lr of one group."""
        progress = runner.epoch if self.by_epoch else runner.iter
        lr = base_lr * self.gamma ** _step_exponent(self.step, progress)
        return max(lr, self.min_lr) if self.min_lr is not None else lr


class ExpLrUpdaterHook(LrUpdaterHook):
    """``policy='exp'``: ``base·gamma^progress``."""

    def __init__(self, gamma: float, **kwargs: Any) -> None:
        self.gamma = gamma
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Decayed lr of one group."""
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * self.gamma**progress


class PolyLrUpdaterHook(LrUpdaterHook):
    """``policy='poly'``: ``(base-min_lr)·(1-progress/max)^power + min_lr``."""

    def __init__(self, power: float = 1.0, min_lr: float = 0.0, **kwargs: Any) -> None:
        self.power = power
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Decayed lr of one group."""
        progress, total = _progress(self, runner)
        coeff = (1 - progress / total) ** self.power
        return (base_lr - self.min_lr) * coeff + self.min_lr


class InvLrUpdaterHook(LrUpdaterHook):
    """``policy='inv'``: ``base·(1+gamma·progress)^-power``."""

    def __init__(self, gamma: float, power: float = 1.0, **kwargs: Any) -> None:
        self.gamma = gamma
        self.power = power
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Decayed lr of one group."""
        progress = runner.epoch if self.by_epoch else runner.iter
        return base_lr * (1 + self.gamma * progress) ** (-self.power)


def _target(hook: Any, base: float, absolute: str, ratio: str) -> float:
    value = getattr(hook, ratio)
    return base * value if value is not None else getattr(hook, absolute)


def _one_of(a: Any, b: Any, names: str) -> None:
    if (a is None) == (b is None):
        raise ValueError(f"exactly one of {names} must be given")


class _AnnealingLrHook(LrUpdaterHook):
    """From the base lr to ``min_lr`` (or ``base·min_lr_ratio``) over ``max_epochs``/
    ``max_iters`` along ``_curve``."""

    _curve = staticmethod(annealing_cos)

    def __init__(
        self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs: Any
    ) -> None:
        _one_of(min_lr, min_lr_ratio, "min_lr, min_lr_ratio")
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Annealed lr of one group."""
        progress, total = _progress(self, runner)
        target = _target(self, base_lr, "min_lr", "min_lr_ratio")
        return self._curve(base_lr, target, progress / total)


class CosineAnnealingLrUpdaterHook(_AnnealingLrHook):
    """``policy='CosineAnnealing'``: cosine annealing."""


class FlatCosineAnnealingLrUpdaterHook(LrUpdaterHook):
    """``policy='FlatCosineAnnealing'``: flat until ``round(max·start_percent)``, then cosine."""

    def __init__(
        self,
        start_percent: float = 0.75,
        min_lr: float | None = None,
        min_lr_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        _one_of(min_lr, min_lr_ratio, "min_lr, min_lr_ratio")
        if not isinstance(start_percent, float) or not 0 <= start_percent <= 1:
            raise ValueError(
                f"expected float between 0 and 1 start_percent, but got {start_percent}"
            )
        self.start_percent = start_percent
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Flat or annealed lr of one group."""
        progress, total = _progress(self, runner)
        start = round(total * self.start_percent)
        target = _target(self, base_lr, "min_lr", "min_lr_ratio")
        if progress - start < 0:
            return base_lr
        return annealing_cos(base_lr, target, (progress - start) / (total - start))


def _position(progress: int, cumulative: list[int]) -> int:
    for i, end in enumerate(cumulative):
        if progress < end:
            return i
    raise LegacyScheduleError(
        f"Current iteration {progress} exceeds cumulative_periods {cumulative} (mmcv raises)"
    )


class CosineRestartLrUpdaterHook(LrUpdaterHook):
    """``policy='CosineRestart'``: cosine per period, restarting at ``w·base + (1-w)·min_lr``;
    mmcv raises past the last period."""

    def __init__(
        self,
        periods: list[int],
        restart_weights: list[float] = (1,),  # type: ignore[assignment]
        min_lr: float | None = None,
        min_lr_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        _one_of(min_lr, min_lr_ratio, "min_lr, min_lr_ratio")
        if len(periods) != len(restart_weights):
            raise ValueError("periods and restart_weights should have the same length.")
        self.periods = list(periods)
        self.min_lr = min_lr
        self.min_lr_ratio = min_lr_ratio
        self.restart_weights = list(restart_weights)
        super().__init__(**kwargs)
        self.cumulative_periods = [sum(self.periods[: i + 1]) for i in range(len(self.periods))]

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Annealed lr of one group."""
        progress = runner.epoch if self.by_epoch else runner.iter
        target = _target(self, base_lr, "min_lr", "min_lr_ratio")
        idx = _position(progress, self.cumulative_periods)
        restart = 0 if idx == 0 else self.cumulative_periods[idx - 1]
        alpha = min((progress - restart) / self.periods[idx], 1)
        return annealing_cos(base_lr, target, alpha, self.restart_weights[idx])


def _anneal(strategy: str) -> Callable[..., float]:
    if strategy not in ("cos", "linear"):
        raise ValueError(f'anneal_strategy must be one of "cos" or "linear", got {strategy}')
    return annealing_cos if strategy == "cos" else annealing_linear


def _target_ratio(target_ratio: Any) -> tuple[float, float]:
    if isinstance(target_ratio, float):
        return (target_ratio, target_ratio / 1e5)
    if isinstance(target_ratio, tuple):
        if len(target_ratio) == 1:
            return (target_ratio[0], target_ratio[0] / 1e5)
        if len(target_ratio) != 2:
            raise ValueError('"target_ratio" must be list or tuple of two floats')
        return target_ratio  # type: ignore[return-value]
    raise ValueError(f"target_ratio should be either float or tuple, got {type(target_ratio)}")


class _CyclicMixin:
    """Two phases per cycle (up ``step_ratio_up`` of ``max_iters // cyclic_times``, then down);
    the amplitude shrinks by ``gamma`` per cycle."""

    def _init_cycles(
        self,
        target_ratio: Any,
        cyclic_times: int,
        step_ratio_up: float,
        strategy: str,
        gamma: float,
    ) -> None:
        self.target_ratio = _target_ratio(target_ratio)
        if not 0 <= step_ratio_up < 1.0:
            raise ValueError('"step_ratio_up" must be in range [0,1)')
        self.cyclic_times = cyclic_times
        self.step_ratio_up = step_ratio_up
        self.gamma = gamma
        self.anneal_func = _anneal(strategy)

    def _setup_cycles(self, runner: Any) -> None:
        per_phase = runner.max_iters // self.cyclic_times
        up = int(self.step_ratio_up * per_phase)
        self.max_iter_per_phase = per_phase
        self.phases = [
            (0, up, 1, self.target_ratio[0]),
            (up, per_phase, self.target_ratio[0], self.target_ratio[1]),
        ]

    def _cyclic_value(self, runner: Any, base: float) -> float:
        cur = runner.iter % self.max_iter_per_phase
        scale = self.gamma ** (runner.iter // self.max_iter_per_phase)
        for start, stop, r0, r1 in self.phases:
            if start <= cur < stop:
                if start == 0:
                    r1 = 1 - scale + r1 * scale
                else:
                    r0 = 1 - scale + r0 * scale
                return self.anneal_func(base * r0, base * r1, (cur - start) / (stop - start))
        raise LegacyScheduleError(f"iteration {runner.iter} is in no cyclic phase")


class CyclicLrUpdaterHook(_CyclicMixin, LrUpdaterHook):
    """``policy='cyclic'`` (iteration-based only)."""

    def __init__(
        self,
        by_epoch: bool = False,
        target_ratio: Any = (10, 1e-4),
        cyclic_times: int = 1,
        step_ratio_up: float = 0.4,
        anneal_strategy: str = "cos",
        gamma: float = 1,
        **kwargs: Any,
    ) -> None:
        if not 0 < gamma <= 1:
            raise ValueError('"gamma" must be in range (0, 1]')
        self._init_cycles(target_ratio, cyclic_times, step_ratio_up, anneal_strategy, gamma)
        if by_epoch:
            raise ValueError('currently only support "by_epoch" = False')
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner: Any) -> None:
        """Base lrs, then the phases from ``max_iters``."""
        super().before_run(runner)
        self._setup_cycles(runner)

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Cyclic lr of one group."""
        return self._cyclic_value(runner, base_lr)


def _forbid_by_epoch(kwargs: dict[str, Any]) -> None:
    if kwargs.setdefault("by_epoch", False):
        raise ValueError('currently only support "by_epoch" = False')


class OneCycleLrUpdaterHook(LrUpdaterHook):
    """``policy='OneCycle'``: base lrs are ``max_lr / div_factor``; phases from ``total_steps``
    (default ``max_iters``)."""

    def __init__(
        self,
        max_lr: Any,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        **kwargs: Any,
    ) -> None:
        _forbid_by_epoch(kwargs)
        if not isinstance(max_lr, (numbers.Number, list, dict)):
            raise ValueError(f"the type of max_lr must be a number, list or dict, got {max_lr!r}")
        self._max_lr = max_lr
        if total_steps is not None and not isinstance(total_steps, int):
            raise ValueError(f"the type of total_steps must be int, but got {type(total_steps)}")
        self.total_steps = total_steps
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"expected float between 0 and 1 pct_start, but got {pct_start}")
        self.pct_start = pct_start
        self.anneal_func = _anneal(anneal_strategy)
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        super().__init__(**kwargs)

    def before_run(self, runner: Any) -> None:
        """Base lrs from ``max_lr`` (``initial_lr`` setdefault) and the phases."""
        total = self.total_steps if self.total_steps is not None else runner.max_iters
        if total < runner.max_iters:
            raise LegacyScheduleError(
                f"The total steps must be greater than or equal to max iterations "
                f"{runner.max_iters} of runner, but total steps is {total}."
            )

        def bases(key: str | None, optim: Any) -> list[float]:
            peaks = format_param(key if key is not None else _type_name(optim), optim, self._max_lr)
            out = [lr / self.div_factor for lr in peaks]
            for group, lr in zip(optim.param_groups, out):
                group.setdefault("initial_lr", lr)
            return out

        self.base_lr = _per_key(runner, bases)
        p = self.pct_start
        if self.three_phase:
            self.lr_phases = [
                (float(p * total) - 1, 1, self.div_factor),
                (float(2 * p * total) - 2, self.div_factor, 1),
                (total - 1, 1, 1 / self.final_div_factor),
            ]
        else:
            self.lr_phases = [
                (float(p * total) - 1, 1, self.div_factor),
                (total - 1, self.div_factor, 1 / self.final_div_factor),
            ]

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """1cycle lr of one group."""
        cur, start = runner.iter, 0
        for stop, lo, hi in self.lr_phases:
            if cur <= stop:
                return self.anneal_func(base_lr * lo, base_lr * hi, (cur - start) / (stop - start))
            start = stop
        raise LegacyScheduleError(f"iteration {cur} is past OneCycle's total steps (mmcv fails)")


class LinearAnnealingLrUpdaterHook(_AnnealingLrHook):
    """``policy='LinearAnnealing'``: linear annealing."""

    _curve = staticmethod(annealing_linear)


class LinearLrUpdaterHook(LrUpdaterHook):
    """mmgen 0.7.3 / mmedit 0.16 ``policy='Linear'``: base lr until ``start``, then linear to the
    absolute ``target_lr`` in steps of ``interval``."""

    def __init__(self, target_lr: float = 0, start: int = 0, interval: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.target_lr = target_lr
        self.start = start
        self.interval = interval

    def get_lr(self, runner: Any, base_lr: float) -> float:
        """Linear lr of one group."""
        progress, total = _progress(self, runner)
        if total < self.start:
            raise LegacyScheduleError(
                f"Linear policy: start={self.start} is past the end of training ({total}); "
                "mmgen asserts"
            )
        if total == self.start:
            return base_lr
        factor = (max(0, progress - self.start) // self.interval) / (
            (total - self.start) // self.interval
        )
        return base_lr + (self.target_lr - base_lr) * factor


# ---------------------------------------------------------------------------------------------
# momentum


def _set_momentum(runner: Any, values: Any) -> None:
    for key, optim in _optimizers(runner):
        for group, mom in zip(optim.param_groups, values[key] if key is not None else values):
            if "momentum" in group:
                group["momentum"] = mom
            elif "betas" in group:
                group["betas"] = (mom, group["betas"][1])


class MomentumUpdaterHook:
    """Base of the momentum hooks (``momentum`` or Adam's ``betas[0]``); warmups divide."""

    priority = "HIGH"

    def __init__(
        self,
        by_epoch: bool = True,
        warmup: str | None = None,
        warmup_iters: int = 0,
        warmup_ratio: float = 0.9,
    ) -> None:
        if warmup is not None:
            if warmup not in ("constant", "linear", "exp"):
                raise ValueError(f'"{warmup}" is not a supported type for warming up')
            if not warmup_iters > 0:
                raise ValueError('"warmup_iters" must be a positive integer')
            if not 0 < warmup_ratio <= 1.0:
                raise ValueError('"warmup_momentum" must be in range (0,1]')
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.base_momentum: Any = []
        self.regular_momentum: Any = []

    def get_momentum(self, runner: Any, base_momentum: Any) -> float:
        """The regular momentum of one group."""
        raise NotImplementedError

    def get_regular_momentum(self, runner: Any) -> Any:
        """Regular momentum of every group (a dict of lists for a dict of optimizers)."""
        if isinstance(runner.optimizer, Mapping):
            return {
                k: [self.get_momentum(runner, b) for b in self.base_momentum[k]]
                for k in runner.optimizer
            }
        return [self.get_momentum(runner, b) for b in self.base_momentum]

    def get_warmup_momentum(self, cur_iter: int) -> Any:
        """The regular momentum divided by the warmup factor of ``cur_iter``."""
        r = self.warmup_ratio
        if self.warmup == "constant":
            return _map(self.regular_momentum, lambda ms: [m / r for m in ms])
        if self.warmup == "linear":
            k = (1 - cur_iter / self.warmup_iters) * (1 - r)
            return _map(self.regular_momentum, lambda ms: [m / (1 - k) for m in ms])
        k = r ** (1 - cur_iter / self.warmup_iters)
        return _map(self.regular_momentum, lambda ms: [m / k for m in ms])

    def before_run(self, runner: Any) -> None:
        """Record ``initial_momentum`` (``momentum`` or ``betas[0]``) of every group."""

        def bases(key: str | None, optim: Any) -> list[float]:
            for group in optim.param_groups:
                first = group["momentum"] if "momentum" in group else group["betas"][0]
                group.setdefault("initial_momentum", first)
            return [group["initial_momentum"] for group in optim.param_groups]

        self.base_momentum = _per_key(runner, bases)

    def before_train_epoch(self, runner: Any) -> None:
        """By-epoch hooks set the epoch's regular momentum."""
        if not self.by_epoch:
            return
        self.regular_momentum = self.get_regular_momentum(runner)
        _set_momentum(runner, self.regular_momentum)

    def before_train_iter(self, runner: Any) -> None:
        """By-iteration hooks set the regular or warmed momentum; by-epoch hooks only warm up."""
        cur_iter = runner.iter
        if not self.by_epoch:
            self.regular_momentum = self.get_regular_momentum(runner)
            if self.warmup is None or cur_iter >= self.warmup_iters:
                _set_momentum(runner, self.regular_momentum)
            else:
                _set_momentum(runner, self.get_warmup_momentum(cur_iter))
        elif self.warmup is None or cur_iter > self.warmup_iters:
            return
        elif cur_iter == self.warmup_iters:
            _set_momentum(runner, self.regular_momentum)
        else:
            _set_momentum(runner, self.get_warmup_momentum(cur_iter))


class StepMomentumUpdaterHook(MomentumUpdaterHook):
    """``policy='step'`` momentum: ``base·gamma^k``, clipped at ``min_momentum``."""

    def __init__(
        self,
        step: int | list[int],
        gamma: float = 0.5,
        min_momentum: float | None = None,
        **kwargs: Any,
    ) -> None:
        _check_step(step)
        self.step = step
        self.gamma = gamma
        self.min_momentum = min_momentum
        super().__init__(**kwargs)

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        """Decayed momentum of one group."""
        progress = runner.epoch if self.by_epoch else runner.iter
        value = base_momentum * self.gamma ** _step_exponent(self.step, progress)
        return max(value, self.min_momentum) if self.min_momentum is not None else value


class _AnnealingMomentumHook(MomentumUpdaterHook):
    """From the base momentum to ``min_momentum`` (or ``base·min_momentum_ratio``) along
    ``_curve``."""

    _curve = staticmethod(annealing_cos)

    def __init__(
        self,
        min_momentum: float | None = None,
        min_momentum_ratio: float | None = None,
        **kwargs: Any,
    ) -> None:
        _one_of(min_momentum, min_momentum_ratio, "min_momentum, min_momentum_ratio")
        self.min_momentum = min_momentum
        self.min_momentum_ratio = min_momentum_ratio
        super().__init__(**kwargs)

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        """Annealed momentum of one group."""
        progress, total = _progress(self, runner)
        target = _target(self, base_momentum, "min_momentum", "min_momentum_ratio")
        return self._curve(base_momentum, target, progress / total)


class CosineAnnealingMomentumUpdaterHook(_AnnealingMomentumHook):
    """``policy='CosineAnnealing'`` momentum."""


class LinearAnnealingMomentumUpdaterHook(_AnnealingMomentumHook):
    """``policy='LinearAnnealing'`` momentum."""

    _curve = staticmethod(annealing_linear)


class CyclicMomentumUpdaterHook(_CyclicMixin, MomentumUpdaterHook):
    """``policy='cyclic'`` momentum (iteration-based only)."""

    def __init__(
        self,
        by_epoch: bool = False,
        target_ratio: Any = (0.85 / 0.95, 1.0),
        cyclic_times: int = 1,
        step_ratio_up: float = 0.4,
        anneal_strategy: str = "cos",
        gamma: float = 1.0,
        **kwargs: Any,
    ) -> None:
        self._init_cycles(target_ratio, cyclic_times, step_ratio_up, anneal_strategy, gamma)
        if by_epoch:
            raise ValueError('currently only support "by_epoch" = False')
        super().__init__(by_epoch, **kwargs)

    def before_run(self, runner: Any) -> None:
        """Base momenta, then the phases from ``max_iters``."""
        super().before_run(runner)
        self._setup_cycles(runner)

    def get_momentum(self, runner: Any, base_momentum: float) -> float:
        """Cyclic momentum of one group."""
        return self._cyclic_value(runner, base_momentum)


class OneCycleMomentumUpdaterHook(MomentumUpdaterHook):
    """``policy='OneCycle'`` momentum: ``before_run`` writes ``max_momentum`` into each group and
    keeps ``base_momentum``/``max_momentum`` there; phases from ``max_iters``."""

    def __init__(
        self,
        base_momentum: Any = 0.85,
        max_momentum: Any = 0.95,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
        **kwargs: Any,
    ) -> None:
        _forbid_by_epoch(kwargs)
        for name, value in (("base_momentum", base_momentum), ("max_momentum", max_momentum)):
            if not isinstance(value, (float, list, dict)):
                raise ValueError(f"{name} must be the type among of float, list or dict.")
        self._base_momentum = base_momentum
        self._max_momentum = max_momentum
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
        self.pct_start = pct_start
        self.anneal_func = _anneal(anneal_strategy)
        self.three_phase = three_phase
        super().__init__(**kwargs)

    def before_run(self, runner: Any) -> None:
        """Write ``max_momentum`` and record both bounds in every group; build the phases."""
        for key, optim in _optimizers(runner):
            defaults = getattr(optim, "defaults", {})
            if "momentum" not in defaults and "betas" not in defaults:
                raise LegacyScheduleError("optimizer must support momentum with option enabled")
            use_beta1 = "betas" in defaults
            name = key if key is not None else _type_name(optim)
            lows = format_param(name, optim, self._base_momentum)
            highs = format_param(name, optim, self._max_momentum)
            for group, low, high in zip(optim.param_groups, lows, highs):
                if use_beta1:
                    group["betas"] = (high, group["betas"][1])
                else:
                    group["momentum"] = high
                group["base_momentum"] = low
                group["max_momentum"] = high
        n, p = runner.max_iters, self.pct_start
        if self.three_phase:
            self.phases = [
                (float(p * n) - 1, "max_momentum", "base_momentum"),
                (float(2 * p * n) - 2, "base_momentum", "max_momentum"),
                (n - 1, "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (float(p * n) - 1, "max_momentum", "base_momentum"),
                (n - 1, "base_momentum", "max_momentum"),
            ]

    def get_momentum(self, runner: Any, param_group: Any) -> float:
        """1cycle momentum of one group (read from the group's own bounds)."""
        cur, start = runner.iter, 0
        last = len(self.phases) - 1
        for i, (stop, src, dst) in enumerate(self.phases):
            if cur <= stop or i == last:
                pct = (cur - start) / (stop - start)
                return self.anneal_func(param_group[src], param_group[dst], pct)
            start = stop
        return 0.0

    def get_regular_momentum(self, runner: Any) -> Any:
        """One value per group, from each group's bounds."""
        return _per_key(
            runner, lambda key, optim: [self.get_momentum(runner, g) for g in optim.param_groups]
        )


# ---------------------------------------------------------------------------------------------
# building and running

LR_HOOKS: dict[str, type[LrUpdaterHook]] = {
    cls.__name__: cls
    for cls in (
        FixedLrUpdaterHook,
        StepLrUpdaterHook,
        ExpLrUpdaterHook,
        PolyLrUpdaterHook,
        InvLrUpdaterHook,
        CosineAnnealingLrUpdaterHook,
        FlatCosineAnnealingLrUpdaterHook,
        CosineRestartLrUpdaterHook,
        CyclicLrUpdaterHook,
        OneCycleLrUpdaterHook,
        LinearAnnealingLrUpdaterHook,
        LinearLrUpdaterHook,
    )
}
MOMENTUM_HOOKS: dict[str, type[MomentumUpdaterHook]] = {
    cls.__name__: cls
    for cls in (
        StepMomentumUpdaterHook,
        CosineAnnealingMomentumUpdaterHook,
        LinearAnnealingMomentumUpdaterHook,
        CyclicMomentumUpdaterHook,
        OneCycleMomentumUpdaterHook,
    )
}


def _hook_type(cfg: Mapping[str, Any], suffix: str) -> tuple[str, dict[str, Any]]:
    args = dict(cfg)
    if "policy" not in args:
        raise LegacyScheduleError(f"the config has no 'policy' (mmcv asserts): {dict(cfg)}")
    policy = args.pop("policy")
    if not isinstance(policy, str):
        raise LegacyScheduleError(f"policy must be a string, got {policy!r}")
    # mmcv title-cases an all-lowercase policy ('step' → 'Step', 'onecycle' → 'Onecycle').
    if policy == policy.lower():
        policy = policy.title()
    args.pop("type", None)
    return policy + suffix, args


def _build(cfg: Any, registry: Mapping[str, type], suffix: str) -> Any:
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        return cfg
    name, args = _hook_type(cfg, suffix)
    cls = registry.get(name)
    if cls is None:
        raise LegacyScheduleError(f"{name} is not modelled (known: {sorted(registry)})")
    try:
        return cls(**args)
    except (TypeError, ValueError, AssertionError) as exc:
        raise LegacyScheduleError(f"{name}({args}) fails in mmcv too: {exc}") from exc


def build_lr_hook(lr_config: Any) -> LrUpdaterHook | None:
    """``register_lr_hook``: ``policy`` → ``<Policy>LrUpdaterHook`` (None → no hook)."""
    return _build(lr_config, LR_HOOKS, "LrUpdaterHook")


def build_momentum_hook(momentum_config: Any) -> MomentumUpdaterHook | None:
    """``register_momentum_hook``: ``policy`` → ``<Policy>MomentumUpdaterHook``."""
    return _build(momentum_config, MOMENTUM_HOOKS, "MomentumUpdaterHook")


class LegacySchedule:
    """The lr/momentum hooks of one 0.x config, driven in mmcv's runner call order.

    ``by_epoch_runner``: EpochBasedRunner (``max_epochs`` epochs of ``iters_per_epoch``) or an
    iteration runner (``max_iters``; ``lr_config.by_epoch`` then defaults to False, as
    ``IterBasedRunner.register_training_hooks`` does). Iterate :meth:`iterations` to get each
    iteration index right after its values are written into the optimizer(s).
    """

    def __init__(
        self,
        optimizer: Any,
        lr_config: Any,
        momentum_config: Any = None,
        *,
        by_epoch_runner: bool,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        iters_per_epoch: int = 1,
    ) -> None:
        if isinstance(lr_config, Mapping) and not by_epoch_runner:
            lr_config = {**lr_config}
            lr_config.setdefault("by_epoch", False)
        self.hooks = [
            h
            for h in (build_lr_hook(lr_config), build_momentum_hook(momentum_config))
            if h is not None
        ]
        self.by_epoch_runner = by_epoch_runner
        self.iters_per_epoch = iters_per_epoch
        if by_epoch_runner:
            if max_epochs is None:
                raise LegacyScheduleError("an EpochBasedRunner needs max_epochs")
            max_iters = max_epochs * iters_per_epoch
        elif max_iters is None:
            raise LegacyScheduleError("an IterBasedRunner needs max_iters")
        self.runner = ScheduleRunner(
            optimizer,
            max_iters=max_iters,
            max_epochs=max_epochs if by_epoch_runner else None,
            data_loader=range(iters_per_epoch),
        )

    @property
    def max_iters(self) -> int:
        """Iterations in the whole run."""
        return self.runner.max_iters

    def iterations(self, limit: int | None = None) -> Iterator[int]:
        """Run the hooks; yield each iteration once its lr/momentum are in place."""
        runner, hooks = self.runner, self.hooks
        total = runner.max_iters if limit is None else min(limit, runner.max_iters)
        for hook in hooks:
            hook.before_run(runner)
        if not self.by_epoch_runner:
            # IterBasedRunner fires before_epoch, which no updater hook implements.
            for it in range(total):
                runner.iter = it
                for hook in hooks:
                    hook.before_train_iter(runner)
                yield it
            return
        length = self.iters_per_epoch
        for it in range(total):
            if it % length == 0:
                runner.epoch = it // length
                runner.iter = it
                for hook in hooks:
                    hook.before_train_epoch(runner)
            runner.iter = it
            for hook in hooks:
                hook.before_train_iter(runner)
            yield it
