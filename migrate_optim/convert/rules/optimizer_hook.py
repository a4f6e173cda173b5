"""MO102 ``optimizer_config`` (and the top-level ``fp16``) -> fields of ``optim_wrapper``.

docs/optimizer-hooks.md and docs/fp16.md; docs/codebases.md for the other 0.x codebases. The
rule rebuilds, statically, the optimizer hook that the codebase's 0.x trainer registered, then
maps it onto the wrapper:

* ``OptimizerHook`` (and the ``DistOptimizerHook`` variants that behave like it):
  ``grad_clip`` -> ``clip_grad`` (norm clipping; ``None`` stays ``None``);
* ``GradientCumulativeOptimizerHook(cumulative_iters=c)`` -> ``accumulative_counts=c``
  (identical counting and loss factors, docs/optimizer-hooks.md#gradient-accumulation);
* ``Fp16OptimizerHook`` / ``GradientCumulativeFp16OptimizerHook`` -> ``type='AmpOptimWrapper'``
  with ``loss_scale`` written out, the 0.x default ``512.`` included (MMEngine's default is
  ``'dynamic'``, docs/fp16.md#loss-scale-values); ints become floats (mmcv rejected ints,
  MMEngine too);
  ``coalesce``/``bucket_size_mb``/``distributed`` have no 1.x meaning and are dropped;
* ``detect_anomalous_params=True`` -> ``model_wrapper_cfg=dict(type='MMDistributedDataParallel',
  detect_anomalous_params=True)``;
* codebase hooks (docs/codebases.md#codebase-optimizer-hooks): mmcls ``DistOptimizerHook`` =
  OptimizerHook; mmselfsup ``DistOptimizerHook(update_interval=k)`` ->
  ``accumulative_counts=k`` (exact); Swin-Transformer forks'
  ``DistOptimizerHook(use_fp16=True)`` -> ``ApexOptimWrapper``.
  Forms with no exact 1.x equivalent (``update_interval>1`` of hooks without a final step,
  ``frozen_layers_cfg``, mmtrack's backbone unfreezing) are left with a TODO.

How each trainer turns ``optimizer_config`` and ``fp16`` into that hook
(docs/fp16.md#top-level-fp16-per-codebase, docs/codebases.md#train-api-profiles):
``Fp16OptimizerHook(**optimizer_config, **fp16)`` whenever ``fp16`` is not None (mmdet and
mmdet-like codebases; ``fp16 = dict()`` therefore enables fp16 with ``loss_scale=512.``);
``Fp16OptimizerHook(**optimizer_config, loss_scale=fp16['loss_scale'])`` (mmcls; ``fp16 =
dict()`` was a KeyError); the top-level ``fp16`` ignored (mmseg); no hook at all (mmgen/mmedit:
both keys are dropped with a warning instead of turning a dormant ``grad_clip`` into clipping).
Configs that could not train in 0.x (a ``TypeError`` or ``KeyError`` in the trainer) are left
with a TODO: there is no behaviour to preserve.
"""

from __future__ import annotations

from dataclasses import dataclass

from migrate_optim.convert import codebase as cb
from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.static import SDict, SEntry, SExpr, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

#: mmcv 1.x default of ``Fp16OptimizerHook(loss_scale=...)`` (docs/fp16.md#loss-scale-values)
MMCV_LOSS_SCALE = 512.0

# How a hook argument is carried over. A plain string is the 1.x wrapper key it becomes.
DROP = "<drop>"  # accepted by the hook but unused: dropped with an info finding
ANOMALOUS = "<anomalous>"  # detect_anomalous_params -> model_wrapper_cfg
LOSS_SCALE = "<loss_scale>"  # loss_scale, with the int -> float cast
ACC_EXACT = "<acc_exact>"  # update_interval with the OptimWrapper counting (docs/codebases.md)
ACC_NO_TAIL = "<acc_no_tail>"  # update_interval without remainder scaling or final step
APEX = "<apex>"  # Swin forks' use_fp16: apex amp O1
FROZEN = "<frozen>"  # mmselfsup frozen_layers_cfg


