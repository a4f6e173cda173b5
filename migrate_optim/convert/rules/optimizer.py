"""MO101 ``optimizer`` -> ``optim_wrapper`` for single-optimizer configs.

Spec §3.3 item 1 and §7 rule 6: ``optimizer=dict(type=..., lr=..., constructor=..., paramwise_cfg=...)``
becomes ``optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type=..., lr=...),
constructor=..., paramwise_cfg=...)``: ``constructor`` and ``paramwise_cfg`` move out of the
optimizer into the wrapper (``build_optim_wrapper`` pops them there, mmcv's ``build_optimizer``
popped them from the optimizer), and constructor names move to their 1.x registry names
(mmcv ``DefaultOptimizerConstructor`` -> MMEngine ``DefaultOptimWrapperConstructor``).

Per-module optimizer dicts (every value a dict: MMGeneration/MMEditing GANs, spec §1.9) are left
to the multi-optimizer rule.
"""

from __future__ import annotations

from migrate_optim.convert.findings import Severity
from migrate_optim.convert.static import SDict, SLit, gdict, lit
from migrate_optim.convert.translation import Translation

RULE_ID = "MO101"
CONSTRUCTOR_ID = "MO109"
FINDING_IDS = (RULE_ID, CONSTRUCTOR_ID)

#: 0.x constructor registry names -> 1.x names (spec §3.3 items 1 and 9).
CONSTRUCTOR_NAMES: dict[str, str] = {
    "DefaultOptimizerConstructor": "DefaultOptimWrapperConstructor",
}


def is_per_module(optimizer: SDict) -> bool:
    """mmgen/mmedit build one optimizer per key when *every* value is a dict (spec §1.9)."""
    return bool(optimizer.entries) and all(isinstance(v, SDict) for _, v in optimizer.items())


def apply(t: Translation) -> None:
    """Build the 1.x wrapper from a single ``optimizer`` dict."""
    optimizer = t.cfg.get("optimizer")
    if not isinstance(optimizer, SDict) or is_per_module(optimizer):
        return
    if "optim_wrapper" in t.cfg.entries:
        # a base already converted: keep its wrapper and layer the 0.x override on top
        existing = t.cfg.get("optim_wrapper")
        wrapper = existing.copy() if isinstance(existing, SDict) else gdict()
    else:
        wrapper = gdict(type=lit("OptimWrapper"))
    inner = optimizer.without("constructor", "paramwise_cfg")
    wrapper.set("optimizer", inner)
    if optimizer.delete:
        # 0.x `_delete_` replaced the whole optimizer, constructor and paramwise_cfg included
        wrapper.entries.pop("constructor", None)
        wrapper.entries.pop("paramwise_cfg", None)
    ctor = optimizer.entry("constructor")
    if ctor is not None:
        value = ctor.value
        if isinstance(value, SLit) and isinstance(value.value, str):
            mapped = CONSTRUCTOR_NAMES.get(value.value)
            if mapped is not None:
                value = lit(mapped)
            elif value.value.endswith("OptimizerConstructor"):
                t.note(
                    CONSTRUCTOR_ID,
                    Severity.WARNING,
                    f"constructor {value.value!r} is codebase-specific: check that its 1.x package "
                    "registers it in OPTIM_WRAPPER_CONSTRUCTORS under this name",
                    at=ctor,
                )
        wrapper.set("constructor", value, like=ctor)
    pw = optimizer.entry("paramwise_cfg")
    if pw is not None:
        wrapper.set("paramwise_cfg", pw.value, like=pw)
    t.set("optim_wrapper", wrapper, sources=("optimizer",))
    t.remove("optimizer")
