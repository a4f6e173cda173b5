"""MO301 ``lr_config`` -> ``param_scheduler``; MO304 warmup with a floor; MO305 ``Linear`` interval.

docs/schedules.md#two-execution-models, #policy-mapping, #warmup and #linearlrinterval. mmcv's
``LrUpdaterHook`` computes the lr of epoch/iteration ``t`` in closed form and multiplies it by the
warmup factor of iteration ``t``; MMEngine's schedulers are chained, each multiplying (or, with a
floor, affinely updating) the current lr once per step, the value written at step ``g`` being the
one used by step ``g``. From the two models:

* ``fixed`` -> no scheduler; ``step`` -> ``MultiStepLR(milestones)`` or ``StepLR(step_size)``;
  ``exp`` -> ``ExponentialLR``; ``poly`` -> ``PolyLR(eta_min, power, begin=0, end=P+1)`` (``PolyLR``
  reaches its floor at ``end - 1``); ``CosineAnnealing`` -> ``CosineAnnealingLR(T_max=P, end=P)``
  (``min_lr_ratio`` -> ``eta_min_ratio``); ``FlatCosineAnnealing`` -> a cosine from
  ``round(P * start_percent)``; ``CosineRestart`` -> ``CosineRestartLR`` (exact iff the floor is 0
  or every restart weight is 1: mmcv restarts at ``w * base + (1 - w) * min_lr``); ``cyclic`` ->
  a pair of cosines; ``OneCycle`` -> ``OneCycleLR(by_epoch=False)``; ``LinearAnnealing`` and
  mmgen's ``Linear`` -> ``LinearLR(start_factor=1, ..., end=P+1)``.
* Warmups (iteration-based, ``by_epoch=False``) are chained with main schedulers that start at
  ``begin=0``: constant -> ``ConstantLR(factor=r, end=W+1)``; linear -> ``LinearLR(start_factor=r,
  end=W+1)``; exp -> ``ConstantLR(factor=r, end=1)`` (applied once, never restored) plus
  ``ExponentialLR(gamma=r ** (-1 / W), end=W+1)``.
* ``by_epoch`` is always written (MMEngine defaults to True; an ``IterBasedRunner`` defaulted the
  0.x hook to False). A ``by_epoch=True`` hook inside an iteration runner never changed the lr.
* ``P`` is ``max_epochs`` or ``max_iters`` of the 0.x runner; an iteration count inside an epoch
  runner needs ``len(train_dataloader)``, which is not static: such schedules (poly, flat cosine,
  cyclic, linear annealing, ``warmup_by_epoch``) are left with a TODO naming it; cosine and
  OneCycle let the runner fill ``end`` (exact).

Not converted (TODO with the reason, docs/schedules.md#policy-mapping): ``inv``; ``step`` with a
``min_lr`` that can bind; ``CosineRestart`` with a floor and restart weights below 1; mmdet
``YOLOX``, mmcls ``CosineAnnealingCooldown``, mmedit ``Reduce`` and every unknown policy.

MO304 (warning): a warmup chained with a main scheduler that has a non-zero floor (poly
``min_lr``, cosine ``min_lr``/``min_lr_ratio``) is not exact in MMEngine: the affine update does
not undo the warmup's scaling, and the difference persists. The finding states the largest
relative lr difference, computed by stepping both schedules over the whole run from the config's
values; an epoch-based main scheduler is untouched while the warmup runs if the warmup ends within
the first epoch (stated as a condition on ``len(train_dataloader)``).

MO305 (non-blocking TODO): mmgen/mmedit ``Linear`` with ``interval > 1`` has no exact 1.x form; it
becomes MMagic's ``LinearLrInterval`` per wrapper (absolute lr,
docs/schedules.md#linearlrinterval), with what differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.rules import _schedule as sc
from migrate_optim.convert.static import SDict, SEntry, SList, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

KEY = "lr_config"
OUT = "param_scheduler"

#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = (KEY,)


#: arguments of mmcv's LrUpdaterHook itself
BASE_ARGS = ("policy", "by_epoch", "warmup", "warmup_iters", "warmup_ratio", "warmup_by_epoch")
#: policy (mmcv hook name without ``LrUpdaterHook``) -> its own arguments
POLICY_ARGS: dict[str, tuple[str, ...]] = {
    "Fixed": (),
    "Step": ("step", "gamma", "min_lr"),
    "Exp": ("gamma",),
    "Poly": ("power", "min_lr"),
    "Inv": ("gamma", "power"),
    "CosineAnnealing": ("min_lr", "min_lr_ratio"),
    "FlatCosineAnnealing": ("start_percent", "min_lr", "min_lr_ratio"),
    "CosineRestart": ("periods", "restart_weights", "min_lr", "min_lr_ratio"),
    "Cyclic": ("target_ratio", "cyclic_times", "step_ratio_up", "anneal_strategy", "gamma"),
    "OneCycle": (
        "max_lr",
        "total_steps",
        "pct_start",
        "anneal_strategy",
        "div_factor",
        "final_div_factor",
        "three_phase",
    ),
    "LinearAnnealing": ("min_lr", "min_lr_ratio"),
    "Linear": ("target_lr", "start", "interval"),
}

#: policies with no exact MMEngine form (docs/schedules.md#policy-mapping) -> why
NO_EQUIVALENT: dict[str, str] = {
    "Inv": "the `inv` policy (base * (1 + gamma * t) ** -power) has no MMEngine scheduler",
    "Yolox": "mmdet's YOLOX policy has a package-specific 1.x scheduler that was not analysed",
    "YOLOX": "mmdet's YOLOX policy has a package-specific 1.x scheduler that was not analysed",
    "CosineAnnealingCooldown": (
        "mmcls's CosineAnnealingCooldown policy has no MMEngine scheduler that was analysed"
    ),
    "Reduce": (
        "mmedit's Reduce policy (MMagic ReduceLR plus its ReduceLRSchedulerHook) was not analysed"
    ),
}

#: policies mmcv forces to iteration-based (their hooks assert ``by_epoch=False``)
ITER_ONLY = ("Cyclic", "OneCycle")


class Refused(Exception):
    """No exact 1.x form: the key stays with a TODO giving ``reason``."""

    def __init__(self, reason: str, at: SValue | SEntry | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.at = at


@dataclass
class Main:
    """The converted main schedule: schedulers and what a chained warmup needs to know."""

    schedulers: list[SDict] = field(default_factory=list)
    #: a per-wrapper dict (absolute-valued schedulers) instead of a list
    per_wrapper: dict[str, list[SDict]] | None = None
    #: the main scheduler's floor, if non-zero: a schedule to measure the warmup error with
    floor: sc.FloorMain | None = None
    #: the floor could not be measured: why
    floor_unknown: str | None = None
    #: the floored main scheduler is epoch-based (untouched while an iteration warmup runs)
    floor_epochs: bool = False
    #: the main scheduler sets absolute values (a warmup cannot be chained with it)
    absolute: bool = False
    #: a finding the mapping needs, (id, message, blocking TODO?)
    notes: list[tuple[FindingId, str]] = field(default_factory=list)


def _none(v: SValue | None) -> bool:
    return isinstance(v, SLit) and v.value is None


def policy_name(policy: str) -> str:
    """mmcv's hook name for ``policy`` (an all-lower-case name is title-cased first)."""
    return policy.title() if policy == policy.lower() else policy