@dataclass(frozen=True)
class HookSpec:
    """What a 0.x optimizer hook accepts and how each argument maps onto the 1.x wrapper."""

    args: dict[str, str]
    amp: bool = False
    #: why the hook has no exact 1.x form (then it is left with a TODO)
    refuse: str | None = None


_PLAIN = {"grad_clip": "clip_grad", "detect_anomalous_params": ANOMALOUS}
_FP16 = {
    "grad_clip": "clip_grad",
    "coalesce": DROP,
    "bucket_size_mb": DROP,
    "loss_scale": LOSS_SCALE,
    "distributed": DROP,
}
_DIST_COMMON = {"grad_clip": "clip_grad", "coalesce": DROP, "bucket_size_mb": DROP}

#: mmcv 1.7.2 hooks (docs/optimizer-hooks.md#the-mmcv-hooks), registered for every codebase
MMCV_HOOKS: dict[str, HookSpec] = {
    "OptimizerHook": HookSpec(_PLAIN),
    "GradientCumulativeOptimizerHook": HookSpec(
        {**_PLAIN, "cumulative_iters": "accumulative_counts"}
    ),
    "Fp16OptimizerHook": HookSpec(_FP16, amp=True),
    # its __init__ ends in Fp16OptimizerHook's, so detect_anomalous_params is not accepted
    "GradientCumulativeFp16OptimizerHook": HookSpec(
        {**_FP16, "cumulative_iters": "accumulative_counts"}, amp=True
    ),
}

_SWIN_DIST = HookSpec({**_DIST_COMMON, "update_interval": ACC_NO_TAIL, "use_fp16": APEX})
_SIAMESE = (
    "mmtrack's {name} also unfreezes backbone layers at `backbone_start_train_epoch`, which "
    "needs a 1.x hook (and MMEngine skips parameters frozen when the optimizer is built); "
    "convert by hand"
)

#: (codebase or profile, hook type) -> spec, for hooks that are not mmcv's
#: (docs/codebases.md#codebase-optimizer-hooks)
CODEBASE_HOOKS: dict[tuple[str, str], HookSpec] = {
    # mmcls dist_utils.DistOptimizerHook: OptimizerHook without the grad_norm log
    ("mmcls", "DistOptimizerHook"): HookSpec(_DIST_COMMON),
    ("mmfewshot", "DistOptimizerHook"): HookSpec(_DIST_COMMON),
    ("mmselfsup", "DistOptimizerHook"): HookSpec(
        {**_DIST_COMMON, "update_interval": ACC_EXACT, "frozen_layers_cfg": FROZEN}
    ),
    ("mmselfsup", "GradAccumFp16OptimizerHook"): HookSpec(
        {**_FP16, "update_interval": ACC_NO_TAIL, "frozen_layers_cfg": FROZEN}, amp=True
    ),
    # mmdet's own DistOptimizerHook is not registered; configs that name it run with the
    # Swin-Transformer forks' mmcv_custom hook (docs/codebases.md#codebase-optimizer-hooks)
    (cb.MERGED, "DistOptimizerHook"): _SWIN_DIST,
    (cb.FP16_IGNORED, "DistOptimizerHook"): _SWIN_DIST,
    # every DistOptimizerHook variant behaves like OptimizerHook with just these arguments
    ("", "DistOptimizerHook"): HookSpec(_DIST_COMMON),
    ("mmtrack", "SiameseRPNOptimizerHook"): HookSpec(
        {}, refuse=_SIAMESE.format(name="SiameseRPNOptimizerHook")
    ),
    ("mmtrack", "SiameseRPNFp16OptimizerHook"): HookSpec(
        {}, refuse=_SIAMESE.format(name="SiameseRPNFp16OptimizerHook")
    ),
}


def hook_spec(hook_type: str, codebase: str | None, profile: str | None) -> HookSpec | None:
    """The spec of a hook type as the codebase's registry resolves it, or None if unknown."""
    if hook_type in MMCV_HOOKS:
        return MMCV_HOOKS[hook_type]
    for key in (codebase or "", profile or "", ""):
        spec = CODEBASE_HOOKS.get((key, hook_type))
        if spec is not None:
            return spec
    return None


#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ("optimizer_config", "fp16", "optim_wrapper", "model_wrapper_cfg")


