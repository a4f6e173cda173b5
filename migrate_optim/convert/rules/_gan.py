"""Shared knowledge of the GAN rules (MO2xx): 0.x model classes, ``train_cfg``, static numbers.

A helper module, not a rule (:func:`~migrate_optim.convert.rules.rules` runs only public
modules). Besides the reading helpers below, the pieces several GAN rules build with:
:class:`ModelSettings`, :func:`ignored_steps`, :func:`sub_wrapper`, :func:`ordered`.

docs/gan.md#which-train_cfg-keys-each-class-reads (which 0.x class reads which ``train_cfg``
key; resolve the registry aliases first; the model reads ``model.train_cfg`` when present,
else the top-level ``train_cfg``, because mmgen's ``build_model`` passes the top-level one
only as a default argument).

Values the GAN rules compute from 0.x values (``K // B``, ``interval / R``, ``1 - m``,
``total_iters * disc_steps``) stay expressions of the module-level variables they were written
with where that is exact; :func:`number` evaluates them statically (literals, names bound in the
same file, arithmetic) so the rules can check divisibility without running the config.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.static import SDict, SEntry, SExpr, SList, SLit, SValue, gdict
from migrate_optim.convert.translation import REMOVE, Translation
from migrate_optim.facts import DEFAULT_CONSTRUCTORS, MULTI_CONSTRUCTOR

#: 0.x registry names (aliases included, docs/gan.md) -> (canonical class, family).
CLASSES: dict[str, tuple[str, str]] = {
    "StaticUnconditionalGAN": ("StaticUnconditionalGAN", "static"),
    "MSPIEStyleGAN2": ("MSPIEStyleGAN2", "mspie"),
    "BasicConditionalGAN": ("BasicConditionalGAN", "conditional"),
    "BasiccGAN": ("BasicConditionalGAN", "conditional"),
    "ProgressiveGrowingGAN": ("ProgressiveGrowingGAN", "pggan"),
    "PGGAN": ("ProgressiveGrowingGAN", "pggan"),
    "StyleGANV1": ("ProgressiveGrowingGAN", "pggan"),
    "SinGAN": ("SinGAN", "singan"),
    "PESinGAN": ("PESinGAN", "singan"),
    "CycleGAN": ("CycleGAN", "translation"),
    "Pix2Pix": ("Pix2Pix", "translation"),
    "StaticTranslationGAN": ("StaticTranslationGAN", "translation"),
}

#: codebases whose trainers build one optimizer per sub-module and whose models read train_cfg
GAN_CODEBASES = ("mmgen", "mmedit")

#: the 0.x EMA hook (mmgen/core/hooks/ema_hook.py)
EMA_HOOK = "ExponentialMovingAverageHook"


@dataclass
class GanContext:
    """What the GAN rules need to know about one effective 0.x config.

    ``model_type`` is the ``model.type`` string as written; ``cls``/``family`` are None for a
    class docs/gan.md does not cover. ``train_cfg`` is the value the model reads
    (``model.train_cfg`` if present, else the top-level ``train_cfg``); ``in_model`` says which.
    """

    model: SDict | None
    model_type: str | None
    cls: str | None
    family: str | None
    train_cfg: SValue | None
    in_model: bool

    @property
    def known(self) -> bool:
        """Whether the model is a GAN class the spec covers."""
        return self.family is not None

    def train_dict(self) -> SDict | None:
        """The GAN train_cfg as a dict (an empty one for None/absent), or None if not static."""
        tc = self.train_cfg
        if tc is None or (isinstance(tc, SLit) and tc.value is None):
            return gdict()
        if isinstance(tc, SDict):
            return tc
        return None


def context(t: Translation) -> GanContext:
    """Detect the 0.x model class and the train_cfg it reads (docs/gan.md)."""
    model = t.cfg.get("model")
    model_d = model if isinstance(model, SDict) else None
    mtype = None
    if model_d is not None:
        tv = model_d.get("type")
        if isinstance(tv, SLit) and isinstance(tv.value, str):
            mtype = tv.value
    cls, family = CLASSES.get(mtype, (None, None)) if mtype else (None, None)
    if model_d is not None and "train_cfg" in model_d:
        return GanContext(model_d, mtype, cls, family, model_d.get("train_cfg"), True)
    tc = t.cfg.get("train_cfg")
    if is_loop_cfg(tc):
        tc = None  # already a 1.x loop (a converted base): nothing for the model
    return GanContext(model_d, mtype, cls, family, tc, False)


def is_loop_cfg(value: SValue | None) -> bool:
    """Whether a top-level ``train_cfg`` is already an MMEngine loop config (1.x)."""
    if not isinstance(value, SDict):
        return False
    if "by_epoch" in value or "max_iters" in value or "max_epochs" in value:
        return True
    tv = value.get("type")
    return isinstance(tv, SLit) and isinstance(tv.value, str) and tv.value.endswith("Loop")


def applies(t: Translation) -> bool:
    """Whether the GAN rules look at this config at all (mmgen/mmedit or a known GAN class)."""
    ctx = context(t)
    return t.codebase in GAN_CODEBASES or ctx.known


def train_cfg_blocked(t: Translation) -> bool:
    """Whether a 0.x model ``train_cfg`` still occupies the top-level ``train_cfg`` key.

    The GAN train_cfg rule removes it (its keys move into ``model``) when it converts; when it
    leaves it with a TODO, the 1.x loop cannot be written there.
    """
    if "train_cfg" in t.out:
        return t.out["train_cfg"] is not REMOVE and not is_loop_cfg(t.out["train_cfg"])
    tc = t.cfg.get("train_cfg")
    if tc is None or is_loop_cfg(tc):
        return False
    return not (isinstance(tc, SLit) and tc.value is None)


#: ``model`` arguments that only a converted (1.x) GAN config has
MODEL_1X_KEYS = (
    "discriminator_steps",
    "generator_steps",
    "ema_config",
    "ema_confg",
    "disc_init_steps",
    "nkimgs_per_scale",
    "iters_per_scale",
    "train_settings",
)


def already_converted(t: Translation, ctx: GanContext) -> bool:
    """Whether the GAN schedule of this config is already in 1.x form (no 0.x train_cfg left).

    A 0.x config always says its schedule in a ``train_cfg`` (or relies on defaults with no
    1.x keys in ``model``); a converted one has none and carries 1.x model keys or an
    ``optim_wrapper`` instead of an ``optimizer``.
    """
    if ctx.in_model or ctx.train_cfg is not None:
        return False  # a 0.x train_cfg (an explicit `train_cfg = None` included) is there
    if ctx.model is not None and any(k in ctx.model for k in MODEL_1X_KEYS):
        return True
    return "optim_wrapper" in t.cfg.entries and not (
        "optimizer" in t.cfg.entries or "optimizers" in t.cfg.entries
    )


def literal_str(value: SValue | None) -> str | None:
    """The string a value holds, if it is a string literal."""
    return value.value if isinstance(value, SLit) and isinstance(value.value, str) else None


# ---------------------------------------------------------------------------------------------
# Static numbers and expressions

_MAX_POW = 1000


class _NotStatic(Exception):
    pass


def python_value(value: SValue | None, cfg: SDict) -> Any:
    """The plain Python value of ``value``, evaluating simple expressions statically.

    Supports literals, containers, ``dict(...)`` calls, arithmetic, and names bound at module
    level in the *same file* as the expression (looked up in the effective config ``cfg``).
    Raises ``ValueError`` when the value cannot be known without running the config.
    """
    try:
        return _value(value, cfg, 0)
    except (_NotStatic, ArithmeticError, TypeError, RecursionError):
        raise ValueError("not static") from None


def python_value_or(value: SValue | None, cfg: SDict, default: Any) -> Any:
    """:func:`python_value`, or ``default`` when the value is not static."""
    try:
        return python_value(value, cfg)
    except ValueError:
        return default


def number(value: SValue | None, cfg: SDict) -> int | float | None:
    """The number a value statically evaluates to, or None (bools are not numbers)."""
    if value is None:
        return None
    try:
        v = python_value(value, cfg)
    except ValueError:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def integer(value: SValue | None, cfg: SDict) -> int | None:
    """The integer a value statically evaluates to (integral floats included), or None."""
    v = number(value, cfg)
    if isinstance(v, float):
        return int(v) if v.is_integer() else None
    return v


def _value(v: SValue | None, cfg: SDict, depth: int) -> Any:
    if v is None or depth > 20:
        raise _NotStatic
    if isinstance(v, SLit):
        return v.value
    if isinstance(v, SDict):
        return {k: _value(x, cfg, depth + 1) for k, x in v.items()}
    if isinstance(v, SList):
        items = [_value(i, cfg, depth + 1) for i in v.items]
        return tuple(items) if v.kind == "tuple" else items
    if isinstance(v, SExpr):
        if v.resolved is not None:
            return _value(v.resolved, cfg, depth + 1)
        try:
            tree = ast.parse(f"({v.code})", mode="eval").body
        except SyntaxError:
            raise _NotStatic from None
        return _eval(tree, v.file, cfg, depth)
    raise _NotStatic


def _lookup(name: str, file: Path | None, cfg: SDict, depth: int) -> Any:
    entry = cfg.entry(name)
    # a name means the binding of the expression's own file; if the effective config holds a
    # binding from another file (a child redefined it), the value here is unknown
    if entry is None or file is None or entry.file != file:
        raise _NotStatic
    return _value(entry.value, cfg, depth + 1)


def _eval(node: ast.AST, file: Path | None, cfg: SDict, depth: int) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _lookup(node.id, file, cfg, depth)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_eval(e, file, cfg, depth) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotStatic
        return {
            _eval(k, file, cfg, depth): _eval(v, file, cfg, depth)  # type: ignore[arg-type]
            for k, v in zip(node.keys, node.values)
        }
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and len(node.args) <= 1
        and all(k.arg is not None for k in node.keywords)
    ):
        out = dict(_eval(node.args[0], file, cfg, depth)) if node.args else {}
        for k in node.keywords:
            out[k.arg] = _eval(k.value, file, cfg, depth)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        x = _eval(node.operand, file, cfg, depth)
        return -x if isinstance(node.op, ast.USub) else +x
    if isinstance(node, ast.BinOp):
        a = _eval(node.left, file, cfg, depth)
        b = _eval(node.right, file, cfg, depth)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            raise _NotStatic
        op = node.op
        if isinstance(op, ast.Add):
            return a + b
        if isinstance(op, ast.Sub):
            return a - b
        if isinstance(op, ast.Mult):
            return a * b
        if isinstance(op, ast.Div):
            return a / b
        if isinstance(op, ast.FloorDiv):
            return a // b
        if isinstance(op, ast.Mod):
            return a % b
        if isinstance(op, ast.Pow):
            if abs(b) > _MAX_POW:
                raise _NotStatic
            return a**b
    raise _NotStatic


def code_of(value: SValue) -> tuple[str, Path | None] | None:
    """Source text of a literal or expression and the file it belongs to (None: a container)."""
    if isinstance(value, SLit):
        return repr(value.value), None
    if isinstance(value, SExpr):
        code = value.code
        if not _is_atom(code):
            code = f"({code})"
        return code, value.file
    return None


def _is_atom(code: str) -> bool:
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(node, (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript))


def combine(a: SValue, op: str, b: SValue, cfg: SDict) -> SValue | None:
    """``a <op> b`` as a value.

    Two literals give a literal; an expression keeps being an expression (of its file's
    variables) combined with the literal or with an expression of the same file. Expressions of
    two different files cannot be written in one file: their static value is used as a literal
    if known, else None.
    """
    ca, cb = code_of(a), code_of(b)
    if ca is None or cb is None:
        return None
    if (ca[1] is None and cb[1] is None) or (
        ca[1] is not None and cb[1] is not None and ca[1] != cb[1]
    ):
        x, y = number(a, cfg), number(b, cfg)
        if x is None or y is None:
            return None
        return SLit(_apply(x, op, y))
    file = ca[1] or cb[1]
    line = a.line if ca[1] is not None else b.line
    return SExpr(f"{ca[0]} {op} {cb[0]}", node=None, file=file, line=line)


def _apply(x: int | float, op: str, y: int | float) -> int | float:
    if op == "*":
        return x * y
    if op == "//":
        return x // y
    if op == "/":
        return x / y
    raise ValueError(op)


def one_minus(value: SValue, cfg: SDict) -> SValue | None:
    """``1 - value`` as a clean decimal literal (0.9999 -> 0.0001) or an expression."""
    if isinstance(value, SLit) and isinstance(value.value, (int, float)):
        try:
            d = Decimal(1) - Decimal(repr(value.value))
        except InvalidOperation:
            return None
        return SLit(float(d))
    c = code_of(value)
    if c is None:
        return None
    return SExpr(f"1 - {c[0]}", node=None, file=c[1], line=value.line)


def divide_exact(value: SValue, r: int, cfg: SDict) -> tuple[SValue | None, str | None]:
    """``value / r`` when it is an integer: (result, None), else (None, reason).

    ``r == 1`` keeps the value as written (an expression stays an expression)."""
    if r == 1:
        return value, None
    n = number(value, cfg)
    if n is None:
        return None, "its value is not statically known"
    q = Fraction(n) / r if not isinstance(n, float) else Fraction(n).limit_denominator() / r
    if q.denominator != 1:
        return None, f"{n} is not a multiple of {r}"
    return SLit(int(q)), None


def entry_or_none(d: SDict | None, key: str) -> SEntry | None:
    """``d.entry(key)`` tolerating a missing dict."""
    return d.entry(key) if d is not None else None


# ---------------------------------------------------------------------------------------------
# Shared by the GAN rules

IGNORED_STEP_KEYS = ("gen_steps", "batch_accumulation_steps")


@dataclass
class ModelSettings:
    """What a ``train_cfg`` family handler decided: ``model`` entries to add, keys consumed."""

    model: list[tuple[str, SValue, SEntry | None]] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)
    #: error notes (rule id, message, location) for the ``model`` key: converted, not exactly
    flagged: list[tuple[FindingId, str, SValue | SEntry | None]] = field(default_factory=list)

    def put(self, key: str, value: SValue, like: SEntry | None = None) -> None:
        """Add ``model.<key> = value``."""
        self.model.append((key, value, like))


def ignored_steps(
    t: Translation,
    ctx: GanContext,
    td: SDict,
    label: str,
    settings: ModelSettings,
    rule_id: FindingId = FindingId.GAN_STEPS,
) -> None:
    """Drop ``gen_steps``/``batch_accumulation_steps`` with a warning: only BasiccGAN read them.

    docs/gan.md#which-train_cfg-keys-each-class-reads: translating them for any other class
    would change training.
    """
    for key in IGNORED_STEP_KEYS:
        entry = td.entry(key)
        if entry is None:
            continue
        settings.consumed.add(key)
        t.note(
            rule_id,
            Severity.WARNING,
            f"`{label}.{key}` dropped: {ctx.cls} ignored it in 0.x (only BasicConditionalGAN "
            "reads it), so it is not translated; translating it would change training",
            at=entry,
        )


def sub_wrapper(
    t: Translation, key: str, name: str, sub: SDict, existing: object = None
) -> SDict | None:
    """The 1.x sub-wrapper of one per-module 0.x optimizer (None, with a TODO, if impossible)."""
    ctor = sub.entry("constructor")
    if ctor is not None:
        cname = literal_str(ctor.value)
        if cname not in DEFAULT_CONSTRUCTORS:
            t.todo(
                FindingId.GAN_CONSTRUCTOR,
                f"`{key}.{name}.constructor` ({cname or 'not a literal'}) has no 1.x form: "
                f"{MULTI_CONSTRUCTOR} builds every sub-wrapper with the default constructor; "
                "port the constructor's logic by hand",
                key=key,
                at=ctor,
            )
            return None
        t.note(
            FindingId.GAN_CONSTRUCTOR,
            Severity.INFO,
            f"`{key}.{name}.constructor={cname!r}` dropped: it is the default",
            at=ctor,
        )
    inner = sub.without("constructor", "paramwise_cfg")
    if isinstance(existing, SDict) and not sub.delete:
        out = existing.copy()
    else:
        out = gdict()
    out.set("optimizer", inner)
    pw = sub.entry("paramwise_cfg")
    if pw is not None:
        out.set("paramwise_cfg", pw.value, like=pw)
    elif sub.delete:
        out.entries.pop("paramwise_cfg", None)
    return out


def ordered(sub: SDict) -> SDict:
    """A sub-wrapper with its keys in the usual MMagic order (type, accumulative_counts,
    optimizer, loss_scale, the rest)."""
    first = ("type", "accumulative_counts", "optimizer", "loss_scale")
    out = SDict(style=sub.style, node=sub.node, file=sub.file, line=sub.line, delete=sub.delete)
    for k in first:
        if k in sub.entries:
            out.entries[k] = sub.entries[k]
    for k, e in sub.entries.items():
        if k not in out.entries:
            out.entries[k] = e
    return out