def sched(type_: str, **entries: SValue | None) -> SDict:
    """A generated scheduler dict (entries whose value is None are left out)."""
    d = gdict(type=lit(type_))
    for k, v in entries.items():
        if v is not None:
            d.set(k, sc.detach(v))
    return d


def apply(t: Translation) -> None:
    """Convert ``lr_config`` into ``param_scheduler`` (or leave it with a TODO)."""
    lc = t.cfg.get(KEY)
    if lc is None:
        return
    t.relate(OUT, KEY)
    if _none(lc):
        t.remove(KEY)  # no lr hook: a constant lr, which is MMEngine's default too
        return
    try:
        out = convert(t, lc)
    except Refused as exc:
        t.todo(FindingId.LR_CONFIG, exc.reason, key=KEY, at=exc.at if exc.at is not None else lc)
        return
    if out is not None:
        t.set(OUT, out, sources=(KEY,))
    t.remove(KEY)


def static_bool(t: Translation, lc: SDict, key: str, default: bool, owner: str = KEY) -> bool:
    """A boolean argument of ``lc`` (its default when absent); Refused when not static."""
    if key not in lc:
        return default
    v = gc.python_value_or(lc.get(key), t.cfg, None)
    if not isinstance(v, bool):
        raise Refused(f"{owner}.{key} is not a static boolean", lc.entry(key))
    return v


