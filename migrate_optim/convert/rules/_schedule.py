"""Shared knowledge of the schedule rules (MO3xx): which 0.x runner trains a config, for how long.

Not a rule itself (it has no ``apply``). docs/schedules.md#two-execution-models and
#runner-and-totals:

* the runner is ``runner.type`` when a ``runner`` dict is given; without one, each codebase's
  train API picks it: mmdet/mmcls and the other epoch-based codebases build an
  ``EpochBasedRunner`` with ``max_epochs=total_epochs``, mmseg an ``IterBasedRunner`` with
  ``max_iters=total_iters``; mmgen/mmedit train with an iteration runner and pass
  ``total_iters`` to ``run()``, which overrides ``runner.max_iters``;
* an ``IterBasedRunner`` (and mmgen's ``DynamicIterBasedRunner``, its subclass) defaults
  ``lr_config.by_epoch`` to False (``setdefault`` in ``register_training_hooks``);
* the length of an epoch in iterations (``len(train_dataloader)``) is never statically known.

Also the pure-Python schedule arithmetic the rules need to state how far an inexact mapping is
from the 0.x schedule (the converter never imports torch or MMEngine).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.static import SDict, SExpr, SList, SLit, SValue, lit
from migrate_optim.convert.translation import Translation
from migrate_optim.curves import annealing_cos, warmup_factor

EPOCH = "epoch"
ITER = "iter"

#: 0.x runner registry names -> kind (mmcv 1.7 and mmgen 0.7; mmgen's is an IterBasedRunner)
RUNNER_KINDS: dict[str, str] = {
    "EpochBasedRunner": EPOCH,
    "IterBasedRunner": ITER,
    "DynamicIterBasedRunner": ITER,
}

#: codebases whose train API builds an IterBasedRunner(max_iters=total_iters) without `runner`
ITER_CODEBASES = ("mmseg", "mmgen", "mmedit", "mmflow")
#: codebases whose train API passes ``total_iters`` to ``run()`` (overriding runner.max_iters)
TOTAL_ITERS_OVERRIDES = ("mmgen", "mmedit")


@dataclass
class RunnerInfo:
    """How the 0.x config is trained: the runner kind and its length, as far as static.

    ``kind`` is None when unknown (``problem`` says why). ``max_epochs``/``max_iters`` are the
    values as written (None when absent); ``source`` is the 0.x key they come from.
    """

    kind: str | None
    max_epochs: SValue | None = None
    max_iters: SValue | None = None
    problem: str | None = None
    runner_type: str | None = None

    def length(self, by_epoch: bool) -> SValue | None:
        """``P`` of docs/schedules.md: epochs for an epoch-based schedule, iterations otherwise.

        None when it is not statically known (an iteration count inside an epoch runner needs
        ``len(train_dataloader)``).
        """
        if by_epoch:
            return self.max_epochs if self.kind == EPOCH else None
        return self.max_iters if self.kind == ITER else None


def _none(v: SValue | None) -> bool:
    return v is None or (isinstance(v, SLit) and v.value is None)


def runner_info(t: Translation) -> RunnerInfo:
    """The 0.x runner of the effective config (docs/schedules.md#runner-and-totals)."""
    cfg = t.cfg
    runner = cfg.get("runner")
    total_epochs = cfg.get("total_epochs")
    total_iters = cfg.get("total_iters")
    if _none(runner):
        if t.codebase in ITER_CODEBASES:
            return RunnerInfo(ITER, max_iters=None if _none(total_iters) else total_iters)
        if t.codebase is None:
            if not _none(total_iters) and _none(total_epochs):
                return RunnerInfo(ITER, max_iters=total_iters)
            if not _none(total_epochs) and _none(total_iters):
                return RunnerInfo(EPOCH, max_epochs=total_epochs)
            return RunnerInfo(None, problem="the runner (epoch or iteration based) is not known")
        return RunnerInfo(EPOCH, max_epochs=None if _none(total_epochs) else total_epochs)
    if not isinstance(runner, SDict):
        return RunnerInfo(None, problem="`runner` is not a dict literal")
    rtype = gc.literal_str(runner.get("type"))
    kind = RUNNER_KINDS.get(rtype or "")
    if kind is None:
        return RunnerInfo(
            None, problem=f"runner type {rtype!r} is not known to the converter", runner_type=rtype
        )
    max_e = runner.get("max_epochs")
    max_i = runner.get("max_iters")
    if kind == ITER and t.codebase in TOTAL_ITERS_OVERRIDES and not _none(total_iters):
        max_i = total_iters
    if kind == EPOCH and _none(max_e) and not _none(total_epochs):
        max_e = total_epochs
    if kind == ITER and _none(max_i) and not _none(total_iters):
        max_i = total_iters
    return RunnerInfo(
        kind,
        max_epochs=None if _none(max_e) else max_e,
        max_iters=None if _none(max_i) else max_i,
        runner_type=rtype,
    )


def detach(value: SValue) -> SValue:
    """``value`` made writable into any file when its code names no variable (``1.0 / 3``).

    Arithmetic of literals means the same everywhere; an expression that reads a module-level
    name stays tied to its file (the engine reports it where it cannot be written).
    """
    if isinstance(value, SList):
        items = [detach(i) for i in value.items]
        if all(a is b for a, b in zip(items, value.items)):
            return value
        return SList(items, value.kind)
    if not isinstance(value, SExpr) or value.file is None:
        return value
    try:
        tree = ast.parse(f"({value.code})", mode="eval")
    except SyntaxError:
        return value
    if any(isinstance(n, (ast.Name, ast.Call, ast.Attribute)) for n in ast.walk(tree)):
        return value
    return SExpr(value.code, node=None, file=None, line=value.line)


def plus_one(value: SValue, cfg: SDict) -> SValue | None:
    """``value + 1`` (an expression of the same file's variables stays an expression)."""
    n = gc.integer(value, cfg)
    if isinstance(value, SLit) or (n is not None and value.file is None):
        return lit(n + 1) if n is not None else None
    c = gc.code_of(value)
    if c is None:
        return lit(n + 1) if n is not None else None
    return SExpr(f"{c[0]} + 1", node=None, file=c[1], line=value.line)


# ---------------------------------------------------------------------------------------------
# Schedule arithmetic (docs/schedules.md#two-execution-models): what mmcv computes in closed
# form, what MMEngine's chained schedulers compute recursively.


@dataclass
class FloorMain:
    """A main schedule with a floor (poly, cosine): the 0.x closed form and the MMEngine step."""

    #: closed form: regular lr at step ``t`` of the main schedule, from the base lr
    closed: Callable[[float, int], float]
    #: MMEngine's recursive update at ``last_step`` (>= 1): new lr from the current one
    step: Callable[[float, float, int], float]
    begin: int = 0


def poly_main(power: float, min_lr: float, length: int) -> FloorMain:
    """mmcv ``poly`` and MMEngine ``PolyLR(begin=0, end=length+1)``."""

    def closed(base: float, t: int) -> float:
        return (base - min_lr) * (1 - t / length) ** power + min_lr

    def step(base: float, cur: float, k: int) -> float:
        return (cur - min_lr) * (1 - 1 / (length - k + 1)) ** power + min_lr

    return FloorMain(closed, step)


def cosine_main(
    min_lr: float | None, ratio: float | None, length: int, begin: int = 0
) -> FloorMain:
    """mmcv cosine (flat from ``begin``) and MMEngine ``CosineAnnealingLR`` (begin, T_max)."""

    def floor(base: float) -> float:
        return min_lr if ratio is None else base * ratio  # type: ignore[return-value]

    span = length - begin

    def closed(base: float, t: int) -> float:
        if t < begin:
            return base
        return annealing_cos(base, floor(base), (t - begin) / span)

    def step(base: float, cur: float, k: int) -> float:
        m = floor(base)
        return (1 + math.cos(math.pi * k / span)) / (1 + math.cos(math.pi * (k - 1) / span)) * (
            cur - m
        ) + m

    return FloorMain(closed, step, begin)


def warmup_floor_deviation(
    main: FloorMain, kind: str, ratio: float, warmup_iters: int, length: int, base: float
) -> tuple[float, int]:
    """Largest relative lr difference of MMEngine's chained warmup + floor scheduler.

    Steps both schedules over ``length`` steps (the iteration-based main schedule and the
    iteration-based warmup of docs/schedules.md#warmup) for one param group of base lr
    ``base``; returns (largest |1.x - 0.x| / 0.x, the step where it occurs).
    """
    worst, at = 0.0, 0
    cur = base
    prev_k = 1.0
    for g in range(length):
        # warmup scheduler first (it is listed first), then the main one
        k = warmup_factor(kind, ratio, warmup_iters, g) if g <= warmup_iters else 1.0
        if g == 0:
            cur = cur * k
        elif g <= warmup_iters:
            cur = cur * (k / prev_k)
        prev_k = k
        last = g - main.begin
        if last >= 1:
            cur = main.step(base, cur, last)
        want = warmup_factor(kind, ratio, warmup_iters, g) * main.closed(base, g)
        if want > 0:
            dev = abs(cur - want) / want
            if dev > worst:
                worst, at = dev, g
    return worst, at
