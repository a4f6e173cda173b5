"""MO102 ``optimizer_config`` (and the top-level ``fp16``) -> fields of ``optim_wrapper``.

Spec §3.1, §3.2 and §7 rule 7. The 0.x optimizer hook that a codebase's trainer registered is
rebuilt statically, then mapped onto the wrapper:

* ``OptimizerHook`` (also mmdet/mmcls ``DistOptimizerHook``): ``grad_clip`` -> ``clip_grad``
  (norm clipping; ``None`` stays ``None``);
* ``GradientCumulativeOptimizerHook(cumulative_iters=c)`` -> ``accumulative_counts=c``;
* ``Fp16OptimizerHook`` / ``GradientCumulativeFp16OptimizerHook`` -> ``type='AmpOptimWrapper'``
  with ``loss_scale`` written out, the 0.x default ``512.`` included (MMEngine's default is
  ``'dynamic'``, §4.3); ints become floats (mmcv rejected ints, MMEngine too);
  ``coalesce``/``bucket_size_mb``/``distributed`` have no 1.x meaning and are dropped;
* ``detect_anomalous_params=True`` -> ``model_wrapper_cfg=dict(type='MMDistributedDataParallel',
  detect_anomalous_params=True)``.

Top-level ``fp16`` per trainer (§3.2): mmdet merges it into ``Fp16OptimizerHook(**optimizer_config,
**fp16)`` whenever it is not None; mmcls reads only ``fp16['loss_scale']``; mmseg ignores it (the
key is dropped with a finding); mmgen/mmedit register no optimizer hook at all, so both keys are
dropped with a finding instead of turning a dormant ``grad_clip`` into active clipping (§1.9).
"""

from __future__ import annotations

from migrate_optim.convert.findings import Severity
from migrate_optim.convert.static import SDict, SEntry, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

RULE_ID = "MO102"
FP16_ID = "MO103"
LOSS_SCALE_ID = "MO104"
ANOMALOUS_ID = "MO106"
IGNORED_ID = "MO107"
CODEBASE_ID = "MO108"
FINDING_IDS = (RULE_ID, FP16_ID, LOSS_SCALE_ID, ANOMALOUS_ID, IGNORED_ID, CODEBASE_ID)

PLAIN_HOOKS = {"OptimizerHook", "DistOptimizerHook"}
CUMULATIVE_HOOKS = {"GradientCumulativeOptimizerHook"}
FP16_HOOKS = {"Fp16OptimizerHook"}
CUMULATIVE_FP16_HOOKS = {"GradientCumulativeFp16OptimizerHook"}
KNOWN_HOOKS = PLAIN_HOOKS | CUMULATIVE_HOOKS | FP16_HOOKS | CUMULATIVE_FP16_HOOKS

#: hook arguments accepted by each family and where they go in 1.x (None: dropped, no meaning)
_ARGS_PLAIN = {"grad_clip": "clip_grad", "detect_anomalous_params": None}
_ARGS_CUMULATIVE = {**_ARGS_PLAIN, "cumulative_iters": "accumulative_counts"}
_ARGS_FP16 = {
    "grad_clip": "clip_grad",
    "loss_scale": "loss_scale",
    "coalesce": None,
    "bucket_size_mb": None,
    "distributed": None,
}
_ARGS_CUMULATIVE_FP16 = {
    **_ARGS_FP16,
    "cumulative_iters": "accumulative_counts",
    "detect_anomalous_params": None,
}

#: codebases whose trainers ignore optimizer_config and fp16 (spec §1.9, §3.2)
HOOKLESS = {"mmgen", "mmedit"}
#: how the trainer reads the top-level fp16 (spec §3.2)
FP16_MERGED = {"mmdet"}
FP16_LOSS_SCALE_ONLY = {"mmcls"}
FP16_IGNORED = {"mmseg"}