def num(
    t: Translation, lc: SDict, key: str, default: float | None = None, owner: str = KEY
) -> float | None:
    """A numeric argument as a number (Refused when present but not static)."""
    if key not in lc or _none(lc.get(key)):
        return default
    v = gc.number(lc.get(key), t.cfg)
    if v is None:
        raise Refused(f"{owner}.{key} is not a static number", lc.entry(key))
    return v


def convert(t: Translation, lc: SValue) -> SValue | None:
    """The 1.x ``param_scheduler`` value for a 0.x ``lr_config`` (None: no scheduler)."""
    if not isinstance(lc, SDict):
        raise Refused("`lr_config` is not a dict literal: convert by hand")
    if OUT in t.cfg.entries:
        raise Refused("both `lr_config` and `param_scheduler` are set: merge them by hand")
    policy = gc.literal_str(lc.get("policy"))
    if policy is None:
        raise Refused("lr_config.policy is missing or not a string literal: convert by hand")
    name = policy_name(policy)
    if name in NO_EQUIVALENT:
        raise Refused(NO_EQUIVALENT[name] + "; convert by hand", lc.entry("policy"))
    if name not in POLICY_ARGS:
        raise Refused(
            f"lr_config policy {policy!r} is not known to the converter; convert by hand",
            lc.entry("policy"),
        )
    unknown = [k for k in lc.keys() if k not in BASE_ARGS + POLICY_ARGS[name]]
    if unknown:
        raise Refused(
            f"lr_config argument(s) {', '.join(unknown)} of policy {policy!r} are not known to "
            "the converter; convert by hand",
            lc.entry(unknown[0]),
        )
    info = sc.runner_info(t)
    if name in ITER_ONLY:
        if static_bool(t, lc, "by_epoch", False):
            raise Refused(f"mmcv's {name} policy asserts by_epoch=False; this config did not run")
        by_epoch = False
    elif "by_epoch" in lc:
        by_epoch = static_bool(t, lc, "by_epoch", True)
    elif info.kind is None:
        raise Refused(
            f"lr_config.by_epoch defaults to True in an epoch runner and to False in an "
            f"iteration runner, and {info.problem}; set by_epoch and convert by hand"
        )
    else:
        by_epoch = info.kind == sc.EPOCH
    if by_epoch and info.kind == sc.ITER:
        raise Refused(
            "lr_config.by_epoch=True inside an iteration runner: the 0.x hook never changed the "
            "lr (its epoch hook fires once); remove it, or set by_epoch=False if a schedule "
            "was meant"
        )
    main = MAIN_BUILDERS[name](t, lc, by_epoch, info)
    warmups = warmup_schedulers(t, lc, info, main)
    for rule_id, message in main.notes:
        t.todo(rule_id, message, key=KEY, at=lc, blocking=False)
    if main.per_wrapper is not None:
        out = gdict()
        for wname, scheds in main.per_wrapper.items():
            out.set(wname, SList(warmups + scheds))
        return out
    scheds = warmups + main.schedulers
    return SList(scheds) if scheds else None


# -- warmup -----------------------------------------------------------------------------------


def warmup_schedulers(t: Translation, lc: SDict, info: sc.RunnerInfo, main: Main) -> list[SDict]:
    """The iteration-based warmup schedulers (docs/schedules.md#warmup), chained at begin=0."""
    kind_v = lc.get("warmup")
    if kind_v is None or _none(kind_v):
        return []
    kind = gc.literal_str(kind_v)
    if kind not in ("constant", "linear", "exp"):
        raise Refused(
            f"lr_config.warmup {kind!r}: mmcv accepts constant, linear or exp", lc.entry("warmup")
        )
    iters_v = lc.get("warmup_iters")
    w = gc.integer(iters_v, t.cfg) if iters_v is not None else None
    if iters_v is None or w is None or w <= 0:
        raise Refused("lr_config.warmup_iters is missing, not static or not positive")
    ratio = num(t, lc, "warmup_ratio", 0.1)
    assert ratio is not None
    if not 0 < ratio <= 1:
        raise Refused("lr_config.warmup_ratio must be in (0, 1] (mmcv asserts it)")
    if static_bool(t, lc, "warmup_by_epoch", False):
        raise Refused(
            "warmup_by_epoch=True: the warmup lasts warmup_iters * len(train_dataloader) "
            "iterations, and the loader length is not known statically; write the warmup "
            "by hand as an iteration-based scheduler with end = that count + 1"
        )
    if main.absolute:
        raise Refused(
            "a warmup with a policy whose 1.x scheduler sets absolute lr values (OneCycle, "
            "LinearLrInterval) cannot be chained; convert by hand"
        )
    assert iters_v is not None
    end = sc.plus_one(iters_v, t.cfg)
    ratio_v = lc.get("warmup_ratio") or lit(0.1)
    f = lit(False)
    if kind == "constant":
        out = [sched("ConstantLR", factor=ratio_v, by_epoch=f, begin=lit(0), end=end)]
    elif kind == "linear":
        out = [sched("LinearLR", start_factor=ratio_v, by_epoch=f, begin=lit(0), end=end)]
    else:
        gamma = lit(ratio ** (-1 / w))
        out = [
            sched("ConstantLR", factor=ratio_v, by_epoch=f, begin=lit(0), end=lit(1)),
            sched("ExponentialLR", gamma=gamma, by_epoch=f, begin=lit(0), end=end),
        ]
    _floor_finding(t, lc, info, main, kind, ratio, w)
    return out


