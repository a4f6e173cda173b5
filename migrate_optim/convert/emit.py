"""Writing a translation back into a file: minimal overrides, reused text, kept comments.

For every top-level key the rules produce, the emitter compares the file's *desired* effective
1.x value with what its ``_base_`` chain will provide once converted (the same rules applied to
the bases alone) and writes only the override the file needs: entries the file wrote itself are
kept, inherited ones are left to the bases, and where a key must disappear it writes the 1.x
default or, failing that, ``_delete_=True`` with the full value. Values are rendered from their
original libcst nodes wherever possible, so comments and layout inside them survive; generated
dicts follow the OpenMMLab (yapf) style.

Every statement-level edit lives here too: :class:`FileEdits` is what :mod:`.core` decided for
one file (statements replaced, removed or added, TODO lines, trailing comments moved onto the
items they describe), and :func:`rewrite` applies it to the file's libcst module. Nothing here
keeps state between calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst

from migrate_optim.convert.static import (
    DELETE_KEY,
    ConfigModule,
    SDict,
    SEntry,
    SExpr,
    SList,
    SLit,
    SValue,
    same,
)
from migrate_optim.convert.translation import REMOVE

MAX_WIDTH = 79
TODO_PREFIX = "# TODO(migrate-optim):"

#: 1.x defaults that let an override drop an inherited key without ``_delete_``:
#: (path suffix) -> value; ``*`` matches any one key (a GAN sub-wrapper name).
DEFAULTS: dict[tuple[str, ...], object] = {
    ("optim_wrapper", "paramwise_cfg"): None,
    ("optim_wrapper", "clip_grad"): None,
    ("optim_wrapper", "accumulative_counts"): 1,
    ("optim_wrapper", "type"): "OptimWrapper",
    ("optim_wrapper", "constructor"): "DefaultOptimWrapperConstructor",
    ("optim_wrapper", "*", "clip_grad"): None,
    ("optim_wrapper", "*", "accumulative_counts"): 1,
    ("optim_wrapper", "*", "type"): "OptimWrapper",
    ("optim_wrapper", "*", "paramwise_cfg"): None,
}


#: keys of an optim_wrapper itself, which a ``*`` (sub-wrapper name) in DEFAULTS never matches
WRAPPER_KEYS = frozenset(
    "type optimizer paramwise_cfg constructor clip_grad accumulative_counts loss_scale dtype "
    "opt_level use_fsdp".split()
)


#: top-level 1.x keys whose absence equals this value (``Runner(model_wrapper_cfg=None)``)
TOP_DEFAULTS: dict[str, object] = {"model_wrapper_cfg": None}


def default_for(path: tuple[str, ...]) -> tuple[bool, object]:
    """Whether ``path`` has a 1.x default that equals the key being absent, and its value."""
    for pattern, value in DEFAULTS.items():
        if len(pattern) == len(path) and all(
            q == p or (p == "*" and q not in WRAPPER_KEYS) for p, q in zip(pattern, path)
        ):
            return True, value
    return False, None


class NotPortable(Exception):
    """A value must be written into a file where its text would not mean the same."""

    def __init__(self, value: SValue) -> None:
        super().__init__(f"value {getattr(value, 'code', '?')!r} cannot be moved here")
        self.value = value


# ---------------------------------------------------------------------------------------------
# Overrides


def owned(entry: SEntry, file: Path | None) -> bool:
    """Whether the file wrote this entry itself (directly or as the dict it holds)."""
    return file is not None and (entry.file == file or entry.value.file == file)


def override(
    inherited: SValue | None, desired: SValue, file: Path | None, path: tuple[str, ...]
) -> SValue | None:
    """The value a file must assign so that merging it into ``inherited`` gives ``desired``.

    None when nothing is needed. Entries the file wrote itself are always kept. A dict written
    where the base has nothing, or inside a dict that replaces the base's whole, carries no
    ``_delete_`` of its own: mmcv and MMEngine pop ``_delete_`` only while merging into a base
    value, elsewhere it would stay behind as a key.
    """
    if inherited is None or inherited is REMOVE:
        return _strip_deletes(desired)  # nothing below it to delete
    if isinstance(desired, SDict) and not isinstance(inherited, SDict):
        # mmcv and MMEngine refuse to merge a dict into a non-dict (e.g. `clip_grad=None`):
        # TypeError unless the dict carries `_delete_=True`
        return _replacement(desired)
    if not (isinstance(desired, SDict) and isinstance(inherited, SDict)):
        return None if same(inherited, desired) and desired.file != file else desired
    if desired.delete and desired.file == file:
        return _replacement(desired)
    out = SDict(style=desired.style, node=desired.node, file=desired.file, line=desired.line)
    out.head, out.tail = desired.head, desired.tail
    for key, entry in desired.entries.items():
        base_v = inherited.get(key)
        sub_path = path + (key,)
        if base_v is None:
            out.entries[key] = replace(entry, value=_strip_deletes(entry.value))
            continue
        if owned(entry, file):
            sub = override(base_v, entry.value, file, sub_path)
            if sub is None:
                if isinstance(entry.value, SDict):
                    continue  # none of the file's own entries differ from the base
                sub = entry.value  # a value the file wrote itself stays, even if equal
            out.entries[key] = replace(entry, value=sub)
            continue
        if same(base_v, entry.value):
            continue
        sub = override(base_v, entry.value, file, sub_path)
        if sub is not None:
            out.entries[key] = replace(entry, value=sub)
    for key in inherited.keys():
        if key in desired.entries:
            continue
        has_default, value = default_for(path + (key,))
        if not has_default:
            return _replacement(desired)
        if same(inherited.get(key), SLit(value)):
            continue  # the base already says what absence means
        out.entries[key] = SEntry(key, SLit(value))
    if not out.entries:
        return None
    return out


def _replacement(desired: SDict) -> SDict:
    """``desired`` with ``_delete_=True``: it replaces the base's value whole."""
    full = _strip_deletes(desired)
    assert isinstance(full, SDict)
    full.delete = True
    return full


