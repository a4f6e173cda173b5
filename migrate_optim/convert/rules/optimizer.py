"""MO101 ``optimizer`` -> ``optim_wrapper`` for single-optimizer configs; MO109 constructors.

docs/optimizers.md#where-the-optimizer-lives: ``optimizer=dict(type=..., lr=..., constructor=...,
paramwise_cfg=...)`` becomes ``optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type=...,
lr=...), constructor=..., paramwise_cfg=...)``: ``constructor`` and ``paramwise_cfg`` move out
of the optimizer into the wrapper (``build_optim_wrapper`` pops them there, mmcv's
``build_optimizer`` popped them from the optimizer).

Constructor names (docs/optimizers.md#constructor-names, docs/codebases.md#codebase-constructors;
only names whose 1.x successor was read):
mmcv ``DefaultOptimizerConstructor`` -> MMEngine ``DefaultOptimWrapperConstructor``; mmdet's and
mmseg's layer-decay constructors keep their names in their 1.x packages. Constructors whose 1.x
successor reads different keys or computes different groups (mmpose layer decay, mmselfsup
fine-tuning constructors, mmdet3d's early constructors) are left with a TODO; unknown names are
kept with a warning.

Per-module optimizer dicts (every value a dict: MMGeneration/MMEditing GANs, docs/gan.md) are left
to the multi-optimizer rule.
"""

from __future__ import annotations

from migrate_optim import facts
from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.static import SDict, SLit, gdict, lit, merge_into
from migrate_optim.convert.translation import Translation

#: 0.x constructor registry names -> 1.x names, for every codebase
#: (docs/optimizers.md#constructor-names)
CONSTRUCTOR_NAMES: dict[str, str] = {
    "DefaultOptimizerConstructor": "DefaultOptimWrapperConstructor",
}

#: (codebase, 0.x name) -> 1.x name, where the 1.x package registers a constructor with the
#: same keys and semantics (docs/codebases.md#codebase-constructors; read at mmdet 19bceba,
#: mmseg 4b76f27)
SAME_NAME_CONSTRUCTORS: dict[tuple[str, str], str] = {
    ("mmdet", "LearningRateDecayOptimizerConstructor"): "LearningRateDecayOptimizerConstructor",
    ("mmseg", "LearningRateDecayOptimizerConstructor"): "LearningRateDecayOptimizerConstructor",
    ("mmseg", "LayerDecayOptimizerConstructor"): "LayerDecayOptimizerConstructor",
}

_MMPOSE_DECAY = (
    "mmpose 1.x replaced {name} with LayerDecayOptimWrapperConstructor, which reads only "
    "num_layers and layer_decay_rate and supports ViT backbones only; convert by hand"
)
_SELFSUP_FT = (
    "mmselfsup 1.x replaced {name} with LearningRateDecayOptimWrapperConstructor "
    "(paramwise_cfg.layer_decay_rate), which numbers layers differently, so layer-wise "
    "learning rates are not guaranteed to match; convert by hand"
)

#: (codebase, 0.x name) -> why it cannot be converted automatically
#: (docs/codebases.md#codebase-constructors)
REFUSED_CONSTRUCTORS: dict[tuple[str, str], str] = {
    ("mmpose", "LayerDecayOptimizerConstructor"): _MMPOSE_DECAY.format(
        name="LayerDecayOptimizerConstructor"
    ),
    ("mmpose", "LearningRateDecayOptimizerConstructor"): _MMPOSE_DECAY.format(
        name="LearningRateDecayOptimizerConstructor"
    ),
    ("mmselfsup", "TransformerFinetuneConstructor"): _SELFSUP_FT.format(
        name="TransformerFinetuneConstructor"
    ),
    ("mmselfsup", "MAEFtOptimizerConstructor"): _SELFSUP_FT.format(
        name="MAEFtOptimizerConstructor"
    ),
    ("mmdet3d", "CocktailOptimizerConstructor"): (
        "mmdet3d's CocktailOptimizerConstructor has no 1.x equivalent; convert by hand"
    ),
    ("mmdet3d", "HybridOptimizerConstructor"): (
        "mmdet3d's HybridOptimizerConstructor has no 1.x equivalent; convert by hand"
    ),
}


