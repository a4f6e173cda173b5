"""MO201 per-module optimizer dicts -> ``optim_wrapper`` with ``MultiOptimWrapperConstructor``.

docs/gan.md#per-module-optimizers. MMGeneration 0.x (``optimizer=``) and MMEditing 0.x
(``optimizers=``) build one optimizer per key when *every* value of the dict is a dict, on the
model's child module of that name. MMagic 1.x does the same with
``optim_wrapper=dict(constructor='MultiOptimWrapperConstructor', <name>=dict(optimizer=...))``:

* each ``<name>`` is kept exactly (it must be a direct child module of the model: ``generator``,
  ``discriminator``, ``generators``, ``discriminators``, ...), and every hyper-parameter of its
  optimizer is copied as written;
* a per-module ``paramwise_cfg`` moves from the optimizer into its sub-wrapper (MO105 then keeps
  its mmcv meaning); it is never put at the top level (MMagic asserts on that);
* a per-module ``constructor`` other than mmcv's default has no 1.x form (the sub-wrapper dict
  would pass it to the wrapper as an unknown argument): left with a TODO (MO202).

A per-module ``optimizer`` in a config of unknown codebase means MMGeneration (no other
supported trainer builds one optimizer per key), and the later rules are told so.

PGGAN and SinGAN built their optimizers inside the model from ``train_cfg`` (docs/gan.md);
their top-level ``optimizer`` was never used and is dropped here; their wrappers are written by
the GAN ``train_cfg`` rule.
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.rules.optimizer import is_per_module
from migrate_optim.convert.static import SDict, SLit, gdict, lit
from migrate_optim.convert.translation import Translation
from migrate_optim.facts import MULTI_CONSTRUCTOR

#: families whose model builds its own optimizers (the runner's optimizer is unused)
MODEL_BUILT = {"pggan", "singan"}


#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ("optimizer", "optimizers", "optim_wrapper")


def apply(t: Translation) -> None:
    """Convert the per-module optimizer dict of an mmgen/mmedit config."""
    ctx = gc.context(t)
    key = "optimizers" if t.codebase == "mmedit" else "optimizer"
    optimizer = t.cfg.get(key)
    if ctx.family in MODEL_BUILT and key == "optimizer" and optimizer is not None:
        if not (isinstance(optimizer, SLit) and optimizer.value is None):
            t.note(
                FindingId.GAN_OPTIMIZERS,
                Severity.INFO,
                f"`optimizer` dropped: {ctx.cls} built its own optimizers from train_cfg in 0.x, "
                "so this one was never used",
                at=optimizer,
            )
        t.remove(key)
        return
    if not isinstance(optimizer, SDict) or not is_per_module(optimizer):
        return
    if t.codebase is None:
        # only MMGeneration's trainer builds one optimizer per key of `optimizer` (MMEditing's
        # reads `optimizers`); the rules after this one (optimizer_config, fp16, runner) must
        # apply its semantics, not those of a trainer that would step a dict of optimizers
        t.codebase = "mmgen"
        t.note(
            FindingId.GAN_OPTIMIZERS,
            Severity.INFO,
            "codebase taken to be mmgen: only MMGeneration builds one optimizer per key of "
            "`optimizer` (use --codebase to say otherwise)",
            at=optimizer,
        )
    existing = t.cfg.get("optim_wrapper")
    if isinstance(existing, SDict) and "optim_wrapper" in t.cfg.entries:
        wrapper = existing.copy()  # a base already converted: layer the 0.x override on top
    else:
        wrapper = gdict()
    wrapper.set("constructor", lit(MULTI_CONSTRUCTOR))
    if optimizer.delete:
        for name in list(wrapper.keys()):
            if name != "constructor":
                wrapper.entries.pop(name)
    for name, sub in optimizer.items():
        assert isinstance(sub, SDict)
        built = gc.sub_wrapper(t, key, name, sub, wrapper.get(name))
        if built is None:
            return
        wrapper.set(name, built, like=optimizer.entry(name))
    if key == "optimizers" and len(optimizer.keys()) == 1 and not ctx.known:
        t.note(
            FindingId.GAN_OPTIMIZERS,
            Severity.WARNING,
            "a single-optimizer `optimizers` dict became a one-entry OptimWrapperDict: MMagic "
            "models that step one wrapper (BaseEditModel subclasses) need a single wrapper; "
            f"for those use optim_wrapper=dict(constructor='{MULTI_CONSTRUCTOR}', "
            f"modules='{optimizer.keys()[0]}', optimizer=...) (same parameters as 0.x)",
            at=optimizer,
        )
    t.set("optim_wrapper", wrapper, sources=(key,))
    t.remove(key)
