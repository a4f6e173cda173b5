"""A static model of config files: values with provenance, ``_base_`` chains and mmcv merging.

Nothing here executes a config. A module-level assignment ``name = <expr>`` becomes a
:class:`Binding` whose value is a tree of :class:`SValue` nodes: dicts (``dict(...)`` calls with
keyword arguments and ``{...}`` literals with string keys), lists/tuples, literals (whatever
``ast.literal_eval`` accepts) and opaque expressions (names, arithmetic, calls). Every node keeps
the libcst node and file it came from, so an emitter can reuse the original text (and its
comments) and knows which values a file wrote itself.

Inheritance follows mmcv 1.x ``Config._merge_a_into_b`` (identical in
MMEngine): sibling bases must not share keys, a child dict is merged key by key into a base dict
unless it carries ``_delete_=True``, anything else replaces.
"""

from __future__ import annotations

import ast
import copy
import functools
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from migrate_optim.convert.findings import STDIN_NAME, ConvertError, display_path

DELETE_KEY = "_delete_"


@functools.lru_cache(maxsize=1 << 16)
def resolved(path: Path) -> Path:
    """``path.resolve()``, cached: configs resolve the same base paths over and over."""
    return path.resolve()


class SValue:
    """A statically known value with provenance (``node`` and ``file``; both None if generated)."""

    node: cst.BaseExpression | None
    file: Path | None
    line: int

    def portable_to(self, file: Path | None) -> bool:
        """Whether this value's text means the same when written into ``file``."""
        return True

    def to_python(self) -> Any:
        """The plain Python value, or raise :class:`NotStatic` for opaque parts."""
        raise NotStatic(self)


class NotStatic(Exception):
    """Raised when a value needed as plain Python is an opaque expression."""

    def __init__(self, value: SValue) -> None:
        super().__init__("value is not a literal")
        self.value = value


@dataclass(eq=False)
class SLit(SValue):
    """A literal (number, string, None, bool); generated literals have no node."""

    value: Any
    node: cst.BaseExpression | None = None
    file: Path | None = None
    line: int = 0

    def to_python(self) -> Any:
        """The literal itself."""
        return self.value


@dataclass(eq=False)
class SExpr(SValue):
    """An expression we do not evaluate (a name, arithmetic, a call); kept as its source text."""

    code: str
    node: cst.BaseExpression | None = None
    file: Path | None = None
    line: int = 0
    resolved: SValue | None = None  # what a plain module-level name refers to, if known

    def portable_to(self, file: Path | None) -> bool:
        """Opaque code may refer to names of its own file only."""
        return self.file is None or self.file == file

    def to_python(self) -> Any:
        """The value of the name it refers to, if that is static."""
        if self.resolved is not None:
            return self.resolved.to_python()
        raise NotStatic(self)


@dataclass(eq=False)
class SList(SValue):
    """A list or tuple of values."""

    items: list[SValue]
    kind: str = "list"  # or "tuple"
    node: cst.BaseExpression | None = None
    file: Path | None = None
    line: int = 0

    def portable_to(self, file: Path | None) -> bool:
        """Portable when every item is."""
        return all(i.portable_to(file) for i in self.items)

    def to_python(self) -> Any:
        """A list or tuple of the items' values."""
        vals = [i.to_python() for i in self.items]
        return tuple(vals) if self.kind == "tuple" else vals


@dataclass(frozen=True)
class Comments:
    """Comments around one dict item: whole lines above it, and one at the end of its line."""

    before: tuple[str, ...] = ()
    trailing: str | None = None

    def __bool__(self) -> bool:
        return bool(self.before) or self.trailing is not None


@dataclass(eq=False)
class SEntry:
    """One key of a dict, with the argument node that wrote it (None if generated).

    ``comments`` travel with the entry when it is moved into a generated dict.
    """

    key: str
    value: SValue
    arg: cst.Arg | cst.DictElement | None = None
    file: Path | None = None
    line: int = 0
    comments: Comments | None = None


