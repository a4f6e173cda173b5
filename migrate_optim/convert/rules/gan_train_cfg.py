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
* ``ProgressiveGrowingGAN`` and ``SinGAN``: see the helper modules :mod:`._pggan` and
  :mod:`._singan`.

A value written as a module-level variable (``disc_steps=n_disc``) stays that expression.
Keys the 0.x class never read are dropped with an info finding (they had no effect). A model
class docs/gan.md does not cover (e.g. MMGeneration's ``BasicGaussianDiffusion``) is left with a
TODO. ``use_ema`` is consumed here; EMA itself is the EMA rule's (MO207).
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.rules import _pggan, _singan
from migrate_optim.convert.static import SDict, SEntry, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

#: keys each family reads that only create/identify the EMA copy (handled by the EMA rule)
EMA_KEYS = ("use_ema",)
MSPIE_KEYS = ("num_upblocks", "multi_input_scales", "multi_scale_probability")


#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ("train_cfg", "optim_wrapper", "optimizer", "optimizers")
#: keys it consumes only where the GAN rules apply (``_gan.applies``)
GAN_KEYS: tuple[str, ...] = ("model",)


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
            FindingId.GAN_TRAIN_CFG,
            f"`{label}` is not a dict literal: its keys cannot be moved into `model`",
            key=where,
            at=ctx.train_cfg,
        )
        return
    if ctx.family in ("static", "mspie"):
        moved = _static(t, ctx, td, label)
    elif ctx.family == "conditional":
        moved = _conditional(t, ctx, td, label, where)
    elif ctx.family == "translation":
        moved = _translation(t, ctx, td, label)
    elif ctx.family == "pggan":
        moved = _pggan.model_settings(t, ctx, td, label, where)
    else:
        moved = _singan.model_settings(t, ctx, td, label, where)
    if moved is None:
        return
    moved.consumed.update(EMA_KEYS)
    for key, entry in td.entries.items():
        if key not in moved.consumed:
            t.note(
                FindingId.GAN_TRAIN_CFG,
                Severity.INFO,
                f"`{label}.{key}` dropped: {ctx.cls} never read it in 0.x, so it had no effect",
                at=entry,
            )
    assert ctx.model is not None
    model = ctx.model.without("train_cfg") if ctx.in_model else ctx.model.copy()
    existing = t.get("model")
    if isinstance(existing, SDict) and existing is not ctx.model:
        model = existing.without("train_cfg") if ctx.in_model else existing.copy()
    for key, value, like in moved.model:
        model.set(key, value, like=like)
    t.set("model", model, sources=() if ctx.in_model else ("train_cfg",))
    for rule_id, message, at in moved.flagged:
        t.todo(rule_id, message, key="model", at=at, blocking=False)
    if ctx.in_model:
        top = t.cfg.get("train_cfg")
        if top is not None and not gc.is_loop_cfg(top):
            if not (isinstance(top, SLit) and top.value is None):
                t.note(
                    FindingId.GAN_TRAIN_CFG,
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
        FindingId.GAN_TRAIN_CFG,
        f"{what}: its "
        f"`{label}` (0.x model settings) must move into `model` by hand, and the 1.x loop "
        "`train_cfg` be written from total_iters",
        key=where,
        at=tc,
    )


# ---------------------------------------------------------------------------------------------
# Families


def _steps(td: SDict, key: str) -> tuple[SValue, SEntry | None]:
    entry = td.entry(key)
    return (entry.value, entry) if entry is not None else (lit(1), None)