def _strip_deletes(value: SValue) -> SValue:
    """``value`` without ``_delete_`` on any dict inside it (nothing there to delete)."""
    if not isinstance(value, SDict) or not _has_delete(value):
        return value
    out = value.copy()
    out.delete = False
    out.entries = {k: replace(e, value=_strip_deletes(e.value)) for k, e in value.entries.items()}
    return out


def _has_delete(value: SValue) -> bool:
    return isinstance(value, SDict) and (
        value.delete or any(_has_delete(e.value) for e in value.entries.values())
    )


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass
class Renderer:
    """Turns values into libcst expressions for one target file."""

    cm: ConfigModule
    file: Path | None
    #: original text of another file of the tree, for values taken from it (re-indenting)
    source_of: Callable[[Path], str]

    def expr(self, value: SValue, indent: int, start: int | None = None) -> cst.BaseExpression:
        """A libcst expression for ``value`` on a line indented by ``indent`` columns.

        ``start`` is the column where the value itself begins (after ``key = `` or ``key=``;
        default ``indent``): generated dicts are kept on one line only if they fit from there.
        """
        if not value.portable_to(self.file):
            raise NotPortable(value)
        if isinstance(value, SDict):
            return self._dict(value, indent, indent if start is None else start)
        if isinstance(value, SList):
            return self._list(value, indent)
        if value.node is not None:
            return self._reuse(value, indent)
        if isinstance(value, SLit):
            return literal_node(value.value)
        if isinstance(value, SExpr):
            return cst.parse_expression(value.code)
        raise TypeError(f"cannot render {value!r}")

    def _reuse(self, value: SValue, indent: int) -> cst.BaseExpression:
        node = value.node
        assert node is not None
        delta = indent - self._orig_indent(value)
        return reindent(node, delta) if delta else node

    def _orig_indent(self, value: SValue) -> int:
        if value.file is None or value.line <= 0:
            return 0
        text = self._source_of(value.file)
        lines = text.splitlines()
        if value.line > len(lines):
            return 0
        line = lines[value.line - 1]
        return len(line) - len(line.lstrip(" "))

    def _source_of(self, file: Path) -> str:
        if self.cm.path is not None and file == self.cm.path:
            return self.cm.source
        return self.source_of(file)

    def _list(self, value: SList, indent: int) -> cst.BaseExpression:
        if value.node is not None and _all_items_reused(value):
            return self._reuse(value, indent)
        if value.node is None and value.kind == "list" and any(
            isinstance(i, SDict) for i in value.items
        ):
            # a generated list of dicts (e.g. param_scheduler): one item per line
            inner = indent + 4
            nodes = [self.expr(i, inner, inner) for i in value.items]
            last = len(nodes) - 1
            return cst.List(
                [
                    cst.Element(
                        n,
                        comma=cst.Comma(whitespace_after=_newline_ws(inner))
                        if k < last
                        else cst.MaybeSentinel.DEFAULT,
                    )
                    for k, n in enumerate(nodes)
                ],
                lbracket=cst.LeftSquareBracket(whitespace_after=_newline_ws(inner)),
                rbracket=cst.RightSquareBracket(whitespace_before=_newline_ws(indent)),
            )
        items = [self.expr(i, indent + 4) for i in value.items]
        elements = [cst.Element(i) for i in items]
        if value.kind == "tuple":
            if len(elements) == 1:
                elements[0] = elements[0].with_changes(comma=cst.Comma())
            return cst.Tuple(elements)
        return cst.List(elements)

    def _dict(self, value: SDict, indent: int, start: int) -> cst.BaseExpression:
        if value.node is not None and _is_exact(value):
            return self._reuse(value, indent)
        # a rewritten dict is laid out afresh (OpenMMLab yapf style); its entries' comments
        # travel with them
        return self._generate_dict(value, indent, start)

    def _item(
        self, node: cst.Call | cst.Dict, entry: SEntry, indent: int
    ) -> cst.Arg | cst.DictElement:
        keyword = isinstance(node, cst.Call) and entry.key.isidentifier()
        start = indent + (len(entry.key) + 1 if keyword else len(repr(entry.key)) + 2)
        value = self.expr(entry.value, indent, start)
        if keyword:
            return cst.Arg(
                value=value,
                keyword=cst.Name(entry.key),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
            )
        return cst.DictElement(key=cst.SimpleString(repr(entry.key)), value=value)

    def _generate_dict(self, value: SDict, indent: int, start: int) -> cst.BaseExpression:
        entries = list(value.entries.values())
        if value.delete:
            entries.insert(0, SEntry(DELETE_KEY, SLit(True)))
        use_call = all(e.key.isidentifier() for e in entries) and value.style != "literal"
        template: cst.Call | cst.Dict = (
            cst.Call(func=cst.Name("dict")) if use_call else cst.Dict(elements=[])
        )
        commented = value.head is not None or value.tail or any(e.comments for e in entries)
        if not commented:
            # first try one line; fall back to one entry per line
            flat = [self._item(template, e, indent) for e in entries]
            flat_node = _with_items(template, _fix_commas(flat, False, 0))
            code = self.cm.module.code_for_node(flat_node)
            # +1: the comma or closing bracket that follows the value in its parent
            if "\n" not in code and start + len(code) + 1 <= MAX_WIDTH:
                return flat_node
        inner = indent + 4
        items = [self._item(template, e, inner) for e in entries]
        before = [e.comments.before if e.comments else () for e in entries]
        trailing = [e.comments.trailing if e.comments else None for e in entries]
        closing_own_line = not use_call or bool(value.tail) or trailing[-1] is not None
        for i, item in enumerate(items):
            last = i == len(items) - 1
            if last and not closing_own_line:
                continue
            ws = _newline_ws(
                indent if last else inner,
                trailing[i],
                value.tail if last else before[i + 1],
                inner,
            )
            # a comment after the last item needs a comma to sit behind (call style); a dict
            # literal closes on its own line, without a trailing comma (yapf)
            if last and not use_call and trailing[i] is None:
                items[i] = item.with_changes(comma=cst.MaybeSentinel.DEFAULT)
                template = template.with_changes(  # type: ignore[assignment]
                    rbrace=cst.RightCurlyBrace(whitespace_before=ws)
                )
            else:
                items[i] = item.with_changes(comma=cst.Comma(whitespace_after=ws))
        opening = _newline_ws(inner, value.head, before[0] if before else (), inner)
        node = _with_items(template, items)
        if isinstance(node, cst.Call):
            return node.with_changes(whitespace_before_args=opening)
        return node.with_changes(lbrace=cst.LeftCurlyBrace(whitespace_after=opening))