@dataclass(eq=False)
class SDict(SValue):
    """A dict; ``delete`` records ``_delete_=True``; ``style`` is ``call`` or ``literal``."""

    entries: dict[str, SEntry] = field(default_factory=dict)
    delete: bool = False
    style: str = "call"
    node: cst.BaseExpression | None = None
    file: Path | None = None
    line: int = 0
    #: comment on the line of the opening bracket, and comment lines before the closing one
    head: str | None = None
    tail: tuple[str, ...] = ()

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def keys(self) -> list[str]:
        """The keys in order."""
        return list(self.entries)

    def get(self, key: str, default: SValue | None = None) -> SValue | None:
        """The value of ``key``, or ``default``."""
        e = self.entries.get(key)
        return e.value if e is not None else default

    def entry(self, key: str) -> SEntry | None:
        """The entry of ``key`` (value plus where it was written), or None."""
        return self.entries.get(key)

    def items(self) -> Iterator[tuple[str, SValue]]:
        """(key, value) pairs in order."""
        for k, e in self.entries.items():
            yield k, e.value

    def portable_to(self, file: Path | None) -> bool:
        """Portable when every value is."""
        return all(e.value.portable_to(file) for e in self.entries.values())

    def to_python(self) -> Any:
        """A plain dict (``_delete_`` dropped)."""
        return {k: e.value.to_python() for k, e in self.entries.items()}

    # -- building derived dicts (rules use these; provenance is kept) --------------------------

    def copy(self) -> SDict:
        """A shallow copy keeping provenance."""
        return SDict(
            entries=dict(self.entries),
            delete=self.delete,
            style=self.style,
            node=self.node,
            file=self.file,
            line=self.line,
            head=self.head,
            tail=self.tail,
        )

    def without(self, *keys: str) -> SDict:
        """A copy without ``keys``."""
        d = self.copy()
        for k in keys:
            d.entries.pop(k, None)
        return d

    def set(self, key: str, value: SValue, like: SEntry | None = None) -> SDict:
        """Set ``key`` (in place); ``like`` carries the argument node whose formatting to keep."""
        if like is not None:
            self.entries[key] = SEntry(key, value, like.arg, like.file, like.line, like.comments)
        else:
            old = self.entries.get(key)
            if old is not None and old.value is value:
                return self
            self.entries[key] = SEntry(key, value, None, None, value.line)
        return self


def lit(value: Any) -> SLit:
    """A generated literal."""
    return SLit(value)


def gdict(**entries: SValue) -> SDict:
    """A generated dict (no source node) with ``entries`` in order."""
    d = SDict()
    for k, v in entries.items():
        d.set(k, v)
    return d


