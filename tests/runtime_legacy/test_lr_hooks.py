"""Our lr/momentum updater hooks against the real mmcv 1.7.2 runners, iteration by iteration.

Hypothesis draws an ``lr_config`` (every policy, warmups, ``by_epoch``, ``warmup_by_epoch``), an
optional ``momentum_config``, the runner (``EpochBasedRunner`` or ``IterBasedRunner``, which
defaults ``lr_config.by_epoch`` to False) and SGD or Adam param groups. mmcv's runner trains a
tiny model with a recording hook (lowest priority, ``before_train_iter``); our
:class:`LegacySchedule` runs the same configs on plain param-group dicts. Every value must agree.
Skipped where mmcv 1.x is not importable (CI installs it).
"""

from __future__ import annotations

import copy
import logging
import math
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate_optim.runtime.legacy.lr_hooks import LegacySchedule, LegacyScheduleError
from migrate_optim.runtime.schedulers import GroupsOptimizer
from tests.runtime_legacy._mmcv import mmcv_runner


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(1, 1)
        self.b = torch.nn.Linear(1, 1)

    def train_step(self, data, optimizer, **kwargs):
        return {"loss": torch.zeros(()), "num_samples": 1}


def optimizer_for(model: torch.nn.Module, lrs: list[float], adam: bool):
    params = [model.a.weight, model.a.bias, model.b.weight][: len(lrs)]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if adam:
        return torch.optim.Adam(groups, betas=(0.9, 0.999))
    return torch.optim.SGD(groups, momentum=0.9)


def plain(opt) -> GroupsOptimizer:
    out = GroupsOptimizer(
        [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups], opt.defaults
    )
    out.type_name = type(opt).__name__
    return out


def values(groups) -> list[tuple]:
    return [
        (g["lr"], g.get("momentum"), tuple(g["betas"]) if "betas" in g else None) for g in groups
    ]


def run_mmcv(cfg: dict, opt) -> list:
    runner_mod = mmcv_runner()
    model = Tiny()
    seen: list = []

    class Record(runner_mod.Hook):
        def before_train_iter(self, runner):
            if isinstance(runner.optimizer, dict):
                seen.append({k: values(o.param_groups) for k, o in runner.optimizer.items()})
            else:
                seen.append(values(runner.optimizer.param_groups))

    logger = logging.getLogger("mmcv-oracle")
    logger.setLevel(logging.ERROR)
    loop = cfg["loop"]
    if "max_epochs" in loop:
        runner = runner_mod.EpochBasedRunner(
            model, optimizer=opt, logger=logger, max_epochs=loop["max_epochs"]
        )
        loader = [None] * loop["length"]
    else:
        runner = runner_mod.IterBasedRunner(
            model, optimizer=opt, logger=logger, max_iters=loop["max_iters"]
        )
        loader = [None] * max(loop["max_iters"], 1)
    runner.register_training_hooks(
        lr_config=copy.deepcopy(cfg["lr_config"]),
        momentum_config=copy.deepcopy(cfg["momentum_config"]),
    )
    runner.register_hook(Record(), priority="LOWEST")
    with mock.patch("time.sleep"):
        runner.run([loader], [("train", 1)])
    return seen


def run_ours(cfg: dict, opt) -> list:
    loop = cfg["loop"]
    schedule = LegacySchedule(
        opt,
        copy.deepcopy(cfg["lr_config"]),
        copy.deepcopy(cfg["momentum_config"]),
        by_epoch_runner="max_epochs" in loop,
        max_epochs=loop.get("max_epochs"),
        max_iters=loop.get("max_iters"),
        iters_per_epoch=loop["length"],
    )
    seen = []
    for _ in schedule.iterations():
        if isinstance(opt, dict):
            seen.append({k: values(o.param_groups) for k, o in opt.items()})
        else:
            seen.append(values(opt.param_groups))
    return seen


def close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)
    return a == b


def compare(cfg: dict, make) -> None:
    mm_opt = make()
    our_opt = (
        {k: plain(o) for k, o in mm_opt.items()} if isinstance(mm_opt, dict) else plain(mm_opt)
    )
    try:
        expected = run_mmcv(cfg, mm_opt)
    except Exception:  # noqa: BLE001 - mmcv rejects the config: so must we
        with pytest.raises((LegacyScheduleError, ValueError, TypeError, ZeroDivisionError)):
            run_ours(cfg, our_opt)
        return
    got = run_ours(cfg, our_opt)
    assert len(got) == len(expected)
    for it, (x, y) in enumerate(zip(expected, got)):
        assert close(x, y), (it, x, y)