def literal_node(value: object) -> cst.BaseExpression:
    """A libcst node for a Python literal (the common scalars built directly: fast)."""
    if isinstance(value, bool) or value is None:
        return cst.Name(repr(value))
    if isinstance(value, str):
        return cst.SimpleString(repr(value))
    if isinstance(value, int) and value >= 0:
        return cst.Integer(repr(value))
    if isinstance(value, float) and value >= 0 and math.isfinite(value):
        return cst.Float(repr(value))  # repr keeps a float a float: 512.0
    return cst.parse_expression(repr(value))


def _is_exact(value: SValue) -> bool:
    """Whether ``value`` is exactly what its node says (no entry added, dropped or changed)."""
    if value.node is None:
        return False
    if isinstance(value, SDict):
        node = value.node
        if not isinstance(node, (cst.Call, cst.Dict)):
            return False
        items = list(node.args if isinstance(node, cst.Call) else node.elements)
        keys = [item_key(i) for i in items if item_key(i) != DELETE_KEY]
        has_delete = any(item_key(i) == DELETE_KEY for i in items)
        if has_delete != value.delete or keys != list(value.entries):
            return False
        for item, entry in zip(
            [i for i in items if item_key(i) != DELETE_KEY], value.entries.values()
        ):
            if (
                entry.arg is not item
                or entry.value.node is not item.value
                or not _is_exact(entry.value)
            ):
                return False
        return True
    if isinstance(value, SList):
        return _all_items_reused(value)
    return True