def _floor_finding(
    t: Translation, lc: SDict, info: sc.RunnerInfo, main: Main, kind: str, ratio: float, w: int
) -> None:
    if main.floor is None and main.floor_unknown is None and not main.floor_epochs:
        return
    if main.floor_unknown is not None:
        t.todo(
            FindingId.WARMUP_FLOOR,
            "warmup chained with a main scheduler that has a non-zero floor is not exact in "
            f"MMEngine, and the largest difference cannot be computed: "
            f"{main.floor_unknown}; check the schedule",
            key=KEY,
            at=lc.entry("warmup"),
            blocking=False,
        )
        return
    if main.floor_epochs:
        t.note(
            FindingId.WARMUP_FLOOR,
            Severity.WARNING,
            f"warmup chained with an epoch-based scheduler with a non-zero floor: exact only "
            f"if warmup_iters ({w}) <= len(train_dataloader) (the warmup then ends before the "
            "first epoch step); otherwise the lr differs for the rest of the run",
            at=lc.entry("warmup"),
        )
        return
    length = gc.integer(info.max_iters, t.cfg)
    bases = base_lrs(t)
    if main.floor is None or length is None or not bases:
        t.todo(
            FindingId.WARMUP_FLOOR,
            "warmup chained with a main scheduler that has a non-zero floor is not exact in "
            "MMEngine, and the largest difference cannot be computed (max_iters or "
            "the base lr is not static); check the schedule",
            key=KEY,
            at=lc.entry("warmup"),
            blocking=False,
        )
        return
    worst, at, base = 0.0, 0, bases[0]
    for b in bases:
        dev, g = sc.warmup_floor_deviation(main.floor, kind, ratio, w, length, b)
        if dev > worst:
            worst, at, base = dev, g, b
    if worst < 1e-9:
        return
    t.note(
        FindingId.WARMUP_FLOOR,
        Severity.WARNING,
        f"{kind} warmup chained with a main scheduler with a non-zero floor: MMEngine's "
        f"chained schedulers do not undo the warmup scaling, the lr differs from 0.x by up to "
        f"{worst:.3%} (iteration {at}, base lr {base:g}) and a difference persists after the "
        "warmup; set the floor to 0 for an exact schedule",
        at=lc.entry("warmup"),
    )


def base_lrs(t: Translation) -> list[float]:
    """The static base lr of each optimizer (one per GAN wrapper), or [] if any is unknown."""
    wrapper = t.get("optim_wrapper")
    opts: list[SValue | None] = []
    if isinstance(wrapper, SDict) and isinstance(wrapper.get("optimizer"), SDict):
        opts.append(wrapper.get("optimizer"))
    elif isinstance(wrapper, SDict):
        opts += [s.get("optimizer") for _, s in wrapper.items() if isinstance(s, SDict)]
    else:
        opts.append(t.cfg.get("optimizer"))
    out = []
    for o in opts:
        v = gc.number(o.get("lr"), t.cfg) if isinstance(o, SDict) else None
        if v is None or v <= 0:
            return []
        out.append(float(v))
    return out


# -- main schedules ---------------------------------------------------------------------------


