"""MO205 ProgressiveGrowingGAN (``PGGAN``, ``StyleGANV1``): optimizers and schedule from train_cfg.

docs/gan.md#pggan (a helper of the GAN train_cfg rule, which calls
:func:`model_settings` for this family; not a rule of its own). In 0.x the model
builds its optimizers from ``train_cfg.optimizer_cfg`` and, when the resolution stage changes and
``reset_optim_for_new_scale`` (default True), rebuilds them with
``lr = g_lr_schedule.get(str(scale), g_lr_base)`` (same for D); the first stage always uses the
``lr`` of ``optimizer_cfg``. MMagic's ``PGGANOptimWrapperConstructor`` builds one wrapper per
scale with ``lr = lr_schedule[key].get(str(scale), optimizer.lr)`` for *every* scale. So:

* ``optim_wrapper=dict(constructor='PGGANOptimWrapperConstructor', generator=dict(optimizer=...),
  discriminator=dict(optimizer=...), lr_schedule=dict(generator=..., discriminator=...),
  reset_optim_for_new_scale=...)``, both ``lr_schedule`` keys always written (MMagic indexes them);
* where 0.x and 1.x would pick different lrs (a schedule entry for the first scale, or a base lr
  different from the optimizer lr for an unscheduled later scale) the schedule is rewritten so
  that 1.x picks the 0.x lr for every scale of ``nkimgs_per_scale``; if the scales or lrs are not
  statically known, a warning says what may differ;
* ``nkimgs_per_scale``, ``transition_kimgs``, ``interp_real``, ``prev_stage`` move into ``model``;
* MMagic hard-codes one D step per G step: ``disc_steps != 1`` has no 1.x form (TODO).

Keys 0.x required (``nkimgs_per_scale``, ``optimizer_cfg``, ``g_lr_base``, ``d_lr_base``) may be
left to child configs: whatever is present is converted, and a config that lacks them fails in
1.x as it did in 0.x.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.static import SDict, SLit, SValue, gdict, lit

if TYPE_CHECKING:
    from migrate_optim.convert.translation import Translation


CONSTRUCTOR = "PGGANOptimWrapperConstructor"
MODEL_KEYS = ("nkimgs_per_scale", "transition_kimgs", "interp_real", "prev_stage")
OPTIM_KEYS = (
    "optimizer_cfg",
    "g_lr_base",
    "d_lr_base",
    "g_lr_schedule",
    "d_lr_schedule",
    "reset_optim_for_new_scale",
)
MODULES = (("generator", "g"), ("discriminator", "d"))


def model_settings(
    t: Translation, ctx: gc.GanContext, td: SDict, label: str, where: str
) -> gc.ModelSettings | None:
    """Translate a PGGAN train_cfg: model keys, and the per-scale optim_wrapper."""
    ds = td.entry("disc_steps")
    if ds is not None and gc.integer(ds.value, t.cfg) != 1:
        t.todo(
            FindingId.PGGAN,
            f"`{label}.disc_steps` is not 1: MMagic's ProgressiveGrowingGAN hard-codes one "
            "discriminator step per generator step (discriminator_steps is not an argument), "
            "so this schedule has no 1.x form",
            key=where,
            at=ds,
        )
        return None
    ocfg = td.get("optimizer_cfg")
    if ocfg is not None and (
        not isinstance(ocfg, SDict) or not all(isinstance(ocfg.get(m), SDict) for m, _ in MODULES)
    ):
        t.todo(
            FindingId.PGGAN,
            f"`{label}.optimizer_cfg` is not a dict with `generator` and `discriminator` "
            "optimizers: convert by hand",
            key=where,
            at=td.entry("optimizer_cfg"),
        )
        return None
    p = gc.ModelSettings()
    p.consumed.update(MODEL_KEYS + OPTIM_KEYS + ("disc_steps",))
    for key in MODEL_KEYS:
        entry = td.entry(key)
        if entry is not None:
            p.put(key, entry.value, entry)
    gc.ignored_steps(t, ctx, td, label, p, FindingId.PGGAN)
    if ocfg is None:
        # a base that leaves optimizer_cfg to its children (0.x: KeyError if none does); the
        # children's conversion writes the wrapper
        return p
    wrapper = gdict(constructor=lit(CONSTRUCTOR))
    for name, _ in MODULES:
        sub = ocfg.get(name)
        assert isinstance(sub, SDict)
        built = gc.sub_wrapper(t, f"{label}.optimizer_cfg", name, sub)
        if built is None:
            return None
        wrapper.set(name, built, like=ocfg.entry(name))
    for name in ocfg.keys():
        if name not in ("generator", "discriminator"):
            t.note(
                FindingId.PGGAN,
                Severity.WARNING,
                f"`{label}.optimizer_cfg.{name}` dropped: PGGAN's train_step steps only the "
                "generator and discriminator optimizers",
                at=ocfg.entry(name),
            )
    reset = td.entry("reset_optim_for_new_scale")
    schedule = gdict()
    for name, prefix in MODULES:
        schedule.set(name, _schedule(t, ctx, td, ocfg, name, prefix, label, reset is not None))
    wrapper.set("lr_schedule", schedule)
    if reset is not None:
        wrapper.set("reset_optim_for_new_scale", reset.value, like=reset)
    t.set("optim_wrapper", wrapper, sources=() if ctx.in_model else ("train_cfg",))
    return p


def _schedule(
    t: Translation,
    ctx: gc.GanContext,
    td: SDict,
    ocfg: SDict,
    name: str,
    prefix: str,
    label: str,
    reset_given: bool,
) -> SValue:
    """The 1.x lr schedule of one module that picks the 0.x lr at every scale."""
    sched_entry = td.entry(f"{prefix}_lr_schedule")
    written: SValue = sched_entry.value if sched_entry is not None else gdict()
    if reset_given:
        reset = gc.python_value_or(td.get("reset_optim_for_new_scale"), t.cfg, None)
        if reset is False:
            return written  # one wrapper for all scales: no schedule is consulted (0.x too)
    if "nkimgs_per_scale" not in td:
        return written  # the scales come from a child config, which checks the lrs
    base_v = td.get(f"{prefix}_lr_base")
    opt = ocfg.get(name)
    assert isinstance(opt, SDict)
    try:
        sched = gc.python_value(written, t.cfg) if sched_entry is not None else {}
        base_lr = gc.python_value(base_v, t.cfg)
        opt_lr = gc.python_value(opt.get("lr"), t.cfg) if "lr" in opt else None
        scales = list(gc.python_value(td.get("nkimgs_per_scale"), t.cfg))
    except (ValueError, TypeError):
        t.note(
            FindingId.PGGAN,
            Severity.WARNING,
            f"{name} lr per scale not checked (values not static): 0.x used the "
            f"optimizer lr for the first scale and {prefix}_lr_schedule.get(scale, "
            f"{prefix}_lr_base) after it; MMagic uses lr_schedule.get(scale, optimizer lr) for "
            "every scale",
            at=sched_entry,
        )
        return written
    if opt_lr is None:
        t.note(
            FindingId.PGGAN,
            Severity.WARNING,
            f"`{label}.optimizer_cfg.{name}` has no `lr`: MMagic's PGGAN constructor needs it "
            "(KeyError)",
            at=ocfg.entry(name),
        )
        return written
    if not isinstance(sched, dict) or not scales:
        return written
    keys = [_scale_key(s) for s in scales]
    if any(k is None for k in keys):
        return written
    first, later = keys[0], keys[1:]
    wanted = {k: sched.get(k, base_lr) for k in later}
    got = {k: sched.get(k, opt_lr) for k in later}
    first_ok = first not in sched
    if first_ok and wanted == got:
        return written
    new: dict[str, object] = {k: v for k, v in sched.items() if k != first and k not in later}
    for k in later:
        if wanted[k] != opt_lr or k in sched:
            new[k] = wanted[k]
    changes = []
    if not first_ok:
        changes.append(f"entry for the first scale {first!r} removed (0.x never used it)")
    if wanted != got:
        changes.append(
            f"{prefix}_lr_base={base_lr!r} written for the later scales without an entry "
            f"(1.x would fall back to the optimizer lr {opt_lr!r})"
        )
    t.note(
        FindingId.PGGAN,
        Severity.INFO,
        f"lr_schedule.{name} adjusted to give every scale its 0.x lr: " + "; ".join(changes),
        at=sched_entry or td.entry(f"{prefix}_lr_base"),
    )
    out = SDict(style="literal")
    for k, v in new.items():
        out.set(k, SLit(v))
    return out


def _scale_key(scale: object) -> str | None:
    """0.x keys nkimgs_per_scale by '4', 4 or (4, 4); both versions look lrs up by str(side)."""
    if isinstance(scale, str):
        try:
            return str(int(scale))
        except ValueError:
            return None
    if isinstance(scale, int) and not isinstance(scale, bool):
        return str(scale)
    if isinstance(scale, tuple) and scale and isinstance(scale[0], int):
        return str(scale[0])
    return None