def _all_items_reused(value: SList) -> bool:
    node = value.node
    if not isinstance(node, (cst.List, cst.Tuple)) or len(node.elements) != len(value.items):
        return False
    return all(el.value is i.node and _is_exact(i) for el, i in zip(node.elements, value.items))


def item_key(item: cst.Arg | cst.DictElement | cst.BaseElement) -> str | None:
    """The key an argument of ``dict(...)`` or an element of ``{...}`` writes, if static."""
    if isinstance(item, cst.Arg):
        return item.keyword.value if item.keyword is not None else None
    if isinstance(item, cst.DictElement) and isinstance(item.key, cst.SimpleString):
        v = item.key.evaluated_value
        return v if isinstance(v, str) else None
    return None


def _newline_ws(
    indent: int,
    comment: str | None = None,
    lines: tuple[str, ...] = (),
    lines_indent: int | None = None,
) -> cst.ParenthesizedWhitespace:
    """A line break (after an optional end-of-line comment and comment lines), then ``indent``
    columns."""
    at = indent if lines_indent is None else lines_indent
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  " if comment else ""),
            comment=cst.Comment(comment) if comment else None,
        ),
        empty_lines=[
            cst.EmptyLine(
                indent=True, whitespace=cst.SimpleWhitespace(" " * at), comment=cst.Comment(c)
            )
            for c in lines
        ],
        indent=True,
        last_line=cst.SimpleWhitespace(" " * indent),
    )