def is_per_module(optimizer: SDict) -> bool:
    """mmgen/mmedit build one optimizer per key when *every* value is a dict
    (docs/gan.md#per-module-optimizers)."""
    values_are_dicts = all(isinstance(v, SDict) for _, v in optimizer.items())
    return facts.is_per_module(optimizer.keys(), values_are_dicts)


#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ("optimizer", "optimizers", "optim_wrapper")


def apply(t: Translation) -> None:
    """Build the 1.x wrapper from a single ``optimizer`` dict (MMEditing: ``optimizers``)."""
    source = "optimizer"
    optimizer = t.cfg.get("optimizer")
    if optimizer is None and t.codebase in (None, "mmedit"):
        # mmedit 0.x reads `optimizers`; without a dict-of-dicts it builds one optimizer for
        # the whole model (docs/gan.md#per-module-optimizers)
        source = "optimizers"
        optimizer = t.cfg.get("optimizers")
    if not isinstance(optimizer, SDict) or is_per_module(optimizer):
        return
    t.relate("optim_wrapper", source)
    if "paramwise_options" in optimizer:
        t.todo(
            FindingId.OPTIMIZER,
            "mmselfsup 0.x `paramwise_options` match parameter names by regex and apply every "
            "matching key in order; MMEngine's paramwise_cfg.custom_keys match substrings and "
            "apply only the longest; convert by hand",
            key=source,
            at=optimizer.entry("paramwise_options"),
        )
        return
    if "optim_wrapper" in t.cfg.entries:
        # a base already converted: keep its wrapper and layer the 0.x override on top
        existing = t.cfg.get("optim_wrapper")
        wrapper = existing.copy() if isinstance(existing, SDict) else gdict()
    else:
        wrapper = gdict(type=lit("OptimWrapper"))
    inner = optimizer.without("constructor", "paramwise_cfg")
    current = wrapper.get("optimizer")
    if isinstance(current, SDict) and not optimizer.delete:
        # the 0.x override merges into the optimizer the converted base already has
        inner = merge_into(inner, current)
        inner.node, inner.file, inner.line = optimizer.node, optimizer.file, optimizer.line
    wrapper.set("optimizer", inner)
    if optimizer.delete:
        # 0.x `_delete_` replaced the whole optimizer, constructor and paramwise_cfg included
        wrapper.entries.pop("constructor", None)
        wrapper.entries.pop("paramwise_cfg", None)
    ctor = optimizer.entry("constructor")
    if ctor is not None:
        value = ctor.value
        if isinstance(value, SLit) and isinstance(value.value, str):
            name = value.value
            key = (t.codebase or "", name)
            if key in REFUSED_CONSTRUCTORS:
                t.todo(FindingId.CONSTRUCTOR, REFUSED_CONSTRUCTORS[key], key=source, at=ctor)
                return
            if name in CONSTRUCTOR_NAMES:
                value = lit(CONSTRUCTOR_NAMES[name])
            elif key in SAME_NAME_CONSTRUCTORS:
                t.note(
                    FindingId.CONSTRUCTOR,
                    Severity.INFO,
                    f"constructor {name!r} keeps its name: {t.codebase} 1.x registers it in "
                    "OPTIM_WRAPPER_CONSTRUCTORS (keep default_scope or custom_imports on "
                    f"{t.codebase})",
                    at=ctor,
                )
            else:
                t.note(
                    FindingId.CONSTRUCTOR,
                    Severity.WARNING,
                    f"constructor {name!r} is not known to the converter for "
                    f"{t.codebase or 'an unknown codebase'}: kept as is; check that its 1.x "
                    "package registers it in OPTIM_WRAPPER_CONSTRUCTORS under this name with "
                    "the same paramwise_cfg keys",
                    at=ctor,
                )
        else:
            t.note(
                FindingId.CONSTRUCTOR,
                Severity.WARNING,
                "constructor is not a string literal: kept as is; check that it names a 1.x "
                "OPTIM_WRAPPER_CONSTRUCTORS entry",
                at=ctor,
            )
        wrapper.set("constructor", value, like=ctor)
    pw = optimizer.entry("paramwise_cfg")
    if pw is not None:
        wrapper.set("paramwise_cfg", pw.value, like=pw)
    t.set("optim_wrapper", wrapper, sources=(source,))
    t.remove(source)
