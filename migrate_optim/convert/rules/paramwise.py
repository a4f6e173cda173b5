"""MO105 ``paramwise_cfg``: keep mmcv's meaning under MMEngine's DefaultOptimWrapperConstructor.

docs/paramwise.md. mmcv treated a missing ``*_decay_mult`` as 1.0 and
checked norm -> depthwise conv -> bias; MMEngine treats a missing mult as "not set" and checks
norm -> bias -> depthwise conv -> flat. So, for every ``paramwise_cfg`` that reaches the default
constructor (a single wrapper or each GAN sub-wrapper):

* ``bias_decay_mult`` set, ``norm_decay_mult`` not: add ``norm_decay_mult=1.0`` (otherwise
  MMEngine would give norm biases the bias mult);
* ``bias_decay_mult`` differing from the depthwise-conv mult mmcv used for depthwise biases
  (``dwconv_decay_mult`` or 1.0): warn; only ``custom_keys`` could restore it, and whether the
  model has depthwise convs is not visible in the config;
* ``flat_decay_mult``: mmcv ignored it, so drop it (it would start acting in 1.x);
* ``custom_keys`` entries: mmcv read only ``lr_mult``/``decay_mult``; MMEngine copies every key
  into the param group, so the others are dropped;
* frozen parameters: mmcv kept them as groups, MMEngine skips them (info: 0.x optimizer
  state dicts will not load).

Configs with a non-default constructor are left alone apart from a finding: their 1.x
constructor defines its own meaning. mmselfsup 0.x replaced the default constructor with a
regex-based one (docs/codebases.md#codebase-constructors): its paramwise settings are left
with a TODO.
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.static import SDict, SExpr, SLit, SValue, lit
from migrate_optim.convert.translation import Translation
from migrate_optim.facts import MULTI_CONSTRUCTOR, is_default_constructor

#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
KEYS: tuple[str, ...] = ("optim_wrapper",)


def apply(t: Translation) -> None:
    """Rewrite every paramwise_cfg of the 1.x wrapper(s) built by earlier rules."""
    wrapper = t.get("optim_wrapper")
    if not isinstance(wrapper, SDict) or "optim_wrapper" not in t.out:
        return
    changed = False
    top = wrapper.copy()
    if "paramwise_cfg" in top:
        new = _fix_wrapper(t, top)
        changed |= new is not top
        top = new
    for name, sub in list(top.items()):
        if isinstance(sub, SDict) and "paramwise_cfg" in sub and "optimizer" in sub:
            new_sub = _fix_wrapper(t, sub)
            if new_sub is not sub:
                top.set(name, new_sub, like=top.entry(name))
                changed = True
    if changed:
        t.set("optim_wrapper", top)


def _fix_wrapper(t: Translation, wrapper: SDict) -> SDict:
    pw_entry = wrapper.entry("paramwise_cfg")
    assert pw_entry is not None
    pw = pw_entry.value
    ctor = wrapper.get("constructor")
    ctor_name = ctor.value if isinstance(ctor, SLit) else (None if ctor is None else "?")
    if not is_default_constructor(ctor_name) and ctor_name != MULTI_CONSTRUCTOR:
        t.note(
            FindingId.PARAMWISE,
            Severity.INFO,
            f"paramwise_cfg copied as is for constructor {ctor_name!r}: its 1.x version "
            "defines the meaning",
            at=pw_entry,
        )
        return wrapper
    if t.codebase == "mmselfsup" and is_default_constructor(ctor_name):
        t.todo(
            FindingId.PARAMWISE,
            "mmselfsup 0.x registers its own DefaultOptimizerConstructor (regex keys, every "
            "match applied): what this paramwise_cfg did cannot be checked; convert by hand",
            key="optim_wrapper",
            at=pw_entry,
        )
        return wrapper
    reference: SExpr | None = None
    if isinstance(pw, SExpr) and isinstance(pw.resolved, SDict):
        # `paramwise_cfg=paramwise_cfg`, a dict bound earlier in the same file: checked
        # through the name, kept as the name if nothing must change
        reference, pw = pw, pw.resolved
    if not isinstance(pw, SDict):
        if isinstance(pw, SLit) and pw.value is None:
            return wrapper
        t.todo(
            FindingId.PARAMWISE,
            "`paramwise_cfg` is not a dict literal: its mmcv meaning cannot be checked",
            key="optim_wrapper",
            at=pw_entry,
        )
        return wrapper
    new_pw = pw.copy()
    bias = new_pw.get("bias_decay_mult")
    norm = new_pw.get("norm_decay_mult")
    dwconv = new_pw.get("dwconv_decay_mult")
    if bias is not None and norm is None:
        new_pw.set("norm_decay_mult", lit(1.0))
        t.note(
            FindingId.PARAMWISE,
            Severity.INFO,
            "added norm_decay_mult=1.0: with only bias_decay_mult set, MMEngine would also "
            "apply it to norm-layer biases (mmcv used 1.0)",
            at=new_pw.entry("bias_decay_mult"),
        )
    if bias is not None:
        dw_value = _number(dwconv) if dwconv is not None else 1.0
        if _number(bias) is None or dw_value is None or _number(bias) != dw_value:
            t.note(
                FindingId.PARAMWISE,
                Severity.WARNING,
                "depthwise-conv biases get bias_decay_mult in MMEngine but "
                f"{'dwconv_decay_mult' if dwconv is not None else 'a mult of 1.0'} in mmcv; "
                "if the model has depthwise convs, restore it with custom_keys",
                at=new_pw.entry("bias_decay_mult"),
            )
    flat = new_pw.entry("flat_decay_mult")
    if flat is not None:
        new_pw.entries.pop("flat_decay_mult")
        t.note(
            FindingId.PARAMWISE,
            Severity.WARNING,
            "flat_decay_mult dropped: mmcv ignored it, MMEngine would apply it",
            at=flat,
        )
    ck_entry = new_pw.entry("custom_keys")
    if ck_entry is not None and isinstance(ck_entry.value, SDict):
        ck = ck_entry.value.copy()
        changed = False
        for key, opts in list(ck.items()):
            if not isinstance(opts, SDict):
                continue
            extra = [k for k in opts.keys() if k not in ("lr_mult", "decay_mult")]
            if extra:
                ck.set(key, opts.without(*extra), like=ck.entry(key))
                changed = True
                t.note(
                    FindingId.PARAMWISE,
                    Severity.WARNING,
                    f"custom_keys[{key!r}]: {', '.join(extra)} dropped: mmcv read only "
                    "lr_mult/decay_mult, MMEngine would set them on the param group",
                    at=ck.entry(key),
                )
        if changed:
            new_pw.set("custom_keys", ck, like=ck_entry)
    t.note(
        FindingId.PARAMWISE,
        Severity.INFO,
        "frozen parameters (requires_grad=False) are no longer added to the optimizer with "
        "paramwise_cfg: 0.x optimizer state dicts will not load into 1.x",
        at=pw_entry,
    )
    if _unchanged(pw, new_pw):
        return wrapper
    if reference is not None:
        t.todo(
            FindingId.PARAMWISE,
            f"`paramwise_cfg` refers to `{reference.code}`, which needs the changes above to "
            "keep its mmcv meaning; apply them by hand",
            key="optim_wrapper",
            at=pw_entry,
        )
        return wrapper
    out = wrapper.copy()
    out.set("paramwise_cfg", new_pw, like=pw_entry)
    return out


def _number(v: SValue | None) -> float | None:
    if isinstance(v, SLit) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool):
        return float(v.value)
    return None


def _unchanged(a: SDict, b: SDict) -> bool:
    return list(a.entries) == list(b.entries) and all(
        a.entries[k] is b.entries[k] for k in a.entries
    )
