"""An independent oracle: the effective 1.x optimizer settings a loaded 0.x config must become.

Written from shared/spec/semantics.md (§3.1-3.3, §4, §7 rules 6-8) and the research note on the
codebases' trainers, on plain dicts (a config loaded with ``mmengine.Config.fromfile``), without
using the converter. ``expected(cfg, codebase)`` returns the normalised 1.x keys
(``optim_wrapper``, ``model_wrapper_cfg``), or :data:`UNDEFINED` where the spec gives no exact
1.x form (the converter must then leave a TODO). ``actual(cfg)`` normalises a loaded 1.x config
the same way, so tests compare ``actual(new) == expected(old)``.
"""

from __future__ import annotations

import copy
from typing import Any

UNDEFINED = "<undefined>"

MERGED = {
    "mmdet", "mmpose", "mmaction2", "mmocr", "mmrotate", "mmtrack", "mmfewshot", "mmflow",
    "mmhuman3d", "mmdet3d",
}  # fmt: skip
LOSS_SCALE_ONLY = {"mmcls"}
FP16_IGNORED = {"mmseg"}
HOOKLESS = {"mmgen", "mmedit"}

#: mmcv 1.7.2 hooks -> accepted arguments (spec §3.1)
_PLAIN = {"grad_clip", "detect_anomalous_params"}
_FP16 = {"grad_clip", "coalesce", "bucket_size_mb", "loss_scale", "distributed"}
HOOK_ARGS = {
    "OptimizerHook": _PLAIN,
    "GradientCumulativeOptimizerHook": _PLAIN | {"cumulative_iters"},
    "Fp16OptimizerHook": _FP16,
    "GradientCumulativeFp16OptimizerHook": _FP16 | {"cumulative_iters"},
}
#: mmcls's DistOptimizerHook (spec §3.2): what its distributed trainer builds without `type`
MMCLS_DIST_ARGS = {"grad_clip", "coalesce", "bucket_size_mb"}
AMP_HOOKS = {"Fp16OptimizerHook", "GradientCumulativeFp16OptimizerHook"}

#: what an optimizer_wrapper key means when absent (MMEngine 0.10.7, spec §4.1/§4.5)
WRAPPER_DEFAULTS: dict[str, Any] = {
    "type": "OptimWrapper",
    "clip_grad": None,
    "accumulative_counts": 1,
    "constructor": "DefaultOptimWrapperConstructor",
    "paramwise_cfg": None,
}


def plain(value: Any) -> Any:
    """ConfigDicts and other mappings as plain dicts, recursively (lists and tuples kept)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def normalise_wrapper(wrapper: dict | None) -> dict | None:
    """Drop wrapper keys that equal MMEngine's defaults (absent and default mean the same)."""
    if wrapper is None:
        return None
    out = {
        k: v
        for k, v in wrapper.items()
        if not (k in WRAPPER_DEFAULTS and same(v, WRAPPER_DEFAULTS[k]))
    }
    if not out.get("paramwise_cfg", 1):
        out.pop("paramwise_cfg")  # an empty paramwise_cfg is no paramwise_cfg
    return out or None  # a wrapper of defaults only says what no wrapper says