def apply(t: Translation) -> None:
    """Fold ``optimizer_config`` and ``fp16`` into the wrapper built by MO101."""
    hook_cfg = t.cfg.get("optimizer_config")
    fp16 = t.cfg.get("fp16")
    if hook_cfg is None and fp16 is None:
        return
    t.relate(
        "optim_wrapper", *(k for k in ("optimizer_config", "fp16") if t.cfg.get(k) is not None)
    )
    profile = cb.profile(t.codebase, t.cfg)
    if profile == cb.HOOKLESS:
        for key, value in (("optimizer_config", hook_cfg), ("fp16", fp16)):
            if value is not None:
                t.note(
                    FindingId.NOT_READ_BY_TRAINER,
                    Severity.WARNING,
                    f"`{key}` dropped: the {t.codebase} 0.x trainer registers no optimizer "
                    "hook, so it had no effect on training",
                    at=value,
                )
                t.remove(key)
        return

    # -- the top-level fp16 ------------------------------------------------------------------
    if fp16 is not None and profile == cb.FP16_IGNORED:
        t.note(
            FindingId.FP16,
            Severity.INFO,
            f"`fp16` dropped: the {t.codebase} 0.x trainer ignores it (fp16 training came "
            "only from optimizer_config.type='Fp16OptimizerHook')",
            at=fp16,
        )
        t.remove("fp16")
        fp16 = None
    if isinstance(fp16, SLit) and fp16.value is None:
        # every trainer tests `fp16 is not None`: an explicit None disables it
        t.remove("fp16")
        fp16 = None
    if fp16 is not None and profile is None:
        t.todo(
            FindingId.CODEBASE,
            "top-level `fp16` is read differently by each 0.x trainer (mmdet merges it into "
            "the hook, mmcls reads loss_scale, mmseg ignores it) and the codebase of this "
            "config is unknown; rerun with --codebase",
            key="fp16",
            at=fp16,
        )
        return
    if fp16 is not None and not isinstance(fp16, SDict):
        t.todo(FindingId.FP16, "`fp16` is not a dict literal; convert by hand", key="fp16", at=fp16)
        return

    # -- optimizer_config ----------------------------------------------------------------------
    if hook_cfg is None and fp16 is None:
        return  # only an inactive fp16, now removed: no hook to map
    if hook_cfg is not None and not isinstance(hook_cfg, SDict):
        if isinstance(hook_cfg, SLit) and hook_cfg.value is None:
            t.todo(
                FindingId.OPTIMIZER_HOOK,
                "`optimizer_config = None` registered no optimizer hook in 0.x: the model "
                "stepped its optimizer itself (e.g. use_adversarial_train) or did not train; "
                "1.x models step through optim_wrapper, convert by hand",
                key="optimizer_config",
                at=hook_cfg,
            )
            return
        t.todo(
            FindingId.OPTIMIZER_HOOK,
            "`optimizer_config` is not a dict literal; convert by hand",
            key="optimizer_config",
            at=hook_cfg,
        )
        return
    if profile is None and hook_cfg is not None:
        t.note(
            FindingId.CODEBASE,
            Severity.WARNING,
            "the 0.x codebase of this config is unknown: optimizer_config was converted as "
            "an mmcv optimizer hook, which is what every 0.x trainer except mmgen's and "
            "mmedit's (which ignore it) registered; rerun with --codebase to be sure",
            at=hook_cfg,
        )
    hook = hook_cfg.copy() if isinstance(hook_cfg, SDict) else gdict()
    if fp16 is not None:
        assert isinstance(fp16, SDict)
        merged = _merge_fp16(t, hook, fp16, profile)
        if merged is None:
            return
        hook = merged
    elif "type" not in hook:
        hook = hook.copy()
        hook.set("type", lit(_default_hook(t.codebase)))
    existing = t.get("optim_wrapper")
    wrapper = existing.copy() if isinstance(existing, SDict) else gdict(type=lit("OptimWrapper"))
    if not _fold_hook(t, hook, wrapper, profile):
        return
    sources = tuple(k for k in ("optimizer_config", "fp16") if t.cfg.get(k) is not None)
    if existing is None and _all_defaults(wrapper):
        # A hook config with no optimizer in its chain is a fragment (e.g. a runtime base with
        # `optimizer_config = dict()`) that a child combines with a sibling base holding the
        # optimizer. Written as `optim_wrapper` it would clash with that sibling's (MMEngine
        # refuses keys defined by two bases); its 1.x form is MMEngine's default anyway.
        for k in sources:
            t.note(
                FindingId.OPTIMIZER_HOOK,
                Severity.INFO,
                f"`{k}` dropped: it only restates MMEngine's default wrapper settings, and "
                "an `optim_wrapper` here would clash with a sibling base's",
                at=t.cfg.get(k),
            )
            t.remove(k)
        return
    t.set("optim_wrapper", wrapper, sources=sources)
    for k in sources:
        t.remove(k)