def _fix_commas(items: list, multiline: bool, indent: int) -> list:
    """Commas between items: a newline plus ``indent`` when multi-line; none after the last."""
    out = []
    for i, item in enumerate(items):
        last = i == len(items) - 1
        comma = item.comma
        if last:
            if isinstance(comma, cst.Comma) and isinstance(
                comma.whitespace_after, cst.ParenthesizedWhitespace
            ):
                ws = comma.whitespace_after
                if ws.first_line.comment is not None or ws.empty_lines:
                    # keep the comment: the trailing comma stays, the closing bracket moves to
                    # the start of the next line
                    out.append(
                        item.with_changes(
                            comma=comma.with_changes(
                                whitespace_after=ws.with_changes(
                                    last_line=cst.SimpleWhitespace(" " * max(indent - 4, 0))
                                )
                            )
                        )
                    )
                    continue
            out.append(item.with_changes(comma=cst.MaybeSentinel.DEFAULT))
            continue
        if isinstance(comma, cst.Comma) and (
            not multiline or isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace)
        ):
            out.append(item)
            continue
        ws = _newline_ws(indent) if multiline else cst.SimpleWhitespace(" ")
        out.append(item.with_changes(comma=cst.Comma(whitespace_after=ws)))
    return out



def _with_items(template: cst.Call | cst.Dict, items: list) -> cst.Call | cst.Dict:
    if isinstance(template, cst.Call):
        return template.with_changes(args=items)
    return template.with_changes(elements=items)


class _Reindent(cst.CSTTransformer):
    def __init__(self, delta: int) -> None:
        self.delta = delta

    def _shift(self, ws: cst.SimpleWhitespace) -> cst.SimpleWhitespace:
        if self.delta >= 0:
            return cst.SimpleWhitespace(ws.value + " " * self.delta)
        cut = min(-self.delta, len(ws.value) - len(ws.value.lstrip(" ")))
        return cst.SimpleWhitespace(ws.value[cut:])

    def leave_ParenthesizedWhitespace(
        self, original: cst.ParenthesizedWhitespace, updated: cst.ParenthesizedWhitespace
    ) -> cst.ParenthesizedWhitespace:
        return updated.with_changes(
            last_line=self._shift(updated.last_line),
            empty_lines=[
                el.with_changes(whitespace=self._shift(el.whitespace)) if el.comment else el
                for el in updated.empty_lines
            ],
        )


def reindent(node: cst.CSTNode, delta: int) -> cst.CSTNode:
    """Shift every continuation line inside ``node`` by ``delta`` columns (strings untouched)."""
    if delta == 0:
        return node
    return node.visit(_Reindent(delta))


# ---------------------------------------------------------------------------------------------
# Statements


def assign(key: str, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    """A fresh ``key = value`` statement."""
    return cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(key))], value=value)]
    )