def _length(info: sc.RunnerInfo, by_epoch: bool, policy: str) -> SValue:
    p = info.length(by_epoch)
    if p is not None:
        return p
    if info.kind == sc.EPOCH and not by_epoch:
        raise Refused(
            f"an iteration-based {policy} schedule inside an epoch runner needs max_iters = "
            "max_epochs * len(train_dataloader), and the loader length is not known "
            "statically; write the scheduler's end by hand"
        )
    raise Refused(f"the {policy} schedule needs the runner's length, which is not set")


def _floor_args(
    t: Translation, lc: SDict, policy: str
) -> tuple[dict[str, SValue], float | None, float | None]:
    """``eta_min``/``eta_min_ratio`` from ``min_lr``/``min_lr_ratio`` (exactly one is set)."""
    has_min = "min_lr" in lc and not _none(lc.get("min_lr"))
    has_ratio = "min_lr_ratio" in lc and not _none(lc.get("min_lr_ratio"))
    if has_min == has_ratio:
        raise Refused(f"mmcv's {policy} policy needs exactly one of min_lr and min_lr_ratio")
    if has_min:
        v = lc.get("min_lr")
        assert v is not None
        return {"eta_min": v}, gc.number(v, t.cfg), None
    v = lc.get("min_lr_ratio")
    assert v is not None
    return {"eta_min_ratio": v}, None, gc.number(v, t.cfg)