def _all_defaults(wrapper: SDict) -> bool:
    """Whether a wrapper config only states MMEngine's defaults (plain, unclipped, acc 1)."""
    defaults = {"type": "OptimWrapper", "clip_grad": None, "accumulative_counts": 1}
    for key, value in wrapper.items():
        if key not in defaults or not isinstance(value, SLit) or value.value != defaults[key]:
            return False
    return True


def _default_hook(codebase: str | None) -> str:
    """The hook a (distributed) trainer builds from an ``optimizer_config`` without ``type``."""
    if codebase in cb.OWN_DIST_HOOK:
        return "DistOptimizerHook"
    return "OptimizerHook"


def _merge_fp16(t: Translation, hook: SDict, fp16: SDict, profile: str | None) -> SDict | None:
    """The hook config the trainer built from optimizer_config + an active fp16 (docs/fp16.md)."""
    hook_type = "GradAccumFp16OptimizerHook" if profile == cb.SELFSUP else "Fp16OptimizerHook"

    def fail(message: str, at: SValue | SEntry) -> None:
        t.todo(
            FindingId.FP16,
            f"with `fp16` set, the {t.codebase} 0.x trainer calls {hook_type}"
            f"(**optimizer_config, ...), {message}: this config did not train in 0.x",
            key="fp16",
            at=at,
        )

    if profile == cb.LOSS_SCALE_ONLY and "loss_scale" not in fp16:
        # checked first: it depends on fp16 alone, not on what a base says
        fail("and reads fp16['loss_scale'], which is missing (KeyError)", fp16)
        return None
    for bad in ("type", "distributed"):
        if bad in hook:
            fail(f"which fails on `optimizer_config.{bad}` (TypeError)", hook.entry(bad))
            return None
    out = hook.copy()
    out.set("type", lit(hook_type))
    if profile == cb.LOSS_SCALE_ONLY:
        ls = fp16.entry("loss_scale")
        assert ls is not None
        if "loss_scale" in hook:
            fail("which gets `loss_scale` twice (TypeError)", hook.entry("loss_scale"))
            return None
        for k in fp16.keys():
            if k != "loss_scale":
                t.note(
                    FindingId.FP16,
                    Severity.INFO,
                    f"`fp16.{k}` dropped: the {t.codebase} 0.x trainer reads only "
                    "fp16['loss_scale']",
                    at=fp16.entry(k),
                )
        out.set("loss_scale", ls.value, like=ls)
        return out
    for k, e in fp16.entries.items():
        if k in hook or k == "distributed":
            fail(f"which gets `{k}` twice (TypeError)", e)
            return None
        out.set(k, e.value, like=e)
    return out