def same(a: SValue | None, b: SValue | None) -> bool:
    """Structural equality of two static values (literals by value *and* type)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, SExpr) and a.resolved is not None:
        return same(a.resolved, b) or (isinstance(b, SExpr) and a.code == b.code)
    if isinstance(b, SExpr) and b.resolved is not None:
        return same(a, b.resolved)
    if type(a) is not type(b):
        return False
    if isinstance(a, SLit):
        return type(a.value) is type(b.value) and a.value == b.value  # type: ignore[attr-defined]
    if isinstance(a, SExpr):
        return a.code == b.code and a.file == b.file  # type: ignore[attr-defined]
    if isinstance(a, SList):
        return (
            a.kind == b.kind  # type: ignore[attr-defined]
            and len(a.items) == len(b.items)  # type: ignore[attr-defined]
            and all(same(x, y) for x, y in zip(a.items, b.items))  # type: ignore[attr-defined]
        )
    if isinstance(a, SDict):
        assert isinstance(b, SDict)
        return set(a.keys()) == set(b.keys()) and all(same(a.get(k), b.get(k)) for k in a.keys())
    return False


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(eq=False)
class Binding:
    """A module-level ``name = value`` statement."""

    name: str
    value: SValue
    statement: cst.SimpleStatementLine
    line: int


@dataclass(eq=False)
class ConfigModule:
    """One parsed config file."""

    path: Path | None
    source: str
    module: cst.Module
    bindings: dict[str, Binding]
    #: names whose value is not a plain assignment (augmented, item/attribute assignment,
    #: assigned inside if/for/with, ...): their static value cannot be trusted
    dynamic: dict[str, int]
    #: every Name read anywhere in the module (to know whether a binding is referenced)
    references: dict[str, int]
    base_specs: list[tuple[str, int]]
    order: list[str]
    _positions: Any = None
    #: the first statement that made each dynamic name dynamic (where a TODO can go)
    dynamic_statements: dict[str, cst.BaseStatement] = field(default_factory=dict)

    @property
    def positions(self) -> Any:
        """libcst ``PositionProvider`` metadata of the module, computed on first use (slow)."""
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions

    def line_of(self, node: cst.CSTNode) -> int:
        """1-based line of a node of this module."""
        try:
            return self.positions[node].start.line
        except KeyError:
            return 0


def parse_config(source: str, path: Path | None) -> ConfigModule:
    """Parse config text into a :class:`ConfigModule`; syntax errors become ConvertError."""
    shown = display_path(path) if path is not None else STDIN_NAME
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise ConvertError(shown, exc.raw_line, f"syntax error: {exc.message}") from None
    # libcst accepts a few things CPython rejects; compile() is the authority on validity.
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ConvertError(shown, exc.lineno or 1, f"syntax error: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ConvertError(shown, 1, f"cannot parse: {exc}") from None
    return _Reader(module, tree, path, source).read()


class _Reader:
    """Reads module-level bindings, walking the libcst tree (for text) and the ast (for lines
    and literal values) side by side: libcst position metadata would cost a full codegen."""

    def __init__(self, module: cst.Module, tree: ast.Module, path: Path | None, source: str):
        self.module = module
        self.tree = tree
        self.path = path
        self.source = source
        self.bindings: dict[str, Binding] = {}
        self.dynamic: dict[str, int] = {}
        self.dynamic_statements: dict[str, cst.BaseStatement] = {}
        self.order: list[str] = []
        self._lines: list[bytes] | None = None

    def read(self) -> ConfigModule:
        astmts = iter(self.tree.body)
        for stmt in self.module.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                smalls = [next(astmts) for _ in stmt.body]
                for small, asmall in zip(stmt.body, smalls):
                    self._small(small, stmt, asmall, smalls[0].lineno)
            else:
                # if/for/with/def/class at module level: names bound inside are dynamic
                line = next(astmts).lineno
                for name in _bound_names(stmt):
                    self._dynamic(name, line, stmt)
        refs: dict[str, int] = {}
        for n in ast.walk(self.tree):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store):
                refs[n.id] = refs.get(n.id, 0) + 1
        # A name's value may refer to an earlier name; resolve plain-name references once.
        for b in self.bindings.values():
            self._resolve_names(b.value)
        base_specs: list[tuple[str, int]] = []
        base = self.bindings.get("_base_")
        if base is not None:
            v = base.value
            items = v.items if isinstance(v, SList) else [v]
            for item in items:
                if isinstance(item, SLit) and isinstance(item.value, str):
                    base_specs.append((item.value, item.line or base.line))
                else:
                    shown = display_path(self.path) if self.path else STDIN_NAME
                    raise ConvertError(
                        shown, base.line, "_base_ must be a string or a list of strings"
                    )
        return ConfigModule(
            path=self.path,
            source=self.source,
            module=self.module,
            bindings=self.bindings,
            dynamic=self.dynamic,
            references=refs,
            base_specs=base_specs,
            order=self.order,
            dynamic_statements=self.dynamic_statements,
        )

    def _dynamic(self, name: str, line: int, stmt: cst.BaseStatement) -> None:
        self.dynamic.setdefault(name, line)
        self.dynamic_statements.setdefault(name, stmt)

    def _small(
        self,
        small: cst.BaseSmallStatement,
        stmt: cst.SimpleStatementLine,
        asmall: ast.stmt,
        line: int,
    ) -> None:
        if isinstance(small, cst.Assign):
            if (
                len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and len(stmt.body) == 1
            ):
                assert isinstance(asmall, ast.Assign)
                name = small.targets[0].target.value
                if name in self.bindings:
                    # a second plain assignment: the later one wins, as in Python
                    self._dynamic(name, line, stmt)
                    self.order.remove(name)
                value = self.value(small.value, asmall.value)
                self.bindings[name] = Binding(name, value, stmt, line)
                self.order.append(name)
                return
            for t in small.targets:
                for name in _target_names(t.target):
                    self._dynamic(name, line, stmt)
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            for name in _target_names(small.target):
                self._dynamic(name, line, stmt)
        elif isinstance(small, cst.Expr):
            # e.g. optimizer.update(lr=0.1): a method call on a config value mutates it
            call = small.value
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute):
                base = call.func.value
                while isinstance(base, (cst.Attribute, cst.Subscript)):
                    base = base.value
                if isinstance(base, cst.Name):
                    self._dynamic(base.value, line, stmt)
        elif isinstance(small, (cst.Import, cst.ImportFrom, cst.Del, cst.Global, cst.Nonlocal)):
            for name in _bound_names(small):
                self._dynamic(name, line, stmt)

    def _fill(
        self,
        d: SDict,
        items: list[tuple[str, cst.Arg | cst.DictElement, ast.expr, int]],
        comments: list[Comments],
    ) -> SDict:
        """Add a dict's entries (key, item node, value, line) with their comments to ``d``.

        ``_delete_`` is a flag, not an entry; its comments go to the next entry (or the tail).
        """
        carry: tuple[str, ...] = ()
        for (key, item, aval, lineno), c in zip(items, comments):
            v = self.value(item.value, aval)
            if key == DELETE_KEY:
                d.delete = isinstance(v, SLit) and bool(v.value)
                carry = c.before + ((c.trailing,) if c.trailing else ())
                continue
            c = Comments(carry + c.before, c.trailing) if carry else c
            carry = ()
            d.entries[key] = SEntry(key, v, item, self.path, lineno, c or None)
        if carry:
            d.tail = carry + d.tail
        return d

    def value(self, node: cst.BaseExpression, anode: ast.expr) -> SValue:
        line = anode.lineno
        f = self.path
        if isinstance(node, cst.Call) and _is_dict_call(node):
            assert isinstance(anode, ast.Call)
            head, comments, tail = _item_comments(node)
            d = SDict(style="call", node=node, file=f, line=line, head=head, tail=tail)
            items = [
                (arg.keyword.value, arg, kw.value, kw.lineno)  # type: ignore[union-attr]
                for arg, kw in zip(node.args, anode.keywords)
            ]
            return self._fill(d, items, comments)
        if isinstance(node, cst.Dict) and all(
            isinstance(el, cst.DictElement) and _string_value(el.key) is not None
            for el in node.elements
        ):
            assert isinstance(anode, ast.Dict)
            head, comments, tail = _item_comments(node)
            d = SDict(style="literal", node=node, file=f, line=line, head=head, tail=tail)
            items = []
            for el, akey, aval in zip(node.elements, anode.keys, anode.values):
                assert isinstance(el, cst.DictElement) and akey is not None
                key = _string_value(el.key)
                assert key is not None
                items.append((key, el, aval, akey.lineno))
            return self._fill(d, items, comments)
        if isinstance(node, (cst.List, cst.Tuple)) and all(
            isinstance(el, cst.Element) for el in node.elements
        ):
            assert isinstance(anode, (ast.List, ast.Tuple))
            items = [self.value(el.value, ael) for el, ael in zip(node.elements, anode.elts)]
            kind = "tuple" if isinstance(node, cst.Tuple) else "list"
            return SList(items, kind, node=node, file=f, line=line)
        try:
            value = ast.literal_eval(anode)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            code = self._segment(anode) or self.module.code_for_node(node)
            return SExpr(code.strip(), node=node, file=f, line=line)
        return SLit(value, node=node, file=f, line=line)

    def _segment(self, anode: ast.expr) -> str | None:
        """The source text of an ast node (its offsets count UTF-8 bytes)."""
        if self._lines is None:
            self._lines = [ln.encode("utf-8") for ln in self.source.splitlines(keepends=True)]
        end_line, end_col = anode.end_lineno, anode.end_col_offset
        if end_line is None or end_col is None:
            return None
        first, last = anode.lineno - 1, end_line - 1
        if first == last:
            raw = self._lines[first][anode.col_offset : end_col]
        else:
            raw = (
                self._lines[first][anode.col_offset :]
                + b"".join(self._lines[first + 1 : last])
                + self._lines[last][:end_col]
            )
        return raw.decode("utf-8")

    def _resolve_names(self, v: SValue) -> None:
        if isinstance(v, SExpr) and isinstance(v.node, cst.Name):
            b = self.bindings.get(v.node.value)
            if b is not None and b.value is not v and v.node.value not in self.dynamic:
                v.resolved = b.value
        elif isinstance(v, SDict):
            for e in v.entries.values():
                self._resolve_names(e.value)
        elif isinstance(v, SList):
            for i in v.items:
                self._resolve_names(i)


def _ws_comments(ws: object) -> tuple[str | None, tuple[str, ...]]:
    """The end-of-line comment and the comment lines of a (parenthesized) whitespace."""
    if not isinstance(ws, cst.ParenthesizedWhitespace):
        return None, ()
    first = ws.first_line.comment.value if ws.first_line.comment is not None else None
    lines = tuple(el.comment.value for el in ws.empty_lines if el.comment is not None)
    return first, lines


def _item_comments(
    node: cst.Call | cst.Dict,
) -> tuple[str | None, list[Comments], tuple[str, ...]]:
    """Comments of a dict display: the opening line's, each item's, and the closing ones."""
    if isinstance(node, cst.Call):
        items: list = list(node.args)
        head, before = _ws_comments(node.whitespace_before_args)
    else:
        items = list(node.elements)
        head, before = _ws_comments(node.lbrace.whitespace_after)
    out: list[Comments] = []
    for item in items:
        comma = item.comma
        if isinstance(comma, cst.Comma):
            trailing, after = _ws_comments(comma.whitespace_after)
        elif isinstance(item, cst.Arg):
            trailing, after = _ws_comments(item.whitespace_after_arg)
        else:
            trailing, after = _ws_comments(node.rbrace.whitespace_before)  # type: ignore[union-attr]
        if isinstance(item, cst.Arg) and comma is not cst.MaybeSentinel.DEFAULT:
            # `a=1  # c\n,` is not a thing; but `a=1  # c\n)` keeps it after the arg
            t2, a2 = _ws_comments(item.whitespace_after_arg)
            trailing = trailing or t2
            after = a2 + after
        out.append(Comments(before, trailing))
        before = after
    if isinstance(node, cst.Dict) and items and isinstance(items[-1].comma, cst.Comma):
        _t, last = _ws_comments(node.rbrace.whitespace_before)
        before = before + last
    return head, out, before


def _is_dict_call(node: cst.Call) -> bool:
    return (
        isinstance(node.func, cst.Name)
        and node.func.value == "dict"
        and all(a.keyword is not None and a.star == "" for a in node.args)
    )


def _string_value(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        v = node.evaluated_value
        return v if isinstance(v, str) else None
    return None


def _target_names(node: cst.BaseExpression) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Attribute, cst.Subscript)):
        base = node.value
        while isinstance(base, (cst.Attribute, cst.Subscript)):
            base = base.value
        return [base.value] if isinstance(base, cst.Name) else []
    if isinstance(node, (cst.Tuple, cst.List)):
        out: list[str] = []
        for el in node.elements:
            out += _target_names(el.value)
        return out
    return []


def _bound_names(node: cst.CSTNode) -> list[str]:
    class V(cst.CSTVisitor):
        def __init__(self) -> None:
            self.names: list[str] = []

        def visit_AssignTarget(self, n: cst.AssignTarget) -> None:
            self.names += _target_names(n.target)

        def visit_AugAssign(self, n: cst.AugAssign) -> None:
            self.names += _target_names(n.target)

        def visit_ImportAlias(self, n: cst.ImportAlias) -> None:
            if n.asname is not None and isinstance(n.asname.name, cst.Name):
                self.names.append(n.asname.name.value)
            elif isinstance(n.name, cst.Name):
                self.names.append(n.name.value)

        def visit_FunctionDef(self, n: cst.FunctionDef) -> None:
            self.names.append(n.name.value)

        def visit_ClassDef(self, n: cst.ClassDef) -> None:
            self.names.append(n.name.value)

        def visit_Expr(self, n: cst.Expr) -> None:
            if isinstance(n.value, cst.Call) and isinstance(n.value.func, cst.Attribute):
                self.names += _target_names(n.value.func)

    v = V()
    node.visit(v)
    return v.names


# ---------------------------------------------------------------------------------------------
# Inheritance


class BaseChainError(Exception):
    """A ``_base_`` file is missing, unreadable or unparsable, or bases conflict."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