warmups = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {
            "warmup": st.sampled_from(["constant", "linear", "exp"]),
            "warmup_iters": st.integers(1, 12),
            "warmup_ratio": st.sampled_from([0.001, 0.1, 1.0 / 3, 1.0]),
        },
        optional={"warmup_by_epoch": st.booleans()},
    ),
)
ratio_or_min = st.one_of(
    st.fixed_dictionaries({"min_lr": st.sampled_from([0.0, 1e-4])}),
    st.fixed_dictionaries({"min_lr_ratio": st.sampled_from([0.0, 0.1])}),
)


@st.composite
def lr_config(draw: st.DrawFn, max_iters: int) -> dict:
    policy = draw(
        st.sampled_from(
            [
                "fixed",
                "step",
                "step-int",
                "exp",
                "poly",
                "inv",
                "CosineAnnealing",
                "FlatCosineAnnealing",
                "CosineRestart",
                "cyclic",
                "OneCycle",
                "LinearAnnealing",
            ]
        )
    )
    cfg: dict = {}
    if policy == "step":
        cfg = {
            "step": sorted(draw(st.lists(st.integers(1, 12), min_size=1, max_size=3))),
            "gamma": draw(st.sampled_from([0.1, 0.5])),
        }
        if draw(st.booleans()):
            cfg["min_lr"] = draw(st.sampled_from([1e-3, 5e-3]))
    elif policy == "step-int":
        policy = "step"
        cfg = {"step": draw(st.integers(1, 6)), "gamma": 0.5}
    elif policy == "exp":
        cfg = {"gamma": draw(st.sampled_from([0.9, 0.99]))}
    elif policy == "poly":
        cfg = {
            "power": draw(st.sampled_from([0.9, 1.0, 2.0])),
            "min_lr": draw(st.sampled_from([0.0, 1e-4])),
        }
    elif policy == "inv":
        cfg = {"gamma": 0.1, "power": draw(st.sampled_from([0.5, 0.75]))}
    elif policy in ("CosineAnnealing", "LinearAnnealing"):
        cfg = draw(ratio_or_min)
    elif policy == "FlatCosineAnnealing":
        cfg = {**draw(ratio_or_min), "start_percent": draw(st.sampled_from([0.0, 0.25, 0.5, 0.75]))}
    elif policy == "CosineRestart":
        n = draw(st.integers(1, 3))
        cfg = {
            "periods": draw(st.lists(st.integers(1, 12), min_size=n, max_size=n)),
            "restart_weights": draw(
                st.lists(st.sampled_from([1.0, 0.5, 0.25]), min_size=n, max_size=n)
            ),
            **draw(ratio_or_min),
        }
    elif policy == "cyclic":
        cfg = {
            "target_ratio": draw(st.sampled_from([(10, 1e-4), (2.0, 0.1)])),
            "cyclic_times": draw(st.integers(1, 2)),
            "step_ratio_up": draw(st.sampled_from([0.0, 0.4])),
            "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
            "gamma": draw(st.sampled_from([1.0, 0.5])),
        }
    elif policy == "OneCycle":
        cfg = {
            "max_lr": draw(st.sampled_from([0.5, [0.3, 0.2, 0.1]])),
            "pct_start": draw(st.sampled_from([0.25, 0.3])),
            "three_phase": draw(st.booleans()),
            "anneal_strategy": draw(st.sampled_from(["cos", "linear"])),
        }
        if draw(st.booleans()):
            cfg["total_steps"] = max_iters + draw(st.integers(0, 5))
    cfg["policy"] = policy
    if policy not in ("cyclic", "OneCycle"):
        by_epoch = draw(st.sampled_from([None, True, False]))
        if by_epoch is not None:
            cfg["by_epoch"] = by_epoch
        cfg.update(draw(warmups))
    return cfg


@st.composite
def momentum_config(draw: st.DrawFn) -> dict | None:
    policy = draw(
        st.sampled_from([None, "step", "CosineAnnealing", "LinearAnnealing", "cyclic", "OneCycle"])
    )
    if policy is None:
        return None
    if policy == "step":
        cfg = {"step": draw(st.integers(1, 5)), "gamma": 0.5, "min_momentum": 0.3}
    elif policy in ("CosineAnnealing", "LinearAnnealing"):
        cfg = {"min_momentum_ratio": 0.5}
    elif policy == "cyclic":
        cfg = {
            "target_ratio": (0.85 / 0.95, 1.0),
            "cyclic_times": draw(st.integers(1, 2)),
            "step_ratio_up": 0.4,
        }
    else:
        cfg = {"base_momentum": 0.85, "max_momentum": 0.95, "pct_start": 0.3}
    if policy not in ("cyclic", "OneCycle"):
        cfg["by_epoch"] = draw(st.booleans())
        if not cfg["by_epoch"] and draw(st.booleans()):
            cfg.update(
                warmup=draw(st.sampled_from(["constant", "linear", "exp"])),
                warmup_iters=draw(st.integers(1, 6)),
                warmup_ratio=0.9,
            )
    cfg["policy"] = policy
    return cfg