def _fold_hook(t: Translation, hook: SDict, wrapper: SDict, profile: str | None) -> bool:
    """Map a hook config onto ``wrapper`` in place; False (with a TODO) if impossible."""
    type_v = hook.get("type")
    if not (isinstance(type_v, SLit) and isinstance(type_v.value, str)):
        t.todo(
            FindingId.OPTIMIZER_HOOK,
            "`optimizer_config.type` is not a string literal",
            key=_key(t, type_v),
            at=type_v,
        )
        return False
    hook_type = type_v.value
    spec = hook_spec(hook_type, t.codebase, profile)
    if spec is None:
        t.todo(
            FindingId.OPTIMIZER_HOOK,
            f"optimizer hook {hook_type!r} has no known 1.x optim_wrapper form for "
            f"{t.codebase or 'an unknown codebase'}; convert by hand",
            key=_key(t, type_v),
            at=type_v,
        )
        return False
    if spec.refuse:
        t.todo(FindingId.OPTIMIZER_HOOK, spec.refuse, key=_key(t, type_v), at=type_v)
        return False
    for key, entry in hook.entries.items():
        if key != "type" and key not in spec.args:
            t.todo(
                FindingId.OPTIMIZER_HOOK,
                f"`{key}` is not an argument of {t.codebase or ''} {hook_type} (TypeError in "
                "0.x, or a custom hook); convert by hand".replace("  ", " "),
                key=_key(t, entry),
                at=entry,
            )
            return False
    # Check everything before changing the wrapper: a TODO leaves the whole group as it was.
    pending: list[tuple[str, SValue, SEntry | None]] = []
    infos: list[tuple[str, str, Severity, SEntry]] = []
    anomalous: SEntry | None = None
    wrapper_type = "AmpOptimWrapper" if spec.amp else "OptimWrapper"
    for key, entry in hook.entries.items():
        if key == "type":
            continue
        how = spec.args[key]
        value = entry.value
        if how == DROP:
            infos.append(
                (
                    FindingId.OPTIMIZER_HOOK,
                    f"`{key}` of {hook_type} dropped: it has no effect",
                    Severity.INFO,
                    entry,
                )
            )
        elif how == ANOMALOUS:
            anomalous = entry
        elif how == LOSS_SCALE:
            ls = _loss_scale(t, entry)
            if ls is None:
                return False
            pending.append(("loss_scale", ls, entry))
        elif how in (ACC_EXACT, ACC_NO_TAIL):
            n = _int(value)
            if n is None:
                t.todo(
                    FindingId.OPTIMIZER_HOOK,
                    f"`{key}` is not a literal int",
                    key=_key(t, entry),
                    at=entry,
                )
                return False
            if how == ACC_NO_TAIL and n != 1:
                t.todo(
                    FindingId.OPTIMIZER_HOOK,
                    f"{hook_type}({key}={n}) divides every loss by {n} and never steps on a "
                    "partial last window; OptimWrapper(accumulative_counts) rescales and "
                    "steps the tail, so it matches only when max_iters is a multiple of "
                    f"{n}; convert by hand",
                    key=_key(t, entry),
                    at=entry,
                )
                return False
            pending.append(("accumulative_counts", value, entry))
        elif how == APEX:
            if _is_literal(value, False):
                infos.append(
                    (
                        FindingId.OPTIMIZER_HOOK,
                        f"`{key}=False` dropped: the default",
                        Severity.INFO,
                        entry,
                    )
                )
            elif _is_literal(value, True):
                wrapper_type = "ApexOptimWrapper"
                infos.append(
                    (
                        FindingId.APEX,
                        f"{hook_type}(use_fp16=True) trained with NVIDIA apex amp (opt_level "
                        "'O1', dynamic loss scale): mapped to ApexOptimWrapper with those "
                        "settings, which needs apex installed; AmpOptimWrapper is the "
                        "supported, not identical, alternative",
                        Severity.WARNING,
                        entry,
                    )
                )
            else:
                t.todo(
                    FindingId.OPTIMIZER_HOOK,
                    f"`{key}` is not a literal bool",
                    key=_key(t, entry),
                    at=entry,
                )
                return False
        elif how == FROZEN:
            if isinstance(value, SDict) and not value.entries:
                infos.append(
                    (
                        FindingId.OPTIMIZER_HOOK,
                        f"`{key}=dict()` dropped: it freezes nothing",
                        Severity.INFO,
                        entry,
                    )
                )
            else:
                t.todo(
                    FindingId.OPTIMIZER_HOOK,
                    f"`{key}` dropped gradients of some layers for a number of iterations; "
                    "optim_wrapper has no equivalent (needs a custom hook); convert by hand",
                    key=_key(t, entry),
                    at=entry,
                )
                return False
        else:
            if key == "grad_clip" and isinstance(value, SDict) and "type" in value:
                t.todo(
                    FindingId.OPTIMIZER_HOOK,
                    "`grad_clip.type`: mmcv passed grad_clip to clip_grad_norm_, which fails "
                    "on `type` (TypeError): this config did not train in 0.x",
                    key=_key(t, entry),
                    at=entry,
                )
                return False
            pending.append((how, value, entry))
    if anomalous is not None and not _anomalous(t, anomalous):
        return False
    for rule_id, message, severity, entry in infos:
        t.note(rule_id, severity, message, at=entry)

    wrapper.set("type", lit(wrapper_type))
    if wrapper_type != "AmpOptimWrapper":
        wrapper.entries.pop("loss_scale", None)
    if wrapper_type != "ApexOptimWrapper":
        wrapper.entries.pop("opt_level", None)
    if hook.delete:
        # `_delete_` on optimizer_config reset every hook argument to its default
        for k in ("clip_grad", "accumulative_counts"):
            wrapper.entries.pop(k, None)
    if wrapper_type == "ApexOptimWrapper":
        wrapper.set("opt_level", lit("O1"))
        wrapper.set("loss_scale", lit("dynamic"))
    elif spec.amp and not any(k == "loss_scale" for k, _, _ in pending):
        wrapper.set("loss_scale", lit(MMCV_LOSS_SCALE))
    for target, value, entry in pending:
        wrapper.set(target, value, like=entry)
    return True