def _static(t: Translation, ctx: gc.GanContext, td: SDict, label: str) -> gc.ModelSettings | None:
    moved = gc.ModelSettings()
    k, k_entry = _steps(td, "disc_steps")
    moved.put("discriminator_steps", k, k_entry)
    moved.put("generator_steps", lit(1))
    moved.consumed.add("disc_steps")
    gc.ignored_steps(t, ctx, td, label, moved)
    rik = td.entry("real_img_key")
    if rik is not None:
        moved.consumed.add("real_img_key")
        t.note(
            FindingId.GAN_TRAIN_CFG,
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
                moved.consumed.add(key)
        if settings.entries:
            moved.put("train_settings", settings)
    return moved


def _conditional(
    t: Translation, ctx: gc.GanContext, td: SDict, label: str, where: str
) -> gc.ModelSettings | None:
    """docs/gan.md#step-mapping: (K, S, B) -> (K // B, S, accumulative_counts=B) when K % B == 0."""
    moved = gc.ModelSettings()
    k, k_entry = _steps(td, "disc_steps")
    s, s_entry = _steps(td, "gen_steps")
    b, b_entry = _steps(td, "batch_accumulation_steps")
    moved.consumed.update(("disc_steps", "gen_steps", "batch_accumulation_steps"))
    kv, bv = gc.integer(k, t.cfg), gc.integer(b, t.cfg)
    if bv is None or (bv != 1 and kv is None):
        which = "batch_accumulation_steps" if bv is None else "disc_steps"
        t.todo(
            FindingId.GAN_STEPS,
            f"`{label}.{which}` is not statically known: whether disc_steps is a multiple of "
            "batch_accumulation_steps (required for an exact 1.x schedule) cannot be checked",
            key=where,
            at=b_entry if bv is None else k_entry,
        )
        return None
    if bv < 1 or (kv is not None and kv < 1):
        t.todo(
            FindingId.GAN_STEPS,
            f"`{label}` has disc_steps={kv}, batch_accumulation_steps={bv}: not a valid 0.x "
            "schedule",
            key=where,
            at=b_entry or k_entry,
        )
        return None
    if bv == 1:
        moved.put("discriminator_steps", k, k_entry)
        moved.put("generator_steps", s, s_entry)
        return moved
    assert kv is not None
    if kv % bv != 0:
        t.todo(
            FindingId.GAN_STEPS,
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
        moved.put("discriminator_steps", ds, k_entry if ds is k else None)
        moved.put("generator_steps", s, s_entry)
        return moved
    if subs is None:
        t.todo(
            FindingId.GAN_STEPS,
            f"batch_accumulation_steps={bv} cannot be converted: optim_wrapper has no "
            "`generator` and `discriminator` sub-wrappers to carry accumulative_counts",
            key=where,
            at=b_entry,
        )
        return None
    if isinstance(ds, SLit) and not isinstance(k, SLit):
        t.note(
            FindingId.GAN_STEPS,
            Severity.INFO,
            f"model.discriminator_steps written as the value {ds.value}: disc_steps and "
            "batch_accumulation_steps are variables of different files",
            at=k_entry,
        )
    moved.put("discriminator_steps", ds, k_entry if ds is k else None)
    moved.put("generator_steps", s, s_entry)
    assert isinstance(wrapper, SDict)
    new = wrapper.copy()
    for name, sub in subs.items():
        sub2 = sub.copy()
        sub2.set("accumulative_counts", b, like=b_entry)
        new.set(name, gc.ordered(sub2), like=wrapper.entry(name))
    t.set("optim_wrapper", new, sources=("train_cfg",) if not ctx.in_model else ())
    return moved


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


def _translation(
    t: Translation, ctx: gc.GanContext, td: SDict, label: str
) -> gc.ModelSettings | None:
    """docs/gan.md#translation-models: same keys on the 1.x model, but G phase i%k -> (i+1)%k."""
    moved = gc.ModelSettings()
    k, k_entry = _steps(td, "disc_steps")
    moved.put("discriminator_steps", k, k_entry)
    moved.consumed.add("disc_steps")
    for key in ("disc_init_steps", "real_img_key") + (
        ("buffer_size",) if ctx.cls == "CycleGAN" else ()
    ):
        entry = td.entry(key)
        if entry is not None:
            moved.put(key, entry.value, entry)
            moved.consumed.add(key)
    gc.ignored_steps(t, ctx, td, label, moved)
    ema = td.entry("use_ema")
    if ema is not None:
        moved.consumed.add("use_ema")
        t.note(
            FindingId.GAN_TRAIN_CFG,
            Severity.INFO,
            f"`{label}.use_ema` dropped: {ctx.cls} never read it in 0.x",
            at=ema,
        )
    kv = gc.integer(k, t.cfg)
    if kv is None or kv > 1:
        shown = kv if kv is not None else "(not static)"
        moved.flagged.append(
            (
                FindingId.GAN_STEPS,
                f"disc_steps={shown}: 0.x {ctx.cls} updated the generators at iterations "
                "i % disc_steps == 0 (from i=0), MMagic at (i+1) % discriminator_steps == 0; "
                "no 1.x config keeps the 0.x phase (converted with the shifted phase)",
                k_entry,
            )
        )
    return moved