#: parsed modules a :class:`ConfigTree` keeps after :meth:`ConfigTree.forget` (bounded memory)
RECENT_MODULES = 64


class ConfigTree:
    """Reads config files once (their original text) and computes effective configs."""

    def __init__(self) -> None:
        self._modules: dict[Path, ConfigModule] = {}
        self._overrides: dict[Path, str] = {}
        self._effective: dict[Path, tuple[ConfigModule, SDict]] = {}
        #: the files read as a base of another (kept parsed: their children need them)
        self._bases: set[Path] = set()
        self._recent: OrderedDict[Path, ConfigModule] = OrderedDict()

    def register_source(self, path: Path, source: str) -> None:
        """Use ``source`` as the original text of ``path`` (the engine read it already)."""
        key = resolved(path)
        recent = self._recent.get(key)
        if recent is not None and recent.source != source:
            del self._recent[key]  # parsed from other text
        self._overrides[key] = source

    def registered(self) -> list[Path]:
        """The files whose original text was registered, in registration order."""
        return list(self._overrides)

    def module(self, path: Path) -> ConfigModule:
        """The parsed original text of ``path`` (cached)."""
        key = resolved(path)
        if key not in self._modules and key in self._recent:
            self._modules[key] = self._recent.pop(key)
        if key not in self._modules:
            if key in self._overrides:
                text = self._overrides[key]
            else:
                text = path.read_text(encoding="utf-8")
            self._modules[key] = parse_config(text, path)
        return self._modules[key]

    def cached(self, path: Path, source: str) -> ConfigModule | None:
        """The module parsed for ``path`` (e.g. read as a base), if its text is ``source``."""
        cm = self._modules.get(resolved(path))
        return cm if cm is not None and cm.source == source and cm.path == path else None

    def forget(self, path: Path) -> bool:
        """Drop the parsed module of ``path`` unless it was read as a base (a later reader
        parses it again); True if dropped. Keeps a run's memory to its bases."""
        key = resolved(path)
        if key in self._bases:
            return False
        cm = self._modules.pop(key, None)
        self._effective.pop(key, None)
        if cm is not None:
            # the last few stay at hand: a sibling converted next often names it as a base
            self._recent[key] = cm
            while len(self._recent) > RECENT_MODULES:
                self._recent.popitem(last=False)
        return True

    def known(self, path: Path) -> bool:
        """Whether a module was parsed for ``path`` already."""
        return resolved(path) in self._modules

    def replace(self, cm: ConfigModule) -> None:
        """Use ``cm`` as the module of its path, replacing what was parsed before."""
        if cm.path is not None:
            self._modules[resolved(cm.path)] = cm
            self._recent.pop(resolved(cm.path), None)
            self._effective.clear()  # a chain through the old module is stale

    def add(self, cm: ConfigModule) -> None:
        """Register an already parsed module (the file being converted)."""
        if cm.path is not None:
            self._modules.setdefault(resolved(cm.path), cm)

    def base_config(self, cm: ConfigModule, _seen: tuple[Path, ...] = ()) -> SDict:
        """The merged config of ``cm``'s bases (empty if it has none)."""
        return self.bases_of(cm.path, cm.base_specs, _seen)

    def bases_of(
        self, path: Path | None, specs: list[tuple[str, int]], _seen: tuple[Path, ...] = ()
    ) -> SDict:
        """The merged config of the bases ``specs`` (``(spec, line)``) of the file ``path``."""
        merged = SDict(file=None)
        owner: dict[str, str] = {}
        for spec, line in specs:
            if path is None:
                raise BaseChainError(line, f"cannot resolve _base_ {spec!r} of stdin input")
            bpath = resolved(path.parent / spec)
            if bpath in _seen:
                raise BaseChainError(line, f"_base_ cycle through {display_path(bpath)}")
            if bpath.suffix != ".py":
                raise BaseChainError(line, f"_base_ {spec!r} is not a .py config")
            self._bases.add(bpath)
            try:
                bmod = self.module(bpath)
            except FileNotFoundError:
                raise BaseChainError(line, f"_base_ file {spec!r} not found") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise BaseChainError(line, f"_base_ file {spec!r} unreadable: {exc}") from None
            except ConvertError as exc:
                raise BaseChainError(line, f"_base_ file {spec!r}: {exc.cause}") from None
            bcfg = self.effective(bmod, _seen + (bpath,))
            for k, e in bcfg.entries.items():
                if k in merged.entries:
                    raise BaseChainError(
                        line, f"key {k!r} defined in both {owner[k]} and {spec!r} (bases)"
                    )
                merged.entries[k] = e
                owner[k] = spec
        return merged

    def effective(self, cm: ConfigModule, _seen: tuple[Path, ...] = ()) -> SDict:
        """The merged config of ``cm`` (bases, then its own bindings), statically.

        Cached per file (a base is merged once per run, not once per child); only chains that
        could be read are cached, so an error is raised again from wherever it is reached. The
        result is shared: callers must not modify it.
        """
        key = resolved(cm.path) if cm.path is not None else None
        if key is not None:
            cached = self._effective.get(key)
            if cached is not None and cached[0] is cm:
                return cached[1]
            _seen = _seen + (key,)
        cfg = merge_into(own_config(cm), self.base_config(cm, _seen))
        if key is not None:
            self._effective[key] = (cm, cfg)
        return cfg