def _key(t: Translation, at: SValue | SEntry | None) -> str:
    """The 0.x key a hook setting came from: ``fp16`` (merged into the hook) or the hook."""
    fp16 = t.cfg.get("fp16")
    if isinstance(fp16, SDict) and at is not None:
        value = at.value if isinstance(at, SEntry) else at
        if any(e.value is value for e in fp16.entries.values()):
            return "fp16"
    return "optimizer_config" if "optimizer_config" in t.cfg else "fp16"


def _loss_scale(t: Translation, entry: SEntry) -> SValue | None:
    """The 1.x ``loss_scale`` for a 0.x one: floats, 'dynamic' and dicts as they are."""
    value = entry.value
    if isinstance(value, SLit):
        v = value.value
        if isinstance(v, int) and not isinstance(v, bool):
            t.note(
                FindingId.LOSS_SCALE,
                Severity.WARNING,
                f"loss_scale={v} is an int, which mmcv's Fp16OptimizerHook rejected "
                f"(ValueError) and MMEngine rejects too; written as {float(v)!r}",
                at=entry,
            )
            return lit(float(v))
        if isinstance(v, float) or v == "dynamic":
            return value
        t.todo(
            FindingId.LOSS_SCALE,
            f"loss_scale={v!r} is neither a float, 'dynamic' nor a dict (ValueError in 0.x)",
            key=_key(t, entry),
            at=entry,
        )
        return None
    return value  # a dict of GradScaler arguments, or an expression of this file


def _anomalous(t: Translation, entry: SEntry) -> bool:
    value = entry.value
    if _is_literal(value, False):
        t.note(
            FindingId.ANOMALOUS_PARAMS,
            Severity.INFO,
            "`detect_anomalous_params=False` dropped: it is the default",
            at=entry,
        )
        return True
    if _is_literal(value, True):
        wrapper_cfg = t.get("model_wrapper_cfg")
        cfg = (
            wrapper_cfg.copy()
            if isinstance(wrapper_cfg, SDict)
            else gdict(type=lit("MMDistributedDataParallel"))
        )
        cfg.set("detect_anomalous_params", value, like=entry)
        t.set("model_wrapper_cfg", cfg, sources=("optimizer_config",))
        t.note(
            FindingId.ANOMALOUS_PARAMS,
            Severity.INFO,
            "`detect_anomalous_params` moved to model_wrapper_cfg (MMDistributedDataParallel)",
            at=entry,
        )
        return True
    t.todo(
        FindingId.ANOMALOUS_PARAMS,
        "`detect_anomalous_params` is not a literal bool",
        key=_key(t, entry),
        at=entry,
    )
    return False


def _int(value: SValue) -> int | None:
    if isinstance(value, SExpr) and value.resolved is not None:
        value = value.resolved
    v = value.value if isinstance(value, SLit) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _is_literal(value: SValue | None, expected: object) -> bool:
    return (
        isinstance(value, SLit) and type(value.value) is type(expected) and value.value == expected
    )