def same(a: Any, b: Any) -> bool:
    """Equality that also compares the types of numbers (512 != 512.0 for loss_scale)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def actual(cfg: dict) -> dict:
    """The normalised optimizer-related 1.x keys of a loaded (converted) config."""
    cfg = plain(cfg)
    return {
        # an empty optim_wrapper (`dict(_delete_=True)` over a base) sets nothing, like none
        "optim_wrapper": normalise_wrapper(cfg.get("optim_wrapper") or None),
        "model_wrapper_cfg": cfg.get("model_wrapper_cfg"),
        "left": sorted(k for k in ("optimizer", "optimizer_config", "fp16") if k in cfg),
    }


def _fix_paramwise(pw: dict) -> dict:
    """Spec §7 rule 8 on a plain paramwise_cfg."""
    pw = copy.deepcopy(pw)
    if "bias_decay_mult" in pw and "norm_decay_mult" not in pw:
        pw["norm_decay_mult"] = 1.0
    pw.pop("flat_decay_mult", None)
    keys = pw.get("custom_keys")
    if isinstance(keys, dict):
        for name, opts in keys.items():
            if isinstance(opts, dict):
                keys[name] = {k: v for k, v in opts.items() if k in ("lr_mult", "decay_mult")}
    return pw


def _wrapper_from_optimizer(opt: dict) -> dict | str:
    wrapper: dict[str, Any] = {
        "type": "OptimWrapper",
        "optimizer": {k: v for k, v in opt.items() if k not in ("constructor", "paramwise_cfg")},
    }
    ctor = opt.get("constructor", "DefaultOptimizerConstructor")
    if ctor == "DefaultOptimizerConstructor":
        ctor = "DefaultOptimWrapperConstructor"
    wrapper["constructor"] = ctor
    if "paramwise_cfg" in opt:
        pw = opt["paramwise_cfg"]
        if ctor == "DefaultOptimWrapperConstructor" and isinstance(pw, dict):
            pw = _fix_paramwise(pw)
        wrapper["paramwise_cfg"] = pw
    return wrapper


def expected(cfg: dict, codebase: str | None) -> dict | str:
    """The normalised 1.x keys for a loaded 0.x config, or :data:`UNDEFINED`."""
    cfg = plain(cfg)
    if "optimizer" in cfg and cfg["optimizer"] is None:
        return UNDEFINED  # models that build their optimizers themselves (GANs)
    opt = cfg.get("optimizer")
    wrapper: dict[str, Any] | None = None
    model_wrapper_cfg = None
    if opt is not None:
        if not isinstance(opt, dict) or (opt and all(isinstance(v, dict) for v in opt.values())):
            return UNDEFINED  # per-module optimizers (GANs): not this oracle's business
        if "paramwise_options" in opt:
            return UNDEFINED
        wrapper = _wrapper_from_optimizer(opt)
    result = {"optim_wrapper": None, "model_wrapper_cfg": None, "left": []}
    if codebase in HOOKLESS:
        # mmgen/mmedit models build and step their optimizers themselves (GAN rules, spec
        # §1-2); their trainers never read optimizer_config/fp16 (spec §7 rule 7)
        return UNDEFINED

    has_oc = "optimizer_config" in cfg
    oc = cfg.get("optimizer_config")
    fp16 = cfg.get("fp16")
    fp16_on = "fp16" in cfg and fp16 is not None and codebase not in FP16_IGNORED
    if fp16_on and codebase not in MERGED | LOSS_SCALE_ONLY:
        return UNDEFINED  # the codebase decides what fp16 means
    if has_oc and not isinstance(oc, dict):
        return UNDEFINED  # None: no hook at all in 0.x; anything else: not static
    if fp16_on and not isinstance(fp16, dict):
        return UNDEFINED
    hook: dict[str, Any] | None = dict(oc) if has_oc else None
    if fp16_on:
        hook = hook or {}
        if "type" in hook or "distributed" in hook:
            return UNDEFINED  # TypeError in the 0.x trainer
        if codebase in LOSS_SCALE_ONLY:
            if "loss_scale" not in fp16 or "loss_scale" in hook:
                return UNDEFINED  # KeyError / TypeError
            hook["loss_scale"] = fp16["loss_scale"]
        else:
            if set(fp16) & (set(hook) | {"distributed"}):
                return UNDEFINED  # the same keyword twice
            hook.update(fp16)
        hook["type"] = "Fp16OptimizerHook"
    if hook is not None:
        if "type" not in hook:
            hook["type"] = "DistOptimizerHook" if codebase in LOSS_SCALE_ONLY else "OptimizerHook"
        hook_type = hook.pop("type")
        if hook_type == "DistOptimizerHook" and codebase in LOSS_SCALE_ONLY:
            allowed = MMCLS_DIST_ARGS
        else:
            allowed = HOOK_ARGS.get(hook_type)
        if allowed is None or set(hook) - allowed:
            return UNDEFINED
        wrapper = wrapper if wrapper is not None else {"type": "OptimWrapper"}
        grad_clip = hook.get("grad_clip")
        if isinstance(grad_clip, dict) and "type" in grad_clip:
            return UNDEFINED  # clip_grad_norm_(type=...) was a TypeError in 0.x
        if "grad_clip" in hook:
            wrapper["clip_grad"] = grad_clip
        if "cumulative_iters" in hook:
            wrapper["accumulative_counts"] = hook["cumulative_iters"]
        if hook_type in AMP_HOOKS:
            wrapper["type"] = "AmpOptimWrapper"
            scale = hook.get("loss_scale", 512.0)
            if isinstance(scale, bool):
                return UNDEFINED
            if isinstance(scale, int):
                scale = float(scale)
            elif isinstance(scale, str) and scale != "dynamic":
                return UNDEFINED
            wrapper["loss_scale"] = scale
        anomalous = hook.get("detect_anomalous_params", False)
        if anomalous is True:
            model_wrapper_cfg = {
                "type": "MMDistributedDataParallel",
                "detect_anomalous_params": True,
            }
        elif anomalous is not False:
            return UNDEFINED
    result["optim_wrapper"] = normalise_wrapper(wrapper)
    result["model_wrapper_cfg"] = model_wrapper_cfg
    return result