def own_config(cm: ConfigModule) -> SDict:
    """The file's own bindings as a dict (``_base_`` and ``__dunder__`` names excluded)."""
    d = SDict(file=cm.path)
    for name in cm.order:
        if name == "_base_" or name.startswith("__"):
            continue
        b = cm.bindings[name]
        d.entries[name] = SEntry(name, b.value, None, cm.path, b.line)
    return d


def merge_into(child: SDict, base: SDict) -> SDict:
    """mmcv's ``_merge_a_into_b``: a new dict; neither argument is modified."""
    out = base.copy()
    out.delete = False
    for k, e in child.entries.items():
        v = e.value
        old = out.entries.get(k)
        if (
            isinstance(v, SDict)
            and old is not None
            and not v.delete
            and isinstance(old.value, SDict)
        ):
            merged = merge_into(v, old.value)
            merged.node, merged.file, merged.line, merged.style = v.node, v.file, v.line, v.style
            merged.head, merged.tail = v.head, v.tail
            out.entries[k] = SEntry(k, merged, e.arg, e.file, e.line, e.comments)
        elif isinstance(v, SDict) and v.delete:
            out.entries[k] = e
        else:
            # a non-dict base value overridden by a dict is a TypeError in mmcv; rules that
            # care check for it, the static model just takes the child's value
            out.entries[k] = e
    return out


def deep_copy(v: SValue) -> SValue:
    """A deep copy of a value tree (nodes shared; they are immutable)."""
    return copy.copy(v) if not isinstance(v, (SDict, SList)) else _deep(v)


def _deep(v: SValue) -> SValue:
    if isinstance(v, SDict):
        d = v.copy()
        d.entries = {
            k: SEntry(k, deep_copy(e.value), e.arg, e.file, e.line, e.comments)
            for k, e in v.entries.items()
        }
        return d
    if isinstance(v, SList):
        return SList([deep_copy(i) for i in v.items], v.kind, v.node, v.file, v.line)
    return v
