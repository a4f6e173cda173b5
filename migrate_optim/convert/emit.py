"""Writing a translation back into a file: minimal overrides, reused text, kept comments.

For every top-level key the rules produce, the emitter compares the file's *desired* effective
1.x value with what its ``_base_`` chain will provide once converted (the same rules applied to
the bases alone) and writes only the override the file needs: entries the file wrote itself are
kept, inherited ones are left to the bases, and where a key must disappear it writes the 1.x
default or, failing that, ``_delete_=True`` with the full value. Values are rendered from their
original libcst nodes wherever possible, so comments and layout inside them survive; generated
dicts follow the OpenMMLab (yapf) style.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
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
    source_of: Callable[[Path], str] | None = None

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
        if self.source_of is not None:
            return self.source_of(file)
        return _SOURCES.get(file, "")

    def _list(self, value: SList, indent: int) -> cst.BaseExpression:
        if value.node is not None and _all_items_reused(value):
            return self._reuse(value, indent)
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


_SOURCES: dict[Path, str] = {}


def remember_source(path: Path | None, text: str) -> None:
    """Record the text of a file whose nodes may be reused elsewhere (for indentation)."""
    if path is not None:
        _SOURCES[path] = text


def literal_node(value: object) -> cst.BaseExpression:
    """A libcst node for a Python literal (the common scalars built directly: fast)."""
    if isinstance(value, bool) or value is None:
        return cst.Name(repr(value))
    if isinstance(value, str):
        return cst.SimpleString(repr(value))
    if isinstance(value, int) and value >= 0:
        return cst.Integer(repr(value))
    if isinstance(value, float) and value >= 0 and math.isfinite(value):
        return cst.Float(_literal_code(value))
    return cst.parse_expression(_literal_code(value))


def _literal_code(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)  # e.g. 512.0
    return repr(value)


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


StatementEdit = Callable[[cst.SimpleStatementLine], list[cst.SimpleStatementLine]]


_item_key = item_key  # the name before it became public
