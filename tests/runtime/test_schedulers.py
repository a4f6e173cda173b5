"""Our param schedulers against the real MMEngine 0.10.7 (mmengine-lite), step by step.

Hypothesis draws chains of schedulers (warmup + main, momentum schedulers, ``by_epoch``,
``convert_to_iter_based``, omitted ``end``) and a training loop (epoch- or iteration-based).
Both sides are built through their runner's ``build_param_scheduler`` (MMEngine's real
``Runner.build_param_scheduler`` on a stand-in runner) and stepped the way
``ParamSchedulerHook`` does; every group's lr/momentum/betas must be identical at every iteration.
"""

from __future__ import annotations

import functools
import math
import types

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate_optim.runtime import schedulers as ours

mmengine = pytest.importorskip("mmengine")
from mmengine.optim import OptimWrapper as MMOptimWrapper  # noqa: E402
from mmengine.optim import OptimWrapperDict as MMOptimWrapperDict  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from mmengine.runner.loops import EpochBasedTrainLoop, IterBasedTrainLoop  # noqa: E402

floats01 = st.floats(0.05, 1.0)


def _floor(draw: st.DrawFn) -> dict:
    if draw(st.booleans()):
        return {"eta_min": draw(st.sampled_from([0.0, 1e-4, 0.003]))}
    return {"eta_min_ratio": draw(st.sampled_from([0.0, 0.01, 0.1, 0.5]))}


@st.composite
def scheduler_cfg(draw: st.DrawFn, momentum: bool) -> dict:
    kinds = [
        "Constant",
        "Linear",
        "Step",
        "MultiStep",
        "Exponential",
        "Poly",
        "CosineAnnealing",
        "CosineRestart",
    ]
    if not momentum:
        kinds.append("OneCycle")
    kind = draw(st.sampled_from(kinds))
    cfg: dict = {"type": kind + ("Momentum" if momentum else "LR")}
    if kind == "Constant":
        cfg["factor"] = draw(floats01)
    elif kind == "Linear":
        cfg["start_factor"] = draw(floats01)
        cfg["end_factor"] = draw(st.floats(0.0, 1.0))
    elif kind == "Step":
        cfg["step_size"] = draw(st.integers(1, 6))
        cfg["gamma"] = draw(st.floats(0.1, 1.0))
    elif kind == "MultiStep":
        cfg["milestones"] = sorted(draw(st.lists(st.integers(1, 15), min_size=1, max_size=4)))
        cfg["gamma"] = draw(st.floats(0.1, 1.0))
    elif kind == "Exponential":
        cfg["gamma"] = draw(st.floats(0.5, 1.0))
    elif kind == "Poly":
        cfg["eta_min"] = draw(st.sampled_from([0.0, 1e-4]))
        cfg["power"] = draw(st.sampled_from([0.5, 0.9, 1.0, 2.0]))
    elif kind == "CosineAnnealing":
        if draw(st.booleans()):
            cfg["T_max"] = draw(st.integers(1, 20))
        cfg.update(_floor(draw))
    elif kind == "CosineRestart":
        n = draw(st.integers(1, 3))
        cfg["periods"] = draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
        cfg["restart_weights"] = draw(st.lists(floats01, min_size=n, max_size=n))
        cfg.update(_floor(draw))
    else:
        cfg["eta_max"] = draw(st.sampled_from([0.05, 0.5]))
        cfg["pct_start"] = draw(st.sampled_from([0.1, 0.3, 0.5]))
        cfg["anneal_strategy"] = draw(st.sampled_from(["cos", "linear"]))
        cfg["three_phase"] = draw(st.booleans())
    by_epoch = draw(st.booleans())
    cfg["by_epoch"] = by_epoch
    cfg["begin"] = begin = draw(st.integers(0, 4))
    if draw(st.booleans()) or kind == "OneCycle":
        cfg["end"] = begin + draw(st.integers(1, 20))
    if by_epoch and draw(st.booleans()):
        cfg["convert_to_iter_based"] = True
    return cfg


@st.composite
def case(draw: st.DrawFn) -> dict:
    adam = draw(st.booleans())
    lrs = draw(st.lists(st.sampled_from([0.1, 0.02, 0.003]), min_size=1, max_size=3))
    chain = draw(st.lists(scheduler_cfg(momentum=False), min_size=1, max_size=3))
    chain += draw(st.lists(scheduler_cfg(momentum=True), max_size=2))
    epoch_loop = draw(st.booleans())
    length = draw(st.integers(1, 5))
    if epoch_loop:
        loop = {"max_epochs": draw(st.integers(1, 5)), "length": length}
    else:
        loop = {"max_iters": draw(st.integers(1, 30)), "length": length}
    return {"adam": adam, "lrs": lrs, "chain": chain, "loop": loop}


def torch_optimizer(lrs: list[float], adam: bool) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    if adam:
        return torch.optim.Adam(groups, betas=(0.9, 0.99))
    return torch.optim.SGD(groups, momentum=0.9)