def todo_lines(messages: list[str], existing: list[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """TODO comment lines for ``messages`` not already present in ``existing``.

    A statement that carries a TODO already gets none more: it waits for the user, and a later
    run (whose bases may have been converted meanwhile) must not pile up new wordings.
    """
    have = {el.comment.value for el in existing if el.comment is not None}
    if any(h.startswith(TODO_PREFIX) for h in have):
        return []
    out = []
    for m in messages:
        text = f"{TODO_PREFIX} {m}"
        if text not in have:
            out.append(cst.EmptyLine(comment=cst.Comment(text)))
            have.add(text)
    return out


def removed_comments(stmt: cst.SimpleStatementLine) -> list[cst.EmptyLine]:
    """The comments of a statement being deleted, as lines to keep before the next statement."""
    lines = list(stmt.leading_lines)
    tw = stmt.trailing_whitespace
    if tw.comment is not None:
        lines.append(cst.EmptyLine(comment=tw.comment))
    return lines


@dataclass
class FileEdits:
    """The statement edits of one file, decided by :mod:`.core` and applied by :func:`rewrite`.

    Values are what the converted file assigns, nodes how they are written.
    """

    #: key -> (value, node) for a statement whose value is replaced
    replace: dict[str, tuple[SValue, cst.BaseExpression]] = field(default_factory=dict)
    #: keys whose statements are deleted (their comments are kept)
    remove: set[str] = field(default_factory=set)
    #: key -> (statement it follows, value, node) for a new statement
    new: dict[str, tuple[str | None, SValue, cst.BaseExpression]] = field(default_factory=dict)
    #: statement -> the TODO messages written above it
    todos: dict[str, list[str]] = field(default_factory=dict)
    #: statements whose trailing comment moved onto an item of a new value
    moved: set[str] = field(default_factory=set)
    #: key -> the trailing comment of the statement holding its new value (None: drop)
    trailer: dict[str, cst.Comment | None] = field(default_factory=dict)

    def drop(self, key: str) -> None:
        """Leave the statement of ``key`` as it is."""
        self.remove.discard(key)
        self.replace.pop(key, None)
        self.new.pop(key, None)
        self.trailer.pop(key, None)


def place_comments(
    cm: ConfigModule,
    key: str,
    value: SValue,
    node: cst.BaseExpression,
    statements: list[str],
    edits: FileEdits,
) -> cst.BaseExpression:
    """Move trailing comments of the 0.x statements a multi-line value replaces onto the
    items that came from them (``optimizer = dict(...)  # lr for 8 GPUs`` stays beside
    ``optimizer=dict(...)``), instead of leaving them after the value's closing bracket."""
    if not isinstance(value, SDict) or not isinstance(node, (cst.Call, cst.Dict)):
        return node
    if "\n" not in cm.module.code_for_node(node):
        return node
    if not statements:
        return node
    owner, sources = statements[0], statements
    items = list(node.args if isinstance(node, cst.Call) else node.elements)
    item_keys = [item_key(i) for i in items]
    trailer: cst.Comment | None = None
    for src in sources:
        binding = cm.bindings[src]
        comment = binding.statement.trailing_whitespace.comment
        if comment is None:
            continue
        derived = _derived_entry(value, binding.value)
        if derived is None or derived not in item_keys:
            continue
        idx = item_keys.index(derived)
        if idx == len(items) - 1:
            # the statement's own trailing comment sits beside the last item already; a
            # later source's comment may take that place only if the owner's has left it
            owner_free = owner in edits.moved or _comment_of(cm, owner) is None
            if trailer is None and (src == owner or owner_free):
                trailer = comment
                edits.moved.add(src)
            continue
        item = items[idx]
        comma = item.comma
        if not (
            isinstance(comma, cst.Comma)
            and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace)
            and comma.whitespace_after.first_line.comment is None
        ):
            continue
        ws = comma.whitespace_after
        first = cst.TrailingWhitespace(whitespace=cst.SimpleWhitespace("  "), comment=comment)
        items[idx] = item.with_changes(
            comma=comma.with_changes(whitespace_after=ws.with_changes(first_line=first))
        )
        edits.moved.add(src)
    if trailer is not None:
        edits.trailer[key] = trailer
    elif owner in edits.moved:
        edits.trailer[key] = None
    if isinstance(node, cst.Call):
        return node.with_changes(args=items)
    return node.with_changes(elements=items)



def _new_statement(key: str, node: cst.BaseExpression, edits: FileEdits) -> cst.BaseStatement:
    """A fresh ``key = node`` statement with its trailing comment and TODOs."""
    return _add_todos(_trail(assign(key, node), key, key, edits), edits.todos.get(key, []))

def _trail(
    stmt: cst.SimpleStatementLine, name: str, key: str, edits: FileEdits
) -> cst.SimpleStatementLine:
    """The trailing comment of the statement ``name`` now holding ``key``'s new value."""
    if key in edits.trailer:
        comment = edits.trailer[key]
    elif name in edits.moved:
        comment = None
    else:
        return stmt
    if comment is None:
        return stmt.with_changes(trailing_whitespace=cst.TrailingWhitespace())
    return stmt.with_changes(
        trailing_whitespace=cst.TrailingWhitespace(
            whitespace=cst.SimpleWhitespace("  "), comment=comment
        )
    )



def rewrite(cm: ConfigModule, edits: FileEdits) -> str:
    """The text of ``cm`` with ``edits`` applied (its own text when there are none)."""
    replace = {k: node for k, (_v, node) in edits.replace.items()}
    remove = edits.remove
    new = {k: (anchor, node) for k, (anchor, _v, node) in edits.new.items()}
    todos = edits.todos
    if not (replace or remove or new or todos):
        return cm.source
    stmt_key = {id(b.statement): k for k, b in cm.bindings.items()}
    # statements of names the reader could not follow: they can only receive TODOs
    todo_only = {
        id(st): name
        for name, st in cm.dynamic_statements.items()
        if id(st) not in stmt_key and name in todos and name not in cm.bindings
    }
    placed_after: dict[str, list[tuple[str, cst.BaseExpression]]] = {}
    unplaced: list[tuple[str, cst.BaseExpression]] = []
    for key, (anchor, node) in new.items():
        if anchor is not None:
            placed_after.setdefault(anchor, []).append((key, node))
        else:
            unplaced.append((key, node))

    # comments inside a replaced or removed 0.x value that did not travel into a new value
    # (with an entry that moved) are kept as comment lines above the statement
    rendered: set[str] = set()
    for node in list(replace.values()) + [n for _a, n in new.values()]:
        rendered.update(_comments_in(node))

    def left_behind(stmt: cst.SimpleStatementLine) -> list[cst.EmptyLine]:
        value = stmt.body[0].value  # type: ignore[union-attr]
        return [
            cst.EmptyLine(comment=cst.Comment(c))
            for c in dict.fromkeys(_comments_in(value))
            if c not in rendered
        ]

    body: list[cst.BaseStatement] = []
    carry: list[cst.EmptyLine] = []  # comments of deleted statements
    header = list(cm.module.header)  # the first statement's comments live here
    for stmt in cm.module.body:
        key = stmt_key.get(id(stmt))
        if key is None:
            s = _prepend(stmt, carry)
            if id(stmt) in todo_only:
                above = header if not body else None
                s = _add_todos(s, todos[todo_only[id(stmt)]], above)
            body.append(s)
            carry = []
            continue
        assert isinstance(stmt, cst.SimpleStatementLine)
        incoming = placed_after.get(key, [])
        if key in remove:
            if incoming:
                first_key, first_node = incoming[0]
                s = _trail(_retarget(stmt, first_key, first_node), key, first_key, edits)
                s = _append_lines(_prepend(s, carry), left_behind(stmt))
                above = header if not body else None
                # a non-blocking TODO of the removed key belongs to what replaces it
                msgs = todos.get(first_key, []) + todos.get(key, [])
                body.append(_add_todos(s, msgs, above))
                carry = []
                for k2, n2 in incoming[1:]:
                    body.append(_new_statement(k2, n2, edits))
            else:
                lines = removed_comments(stmt)
                if key in edits.moved and stmt.trailing_whitespace.comment is not None:
                    lines = lines[:-1]  # the trailing comment went onto an item
                carry = carry + lines + left_behind(stmt)
            continue
        s = stmt
        if key in replace:
            s = _trail(_retarget(stmt, key, replace[key]), key, key, edits)
            s = _append_lines(s, left_behind(stmt))
        s = _add_todos(_prepend(s, carry), todos.get(key, []), header if not body else None)
        carry = []
        body.append(s)
        for k2, n2 in incoming:
            body.append(_new_statement(k2, n2, edits))
    for k2, n2 in unplaced:
        body.append(_new_statement(k2, n2, edits))
    body = _define_before_use(body)
    module = cm.module.with_changes(body=body)
    if any(ln.comment is not None for ln in carry):
        module = module.with_changes(footer=list(carry) + list(module.footer))
    return module.code




class _Comments(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: list[str] = []

    def visit_Comment(self, node: cst.Comment) -> None:
        self.found.append(node.value)


def _comments_in(node: cst.CSTNode) -> list[str]:
    """Every comment inside ``node``, in order."""
    visitor = _Comments()
    node.visit(visitor)
    return visitor.found


def _append_lines(stmt: cst.BaseStatement, lines: list[cst.EmptyLine]) -> cst.BaseStatement:
    if not lines:
        return stmt
    return stmt.with_changes(leading_lines=list(stmt.leading_lines) + lines)


def _derived_entry(ov: SDict, source: SValue) -> str | None:
    """The top-level entry of ``ov`` that came from the end of the 0.x value ``source``.

    A statement's trailing comment sits on the line of the last item of its dict: the entry
    made from that item, else the entry made from the whole value, else any entry made from
    one of its items.
    """
    if isinstance(source, SDict) and isinstance(source.node, (cst.Call, cst.Dict)):
        items = list(
            source.node.args if isinstance(source.node, cst.Call) else source.node.elements
        )
        if items:
            last = items[-1]
            for k, e in ov.entries.items():
                if e.arg is last or (e.value.node is not None and e.value.node is last.value):
                    return k
    args: set[int] = set()
    nodes: set[int] = set()
    if isinstance(source, SDict):
        for e in source.entries.values():
            if e.arg is not None:
                args.add(id(e.arg))
            if e.value.node is not None:
                nodes.add(id(e.value.node))
    for k, e in ov.entries.items():
        v = e.value
        if v is source or (v.node is not None and v.node is source.node):
            return k
        if e.arg is not None and id(e.arg) in args:
            return k
        if v.node is not None and id(v.node) in nodes:
            return k
    return None


def _comment_of(cm: ConfigModule, key: str) -> cst.Comment | None:
    return cm.bindings[key].statement.trailing_whitespace.comment




def _define_before_use(body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
    """Move each assignment below the module-level bindings its value reads.

    A rewritten value may read a variable that the file binds further down (e.g. a GAN rule
    adds ``discriminator_steps=n_disc`` to a ``model`` dict written above ``n_disc = 5``). Such
    a statement moves to just after the last binding it needs, unless a statement it would
    jump over reads its own name. Untouched 0.x statements never read later bindings (the file
    would not have run), so only rewritten ones move.
    """
    body = list(body)
    for _ in range(len(body)):
        moved = False
        first: dict[str, int] = {}  # a name read before its first binding is unbound there
        for i, stmt in enumerate(body):
            for name in _assigned_names(stmt):
                first.setdefault(name, i)
        for i, stmt in enumerate(body):
            own = _assigned_names(stmt)
            if len(own) != 1:
                continue
            later = [first[n] for n in _read_names(stmt) - own if first.get(n, -1) > i]
            if not later:
                continue
            j = max(later)
            if any(own & _read_names(s) for s in body[i + 1 : j + 1]):
                continue
            body.insert(j, body.pop(i))
            moved = True
            break
        if not moved:
            break
    return body


def _assigned_names(stmt: cst.BaseStatement) -> set[str]:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return set()
    out = set()
    for small in stmt.body:
        if isinstance(small, cst.Assign):
            out.update(t.target.value for t in small.targets if isinstance(t.target, cst.Name))
    return out


class _Reads(cst.CSTVisitor):
    """Names an expression reads (not attribute names, keywords or lambda-local code)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _read_names(stmt: cst.BaseStatement) -> set[str]:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return set()
    v = _Reads()
    for small in stmt.body:
        if isinstance(small, cst.Assign):
            small.value.visit(v)
        else:
            small.visit(v)
    return v.names


def _retarget(
    stmt: cst.SimpleStatementLine, key: str, value: cst.BaseExpression
) -> cst.SimpleStatementLine:
    assign_node = stmt.body[0]
    assert isinstance(assign_node, cst.Assign)
    target = assign_node.targets[0]
    new_target = target.with_changes(target=cst.Name(key))
    return stmt.with_changes(body=[assign_node.with_changes(targets=[new_target], value=value)])


def _prepend(stmt: cst.BaseStatement, lines: list[cst.EmptyLine]) -> cst.BaseStatement:
    if not any(ln.comment is not None for ln in lines):
        return stmt  # only blank lines: the statement keeps its own spacing
    return stmt.with_changes(leading_lines=list(lines) + list(stmt.leading_lines))


def _add_todos(
    stmt: cst.BaseStatement, messages: list[str], above: list[cst.EmptyLine] | None = None
) -> cst.BaseStatement:
    if not messages:
        return stmt
    existing = list(above or []) + list(stmt.leading_lines)
    extra = todo_lines(messages, existing)
    if not extra:
        return stmt
    return stmt.with_changes(leading_lines=existing + extra)
