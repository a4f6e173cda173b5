"""Converting one config's source text: static reading of its _base_ chain, the rules, emission.

The engine (file discovery, modes, writes) calls :class:`Converter`; everything here is pure
text-in/text-out and never executes a config.

How a file is converted:

1. parse it (:mod:`.static`) and read its ``_base_`` chain, original text, statically;
2. run every rule (:mod:`.rules`) on the effective 0.x config of the file *and* on the
   effective config of its bases alone;
3. for each key the rules produce, write into the file only the override it needs on top of
   what its converted bases will provide (:mod:`.emit`), reusing the original text;
4. report findings located in this file; ``error`` findings leave the 0.x statement in place
   with a ``# TODO(migrate-optim)`` comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from migrate_optim.convert import codebase as cb
from migrate_optim.convert.emit import (
    NotPortable,
    Renderer,
    assign,
    override,
    remember_source,
    removed_comments,
    todo_lines,
)
from migrate_optim.convert.findings import Finding, Severity, display_path
from migrate_optim.convert.rules import rules
from migrate_optim.convert.static import (
    BaseChainError,
    ConfigModule,
    ConfigTree,
    SDict,
    SEntry,
    SValue,
    merge_into,
    own_config,
    parse_config,
)
from migrate_optim.convert.translation import REMOVE, Note, Translation

CODEBASES = cb.KNOWN
ENGINE_ID = "MO001"  # findings of the conversion machinery itself (see README)


@dataclass
class ConvertOptions:
    """Options that change how configs are converted.

    ``codebase`` forces the 0.x codebase (one of :data:`CODEBASES`) instead of detecting it.
    """

    codebase: str | None = None


@dataclass
class ConvertResult:
    """The outcome of converting one file: the new text and what the rules reported."""

    path: Path | None
    original: str
    source: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the conversion changed the text."""
        return self.source != self.original


def translate(cfg: SDict, codebase: str | None, file: Path | None) -> Translation:
    """Run every rule on an effective 0.x config."""
    t = Translation(cfg=cfg, codebase=codebase, file=file)
    for rule in rules():
        rule.apply(t)
    return t


class Converter:
    """Converts configs; caches the parsed original text of every file it reads as a base.

    Convert every file of a run before writing any of them: a child's ``_base_`` files must be
    read in their original (0.x) form (:meth:`register` makes the engine's copy authoritative).
    """

    def __init__(self, options: ConvertOptions | None = None) -> None:
        self.options = options or ConvertOptions()
        self.tree = ConfigTree()

    def register(self, path: Path, source: str) -> None:
        """Tell the converter the original text of a file of this run (before any write)."""
        self.tree.register_source(path, source)

    def convert_source(self, source: str, path: Path | None = None) -> ConvertResult:
        """Convert one config's text; ``path`` locates its ``_base_`` files (None for stdin).

        Raises :class:`~migrate_optim.convert.findings.ConvertError` for input that cannot be
        parsed.
        """
        cm = parse_config(source, path)
        if path is not None:
            self.tree.register_source(path, source)
            self.tree.add(cm)
        remember_source(path, source)
        return _FileConversion(self, cm).run()