def mm_runner(loop: dict, wrapper: object) -> types.SimpleNamespace:
    """A stand-in with just what ``Runner.build_param_scheduler`` reads."""
    if "max_epochs" in loop:
        train_loop = object.__new__(EpochBasedTrainLoop)
        max_epochs, max_iters = loop["max_epochs"], loop["max_epochs"] * loop["length"]
    else:
        train_loop = object.__new__(IterBasedTrainLoop)
        max_epochs, max_iters = 1, loop["max_iters"]
    fake = types.SimpleNamespace(
        _train_loop=train_loop,
        max_epochs=max_epochs,
        max_iters=max_iters,
        optim_wrapper=wrapper,
        train_dataloader=[None] * loop["length"],
        logger=types.SimpleNamespace(debug=lambda *a, **k: None),
    )
    fake._build_param_scheduler = functools.partial(Runner._build_param_scheduler, fake)
    return fake


def loop_bounds(loop: dict) -> tuple[int, int, int]:
    if "max_epochs" in loop:
        return loop["max_epochs"], loop["max_epochs"] * loop["length"], loop["length"]
    return 1, loop["max_iters"], loop["length"]


def run(schedulers: list, groups_of, loop: dict) -> list:
    """Values used by every iteration, stepping as ``ParamSchedulerHook`` does."""
    _, max_iters, length = loop_bounds(loop)
    epoch_loop = "max_epochs" in loop
    seen = []
    for it in range(max_iters):
        seen.append(groups_of())
        for s in schedulers:
            if not s.by_epoch:
                s.step()
        if epoch_loop and (it + 1) % length == 0:
            for s in schedulers:
                if s.by_epoch:
                    s.step()
    return seen


def snapshot(groups: list[dict]) -> list[tuple]:
    return [
        (g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None) for g in groups
    ]


def assert_same(a, b) -> None:
    assert len(a) == len(b)
    for it, (x, y) in enumerate(zip(a, b)):
        for gx, gy in zip(x, y):
            for vx, vy in zip(gx, gy):
                if isinstance(vx, tuple):
                    assert vx == pytest.approx(vy, rel=1e-12, abs=0), (it, x, y)
                elif vx is None or vy is None:
                    assert vx == vy, (it, x, y)
                else:
                    assert math.isclose(vx, vy, rel_tol=1e-12, abs_tol=1e-300), (it, x, y)


def build_both(data: dict):
    mm_opt = torch_optimizer(data["lrs"], data["adam"])
    our_opt = ours.GroupsOptimizer(
        [{k: v for k, v in g.items() if k != "params"} for g in mm_opt.param_groups],
        mm_opt.defaults,
    )
    fake = mm_runner(data["loop"], MMOptimWrapper(mm_opt))
    max_epochs, max_iters, length = loop_bounds(data["loop"])
    mm_error = our_error = None
    try:
        mm_s = Runner.build_param_scheduler(fake, data["chain"])
    except Exception as exc:  # noqa: BLE001 - compared with ours below
        mm_error = exc
    try:
        our_s = ours.build_param_scheduler(
            data["chain"],
            our_opt,
            max_epochs=max_epochs,
            max_iters=max_iters,
            epoch_length=length,
        )
    except Exception as exc:  # noqa: BLE001
        our_error = exc
    return (
        mm_opt,
        our_opt,
        (mm_s if mm_error is None else mm_error),
        (our_s if our_error is None else our_error),
    )


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case())
def test_chains_equal_mmengine_step_by_step(data):
    mm_opt, our_opt, mm_s, our_s = build_both(data)
    if isinstance(mm_s, Exception) or isinstance(our_s, Exception):
        # Both reject the same configs (e.g. OneCycle stepped past total_steps is only raised
        # while stepping, below).
        assert isinstance(mm_s, Exception) and isinstance(our_s, Exception), (mm_s, our_s)
        return
    try:
        mm_vals = run(mm_s, lambda: snapshot(mm_opt.param_groups), data["loop"])
    except (ValueError, ZeroDivisionError) as exc:
        with pytest.raises(type(exc)):
            run(our_s, lambda: snapshot(our_opt.param_groups), data["loop"])
        return
    our_vals = run(our_s, lambda: snapshot(our_opt.param_groups), data["loop"])
    assert_same(mm_vals, our_vals)
    # ScheduleLoop (what verify runs) drives the same chain to the same values.
    max_epochs, max_iters, length = loop_bounds(data["loop"])
    fresh = torch_optimizer(data["lrs"], data["adam"])
    loop_opt = ours.GroupsOptimizer(
        [{k: v for k, v in g.items() if k != "params"} for g in fresh.param_groups],
        fresh.defaults,
    )
    loop = ours.ScheduleLoop(
        loop_opt,
        data["chain"],
        epoch_loop="max_epochs" in data["loop"],
        max_epochs=max_epochs,
        max_iters=max_iters,
        iters_per_epoch=length,
    )
    assert_same(mm_vals, [snapshot(loop_opt.param_groups) for _ in loop.iterations()])