@st.composite
def case(draw: st.DrawFn) -> dict:
    if draw(st.booleans()):
        loop = {"max_epochs": draw(st.integers(1, 4)), "length": draw(st.integers(1, 5))}
        total = loop["max_epochs"] * loop["length"]
    else:
        loop = {"max_iters": draw(st.integers(1, 24)), "length": draw(st.integers(1, 5))}
        total = loop["max_iters"]
    return {
        "loop": loop,
        "lr_config": draw(lr_config(total)),
        "momentum_config": draw(momentum_config()),
        "lrs": draw(st.lists(st.sampled_from([0.1, 0.02]), min_size=1, max_size=3)),
        "adam": draw(st.booleans()),
    }


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case())
def test_hooks_equal_mmcv_runners(data):
    if isinstance(data["lr_config"].get("max_lr"), list):
        data["lr_config"]["max_lr"] = data["lr_config"]["max_lr"][: len(data["lrs"])]
    compare(data, lambda: optimizer_for(Tiny(), data["lrs"], data["adam"]))


@pytest.mark.filterwarnings("ignore")
def test_gan_dict_of_optimizers_equal_mmcv():
    cfg = {
        "loop": {"max_iters": 20, "length": 4},
        "lr_config": {
            "policy": "poly",
            "power": 0.9,
            "min_lr": 1e-5,
            "warmup": "exp",
            "warmup_iters": 4,
        },
        "momentum_config": {
            "policy": "OneCycle",
            "base_momentum": {"gen": 0.8, "disc": 0.7},
            "max_momentum": 0.95,
            "pct_start": 0.4,
        },
    }

    def make():
        model = Tiny()
        return {
            "gen": torch.optim.Adam(model.a.parameters(), lr=1e-4, betas=(0.5, 0.999)),
            "disc": torch.optim.SGD(model.b.parameters(), lr=4e-4, momentum=0.9),
        }

    compare(cfg, make)
    cfg["lr_config"] = {"policy": "OneCycle", "max_lr": {"gen": 1e-3, "disc": 2e-3}}
    compare(cfg, make)


def test_by_epoch_hook_in_an_iteration_runner_changes_nothing():
    opt = GroupsOptimizer([{"lr": 0.1, "momentum": 0.9}], {"momentum": 0.9})
    schedule = LegacySchedule(
        opt,
        {
            "policy": "step",
            "step": [2],
            "by_epoch": True,
            "warmup": "linear",
            "warmup_iters": 3,
            "warmup_ratio": 0.1,
        },
        by_epoch_runner=False,
        max_iters=6,
    )
    assert [opt.param_groups[0]["lr"] for _ in schedule.iterations()] == [0.1] * 6


def test_warmup_by_epoch_fails_in_an_iteration_runner():
    opt = GroupsOptimizer([{"lr": 0.1}], {})
    schedule = LegacySchedule(
        opt,
        {"policy": "fixed", "warmup": "linear", "warmup_iters": 1, "warmup_by_epoch": True},
        by_epoch_runner=False,
        max_iters=3,
    )
    with pytest.raises(LegacyScheduleError, match="EpochBasedRunner"):
        list(schedule.iterations())


def test_unknown_policy_is_named():
    with pytest.raises(LegacyScheduleError, match="YOLOXLrUpdaterHook"):
        LegacySchedule(
            GroupsOptimizer([{"lr": 0.1}], {}),
            {"policy": "YOLOX"},
            by_epoch_runner=True,
            max_epochs=2,
        )


def test_mmgen_linear_policy_by_hand():
    # mmgen 0.7.3 LinearLrUpdaterHook (not in mmcv, so no oracle here): base lr until `start`,
    # then base + (target - base) * (max(0, i - start) // interval) / ((I - start) // interval).
    opts = {"g": GroupsOptimizer([{"lr": 2e-4}], {}), "d": GroupsOptimizer([{"lr": 1e-4}], {})}
    schedule = LegacySchedule(
        opts,
        {"policy": "Linear", "target_lr": 0.0, "start": 10, "interval": 5},
        by_epoch_runner=False,
        max_iters=30,
    )
    seen = {
        i: (opts["g"].param_groups[0]["lr"], opts["d"].param_groups[0]["lr"])
        for i in schedule.iterations()
    }
    assert seen[0] == seen[14] == (2e-4, 1e-4)
    assert seen[15] == pytest.approx((2e-4 * 3 / 4, 1e-4 * 3 / 4))
    assert seen[29] == pytest.approx((2e-4 / 4, 1e-4 / 4))
