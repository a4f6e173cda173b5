"""MO208 ``runner`` / ``total_iters`` of MMGeneration configs -> the 1.x loop and AMP wrappers.

docs/gan.md#runner-fp16-and-totals and #resume-caveats:

* ``total_iters`` (passed to ``runner.run``, overriding ``runner.max_iters``) becomes
  ``train_cfg=dict(by_epoch=False, max_iters=total_iters)``; SinGAN counts one D/G round per 0.x
  iteration but one D update per 1.x iteration, so there ``max_iters = total_iters * disc_steps``;
* ``DynamicIterBasedRunner`` options (``is_dynamic_ddp``, ``pass_training_status``) have no 1.x
  meaning (iteration info always comes from the MessageHub) and ``runner`` is dropped;
* ``runner.fp16_loss_scaler=dict(init_scale=s, ...)`` (one ``GradScaler`` shared by G and D)
  becomes ``type='AmpOptimWrapper', loss_scale=dict(init_scale=s, ...)`` in every sub-wrapper,
  with a warning: one scaler per wrapper, and autocast over the whole forward (except
  StyleGAN2/3/MSPIE); only StaticUnconditionalGAN and BasicConditionalGAN accepted a loss scaler
  in 0.x (the others raised TypeError);
* apex (``runner.use_apex_amp``, top-level ``apex_amp``) is left with a TODO
  (``ApexOptimWrapper`` was not analysed).

MO209 (info): resume caveats. A 0.x model run without ``pass_training_status`` counts its D/G
phase from 0 again after a resume, MMagic from the global iteration; MMagic's discriminator
wrapper restarts its accumulation counter at 0 on every resume.
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.static import SDict, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

ITER_RUNNERS = {"DynamicIterBasedRunner", "IterBasedRunner"}
DROPPED_OPTIONS = ("is_dynamic_ddp", "pass_training_status")
#: 0.x classes whose train_step takes ``loss_scaler`` (docs/gan.md; others: TypeError)
FP16_CLASSES = {"StaticUnconditionalGAN", "BasicConditionalGAN"}


#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ("runner", "total_iters", "apex_amp", "train_cfg", "optim_wrapper")


def apply(t: Translation) -> None:
    """Convert runner, total_iters and the runner's fp16 loss scaler of an mmgen config."""
    runner = t.cfg.get("runner")
    rtype = gc.literal_str(runner.get("type")) if isinstance(runner, SDict) else None
    if not gc.applies(t) and rtype != "DynamicIterBasedRunner":
        return
    if isinstance(runner, SDict) and rtype not in ITER_RUNNERS | {None}:
        return  # an epoch runner: not an MMGeneration schedule
    ctx = gc.context(t)
    runner_ok = _runner(t, ctx, runner)
    _total_iters(t, ctx, runner if runner_ok else None)
    _apex(t)
    _resume(t, ctx, runner)


def _runner(t: Translation, ctx: gc.GanContext, runner: SValue | None) -> bool:
    """Drop the runner (True), or leave it with a TODO (False)."""
    if runner is None:
        return True
    if isinstance(runner, SLit) and runner.value is None:
        t.remove("runner")
        return True
    if not isinstance(runner, SDict):
        t.todo(
            FindingId.GAN_RUNNER,
            "`runner` is not a dict literal: convert by hand",
            key="runner",
            at=runner,
        )
        return False
    dropped = [k for k in DROPPED_OPTIONS if k in runner]
    if dropped:
        t.note(
            FindingId.GAN_RUNNER,
            Severity.INFO,
            f"runner option(s) {', '.join(dropped)} dropped: MMEngine loops always pass the "
            "iteration through the MessageHub and build DDP themselves",
            at=runner,
        )
    for k in runner.keys():
        if k not in DROPPED_OPTIONS + ("type", "fp16_loss_scaler", "use_apex_amp", "max_iters"):
            t.note(
                FindingId.GAN_RUNNER,
                Severity.WARNING,
                f"runner option `{k}` dropped: it has no 1.x equivalent",
                at=runner.entry(k),
            )
    apex = runner.entry("use_apex_amp")
    if apex is not None and gc.python_value_or(apex.value, t.cfg, True) is not False:
        t.todo(
            FindingId.GAN_RUNNER,
            "runner.use_apex_amp: apex training (ApexOptimWrapper in 1.x) is not converted",
            key="runner",
            at=apex,
        )
        return False
    scaler = runner.entry("fp16_loss_scaler")
    if scaler is not None and not (isinstance(scaler.value, SLit) and scaler.value.value is None):
        if not _fp16(t, ctx, scaler.value):
            return False
    t.remove("runner")
    return True


