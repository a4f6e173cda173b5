"""MO203/MO204 the GAN ``train_cfg``: model class, D/G schedule, and where every key goes in 1.x.

docs/gan.md (class keys, schedules, step mapping). In MMGeneration 0.x the top-level ``train_cfg``
(or ``model.train_cfg``) configures the *model*; in 1.x the top-level ``train_cfg`` is the
training loop, and the model settings are ``model`` arguments. Per 0.x class (aliases resolved):

* ``BasicConditionalGAN`` (``BasiccGAN``) reads ``disc_steps`` K, ``gen_steps`` S and
  ``batch_accumulation_steps`` B: if K % B == 0, ``model.discriminator_steps = K // B``,
  ``model.generator_steps = S`` and ``accumulative_counts = B`` in *both* sub-wrappers (omitted
  when 1). K % B != 0 has no 1.x form (MMagic ties G rounds to D steps): left with a TODO,
  never floor-divided.
* ``StaticUnconditionalGAN`` / ``MSPIEStyleGAN2``: ``discriminator_steps = disc_steps``,
  ``generator_steps = 1``; ``gen_steps``/``batch_accumulation_steps`` had no effect in 0.x and are
  dropped with a warning (translating them would change training). MSPIE's scale keys become
  ``model.train_settings``.
* ``CycleGAN`` / ``Pix2Pix``: ``discriminator_steps``, ``disc_init_steps``, ``real_img_key``
  (and CycleGAN's ``buffer_size``) into ``model``. For ``disc_steps > 1`` the G phase moves from
  ``i % k == 0`` to ``(i + 1) % k == 0`` and nothing restores it: converted, with a TODO.
* ``ProgressiveGrowingGAN`` and ``SinGAN``: see :mod:`.gan_pggan` and :mod:`.gan_singan`.

A value written as a module-level variable (``disc_steps=n_disc``) stays that expression.
Keys the 0.x class never read are dropped with an info finding (they had no effect). A model
class the spec does not cover (e.g. MMGeneration's ``BasicGaussianDiffusion``) is left with a
TODO. ``use_ema`` is consumed here; EMA itself is the EMA rule's (MO207).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate_optim.convert.findings import Severity
from migrate_optim.convert.rules import gan_common as gc
from migrate_optim.convert.rules import gan_pggan, gan_singan
from migrate_optim.convert.rules.gan_optimizer import ordered
from migrate_optim.convert.static import SDict, SEntry, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

RULE_ID = "MO203"
STEPS_ID = "MO204"
FINDING_IDS = (RULE_ID, STEPS_ID)

#: keys each family reads that only create/identify the EMA copy (handled by the EMA rule)
EMA_KEYS = ("use_ema",)
IGNORED_STEP_KEYS = ("gen_steps", "batch_accumulation_steps")
MSPIE_KEYS = ("num_upblocks", "multi_input_scales", "multi_scale_probability")


@dataclass
class Plan:
    """What a family handler decided: ``model`` entries to add and keys it consumed."""

    model: list[tuple[str, SValue, SEntry | None]] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)
    #: error notes (rule id, message, location) for the ``model`` key: converted, not exactly
    flagged: list[tuple[str, str, SValue | SEntry | None]] = field(default_factory=list)

    def put(self, key: str, value: SValue, like: SEntry | None = None) -> None:
        """Add ``model.<key> = value``."""
        self.model.append((key, value, like))


def apply(t: Translation) -> None:
    """Move the 0.x GAN train_cfg into ``model`` (and the wrappers) per class."""
    if not gc.applies(t):
        return
    ctx = gc.context(t)
    where = "model" if ctx.in_model else "train_cfg"
    label = "model.train_cfg" if ctx.in_model else "train_cfg"
    if not ctx.known:
        _unknown_class(t, ctx, where, label)
        return
    if gc.already_converted(t, ctx):
        return
    td = ctx.train_dict()
    if td is None:
        t.todo(
            RULE_ID,
            f"`{label}` is not a dict literal: its keys cannot be moved into `model`",
            key=where,
            at=ctx.train_cfg,
        )
        return
    if ctx.family in ("static", "mspie"):
        plan = _static(t, ctx, td, label)
    elif ctx.family == "conditional":
        plan = _conditional(t, ctx, td, label, where)
    elif ctx.family == "translation":
        plan = _translation(t, ctx, td, label)
    elif ctx.family == "pggan":
        plan = gan_pggan.plan(t, ctx, td, label, where)
    else:
        plan = gan_singan.plan(t, ctx, td, label, where)
    if plan is None:
        return
    plan.consumed.update(EMA_KEYS)
    for key, entry in td.entries.items():
        if key not in plan.consumed:
            t.note(
                RULE_ID,
                Severity.INFO,
                f"`{label}.{key}` dropped: {ctx.cls} never read it in 0.x, so it had no effect",
                at=entry,
            )
    assert ctx.model is not None
    model = ctx.model.without("train_cfg") if ctx.in_model else ctx.model.copy()
    existing = t.get("model")
    if isinstance(existing, SDict) and existing is not ctx.model:
        model = existing.without("train_cfg") if ctx.in_model else existing.copy()
    for key, value, like in plan.model:
        model.set(key, value, like=like)
    t.set("model", model, sources=() if ctx.in_model else ("train_cfg",))
    for rule_id, message, at in plan.flagged:
        t.todo(rule_id, message, key="model", at=at, blocking=False)
    if ctx.in_model:
        top = t.cfg.get("train_cfg")
        if top is not None and not gc.is_loop_cfg(top):
            if not (isinstance(top, SLit) and top.value is None):
                t.note(
                    RULE_ID,
                    Severity.INFO,
                    "top-level `train_cfg` dropped: the model read model.train_cfg instead, "
                    "so this one had no effect in 0.x",
                    at=top,
                )
            t.remove("train_cfg")
    elif "train_cfg" in t.cfg.entries:
        t.remove("train_cfg")


def _unknown_class(t: Translation, ctx: gc.GanContext, where: str, label: str) -> None:
    if t.codebase != "mmgen" or ctx.model is None:
        return  # MMEditing restorers etc.: their train_cfg is not a GAN schedule
    tc = ctx.train_cfg
    if tc is None or (isinstance(tc, SLit) and tc.value is None):
        return
    what = (
        f"model class {ctx.model_type!r} is not a GAN class the converter knows"
        if ctx.model_type
        else "model.type is not a string literal, so the 0.x class is unknown"
    )
    t.todo(
        RULE_ID,
        f"{what}: its "
        f"`{label}` (0.x model settings) must move into `model` by hand, and the 1.x loop "
        "`train_cfg` be written from total_iters",
        key=where,
        at=tc,
    )


# ---------------------------------------------------------------------------------------------
# Families


def ignored_steps(
    t: Translation,
    ctx: gc.GanContext,
    td: SDict,
    label: str,
    plan: Plan,
    rule_id: str = STEPS_ID,
) -> None:
    """Drop ``gen_steps``/``batch_accumulation_steps`` with a warning: only BasiccGAN read them.

    docs/gan.md#which-train_cfg-keys-each-class-reads: translating them for any other class would
    change training.
    """
    for key in IGNORED_STEP_KEYS:
        entry = td.entry(key)
        if entry is None:
            continue
        plan.consumed.add(key)
        t.note(
            rule_id,
            Severity.WARNING,
            f"`{label}.{key}` dropped: {ctx.cls} ignored it in 0.x (only BasicConditionalGAN "
            "reads it), so it is not translated; translating it would change training",
            at=entry,
        )


def _steps(td: SDict, key: str) -> tuple[SValue, SEntry | None]:
    entry = td.entry(key)
    return (entry.value, entry) if entry is not None else (lit(1), None)


def _static(t: Translation, ctx: gc.GanContext, td: SDict, label: str) -> Plan | None:
    plan = Plan()
    k, k_entry = _steps(td, "disc_steps")
    plan.put("discriminator_steps", k, k_entry)
    plan.put("generator_steps", lit(1))
    plan.consumed.add("disc_steps")
    ignored_steps(t, ctx, td, label, plan)
    rik = td.entry("real_img_key")
    if rik is not None:
        plan.consumed.add("real_img_key")
        t.note(
            RULE_ID,
            Severity.WARNING,
            f"`{label}.real_img_key` dropped: MMagic GANs take real images from "
            "inputs['img']; the 1.x data pipeline must provide them there",
            at=rik,
        )
    if ctx.family == "mspie":
        settings = gdict()
        for key in MSPIE_KEYS:
            entry = td.entry(key)
            if entry is not None:
                settings.set(key, entry.value, like=entry)
                plan.consumed.add(key)
        if settings.entries:
            plan.put("train_settings", settings)
    return plan


def _conditional(
    t: Translation, ctx: gc.GanContext, td: SDict, label: str, where: str
) -> Plan | None:
    """docs/gan.md#step-mapping: (K, S, B) -> (K // B, S, accumulative_counts=B) when K % B == 0."""
    plan = Plan()
    k, k_entry = _steps(td, "disc_steps")
    s, s_entry = _steps(td, "gen_steps")
    b, b_entry = _steps(td, "batch_accumulation_steps")
    plan.consumed.update(("disc_steps", "gen_steps", "batch_accumulation_steps"))
    kv, bv = gc.integer(k, t.cfg), gc.integer(b, t.cfg)
    if bv is None or (bv != 1 and kv is None):
        which = "batch_accumulation_steps" if bv is None else "disc_steps"
        t.todo(
            STEPS_ID,
            f"`{label}.{which}` is not statically known: whether disc_steps is a multiple of "
            "batch_accumulation_steps (required for an exact 1.x schedule) cannot be checked",
            key=where,
            at=b_entry if bv is None else k_entry,
        )
        return None
    if bv < 1 or (kv is not None and kv < 1):
        t.todo(
            STEPS_ID,
            f"`{label}` has disc_steps={kv}, batch_accumulation_steps={bv}: not a valid 0.x "
            "schedule",
            key=where,
            at=b_entry or k_entry,
        )
        return None
    if bv == 1:
        plan.put("discriminator_steps", k, k_entry)
        plan.put("generator_steps", s, s_entry)
        return plan
    assert kv is not None
    if kv % bv != 0:
        t.todo(
            STEPS_ID,
            f"disc_steps={kv} is not a multiple of batch_accumulation_steps={bv}: 0.x "
            f"updates G every {kv} iterations and D every {bv}, but MMagic starts a G round "
            "only after a D step ((i+1) % (discriminator_steps*accumulative_counts) == 0), so "
            f"no 1.x config has this schedule (disc_steps // batch_accumulation_steps = "
            f"{kv // bv} would update G every {max(kv // bv, 1) * bv} iterations); choose a "
            "new schedule by hand",
            key=where,
            at=b_entry,
        )
        return None
    ds = gc.combine(k, "//", b, t.cfg)
    assert ds is not None  # both are static integers here
    wrapper = t.get("optim_wrapper")
    subs = _gd_wrappers(wrapper)
    if wrapper is None and t.get("optimizer") is None and t.get("optimizers") is None:
        # a model base whose optimizers come from its children: they get the accumulation
        plan.put("discriminator_steps", ds, k_entry if ds is k else None)
        plan.put("generator_steps", s, s_entry)
        return plan
    if subs is None:
        t.todo(
            STEPS_ID,
            f"batch_accumulation_steps={bv} cannot be converted: optim_wrapper has no "
            "`generator` and `discriminator` sub-wrappers to carry accumulative_counts",
            key=where,
            at=b_entry,
        )
        return None
    if isinstance(ds, SLit) and not isinstance(k, SLit):
        t.note(
            STEPS_ID,
            Severity.INFO,
            f"model.discriminator_steps written as the value {ds.value}: disc_steps and "
            "batch_accumulation_steps are variables of different files",
            at=k_entry,
        )
    plan.put("discriminator_steps", ds, k_entry if ds is k else None)
    plan.put("generator_steps", s, s_entry)
    assert isinstance(wrapper, SDict)
    new = wrapper.copy()
    for name, sub in subs.items():
        sub2 = sub.copy()
        sub2.set("accumulative_counts", b, like=b_entry)
        new.set(name, ordered(sub2), like=wrapper.entry(name))
    t.set("optim_wrapper", new, sources=("train_cfg",) if not ctx.in_model else ())
    return plan