def apply(t: Translation) -> None:
    """Fold ``optimizer_config`` and ``fp16`` into the wrapper built by MO101."""
    hook_cfg = t.cfg.get("optimizer_config")
    fp16 = t.cfg.get("fp16")
    if hook_cfg is None and fp16 is None:
        return
    t.relate(
        "optim_wrapper", *(k for k in ("optimizer_config", "fp16") if t.cfg.get(k) is not None)
    )
    if t.codebase in HOOKLESS:
        for key, value in (("optimizer_config", hook_cfg), ("fp16", fp16)):
            if value is not None:
                t.note(
                    IGNORED_ID,
                    Severity.INFO,
                    f"`{key}` dropped: the {t.codebase} 0.x trainer never read it, so it had "
                    "no effect on training",
                    at=value,
                )
                t.remove(key)
        return
    if fp16 is not None and t.codebase in FP16_IGNORED:
        t.note(
            FP16_ID,
            Severity.INFO,
            "`fp16` dropped: the mmseg 0.x trainer ignores it (fp16 training came only from "
            "optimizer_config.type='Fp16OptimizerHook')",
            at=fp16,
        )
        t.remove("fp16")
        fp16 = None
    if fp16 is not None and isinstance(fp16, SLit) and fp16.value is None:
        t.remove("fp16")
        fp16 = None
    if fp16 is not None and t.codebase not in FP16_MERGED | FP16_LOSS_SCALE_ONLY:
        t.todo(
            CODEBASE_ID,
            "top-level `fp16` is read differently by each 0.x trainer and the codebase of "
            "this config is unknown; rerun with --codebase",
            key="fp16",
            at=fp16,
        )
        return
    if hook_cfg is not None and not isinstance(hook_cfg, SDict):
        if isinstance(hook_cfg, SLit) and hook_cfg.value is None and fp16 is None:
            t.remove("optimizer_config")
            return
        t.todo(
            RULE_ID,
            "`optimizer_config` is not a dict literal; convert by hand",
            key="optimizer_config",
            at=hook_cfg,
        )
        return
    hook = hook_cfg.copy() if isinstance(hook_cfg, SDict) else gdict()
    if fp16 is not None:
        hook = _apply_fp16(t, hook, fp16)
        if hook is None:
            return
    wrapper = t.get("optim_wrapper")
    wrapper = wrapper.copy() if isinstance(wrapper, SDict) else gdict(type=lit("OptimWrapper"))
    if _fold_hook(t, hook, wrapper) is False:
        return
    sources = tuple(k for k in ("optimizer_config", "fp16") if t.cfg.get(k) is not None)
    t.set("optim_wrapper", wrapper, sources=sources)
    for k in sources:
        t.remove(k)


def _apply_fp16(t: Translation, hook: SDict, fp16: SValue) -> SDict | None:
    """The hook config the trainer actually built from optimizer_config + fp16 (spec §3.2)."""
    if not isinstance(fp16, SDict):
        t.todo(FP16_ID, "`fp16` is not a dict literal; convert by hand", key="fp16", at=fp16)
        return None
    if "type" in hook:
        t.todo(
            FP16_ID,
            f"with `fp16` set, the {t.codebase} 0.x trainer calls Fp16OptimizerHook"
            "(**optimizer_config, ...), which fails on `optimizer_config.type`: this config "
            "did not train in 0.x",
            key="fp16",
            at=fp16,
        )
        return None
    out = hook.copy()
    out.set("type", lit("Fp16OptimizerHook"))
    if t.codebase in FP16_LOSS_SCALE_ONLY:
        ls = fp16.entry("loss_scale")
        if ls is None:
            t.todo(
                FP16_ID,
                "mmcls 0.x reads fp16['loss_scale'], which is missing (KeyError in "
                "0.x): this config did not train",
                key="fp16",
                at=fp16,
            )
            return None
        for k in fp16.keys():
            if k != "loss_scale":
                t.note(
                    FP16_ID,
                    Severity.INFO,
                    f"`fp16.{k}` dropped: mmcls 0.x reads only fp16['loss_scale']",
                    at=fp16.entry(k),
                )
        out.set("loss_scale", ls.value, like=ls)
        return out
    for k, e in fp16.entries.items():
        if k in out and k != "type":
            t.todo(
                FP16_ID,
                f"`{k}` is given in both optimizer_config and fp16 (TypeError in "
                "the 0.x trainer): this config did not train",
                key="fp16",
                at=e,
            )
            return None
        out.set(k, e.value, like=e)
    return out