def _fp16(t: Translation, ctx: gc.GanContext, scaler: SValue) -> bool:
    if ctx.cls not in FP16_CLASSES:
        t.todo(
            FindingId.GAN_RUNNER,
            f"runner.fp16_loss_scaler with {ctx.cls or ctx.model_type!r}: its 0.x train_step "
            "takes no loss_scaler (TypeError), so this config did not train in 0.x",
            key="runner",
            at=scaler,
        )
        return False
    wrapper = t.get("optim_wrapper")
    subs = (
        {n: s for n, s in wrapper.items() if isinstance(s, SDict) and "optimizer" in s}
        if isinstance(wrapper, SDict)
        else {}
    )
    if not subs:
        t.todo(
            FindingId.GAN_RUNNER,
            "runner.fp16_loss_scaler: no optimizer sub-wrappers to make AmpOptimWrapper",
            key="runner",
            at=scaler,
        )
        return False
    assert isinstance(wrapper, SDict)
    new = wrapper.copy()
    for name, sub in subs.items():
        s2 = sub.copy()
        s2.set("type", lit("AmpOptimWrapper"))
        s2.set("loss_scale", scaler)
        new.set(name, gc.ordered(s2), like=wrapper.entry(name))
    t.set("optim_wrapper", new, sources=("runner",))
    t.note(
        FindingId.GAN_RUNNER,
        Severity.WARNING,
        "runner.fp16_loss_scaler -> AmpOptimWrapper with the same GradScaler arguments in "
        f"each of {', '.join(subs)}: 0.x shared one scaler between them (one scale, updated "
        "once per iteration), 1.x has one per wrapper; and MMagic autocasts the whole forward "
        "inside each wrapper's optim_context (its StyleGAN2/3 and MSPIE models skip it), where "
        "0.x cast only the modules marked fp16",
        at=scaler,
    )
    return True


def _total_iters(t: Translation, ctx: gc.GanContext, runner: SValue | None) -> None:
    total_e = t.cfg.entry("total_iters")
    max_e = runner.entry("max_iters") if isinstance(runner, SDict) else None
    source = total_e or max_e
    if source is None:
        return
    if gc.train_cfg_blocked(t):
        return  # the 0.x model train_cfg stays (with its TODO); no room for the loop yet
    value: SValue | None = source.value
    if isinstance(value, SLit) and value.value is None:
        if total_e is not None:
            t.remove("total_iters")
        return
    if ctx.family == "singan":
        td = ctx.train_dict()
        ds = td.get("disc_steps") if td is not None else None
        if ds is None:
            return  # the SinGAN rule left a TODO (required key missing)
        value = gc.combine(value, "*", ds, t.cfg)
        if value is None:
            t.todo(
                FindingId.GAN_RUNNER,
                "SinGAN's 1.x max_iters is total_iters * disc_steps, but the two are "
                "expressions of different files with no static value: write it by hand",
                key="total_iters",
                at=source,
            )
            return
    loop = gdict(by_epoch=lit(False))
    loop.set("max_iters", value, like=source if value is source.value else None)
    sources = ("total_iters",) if total_e is not None else ("runner",)
    t.set("train_cfg", loop, sources=sources)
    if total_e is not None:
        t.remove("total_iters")


def _apex(t: Translation) -> None:
    apex = t.cfg.get("apex_amp")
    if apex is None or (isinstance(apex, SLit) and apex.value is None):
        return
    t.todo(
        FindingId.GAN_RUNNER,
        "apex_amp: apex training (ApexOptimWrapper in 1.x) is not converted",
        key="apex_amp",
        at=apex,
    )


def _resume(t: Translation, ctx: gc.GanContext, runner: SValue | None) -> None:
    if not ctx.known or ctx.family == "pggan" or not isinstance(t.out.get("model"), SDict):
        return
    model = t.out["model"]
    assert isinstance(model, SDict)
    wrapper = t.get("optim_wrapper")
    acc = 1
    d = wrapper.get("discriminator") if isinstance(wrapper, SDict) else None
    if isinstance(d, SDict) and "accumulative_counts" in d:
        acc = gc.integer(d.get("accumulative_counts"), t.cfg) or 0
    phased = acc != 1
    for key, limit in (("discriminator_steps", 1), ("disc_init_steps", 0)):
        if key in model:
            v = gc.integer(model.get(key), t.cfg)
            phased = phased or v is None or v > limit
    passes = isinstance(runner, SDict) and (
        gc.literal_str(runner.get("type")) == "DynamicIterBasedRunner"
        and gc.python_value_or(runner.get("pass_training_status"), t.cfg, False) is True
    )
    # only a config that says how it is run (a `runner` key, even None) tells; a model base
    # file is run by whatever runtime its children pick
    if phased and not passes and "runner" in t.cfg.entries:
        t.note(
            FindingId.GAN_RESUME,
            Severity.INFO,
            "resume: this 0.x run did not pass the runner iteration to the model, so after a "
            "resume 0.x restarted its D/G phase at 0; MMagic keeps it tied to the global "
            "iteration",
            at=runner if isinstance(runner, SDict) else None,
        )
    if acc != 1:
        t.note(
            FindingId.GAN_RESUME,
            Severity.INFO,
            "resume: MMagic's discriminator wrapper restarts its accumulation counter at 0 on "
            "every resume (OptimWrapperDict does not restore it), so resuming at an iteration "
            "that is not a multiple of discriminator_steps * accumulative_counts misaligns D "
            "steps and G rounds",
            at=wrapper.entry("discriminator") if isinstance(wrapper, SDict) else None,
        )
