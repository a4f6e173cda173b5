"""mmcv 1.7's closed-form lr curves, shared by the converter and the legacy runtime.

mmcv's ``LrUpdaterHook`` family computes each iteration's lr in closed form
(``mmcv/runner/hooks/lr_updater.py``: ``annealing_cos``, ``annealing_linear`` and
``LrUpdaterHook.get_warmup_lr``; docs/schedules.md#two-execution-models). The converter needs
them to state how far MMEngine's chained schedulers depart from 0.x (MO304), the legacy
runtime (:mod:`migrate_optim.runtime.legacy.lr_hooks`) to replay 0.x schedules; this module
holds the one copy. It imports nothing from the package and never imports torch.
"""

from __future__ import annotations

from math import cos, pi


def annealing_cos(start: float, end: float, factor: float, weight: float = 1.0) -> float:
    """Cosine from ``weight·start + (1-weight)·end`` (factor 0) to ``end`` (factor 1)."""
    return end + 0.5 * weight * (start - end) * (cos(pi * factor) + 1)


def annealing_linear(start: float, end: float, factor: float) -> float:
    """Linear from ``start`` (factor 0) to ``end`` (factor 1)."""
    return start + (end - start) * factor


def warmup_factor(kind: str, ratio: float, warmup_iters: int, t: int) -> float:
    """The multiplier mmcv's warmup applies to the regular lr at iteration ``t``.

    ``kind`` is ``constant`` (``ratio``), ``linear`` (``ratio`` rising to 1 over
    ``warmup_iters``) or ``exp`` (``ratio ** (1 - t/W)``); 1 once ``t >= warmup_iters``.
    """
    if t >= warmup_iters:
        return 1.0
    if kind == "constant":
        return ratio
    if kind == "linear":
        return 1 - (1 - t / warmup_iters) * (1 - ratio)
    return ratio ** (1 - t / warmup_iters)
