"""MO207 the 0.x EMA hook -> ``model.ema_config``.

docs/gan.md#ema. In 0.x ``train_cfg.use_ema`` only creates ``generator_ema``; the
``ExponentialMovingAverageHook`` in ``custom_hooks`` averages it, after every ``interval`` runner
iterations (from ``start_iter`` on; before it, it copies the generator), with
``ema = orig + (ema - orig) * m`` (``m`` = weight kept on the EMA copy, default 0.999; buffers
and frozen parameters use ``momentum_nontrainable``, default 0). In MMagic ``model.ema_config``
both creates and averages it, once per generator round (every ``R`` iterations, ``R`` =
``disc_steps`` of the 0.x class), with ``ema = (1 - momentum) * ema + momentum * src``. So:

* ``momentum = 1 - m``; ``interval = interval / R`` and ``start_iter = start_iter / R`` (a
  non-integer result has no 1.x form: TODO);
* ``update_buffers = (momentum_nontrainable == m)``; another ``momentum_nontrainable`` has no
  1.x form (TODO);
* ``momentum_policy='rampup'`` -> ``type='RampUpEMA'`` with every ``momentum_cfg`` value written
  (0.x's default ``batch_size`` is 4, MMagic's 32); exact only with one EMA step per iteration
  from iteration 0 (R == 1, start_iter == 0), since MMagic counts EMA steps where 0.x counted
  iterations;
* the hook is removed from ``custom_hooks``; ``use_ema`` without a hook (an EMA copy that was
  never averaged) is dropped with a warning.

Where ``start_iter`` is 0, MMagic's first EMA update copies the generator where 0.x averaged
it with the initial copy (a warning); with a 1.x ``interval`` above 1 the averaging phase moves
as well (TODO).
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.static import SDict, SEntry, SExpr, SList, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

HOOK_ARGS = {
    "type",
    "module_keys",
    "interp_mode",
    "interp_cfg",
    "interval",
    "start_iter",
    "momentum_policy",
    "momentum_cfg",
    "priority",
}
RAMPUP_DEFAULTS = (("ema_kimg", 10), ("ema_rampup", 0.05), ("batch_size", 4), ("eps", 1e-8))


class _Refuse(Exception):
    def __init__(self, message: str, at: SValue | SEntry | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ()
#: keys it consumes only where the GAN rules apply (``_gan.applies``)
GAN_KEYS: tuple[str, ...] = ("model", "custom_hooks")


def apply(t: Translation) -> None:
    """Turn the EMA hook of a GAN config into ``model.ema_config``."""
    if not gc.applies(t):
        return
    hooks = t.get("custom_hooks")
    ctx = gc.context(t)
    if isinstance(hooks, SExpr) and hooks.resolved is None and gc.EMA_HOOK in hooks.code:
        t.todo(
            FindingId.GAN_EMA,
            "EMA hook not converted: `custom_hooks` is not a list literal",
            key="custom_hooks",
            at=hooks,
        )
        return
    ema_items: list[tuple[SValue, SDict]] = []  # (list item, hook dict it stands for)
    if isinstance(hooks, SList):
        for item in hooks.items:
            d = item.resolved if isinstance(item, SExpr) else item  # `[ema_hook]`
            if isinstance(d, SDict) and gc.literal_str(d.get("type")) == gc.EMA_HOOK:
                ema_items.append((item, d))
    if not ema_items:
        _use_ema_without_hook(t, ctx)
        return
    assert isinstance(hooks, SList)
    item, hook = ema_items[0]
    try:
        if len(ema_items) > 1:
            raise _Refuse("several ExponentialMovingAverageHooks: merge them by hand", hooks)
        key, ema = _ema_config(t, ctx, hook)
    except _Refuse as exc:
        t.todo(
            FindingId.GAN_EMA,
            f"EMA hook not converted: {exc.message}",
            key="custom_hooks",
            at=exc.at,
        )
        return
    model = t.get("model")
    assert isinstance(model, SDict)
    model = model.copy()
    model.set(key, ema)
    t.set("model", model, sources=("custom_hooks",))
    t.set("custom_hooks", _without(hooks, item))


def _use_ema_without_hook(t: Translation, ctx: gc.GanContext) -> None:
    td = ctx.train_dict()
    if td is None or not ctx.known or ctx.family == "translation":
        return
    if "total_iters" not in t.cfg.entries:
        return  # not a config that trains by itself: a child may add the hook
    use = td.entry("use_ema")
    if use is not None and gc.python_value_or(use.value, t.cfg, None) is True:
        t.note(
            FindingId.GAN_EMA,
            Severity.WARNING,
            "`use_ema=True` without an ExponentialMovingAverageHook: 0.x created "
            "generator_ema but never averaged it (it kept its initial weights); the 1.x "
            "model gets no EMA copy (no ema_config), so sampling with sample_model='ema' needs "
            "an ema_config to be added",
            at=use,
        )


def _without(hooks: SList, hook: SValue) -> SList:
    """The hook list without ``hook``, reusing the original list node when possible."""
    import libcst as cst

    items = [i for i in hooks.items if i is not hook]
    node = hooks.node
    if isinstance(node, (cst.List, cst.Tuple)) and len(node.elements) == len(hooks.items):
        kept = [el for el, i in zip(node.elements, hooks.items) if i is not hook]
        if kept:
            last_orig = node.elements[-1]
            if kept[-1] is not last_orig:
                kept[-1] = kept[-1].with_changes(comma=last_orig.comma)
            node = node.with_changes(elements=kept)
        else:
            node = node.with_changes(elements=[])
    else:
        node = None
    return SList(items, hooks.kind, node=node, file=hooks.file, line=hooks.line)


def _rounds(t: Translation, ctx: gc.GanContext) -> int:
    """R: runner iterations per generator round in both versions (docs/gan.md#ema)."""
    if ctx.model is None:
        raise _Refuse("this config has no model, so the iterations per generator round are unknown")
    if not ctx.known:
        raise _Refuse(f"model class {ctx.model_type!r} is not a GAN class the converter knows")
    if ctx.family == "translation":
        raise _Refuse(f"{ctx.cls} has no EMA in MMagic (0.x ignored use_ema too)")
    if "model" not in t.out:
        raise _Refuse("the D/G schedule of this config was not converted (see the train_cfg TODO)")
    if ctx.family in ("pggan", "singan"):
        return 1  # PGGAN: one round per iteration; SinGAN: one 0.x iteration = one G round
    td = ctx.train_dict()
    assert td is not None
    k = td.get("disc_steps")
    r = gc.integer(k, t.cfg) if k is not None else 1
    if r is None or r < 1:
        raise _Refuse("disc_steps is not statically known")
    return r


def _ema_config(t: Translation, ctx: gc.GanContext, hook: SDict) -> tuple[str, SDict]:
    r = _rounds(t, ctx)
    for k in hook.keys():
        if k not in HOOK_ARGS:
            raise _Refuse(f"unknown hook argument `{k}` (0.x raised TypeError)", hook.entry(k))
    keys = gc.python_value_or(hook.get("module_keys"), t.cfg, None)
    if keys not in ("generator_ema", ("generator_ema",), ["generator_ema"]):
        raise _Refuse(
            f"module_keys={keys!r}: MMagic's ema_config averages only generator -> generator_ema",
            hook.entry("module_keys") or hook,
        )
    mode = "lerp"
    if "interp_mode" in hook:
        mode = gc.python_value_or(hook.get("interp_mode"), t.cfg, "?")
    if mode != "lerp":
        raise _Refuse(f"interp_mode={mode!r} is not 'lerp'", hook.entry("interp_mode"))
    interval_v = hook.get("interval")
    if interval_v is None:
        raise _Refuse(
            "no `interval`: the 0.x default -1 never averaged (generator_ema stayed a copy of "
            "the initial weights); MMagic has no such EMA",
            hook,
        )
    iv = gc.integer(interval_v, t.cfg)
    if iv is not None and iv <= 0:
        raise _Refuse(f"interval={iv}: 0.x never averaged; MMagic has no such EMA", interval_v)
    interval, why = gc.divide_exact(interval_v, r, t.cfg)
    if interval is None:
        raise _Refuse(
            f"interval / {r} (iterations per generator round) is not an integer: {why}",
            interval_v,
        )
    start_v = hook.get("start_iter")
    start: SValue | None = None
    start0 = 0
    if start_v is not None:
        start, why = gc.divide_exact(start_v, r, t.cfg)
        if start is None:
            raise _Refuse(
                f"start_iter / {r} (iterations per generator round) is not an integer: {why}",
                start_v,
            )
        start0 = gc.integer(start_v, t.cfg)  # type: ignore[assignment]
    interval1 = gc.integer(interval, t.cfg)
    if start0 is None and interval1 != 1:
        raise _Refuse(
            "start_iter is not statically known, and with a 1.x interval above 1 the averaging "
            "phase depends on it",
            start_v,
        )
    if start0 == 0 and (interval1 is None or interval1 > 1):
        raise _Refuse(
            f"1.x interval={interval1 if interval1 is not None else '?'} with start_iter=0: "
            "MMagic averages at its EMA steps 0 (a copy), k, 2k, ... where 0.x averaged at "
            "steps k-1, 2k-1, ...; no config keeps the 0.x phase",
            interval_v,
        )
    policy = "fixed"
    if "momentum_policy" in hook:
        policy = gc.python_value_or(hook.get("momentum_policy"), t.cfg, "?")
    interp = hook.get("interp_cfg")
    if interp is not None and not isinstance(interp, SDict):
        if not (isinstance(interp, SLit) and interp.value is None):
            raise _Refuse("interp_cfg is not a dict literal", interp)
        interp = None
    allowed = {"momentum", "momentum_nontrainable"}
    for k in interp.keys() if isinstance(interp, SDict) else []:
        if k not in allowed:
            raise _Refuse(f"interp_cfg.{k} is not an argument of lerp (0.x raised TypeError)")
    m_entry = interp.entry("momentum") if isinstance(interp, SDict) else None
    mn_entry = interp.entry("momentum_nontrainable") if isinstance(interp, SDict) else None
    m: SValue = m_entry.value if m_entry is not None else lit(0.999)
    ema = gdict()
    if policy == "fixed":
        update_buffers = _update_buffers(t, m, mn_entry)
        momentum = gc.one_minus(m, t.cfg)
        if momentum is None:
            raise _Refuse("interp_cfg.momentum is not a number or expression", m)
        ema.set("type", lit("ExponentialMovingAverage"))
        ema.set("interval", interval, like=_like(hook.entry("interval"), interval))
        ema.set("momentum", momentum)
        ema.set("update_buffers", lit(update_buffers))
    elif policy == "rampup":
        if r != 1 or start0 != 0:
            raise _Refuse(
                "momentum_policy='rampup' ramps by runner iterations in 0.x but by EMA steps in "
                "MMagic's RampUpEMA: equal only with one EMA step per iteration from iteration 0",
                hook.entry("momentum_policy"),
            )
        mn = gc.number(mn_entry.value, t.cfg) if mn_entry is not None else 0.0
        if mn != 0:
            raise _Refuse(
                "momentum_nontrainable with momentum_policy='rampup' has no 1.x form",
                mn_entry,
            )
        ema.set("type", lit("RampUpEMA"))
        ema.set("interval", interval, like=_like(hook.entry("interval"), interval))
        mcfg = hook.get("momentum_cfg")
        if mcfg is not None and not isinstance(mcfg, SDict):
            if not (isinstance(mcfg, SLit) and mcfg.value is None):
                raise _Refuse("momentum_cfg is not a dict literal", mcfg)
            mcfg = None
        for k in mcfg.keys() if isinstance(mcfg, SDict) else []:
            if k not in dict(RAMPUP_DEFAULTS):
                raise _Refuse(f"momentum_cfg.{k} is not a rampup argument (0.x TypeError)")
        for k, default in RAMPUP_DEFAULTS:
            e = mcfg.entry(k) if isinstance(mcfg, SDict) else None
            if e is not None:
                ema.set(k, e.value, like=e)
            else:
                ema.set(k, lit(default))
        ema.set("update_buffers", lit(False))
    else:
        raise _Refuse(f"momentum_policy={policy!r} is not 'fixed' or 'rampup'")
    if start_v is not None:
        assert start is not None
        ema.set("start_iter", start, like=_like(hook.entry("start_iter"), start))
    if start0 == 0 or start0 is None:
        t.note(
            FindingId.GAN_EMA,
            Severity.WARNING,
            f"EMA from iteration {'0' if start0 == 0 else 'start_iter (if 0)'}: MMagic's first "
            "EMA update copies the generator, 0.x averaged it with the initial EMA copy; the "
            "EMA weights differ by a term that decays with every update (training is "
            "unaffected)",
            at=hook,
        )
    key = "ema_confg" if ctx.family == "singan" else "ema_config"  # MMagic's SinGAN kwarg
    return key, ema


def _like(entry: SEntry | None, value: SValue | None) -> SEntry | None:
    """Keep the hook entry's provenance when the value is the one written there."""
    if entry is not None and value is entry.value:
        return entry
    return None


def _update_buffers(t: Translation, m: SValue, mn_entry: SEntry | None) -> bool:
    if mn_entry is None:
        mv = gc.number(m, t.cfg)
        if mv == 0:
            raise _Refuse("momentum=0 keeps the EMA equal to the generator: drop EMA instead", m)
        return False
    mn = mn_entry.value
    if isinstance(m, SExpr) and isinstance(mn, SExpr) and m.code == mn.code and m.file == mn.file:
        return True
    mv, mnv = gc.number(m, t.cfg), gc.number(mn, t.cfg)
    if mnv is not None and mnv == 0:
        return False
    if mv is not None and mnv is not None and mv == mnv:
        return True
    raise _Refuse(
        "interp_cfg.momentum_nontrainable is neither 0 nor equal to momentum: MMagic either "
        "copies or averages buffers with the same momentum",
        mn_entry,
    )