def test_warmup_plus_poly_160_iterations_exact():
    data = {
        "adam": False,
        "lrs": [0.01, 0.001],
        "chain": [
            dict(type="LinearLR", start_factor=1e-6, by_epoch=False, begin=0, end=16),
            dict(type="PolyLR", power=1.0, eta_min=1e-4, begin=0, end=160, by_epoch=False),
        ],
        "loop": {"max_iters": 160, "length": 10},
    }
    mm_opt, our_opt, mm_s, our_s = build_both(data)
    assert_same(
        run(mm_s, lambda: snapshot(mm_opt.param_groups), data["loop"]),
        run(our_s, lambda: snapshot(our_opt.param_groups), data["loop"]),
    )


def test_by_epoch_scheduler_in_an_iteration_loop_keeps_its_first_value():
    # max_epochs is 1 in IterBasedTrainLoop: a by_epoch LinearLR gets end=1 and never steps again.
    opt = ours.GroupsOptimizer([{"lr": 0.1}], {"lr": 0.1})
    (s,) = ours.build_param_scheduler(
        [dict(type="LinearLR", start_factor=0.5)], opt, max_epochs=1, max_iters=10
    )
    assert s.end == 1
    for _ in range(10):
        s.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_wrapper_dict_schedulers_equal_mmengine():
    chain = {
        "generator": [dict(type="LinearLR", start_factor=0.1, end=5, by_epoch=False)],
        "discriminator": dict(type="ExponentialLR", gamma=0.9, by_epoch=False),
    }
    loop = {"max_iters": 12, "length": 3}
    mm_opts = {k: torch_optimizer([0.2, 0.1], adam=True) for k in chain}
    our_opts = {
        k: ours.GroupsOptimizer(
            [{"lr": g["lr"], "betas": g["betas"]} for g in o.param_groups], o.defaults
        )
        for k, o in mm_opts.items()
    }
    mm_dict = MMOptimWrapperDict(**{k: MMOptimWrapper(o) for k, o in mm_opts.items()})
    mm_s = Runner.build_param_scheduler(mm_runner(loop, mm_dict), chain)
    our_s = ours.build_param_scheduler(chain, our_opts, max_epochs=1, max_iters=12, epoch_length=3)
    assert set(mm_s) == set(our_s) == set(chain)
    for key in chain:
        assert_same(
            run(mm_s[key], lambda k=key: snapshot(mm_opts[k].param_groups), loop),
            run(our_s[key], lambda k=key: snapshot(our_opts[k].param_groups), loop),
        )


def test_a_list_is_built_once_per_wrapper():
    opts = {k: ours.GroupsOptimizer([{"lr": lr}], {"lr": lr}) for k, lr in (("g", 1.0), ("d", 2.0))}
    built = ours.build_param_scheduler(
        dict(type="ConstantLR", factor=0.5), opts, max_epochs=1, max_iters=4
    )
    assert {k: len(v) for k, v in built.items()} == {"g": 1, "d": 1}
    assert [opts[k].param_groups[0]["lr"] for k in ("g", "d")] == [0.5, 1.0]


def test_momentum_on_adam_drives_beta1():
    opt = ours.GroupsOptimizer([{"lr": 0.1, "betas": (0.9, 0.999)}], {"lr": 0.1, "betas": None})
    s = ours.LinearMomentum(opt, start_factor=0.5, end=3, by_epoch=False)
    assert opt.param_groups[0]["betas"] == (0.45, 0.999)
    s.step()
    s.step()
    assert opt.param_groups[0]["betas"][0] == pytest.approx(0.9)


def test_linear_lr_interval_as_mmagic_writes_absolute_values():
    # Spec §6.3: MMagic's CycleGAN config: start_factor = base lr 2e-4, end_factor 0,
    # begin=100, end=200, interval=10. At step `begin` the lr is base * start_factor; later the
    # absolute value start + (end - start) * f with f from the iteration that just finished.
    opt = ours.GroupsOptimizer([{"lr": 2e-4}], {"lr": 2e-4})
    s = ours.LinearLrInterval(
        opt, start_factor=2e-4, end_factor=0.0, begin=100, end=200, interval=10, by_epoch=False
    )
    values = [opt.param_groups[0]["lr"]]
    for _ in range(199):
        s.step()
        values.append(opt.param_groups[0]["lr"])
    assert values[99] == 2e-4
    assert values[100] == pytest.approx(2e-4 * 2e-4)
    # iteration 101: progress 100 → f = 0 → 2e-4
    assert values[101] == pytest.approx(2e-4)
    # iteration 111: progress 110 → f = 1/10
    assert values[111] == pytest.approx(2e-4 * 0.9)
    assert values[110] == pytest.approx(2e-4)