def _gd_wrappers(wrapper: SValue | None) -> dict[str, SDict] | None:
    if not isinstance(wrapper, SDict):
        return None
    out = {}
    for name in ("generator", "discriminator"):
        sub = wrapper.get(name)
        if not isinstance(sub, SDict) or "optimizer" not in sub:
            return None
        out[name] = sub
    return out


def _translation(t: Translation, ctx: gc.GanContext, td: SDict, label: str) -> Plan | None:
    """docs/gan.md#translation-models: same keys on the 1.x model, but G phase i%k -> (i+1)%k."""
    plan = Plan()
    k, k_entry = _steps(td, "disc_steps")
    plan.put("discriminator_steps", k, k_entry)
    plan.consumed.add("disc_steps")
    for key in ("disc_init_steps", "real_img_key") + (
        ("buffer_size",) if ctx.cls == "CycleGAN" else ()
    ):
        entry = td.entry(key)
        if entry is not None:
            plan.put(key, entry.value, entry)
            plan.consumed.add(key)
    ignored_steps(t, ctx, td, label, plan)
    ema = td.entry("use_ema")
    if ema is not None:
        plan.consumed.add("use_ema")
        t.note(
            RULE_ID,
            Severity.INFO,
            f"`{label}.use_ema` dropped: {ctx.cls} never read it in 0.x",
            at=ema,
        )
    kv = gc.integer(k, t.cfg)
    if kv is None or kv > 1:
        shown = kv if kv is not None else "(not static)"
        plan.flagged.append(
            (
                STEPS_ID,
                f"disc_steps={shown}: 0.x {ctx.cls} updated the generators at iterations "
                "i % disc_steps == 0 (from i=0), MMagic at (i+1) % discriminator_steps == 0; "
                "no 1.x config keeps the 0.x phase (converted with the shifted phase)",
                k_entry,
            )
        )
    return plan