def _fixed(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    return Main()


def _step(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    step = lc.get("step")
    if step is None:
        raise Refused("lr_config.step is missing (mmcv requires it)")
    gamma = lc.get("gamma") or lit(0.1)
    be = lit(by_epoch)
    pv = gc.python_value_or(step, t.cfg, None)
    if isinstance(pv, int) and not isinstance(pv, bool):
        main = sched("StepLR", step_size=step, gamma=gamma, by_epoch=be)
        decays = None
        length = gc.integer(info.length(by_epoch), t.cfg)
        if length is not None:
            decays = (length - 1) // pv
    elif isinstance(pv, (list, tuple)) and all(isinstance(s, int) for s in pv):
        main = sched("MultiStepLR", milestones=_as_list(step), gamma=gamma, by_epoch=be)
        decays = len(pv)
    else:
        raise Refused("lr_config.step is neither a static int nor a list of ints", lc.entry("step"))
    if "min_lr" in lc and not _none(lc.get("min_lr")):
        _min_lr_never_binds(t, lc, decays)
    return Main([main])


def _as_list(v: SValue) -> SValue:
    """Milestones are written as a list (a 0.x tuple works in both)."""
    if isinstance(v, SList) and v.kind == "tuple":
        return SList(list(v.items))
    return v


def _min_lr_never_binds(t: Translation, lc: SDict, decays: int | None) -> None:
    """``step`` with ``min_lr``: exact only if the clamp never binds; prove it or refuse."""
    min_lr = num(t, lc, "min_lr")
    gamma = num(t, lc, "gamma", 0.1)
    bases = base_lrs(t)
    pw = t.get("optim_wrapper")
    paramwise = isinstance(pw, SDict) and "paramwise_cfg" in pw
    why = None
    if decays is None:
        why = "the number of decays during the run is not static"
    elif not bases or paramwise:
        why = "the base lr of every param group is not static"
    if why is None:
        assert min_lr is not None and gamma is not None and decays is not None
        lowest = min(bases) * gamma**decays
        if lowest >= min_lr:
            t.note(
                FindingId.LR_CONFIG,
                Severity.INFO,
                f"lr_config.min_lr={min_lr:g} dropped: the lr never falls below it (lowest "
                f"{lowest:g}), so mmcv's clamp never bound",
                at=lc.entry("min_lr"),
            )
            return
        why = f"the lr falls to {lowest:g}, below it"
    raise Refused(
        f"step policy with min_lr: MMEngine has no clamp and {why}; exact only while "
        "base * gamma ** k >= min_lr (a custom scheduler is needed); convert by hand",
        lc.entry("min_lr"),
    )


def _exp(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    gamma = lc.get("gamma")
    if gamma is None:
        raise Refused("lr_config.gamma is missing (mmcv's exp policy requires it)")
    return Main([sched("ExponentialLR", gamma=gamma, by_epoch=lit(by_epoch))])


def _poly(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    p = _length(info, by_epoch, "poly")
    min_lr = lc.get("min_lr") or lit(0.0)
    power = lc.get("power") or lit(1.0)
    s = sched(
        "PolyLR",
        eta_min=min_lr,
        power=power,
        begin=lit(0),
        end=_end_plus_one(t, p),
        by_epoch=lit(by_epoch),
    )
    main = Main([s])
    m, pw_, n = gc.number(min_lr, t.cfg), gc.number(power, t.cfg), gc.integer(p, t.cfg)
    if m != 0:
        if by_epoch:
            main.floor_epochs = True
        elif m is None or pw_ is None or n is None:
            main.floor_unknown = "min_lr, power or max_iters is not static"
        else:
            main.floor = sc.poly_main(pw_, m, n)
    return main


def _end_plus_one(t: Translation, p: SValue) -> SValue:
    end = sc.plus_one(p, t.cfg)
    if end is None:
        raise Refused("the runner's length is not a static value: write end = length + 1")
    return end


def _cosine(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    floor, m, ratio = _floor_args(t, lc, "CosineAnnealing")
    p = info.length(by_epoch)
    if p is None and info.kind == sc.EPOCH and not by_epoch:
        # the runner fills end = max_iters and T_max defaults to end - begin (exact,
        # docs/schedules.md#policy-mapping)
        s = sched("CosineAnnealingLR", **floor, begin=lit(0), by_epoch=lit(False))
    else:
        p = _length(info, by_epoch, "CosineAnnealing")
        s = sched(
            "CosineAnnealingLR", T_max=p, **floor, begin=lit(0), end=p, by_epoch=lit(by_epoch)
        )
    main = Main([s])
    _cosine_floor(t, main, m, ratio, by_epoch, info, 0)
    return main


def _cosine_floor(
    t: Translation,
    main: Main,
    m: float | None,
    ratio: float | None,
    by_epoch: bool,
    info: sc.RunnerInfo,
    begin: int,
) -> None:
    if m == 0 or ratio == 0:
        return
    if by_epoch:
        main.floor_epochs = True
        return
    n = gc.integer(info.max_iters, t.cfg) if info.kind == sc.ITER else None
    if n is None or (m is None and ratio is None):
        main.floor_unknown = "the floor or max_iters is not static"
        return
    main.floor = sc.cosine_main(m, ratio, n, begin)


def _flat_cosine(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    floor, m, ratio = _floor_args(t, lc, "FlatCosineAnnealing")
    p = _length(info, by_epoch, "FlatCosineAnnealing")
    n = gc.integer(p, t.cfg)
    pct = num(t, lc, "start_percent", 0.75)
    assert pct is not None
    if n is None:
        raise Refused("FlatCosineAnnealing needs a static runner length to place the flat phase")
    if not 0 <= pct <= 1:
        raise Refused("lr_config.start_percent must be in [0, 1] (mmcv asserts it)")
    start = round(n * pct)
    if start >= n:
        return Main()  # the flat phase covers the whole run
    s = sched(
        "CosineAnnealingLR",
        T_max=lit(n - start),
        **floor,
        begin=lit(start),
        end=lit(n),
        by_epoch=lit(by_epoch),
    )
    main = Main([s])
    _cosine_floor(t, main, m, ratio, by_epoch, info, start)
    return main


def _cosine_restart(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    floor, m, ratio = _floor_args(t, lc, "CosineRestart")
    periods = lc.get("periods")
    if periods is None:
        raise Refused("lr_config.periods is missing (mmcv requires it)")
    weights_v = lc.get("restart_weights") or SList([lit(1)])
    weights = gc.python_value_or(weights_v, t.cfg, None)
    pv = gc.python_value_or(periods, t.cfg, None)
    if not isinstance(weights, (list, tuple)) or not isinstance(pv, (list, tuple)):
        raise Refused("lr_config.periods / restart_weights are not static lists")
    if len(weights) != len(pv):
        raise Refused("periods and restart_weights differ in length (mmcv asserts they match)")
    if m != 0 and ratio != 0 and any(w != 1 for w in weights):
        raise Refused(
            "CosineRestart with a non-zero floor and restart weights below 1: mmcv restarts at "
            "w * base + (1 - w) * min_lr, MMEngine at w * base; no exact 1.x form"
        )
    s = sched(
        "CosineRestartLR",
        periods=_as_list(periods),
        restart_weights=_as_list(weights_v),
        **floor,
        begin=lit(0),
        by_epoch=lit(by_epoch),
    )
    main = Main([s])
    if m != 0 and ratio != 0:
        main.floor_unknown = "CosineRestart's floor is not simulated by the converter"
    return main


def _cyclic(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    if info.kind != sc.ITER:
        raise Refused(
            "the cyclic policy spans max_iters, which inside an epoch runner is max_epochs * "
            "len(train_dataloader); the loader length is not known statically"
        )
    total = gc.integer(info.max_iters, t.cfg)
    if total is None:
        raise Refused("the cyclic policy needs a static max_iters")
    target = gc.python_value_or(lc.get("target_ratio") or lit((10, 1e-4)), t.cfg, None)
    if isinstance(target, (int, float)) and not isinstance(target, bool):
        target = (target, target / 1e5)
    if not (isinstance(target, (list, tuple)) and len(target) == 2):
        raise Refused("lr_config.target_ratio is not a static number or pair")
    times = num(t, lc, "cyclic_times", 1)
    up_ratio = num(t, lc, "step_ratio_up", 0.4)
    strategy = gc.literal_str(lc.get("anneal_strategy")) or "cos"
    if times != 1:
        raise Refused(
            "cyclic policy with cyclic_times != 1: each cycle restarts at the base lr, which "
            "chained schedulers cannot express exactly; convert by hand"
        )
    if strategy != "cos":
        raise Refused(
            "cyclic policy with anneal_strategy='linear': MMEngine's LinearLR cannot raise the "
            "lr above its base (end_factor <= 1); convert by hand"
        )
    assert up_ratio is not None
    up = int(up_ratio * total)
    if up <= 0 or up >= total:
        raise Refused("cyclic policy whose up phase is empty or the whole run; convert by hand")
    a, b = float(target[0]), float(target[1])
    f = lit(False)
    scheds = [
        sched(
            "CosineAnnealingLR",
            T_max=lit(up),
            eta_min_ratio=lit(a),
            begin=lit(0),
            end=lit(up + 1),
            by_epoch=f,
        ),
        sched(
            "CosineAnnealingLR",
            T_max=lit(total - up),
            eta_min_ratio=lit(b),
            begin=lit(up),
            end=lit(total),
            by_epoch=f,
        ),
    ]
    main = Main(scheds)
    main.floor_unknown = "the cyclic pair's floors are not simulated by the converter"
    return main


def _one_cycle(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    max_lr = lc.get("max_lr")
    if max_lr is None:
        raise Refused("lr_config.max_lr is missing (mmcv requires it)")
    args = {}
    for k in (
        "total_steps",
        "pct_start",
        "anneal_strategy",
        "div_factor",
        "final_div_factor",
        "three_phase",
    ):
        v = lc.get(k)
        if v is not None and not _none(v):
            args[k] = v
    main = Main(absolute=True)
    if isinstance(max_lr, SDict):
        names = _wrapper_names(t)
        if names is None or set(names) != set(max_lr.keys()):
            raise Refused(
                "OneCycle max_lr is a dict whose keys are not exactly the optimizer wrappers: "
                "convert by hand",
                lc.entry("max_lr"),
            )
        main.per_wrapper = {
            n: [sched("OneCycleLR", eta_max=max_lr.get(n), **args, by_epoch=lit(False))]
            for n in max_lr.keys()
        }
        return main
    main.schedulers = [sched("OneCycleLR", eta_max=max_lr, **args, by_epoch=lit(False))]
    return main


def _linear_annealing(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    floor, m, ratio = _floor_args(t, lc, "LinearAnnealing")
    p = _length(info, by_epoch, "LinearAnnealing")
    if "eta_min" in floor:
        if m != 0:
            raise Refused(
                "LinearAnnealing with an absolute min_lr: LinearLR scales each param group by "
                "the same factors, exact only for min_lr=0 or min_lr_ratio; convert by hand",
                lc.entry("min_lr"),
            )
        end_factor: SValue = lit(0.0)
    else:
        end_factor = floor["eta_min_ratio"]
        if ratio is None or not 0 <= ratio <= 1:
            raise Refused("LinearAnnealing min_lr_ratio must be a static number in [0, 1]")
    s = sched(
        "LinearLR",
        start_factor=lit(1.0),
        end_factor=end_factor,
        begin=lit(0),
        end=_end_plus_one(t, p),
        by_epoch=lit(by_epoch),
    )
    return Main([s])


def _linear(t: Translation, lc: SDict, by_epoch: bool, info: sc.RunnerInfo) -> Main:
    """mmgen/mmedit ``LinearLrUpdaterHook(target_lr, start, interval)``.

    docs/schedules.md#policy-mapping and #linearlrinterval.
    """
    p = _length(info, by_epoch, "Linear")
    n = gc.integer(p, t.cfg)
    target = num(t, lc, "target_lr", 0)
    start = gc.integer(lc.get("start") or lit(0), t.cfg)
    interval = gc.integer(lc.get("interval") or lit(1), t.cfg)
    if n is None or start is None or interval is None or target is None:
        raise Refused("the Linear policy needs static target_lr, start, interval and length")
    if interval < 1 or n < start:
        raise Refused("Linear policy with interval < 1 or start past the end (mmcv asserts)")
    if n == start:
        return Main()  # mmgen keeps the base lr
    start_v = lc.get("start") or lit(0)
    if interval == 1:
        bases = base_lrs(t)
        if target != 0 and len(set(bases)) != 1:
            raise Refused(
                "Linear policy with target_lr != 0: LinearLR scales each optimizer by the same "
                "factor, exact only with one base lr, and the base lrs are "
                + ("different" if bases else "not static")
            )
        end_factor = lit(0.0) if target == 0 else lit(target / bases[0])
        if target != 0 and not 0 <= target / bases[0] <= 1:
            raise Refused("Linear policy with target_lr above the base lr: LinearLR cannot")
        s = sched(
            "LinearLR",
            start_factor=lit(1.0),
            end_factor=end_factor,
            begin=start_v,
            end=_end_plus_one(t, p),
            by_epoch=lit(by_epoch),
        )
        return Main([s])
    return _linear_interval(t, lc, by_epoch, p, start_v)


def _linear_interval(t: Translation, lc: SDict, by_epoch: bool, p: SValue, start_v: SValue) -> Main:
    """``interval > 1``: MMagic's ``LinearLrInterval`` per wrapper, with what differs
    (docs/schedules.md#linearlrinterval)."""
    names = _wrapper_names(t)
    wrapper = t.get("optim_wrapper")
    target = lc.get("target_lr") or lit(0)

    def one(lr: SValue | None) -> SDict:
        return sched(
            "LinearLrInterval",
            start_factor=lr,
            end_factor=target,
            begin=start_v,
            end=p,
            interval=lc.get("interval"),
            by_epoch=lit(by_epoch),
        )

    main = Main(absolute=True)
    if names:
        assert isinstance(wrapper, SDict)
        per: dict[str, list[SDict]] = {}
        for n in names:
            sub = wrapper.get(n)
            opt = sub.get("optimizer") if isinstance(sub, SDict) else None
            lr = opt.get("lr") if isinstance(opt, SDict) else None
            if lr is None:
                raise Refused(f"the lr of optimizer {n!r} is not known: convert by hand")
            per[n] = [one(lr)]
        main.per_wrapper = per
    else:
        opt = wrapper.get("optimizer") if isinstance(wrapper, SDict) else None
        lr = opt.get("lr") if isinstance(opt, SDict) else None
        if lr is None:
            raise Refused("the optimizer lr is not known: convert by hand")
        main.schedulers = [one(lr)]
    main.notes.append(
        (
            FindingId.LINEAR_INTERVAL,
            "Linear policy with interval > 1 has no exact 1.x form; it became MMagic's "
            "LinearLrInterval, which differs: the lr at iteration `start` is "
            "base * start_factor (base squared) for one iteration, every later change comes one "
            "iteration late, param-wise lr multipliers are lost (absolute values), and each "
            "optimizer needs its own entry (written per wrapper here); LinearLrInterval is "
            "registered by mmagic, not MMEngine",
        )
    )
    return main


def _wrapper_names(t: Translation) -> list[str] | None:
    """The sub-wrapper names of a multi-optimizer ``optim_wrapper`` (None if single)."""
    wrapper = t.get("optim_wrapper")
    if not isinstance(wrapper, SDict) or "optimizer" in wrapper:
        return None
    names = [n for n, s in wrapper.items() if isinstance(s, SDict) and "optimizer" in s]
    return names or None


MAIN_BUILDERS = {
    "Fixed": _fixed,
    "Step": _step,
    "Exp": _exp,
    "Poly": _poly,
    "CosineAnnealing": _cosine,
    "FlatCosineAnnealing": _flat_cosine,
    "CosineRestart": _cosine_restart,
    "Cyclic": _cyclic,
    "OneCycle": _one_cycle,
    "LinearAnnealing": _linear_annealing,
    "Linear": _linear,
}