def _fold_hook(t: Translation, hook: SDict, wrapper: SDict) -> bool:
    """Map a hook config onto ``wrapper`` in place; False (with a TODO) if impossible."""
    type_v = hook.get("type")
    hook_type = "OptimizerHook"
    if type_v is not None:
        if not (isinstance(type_v, SLit) and isinstance(type_v.value, str)):
            t.todo(
                RULE_ID,
                "`optimizer_config.type` is not a string literal",
                key="optimizer_config",
                at=type_v,
            )
            return False
        hook_type = type_v.value
    if hook_type not in KNOWN_HOOKS:
        t.todo(
            RULE_ID,
            f"optimizer hook {hook_type!r} has no known 1.x optim_wrapper form; convert by hand",
            key="optimizer_config",
            at=type_v,
        )
        return False
    if hook_type in PLAIN_HOOKS:
        table = _ARGS_PLAIN
    elif hook_type in CUMULATIVE_HOOKS:
        table = _ARGS_CUMULATIVE
    elif hook_type in FP16_HOOKS:
        table = _ARGS_FP16
    else:
        table = _ARGS_CUMULATIVE_FP16
    if hook_type in FP16_HOOKS | CUMULATIVE_FP16_HOOKS:
        wrapper.set("type", lit("AmpOptimWrapper"))
        if "loss_scale" not in hook:
            wrapper.set("loss_scale", lit(512.0))
    elif "type" not in wrapper or _is_literal(wrapper.get("type"), "AmpOptimWrapper"):
        wrapper.set("type", lit("OptimWrapper"))
        wrapper.entries.pop("loss_scale", None)
    if hook.delete:
        # `_delete_` on optimizer_config reset every hook argument to its default
        for k in ("clip_grad", "accumulative_counts"):
            wrapper.entries.pop(k, None)
    for key, entry in hook.entries.items():
        if key == "type":
            continue
        if key not in table:
            t.note(
                RULE_ID,
                Severity.WARNING,
                f"`{key}` of {hook_type} dropped: it has no 1.x optim_wrapper meaning",
                at=entry,
            )
            continue
        target = table[key]
        if key == "detect_anomalous_params":
            _anomalous(t, entry)
            continue
        if target is None:
            t.note(
                RULE_ID,
                Severity.INFO,
                f"`{key}` of {hook_type} dropped: unused by mmcv's torch>=1.6 fp16 hook",
                at=entry,
            )
            continue
        value = entry.value
        if key == "loss_scale":
            value = _loss_scale(t, entry)
        elif key == "grad_clip" and isinstance(value, SDict) and "type" in value:
            t.note(
                RULE_ID,
                Severity.WARNING,
                "`grad_clip.type` kept: mmcv always clipped by norm and would have failed on "
                "this key",
                at=entry,
            )
        elif key == "cumulative_iters" and isinstance(value, SLit) and value.value == 1:
            pass
        wrapper.set(target, value, like=entry)
    return True


def _loss_scale(t: Translation, entry: SEntry) -> SValue:
    value = entry.value
    if (
        isinstance(value, SLit)
        and isinstance(value.value, int)
        and not isinstance(value.value, bool)
    ):
        t.note(
            LOSS_SCALE_ID,
            Severity.WARNING,
            f"loss_scale={value.value} is an int, which mmcv's Fp16OptimizerHook rejected "
            f"(ValueError) and MMEngine rejects too; written as {float(value.value)!r}",
            at=entry,
        )
        return lit(float(value.value))
    return value


def _anomalous(t: Translation, entry: SEntry) -> None:
    value = entry.value
    if isinstance(value, SLit) and value.value is False:
        t.note(
            ANOMALOUS_ID,
            Severity.INFO,
            "`detect_anomalous_params=False` dropped: it is the default",
            at=entry,
        )
        return
    if isinstance(value, SLit) and value.value is True:
        wrapper_cfg = t.get("model_wrapper_cfg")
        cfg = (
            wrapper_cfg.copy()
            if isinstance(wrapper_cfg, SDict)
            else gdict(type=lit("MMDistributedDataParallel"))
        )
        cfg.set("detect_anomalous_params", value, like=entry)
        t.set("model_wrapper_cfg", cfg, sources=("optimizer_config",))
        t.note(
            ANOMALOUS_ID,
            Severity.INFO,
            "`detect_anomalous_params` moved to model_wrapper_cfg (MMDistributedDataParallel)",
            at=entry,
        )
        return
    t.todo(
        ANOMALOUS_ID,
        "`detect_anomalous_params` is not a literal bool",
        key="optimizer_config",
        at=entry,
    )


def _is_literal(value: SValue | None, expected: object) -> bool:
    return isinstance(value, SLit) and value.value == expected
