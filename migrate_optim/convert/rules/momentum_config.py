"""MO302 ``momentum_config`` -> momentum schedulers in ``param_scheduler``.

docs/schedules.md#two-execution-models and #policy-mapping. mmcv's ``MomentumUpdaterHook``
works like the lr hook (closed form per epoch or iteration, ``by_epoch`` default True, with
*no* iteration-runner default), and MMEngine's momentum schedulers are the lr ones applied to
``momentum`` (or ``betas[0]`` for Adam-style optimizers, as mmcv's hooks did), so the same
mappings hold:

* ``CosineAnnealing`` -> ``CosineAnnealingMomentum(T_max=P, eta_min / eta_min_ratio, end=P)``;
* ``LinearAnnealing`` -> ``LinearMomentum(start_factor=1, end_factor=r, end=P+1)``;
* ``Step`` -> ``MultiStepMomentum`` / ``StepMomentum`` (mmcv's default ``gamma`` is 0.5);
* ``Cyclic`` -> a pair of ``CosineAnnealingMomentum`` (MMEngine has no cyclic momentum).

The schedulers are appended to the lr schedulers (a per-wrapper dict gets them in every entry).
Not converted (TODO): mmcv's momentum warmup (it divides the momentum by the ratio: no MMEngine
equivalent), ``OneCycle`` (it overwrites the optimizer's momentum with ``max_momentum`` and its
phases end at fractional iterations), ``step`` with ``min_momentum``, unknown policies, and the
cases the lr rule refuses for the same reasons (an iteration length inside an epoch runner).
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.rules import _schedule as sc
from migrate_optim.convert.rules import lr_config as lrc
from migrate_optim.convert.static import SDict, SList, SLit, SValue, lit
from migrate_optim.convert.translation import Translation

KEY = "momentum_config"
OUT = lrc.OUT

#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = (KEY,)


BASE_ARGS = ("policy", "by_epoch", "warmup", "warmup_iters", "warmup_ratio")
POLICY_ARGS: dict[str, tuple[str, ...]] = {
    "CosineAnnealing": ("min_momentum", "min_momentum_ratio"),
    "LinearAnnealing": ("min_momentum", "min_momentum_ratio"),
    "Step": ("step", "gamma", "min_momentum"),
    "Cyclic": ("target_ratio", "cyclic_times", "step_ratio_up", "anneal_strategy", "gamma"),
}


def _none(v: SValue | None) -> bool:
    return isinstance(v, SLit) and v.value is None


def apply(t: Translation) -> None:
    """Convert ``momentum_config`` into momentum schedulers (or leave it with a TODO)."""
    mc = t.cfg.get(KEY)
    if mc is None:
        return
    t.relate(OUT, KEY)
    if _none(mc):
        t.remove(KEY)
        return
    try:
        scheds = convert(t, mc)
    except lrc.Refused as exc:
        t.todo(
            FindingId.MOMENTUM_CONFIG, exc.reason, key=KEY, at=exc.at if exc.at is not None else mc
        )
        return
    current = t.out.get(OUT)
    if lrc.KEY in t.cfg.entries and lrc.KEY not in t.out:
        # the lr rule left lr_config with a TODO: one param_scheduler holds both, so the
        # momentum schedule waits with it
        t.todo(
            FindingId.MOMENTUM_CONFIG,
            "momentum_config has an exact 1.x form, but it goes into the same "
            "param_scheduler as lr_config, which is left for the user (see its TODO)",
            key=KEY,
            at=mc,
        )
        return
    if isinstance(current, SDict):
        new = current.copy()
        for name, v in current.items():
            items = list(v.items) if isinstance(v, SList) else [v]
            new.set(name, SList(items + scheds))
        t.set(OUT, new, sources=(KEY,))
    elif isinstance(current, SList):
        t.set(OUT, SList(list(current.items) + scheds), sources=(KEY,))
    elif scheds:
        t.set(OUT, SList(scheds), sources=(KEY,))
    t.remove(KEY)


def convert(t: Translation, mc: SValue) -> list[SDict]:
    """The momentum schedulers for a 0.x ``momentum_config``."""
    if not isinstance(mc, SDict):
        raise lrc.Refused("`momentum_config` is not a dict literal: convert by hand")
    if OUT in t.cfg.entries:
        raise lrc.Refused("both `momentum_config` and `param_scheduler` are set: merge by hand")
    policy = gc.literal_str(mc.get("policy"))
    if policy is None:
        raise lrc.Refused("momentum_config.policy is missing or not a string literal")
    name = lrc.policy_name(policy)
    if name == "OneCycle":
        raise lrc.Refused(
            "OneCycle momentum: mmcv overwrites the optimizer momentum with max_momentum and "
            "ends its phases at fractional iterations; MMEngine has no OneCycle momentum "
            "scheduler; convert by hand"
        )
    if name not in POLICY_ARGS:
        raise lrc.Refused(f"momentum policy {policy!r} is not known to the converter")
    unknown = [k for k in mc.keys() if k not in BASE_ARGS + POLICY_ARGS[name]]
    if unknown:
        raise lrc.Refused(
            f"momentum_config argument(s) {', '.join(unknown)} are not known to the converter",
            mc.entry(unknown[0]),
        )
    if "warmup" in mc and not _none(mc.get("warmup")):
        raise lrc.Refused(
            "momentum warmup: mmcv divides the momentum by the warmup ratio during the warmup; "
            "MMEngine has no equivalent; convert by hand",
            mc.entry("warmup"),
        )
    info = sc.runner_info(t)
    if name == "Cyclic":
        if lrc.static_bool(t, mc, "by_epoch", False, KEY):
            raise lrc.Refused("mmcv's cyclic momentum asserts by_epoch=False")
        return _cyclic(t, mc, info)
    by_epoch = lrc.static_bool(t, mc, "by_epoch", True, KEY)
    if by_epoch and info.kind == sc.ITER:
        raise lrc.Refused(
            "momentum_config.by_epoch is True (its default: the iteration runner sets no "
            "default for momentum) inside an iteration runner: the 0.x hook never changed the "
            "momentum (its epoch hook fires once); remove it, or set by_epoch=False if a "
            "schedule was meant"
        )
    if name == "Step":
        return [_step(t, mc, by_epoch)]
    floor = _floor(t, mc, name)
    if name == "CosineAnnealing":
        p = info.length(by_epoch)
        if p is None and info.kind == sc.EPOCH and not by_epoch:
            return [
                lrc.sched("CosineAnnealingMomentum", **floor, begin=lit(0), by_epoch=lit(False))
            ]
        p = lrc._length(info, by_epoch, "CosineAnnealing momentum")
        return [
            lrc.sched(
                "CosineAnnealingMomentum",
                T_max=p,
                **floor,
                begin=lit(0),
                end=p,
                by_epoch=lit(by_epoch),
            )
        ]
    p = lrc._length(info, by_epoch, "LinearAnnealing momentum")
    if "eta_min" in floor:
        if gc.number(floor["eta_min"], t.cfg) != 0:
            raise lrc.Refused(
                "LinearAnnealing momentum with an absolute min_momentum != 0: LinearMomentum "
                "scales by factors; convert by hand"
            )
        end_factor: SValue = lit(0.0)
    else:
        end_factor = floor["eta_min_ratio"]
        r = gc.number(end_factor, t.cfg)
        if r is None or not 0 <= r <= 1:
            raise lrc.Refused("min_momentum_ratio must be a static number in [0, 1]")
    return [
        lrc.sched(
            "LinearMomentum",
            start_factor=lit(1.0),
            end_factor=end_factor,
            begin=lit(0),
            end=lrc._end_plus_one(t, p),
            by_epoch=lit(by_epoch),
        )
    ]


def _floor(t: Translation, mc: SDict, policy: str) -> dict[str, SValue]:
    has_min = "min_momentum" in mc and not _none(mc.get("min_momentum"))
    has_ratio = "min_momentum_ratio" in mc and not _none(mc.get("min_momentum_ratio"))
    if has_min == has_ratio:
        raise lrc.Refused(
            f"mmcv's {policy} momentum needs exactly one of min_momentum and min_momentum_ratio"
        )
    if has_min:
        v = mc.get("min_momentum")
        assert v is not None
        return {"eta_min": v}
    v = mc.get("min_momentum_ratio")
    assert v is not None
    return {"eta_min_ratio": v}


def _step(t: Translation, mc: SDict, by_epoch: bool) -> SDict:
    step = mc.get("step")
    if step is None:
        raise lrc.Refused("momentum_config.step is missing (mmcv requires it)")
    if "min_momentum" in mc and not _none(mc.get("min_momentum")):
        raise lrc.Refused(
            "step momentum with min_momentum: MMEngine has no clamp; convert by hand",
            mc.entry("min_momentum"),
        )
    gamma = mc.get("gamma") or lit(0.5)
    pv = gc.python_value_or(step, t.cfg, None)
    if isinstance(pv, int) and not isinstance(pv, bool):
        return lrc.sched("StepMomentum", step_size=step, gamma=gamma, by_epoch=lit(by_epoch))
    if isinstance(pv, (list, tuple)) and all(isinstance(s, int) for s in pv):
        return lrc.sched(
            "MultiStepMomentum", milestones=lrc._as_list(step), gamma=gamma, by_epoch=lit(by_epoch)
        )
    raise lrc.Refused("momentum_config.step is neither a static int nor a list of ints")


def _cyclic(t: Translation, mc: SDict, info: sc.RunnerInfo) -> list[SDict]:
    if info.kind != sc.ITER:
        raise lrc.Refused(
            "cyclic momentum spans max_iters, which inside an epoch runner needs "
            "len(train_dataloader); the loader length is not known statically"
        )
    total = gc.integer(info.max_iters, t.cfg)
    if total is None:
        raise lrc.Refused("cyclic momentum needs a static max_iters")
    target = gc.python_value_or(mc.get("target_ratio") or lit((0.85 / 0.95, 1)), t.cfg, None)
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        target = (target, target / 1e5)
    if not (isinstance(target, (list, tuple)) and len(target) == 2):
        raise lrc.Refused("momentum_config.target_ratio is not a static number or pair")
    times = lrc.num(t, mc, "cyclic_times", 1, KEY)
    up_ratio = lrc.num(t, mc, "step_ratio_up", 0.4, KEY)
    strategy = gc.literal_str(mc.get("anneal_strategy")) or "cos"
    if times != 1 or strategy != "cos":
        raise lrc.Refused(
            "cyclic momentum with cyclic_times != 1 or linear annealing: no exact 1.x form"
        )
    assert up_ratio is not None
    up = int(up_ratio * total)
    if up <= 0 or up >= total:
        raise lrc.Refused("cyclic momentum whose up phase is empty or the whole run")
    f = lit(False)
    return [
        lrc.sched(
            "CosineAnnealingMomentum",
            T_max=lit(up),
            eta_min_ratio=lit(float(target[0])),
            begin=lit(0),
            end=lit(up + 1),
            by_epoch=f,
        ),
        lrc.sched(
            "CosineAnnealingMomentum",
            T_max=lit(total - up),
            eta_min_ratio=lit(float(target[1])),
            begin=lit(up),
            end=lit(total),
            by_epoch=f,
        ),
    ]
