"""Test-only harness: the lr/momentum of every iteration under the *real* libraries.

``legacy(...)`` steps mmcv 1.7's real ``LrUpdaterHook``/``MomentumUpdaterHook`` family the way
mmcv's ``EpochBasedRunner``/``IterBasedRunner`` call them (``before_run``; per epoch
``before_train_epoch`` - an iteration runner fires only ``before_epoch``, which these hooks do not
implement; per iteration ``before_train_iter``), recording the values in use at each iteration.
``engine(...)`` builds MMEngine's real schedulers from a converted ``param_scheduler`` (with the
runner's ``end`` filling) and steps them the way ``ParamSchedulerHook`` does (construction is
step 0; iteration-based ones after every iteration, epoch-based ones after every epoch; an
``IterBasedTrainLoop`` has one epoch that never ends within the run).

Both sides run on a real torch SGD optimizer with two param groups of different base lrs, so
per-group effects show. The module skips when mmcv, mmengine or torch is missing.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest

from tests.runtime_legacy._mmcv import mmcv_runner as _mmcv_runner

torch = pytest.importorskip("torch")
mmcv_runner = _mmcv_runner()
mmengine_registry = pytest.importorskip("mmengine.registry")
pytest.importorskip("mmengine.optim")

BASE_LRS = (0.1, 0.02)
MOMENTUM = 0.9


def optimizer(kind: str = "SGD"):
    """A fresh optimizer with two param groups (base lrs ``BASE_LRS``)."""
    ps = [torch.nn.Parameter(torch.zeros(1)) for _ in BASE_LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, BASE_LRS)]
    if kind == "Adam":
        return torch.optim.Adam(groups, betas=(MOMENTUM, 0.999))
    return torch.optim.SGD(groups, momentum=MOMENTUM)


def _momentum(group: dict) -> float:
    return group["betas"][0] if "betas" in group else group["momentum"]


def _record(opt) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return (
        tuple(g["lr"] for g in opt.param_groups),
        tuple(_momentum(g) for g in opt.param_groups),
    )


def legacy(
    lr_config: dict | None,
    momentum_config: dict | None = None,
    *,
    by_epoch_runner: bool,
    epochs: int = 6,
    iters_per_epoch: int = 5,
    max_iters: int = 30,
    opt_kind: str = "SGD",
) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """(lrs, momenta) in use at each iteration under mmcv 1.7's hooks."""
    from mmcv.runner.hooks import HOOKS
    from mmcv.utils import build_from_cfg

    opt = optimizer(opt_kind)
    hooks = []
    for cfg, suffix in ((lr_config, "LrUpdaterHook"), (momentum_config, "MomentumUpdaterHook")):
        if cfg is None:
            continue
        cfg = copy.deepcopy(cfg)
        policy = cfg.pop("policy")
        if policy == policy.lower():
            policy = policy.title()
        if suffix == "LrUpdaterHook" and not by_epoch_runner:
            cfg.setdefault("by_epoch", False)  # IterBasedRunner.register_training_hooks
        cfg["type"] = policy + suffix
        hooks.append(build_from_cfg(cfg, HOOKS))
    total = epochs * iters_per_epoch if by_epoch_runner else max_iters
    runner = SimpleNamespace(
        optimizer=opt,
        iter=0,
        epoch=0,
        max_epochs=epochs if by_epoch_runner else None,
        max_iters=total,
        data_loader=list(range(iters_per_epoch)),
    )
    # mmcv sorts hooks by priority; momentum (HIGH) after lr (VERY_HIGH)
    for h in hooks:
        h.before_run(runner)
    out = []
    n_epochs = epochs if by_epoch_runner else 1
    per_epoch = iters_per_epoch if by_epoch_runner else max_iters
    for _ in range(n_epochs):
        if by_epoch_runner:
            for h in hooks:
                h.before_train_epoch(runner)
        for _ in range(per_epoch):
            for h in hooks:
                h.before_train_iter(runner)
            out.append(_record(opt))
            runner.iter += 1
        runner.epoch += 1
    return out


def engine(
    param_scheduler: list | dict | None,
    *,
    by_epoch_runner: bool,
    epochs: int = 6,
    iters_per_epoch: int = 5,
    max_iters: int = 30,
    opt_kind: str = "SGD",
) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """(lrs, momenta) in use at each iteration under MMEngine 0.10.7's schedulers."""
    from mmengine.optim import OptimWrapper  # noqa: F401 - registers the schedulers
    from mmengine.registry import PARAM_SCHEDULERS

    opt = optimizer(opt_kind)
    total = epochs * iters_per_epoch if by_epoch_runner else max_iters
    max_epochs = epochs if by_epoch_runner else 1
    cfgs = copy.deepcopy(param_scheduler or [])
    if isinstance(cfgs, dict):
        raise ValueError("per-wrapper scheduler dicts need one optimizer per wrapper")
    scheds = []
    for cfg in cfgs:
        cfg = dict(cfg)
        by_epoch = cfg.get("by_epoch", True)
        cfg.setdefault("end", max_epochs if by_epoch else total)  # Runner's end filling
        cfg["optimizer"] = opt
        scheds.append(PARAM_SCHEDULERS.build(cfg))
    out = []
    n_epochs = epochs if by_epoch_runner else 1
    per_epoch = iters_per_epoch if by_epoch_runner else max_iters
    for _ in range(n_epochs):
        for _ in range(per_epoch):
            out.append(_record(opt))
            for s in scheds:
                if not s.by_epoch:
                    s.step()
        if by_epoch_runner:
            for s in scheds:
                if s.by_epoch:
                    s.step()
    return out


def max_rel_diff(old: list, new: list) -> tuple[float, int]:
    """Largest difference of any lr or momentum relative to the 0.x value, and its iteration."""
    worst, at = 0.0, -1
    for i, (x, y) in enumerate(zip(old, new)):
        for u, v in zip(x[0] + x[1], y[0] + y[1]):
            d = abs(u - v) / max(abs(u), 1e-300)
            if d > worst:
                worst, at = d, i
    assert len(old) == len(new)
    return worst, at


def first_difference(old: list, new: list, tol: float = 1e-9) -> int:
    """The first iteration whose lr or momentum differs (relative ``tol``), or -1."""
    for i, (x, y) in enumerate(zip(old, new)):
        if any(abs(u - v) > tol * max(abs(u), 1e-300) for u, v in zip(x[0] + x[1], y[0] + y[1])):
            return i
    return -1
