"""MO206 SinGAN / PESinGAN: model keys and per-scale optimizers from train_cfg.

docs/gan.md#singan (a helper of the GAN train_cfg rule, which calls
:func:`model_settings` for this family; not a rule of its own). 0.x SinGAN runs,
per ``train_step``, ``disc_steps`` D updates then ``generator_steps`` G updates, with a fresh
``Adam(lr=lr_g|lr_d, betas=(0.5, 0.999))`` for the current scale's blocks; MMagic runs one D
update per iteration and a G round every ``discriminator_steps`` iterations. So:

* ``model.discriminator_steps = disc_steps``, ``model.generator_steps = generator_steps``,
  ``iters_per_scale``, ``noise_weight_init``, ``lr_scheduler_args`` (stepped once per D/G round in
  both) and ``num_scales`` (from the generator) into ``model``; PESinGAN's
  ``fixed_noise_with_pad``/``first_fixed_noises_ch`` too;
* ``optim_wrapper=dict(constructor='SinGANOptimWrapperConstructor', generator=dict(optimizer=
  dict(type='Adam', lr=lr_g, betas=(0.5, 0.999))), discriminator=...)`` (no accumulation: MMagic
  asserts ``accumulative_counts == 1``);
* the loop length is ``total_iters * disc_steps`` (the runner rule, MO208, writes it).

MMagic computes the next scale's noise weight at the *last* iteration of a scale, 0.x at the
*first*; no config restores the 0.x behaviour, so the conversion is flagged with a TODO.
Keys 0.x required may be left to child configs: whatever is present is converted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.static import SDict, SList, gdict, lit

if TYPE_CHECKING:
    from migrate_optim.convert.translation import Translation


CONSTRUCTOR = "SinGANOptimWrapperConstructor"
#: keys 0.x SinGAN required (KeyError when missing)
REQUIRED = ("disc_steps", "generator_steps", "iters_per_scale", "lr_g", "lr_d", "lr_scheduler_args")
MODEL_KEYS = ("iters_per_scale", "noise_weight_init", "lr_scheduler_args")
PE_KEYS = ("fixed_noise_with_pad", "first_fixed_noises_ch")

NOISE_WEIGHT_TODO = (
    "MMagic's SinGAN computes the next scale's noise weight at the last iteration of a scale, "
    "0.x at the first: training of every scale after the first differs and no config restores "
    "the 0.x behaviour (converted otherwise exactly)"
)


def model_settings(
    t: Translation, ctx: gc.GanContext, td: SDict, label: str, where: str
) -> gc.ModelSettings | None:
    """Translate a SinGAN train_cfg: model keys and the SinGAN optim_wrapper."""
    p = gc.ModelSettings()
    p.consumed.update(REQUIRED + MODEL_KEYS + PE_KEYS)
    steps = (("disc_steps", "discriminator_steps"), ("generator_steps", "generator_steps"))
    for key, name in steps:
        entry = td.entry(key)
        if entry is not None:
            p.put(name, entry.value, entry)
    keys = MODEL_KEYS + (PE_KEYS if ctx.cls == "PESinGAN" else ())
    for key in keys:
        entry = td.entry(key)
        if entry is not None:
            p.put(key, entry.value, entry)
    for key in PE_KEYS:
        entry = td.entry(key)
        if entry is not None and ctx.cls != "PESinGAN":
            t.note(
                FindingId.SINGAN,
                Severity.INFO,
                f"`{label}.{key}` dropped: only PESinGAN read it in 0.x",
                at=entry,
            )
    gc.ignored_steps(t, ctx, td, label, p, FindingId.SINGAN)
    model = ctx.model
    if model is not None and "num_scales" not in model:
        gen = model.get("generator")
        ns = gen.entry("num_scales") if isinstance(gen, SDict) else None
        if ns is not None:
            p.put("num_scales", ns.value, ns)
    wrapper: SDict | None = gdict(constructor=lit(CONSTRUCTOR))
    for name, key in (("generator", "lr_g"), ("discriminator", "lr_d")):
        lr = td.entry(key)
        if lr is None:
            # a base that leaves the lrs to its children (0.x: KeyError if none sets them)
            wrapper = None
            break
        optimizer = gdict(type=lit("Adam"))
        optimizer.set("lr", lr.value, like=lr)
        optimizer.set("betas", SList([lit(0.5), lit(0.999)], "tuple"))
        assert wrapper is not None
        wrapper.set(name, gdict(optimizer=optimizer))
    if wrapper is not None:
        t.set("optim_wrapper", wrapper, sources=() if ctx.in_model else ("train_cfg",))
    p.flagged.append((FindingId.SINGAN, NOISE_WEIGHT_TODO, ctx.train_cfg))
    return p