class _FileConversion:
    def __init__(self, conv: Converter, cm: ConfigModule) -> None:
        self.conv = conv
        self.cm = cm
        self.path = cm.path
        self.shown = display_path(cm.path) if cm.path is not None else "<stdin>"
        self.findings: list[Finding] = []

    def finding(self, line: int, rule_id: str, severity: Severity, message: str) -> None:
        self.findings.append(Finding(self.shown, line, rule_id, severity, message))

    def run(self) -> ConvertResult:
        cm = self.cm
        try:
            base = self.conv.tree.base_config(cm)
        except BaseChainError as exc:
            base = SDict()
            self.finding(
                exc.line,
                ENGINE_ID,
                Severity.WARNING,
                f"{exc.message}; converted this file as if it had no base, so inherited "
                "values were not checked",
            )
        eff = merge_into(own_config(cm), base)
        codebase = cb.detect(self.path, eff, self.conv.options.codebase)
        t = translate(eff, codebase, self.path)
        tb = translate(base, codebase, None) if base.entries else None

        consumed = {k for k, v in t.out.items() if v is REMOVE}
        consumed.update(s for srcs in t.sources.values() for s in srcs)
        consumed.update(n.key for n in t.notes if n.key is not None)
        if not consumed & set(cm.bindings) and not consumed & set(cm.dynamic):
            # The file writes none of the 0.x keys: whatever changes is inherited and belongs
            # to its bases (converted in their own right), so this file stays as it is.
            return ConvertResult(self.path, cm.source, cm.source, self.findings)
        keys = list(t.out) + [k for k in (tb.out if tb else {}) if k not in t.out]
        blocked = self._blocked_keys(t, keys)
        # A key left for the user blocks its whole group (the 1.x key and the 0.x keys it
        # replaces): a half-converted group would mix 0.x and 1.x forms of one setting.
        todo_keys = {n.key for n in t.notes if n.severity is Severity.ERROR and n.key}
        groups = self._groups(t, tb, keys)
        for group in groups:
            if group & (todo_keys | blocked):
                blocked |= group
        notes = list(t.notes)
        base_notes = {(n.rule_id, n.message) for n in tb.notes} if tb else set()

        # per-key plan: (key, new value node or None to remove)
        replace: dict[str, cst.BaseExpression] = {}
        remove: set[str] = set()
        new: dict[str, tuple[str | None, cst.BaseExpression]] = {}
        renderer = Renderer(cm, self.path)
        for key in keys:
            if key in blocked:
                continue
            desired = t.out.get(key, eff.get(key))
            inherited = tb.out.get(key, base.get(key)) if tb else base.get(key)
            if desired is REMOVE or desired is None:
                if key in cm.bindings:
                    remove.add(key)
                if inherited is not None and inherited is not REMOVE:
                    notes.append(
                        Note(
                            ENGINE_ID,
                            Severity.ERROR,
                            f"`{key}` should be removed but a base file defines it",
                            key=key,
                        )
                    )
                continue
            ov = override(inherited, desired, self.path, (key,))
            try:
                node = renderer.expr(ov, 0) if ov is not None else None
            except NotPortable:
                notes.append(
                    Note(
                        ENGINE_ID,
                        Severity.ERROR,
                        f"cannot write `{key}` here: part of its value is an expression from a base "
                        "file; convert by hand",
                        key=self._first_source(t, key) or key,
                    )
                )
                for src in t.sources.get(key, ()):
                    remove.discard(src)
                    blocked.add(src)
                continue
            if node is None:
                if key in cm.bindings and key not in t.sources.get(key, (key,)):
                    remove.add(key)
                continue
            if key in cm.bindings:
                replace[key] = node
            else:
                new[key] = (self._first_source(t, key), node)
        for key in blocked:
            remove.discard(key)
            replace.pop(key, None)

        todos: dict[str, list[str]] = {}
        for n in notes:
            if tb is not None and (n.rule_id, n.message) in base_notes and not self._here(n):
                continue
            line = self._line(n, t)
            self.finding(line, n.rule_id, n.severity, n.message)
            if n.severity is Severity.ERROR and n.key is not None:
                todos.setdefault(self._todo_anchor(n.key, groups), []).append(
                    f"[{n.rule_id}] {n.message}"
                )

        text = self._rewrite(replace, remove, new, todos)
        self.findings.sort()
        return ConvertResult(self.path, cm.source, text, self.findings)

    # -- planning helpers ---------------------------------------------------------------------

    def _blocked_keys(self, t: Translation, keys: list[str]) -> set[str]:
        """Keys whose statements cannot be rewritten safely (dynamic or referenced names)."""
        cm = self.cm
        blocked: set[str] = set()
        for key in keys:
            involved = (key,) + t.sources.get(key, ())
            for name in involved:
                if name not in cm.bindings and name not in cm.dynamic:
                    continue
                reason = None
                if name in cm.dynamic:
                    reason = f"`{name}` is assigned or modified in a way the converter cannot read"
                elif cm.references.get(name) and (t.out.get(name) is REMOVE or name != key):
                    reason = f"`{name}` is referenced by other statements of this file"
                if reason:
                    blocked.update(involved)
                    t.notes.append(
                        Note(
                            ENGINE_ID,
                            Severity.ERROR,
                            f"{reason}; convert by hand",
                            key=name if name in cm.bindings else None,
                        )
                    )
        return blocked

    @staticmethod
    def _groups(t: Translation, tb: Translation | None, keys: list[str]) -> list[set[str]]:
        groups = []
        for key in keys:
            group = {key, *t.sources.get(key, ())}
            if tb is not None:
                group.update(tb.sources.get(key, ()))
            groups.append(group)
        return groups

    def _todo_anchor(self, key: str, groups: list[set[str]]) -> str:
        """The statement that carries a TODO for ``key``: its own, else one of its group."""
        if key in self.cm.bindings:
            return key
        for group in groups:
            if key in group:
                for name in self.cm.order:
                    if name in group:
                        return name
        return key

    def _first_source(self, t: Translation, key: str) -> str | None:
        for src in t.sources.get(key, ()):
            if src in self.cm.bindings:
                return src
        return None

    def _here(self, n: Note) -> bool:
        at = n.at
        f = at.file if isinstance(at, (SValue, SEntry)) else None
        return f is not None and f == self.path

    def _line(self, n: Note, t: Translation) -> int:
        at = n.at
        if (
            isinstance(at, (SValue, SEntry))
            and at.file == self.path
            and self.path is not None
            and at.line
        ):
            return at.line
        for key in [n.key] if n.key else []:
            if key in self.cm.bindings:
                return self.cm.bindings[key].line
        for key, srcs in t.sources.items():
            for s in srcs:
                if s in self.cm.bindings:
                    return self.cm.bindings[s].line
        base = self.cm.bindings.get("_base_")
        return base.line if base is not None else 1

    # -- rewriting ----------------------------------------------------------------------------

    def _rewrite(
        self,
        replace: dict[str, cst.BaseExpression],
        remove: set[str],
        new: dict[str, tuple[str | None, cst.BaseExpression]],
        todos: dict[str, list[str]],
    ) -> str:
        cm = self.cm
        if not (replace or remove or new or todos):
            return cm.source
        stmt_key = {id(b.statement): k for k, b in cm.bindings.items()}
        placed_after: dict[str, list[tuple[str, cst.BaseExpression]]] = {}
        unplaced: list[tuple[str, cst.BaseExpression]] = []
        for key, (anchor, node) in new.items():
            if anchor is not None:
                placed_after.setdefault(anchor, []).append((key, node))
            else:
                unplaced.append((key, node))

        body: list[cst.BaseStatement] = []
        carry: list[cst.EmptyLine] = []  # comments of deleted statements
        for stmt in cm.module.body:
            key = stmt_key.get(id(stmt))
            if key is None:
                body.append(_prepend(stmt, carry))
                carry = []
                continue
            assert isinstance(stmt, cst.SimpleStatementLine)
            incoming = placed_after.get(key, [])
            if key in remove:
                if incoming:
                    first_key, first_node = incoming[0]
                    s = _retarget(stmt, first_key, first_node)
                    s = _prepend(s, carry)
                    body.append(_add_todos(s, todos.get(first_key, [])))
                    carry = []
                    for k2, n2 in incoming[1:]:
                        body.append(_add_todos(assign(k2, n2), todos.get(k2, [])))
                else:
                    carry = carry + removed_comments(stmt)
                continue
            s = stmt
            if key in replace:
                s = _retarget(stmt, key, replace[key])
            s = _add_todos(_prepend(s, carry), todos.get(key, []))
            carry = []
            body.append(s)
            for k2, n2 in incoming:
                body.append(_add_todos(assign(k2, n2), todos.get(k2, [])))
        for k2, n2 in unplaced:
            body.append(_add_todos(assign(k2, n2), todos.get(k2, [])))
        module = cm.module.with_changes(body=body)
        if carry:
            module = module.with_changes(footer=list(carry) + list(module.footer))
        return module.code


def _retarget(
    stmt: cst.SimpleStatementLine, key: str, value: cst.BaseExpression
) -> cst.SimpleStatementLine:
    assign_node = stmt.body[0]
    assert isinstance(assign_node, cst.Assign)
    target = assign_node.targets[0]
    new_target = target.with_changes(target=cst.Name(key))
    return stmt.with_changes(body=[assign_node.with_changes(targets=[new_target], value=value)])


def _prepend(stmt: cst.BaseStatement, lines: list[cst.EmptyLine]) -> cst.BaseStatement:
    if not lines:
        return stmt
    return stmt.with_changes(leading_lines=list(lines) + list(stmt.leading_lines))


def _add_todos(stmt: cst.BaseStatement, messages: list[str]) -> cst.BaseStatement:
    if not messages:
        return stmt
    existing = list(stmt.leading_lines)
    extra = todo_lines(messages, existing)
    if not extra:
        return stmt
    return stmt.with_changes(leading_lines=existing + extra)
