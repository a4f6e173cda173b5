"""Converting one config's source text: static reading of its _base_ chain, the rules, emission.

The engine (file discovery, modes, writes) calls :class:`Converter`; everything here is pure
text-in/text-out and never executes a config.

How a file is converted (each file is planned once per run, see :class:`_Plan`):

1. parse it (:mod:`.static`) and read its ``_base_`` chain, original text, statically;
2. detect its codebase (:mod:`.codebase`; else the one codebase of the run's other files);
3. run every rule (:mod:`.rules`) on the effective 0.x config of the file *and* on the
   effective config of its bases alone; a 0.x optimizer key no rule handled gets a TODO;
4. for each key the rules produce, write into the file only the override it needs on top of
   what its bases' *converted* text will say (:meth:`Converter.effective_1x`, :mod:`.emit`),
   reusing the original text; comments of replaced statements follow the items they
   describe, and no comment is dropped;
5. report findings located in this file; ``error`` findings leave the statements of their
   key group in place with a ``# TODO(migrate-optim)`` comment, and a statement that already
   carries one is left alone by later runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from migrate_optim.convert import codebase as cb
from migrate_optim.convert.emit import (
    TODO_PREFIX,
    TOP_DEFAULTS,
    NotPortable,
    Renderer,
    assign,
    item_key,
    override,
    remember_source,
    removed_comments,
    todo_lines,
)
from migrate_optim.convert.findings import ConvertError, Finding, Severity, display_path
from migrate_optim.convert.rules import rules
from migrate_optim.convert.static import (
    BaseChainError,
    ConfigModule,
    ConfigTree,
    SDict,
    SEntry,
    SLit,
    SValue,
    merge_into,
    own_config,
    parse_config,
    resolved,
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


#: finding id of a 0.x optimizer key that no rule converted (see :func:`translate`)
LEFTOVER_ID = "MO110"
#: the 0.x keys this tool is responsible for: each must be converted or carry a TODO
OPTIMIZER_KEYS = ("optimizer", "optimizer_config", "fp16")
#: 0.x-only top-level keys that MMEngine never reads: a base outside the run may keep them
IGNORED_BY_1X = (
    *OPTIMIZER_KEYS,
    "optimizers",
    "lr_config",
    "momentum_config",
    "runner",
    "total_epochs",
    "total_iters",
)


def translate(cfg: SDict, codebase: str | None, file: Path | None) -> Translation:
    """Run every rule on an effective 0.x config.

    A 0.x optimizer key that no rule converted or annotated gets a TODO (MO110), so that no
    key is ever left behind silently, whatever form it has.
    """
    t = Translation(cfg=cfg, codebase=codebase, file=file)
    for rule in rules():
        rule.apply(t)
    annotated = {n.key for n in t.notes if n.key is not None}
    for k, srcs in t.sources.items():
        # a TODO on one key of a group (a 1.x key and the 0.x keys it replaces) covers all
        if annotated & ({k, *srcs}):
            annotated.update(srcs)
    for key in OPTIMIZER_KEYS:
        value = cfg.get(key)
        if value is None or key in t.out or key in annotated:
            continue
        if isinstance(value, SDict):
            form = "a dict of per-module optimizers" if key == "optimizer" else "this dict"
        elif isinstance(value, SLit):
            form = f"the literal {value.value!r}"
        else:
            form = "an expression the converter does not evaluate"
        t.todo(
            LEFTOVER_ID,
            f"`{key}` was not converted: no rule handles {form}; convert by hand",
            key=key,
            at=value,
        )
    return t


class Converter:
    """Converts configs; caches the parsed original text of every file it reads as a base.

    Convert every file of a run before writing any of them: a child's ``_base_`` files must be
    read in their original (0.x) form (:meth:`register` makes the engine's copy authoritative).
    Each file is planned once; a child's overrides are computed against what its bases'
    *converted* text will say (:meth:`effective_1x`), so that the merged tree is exact even where
    a base writes a 1.x default such as ``clip_grad=None``.
    """

    def __init__(self, options: ConvertOptions | None = None) -> None:
        self.options = options or ConvertOptions()
        self.tree = ConfigTree()
        self._plans: dict[Path, _Plan] = {}
        self._planning: set[Path] = set()
        self._effective: dict[Path, SDict] = {}
        self._run_codebase: tuple[str] | None = None
        #: the files this run converts; None: every file reached is (see set_run_files)
        self.run_files: set[Path] | None = None

    def register(self, path: Path, source: str) -> None:
        """Tell the converter the original text of a file of this run (before any write)."""
        self.tree.register_source(path, source)
        self._run_codebase = None

    def set_run_files(self, paths: Iterable[Path]) -> None:
        """Name the files this run converts (and may write). Any other ``_base_`` file stays as
        it is on disk, 0.x keys included: its children are converted against that text and
        carry every 1.x setting themselves (partial conversion is safe)."""
        self.run_files = {resolved(p) for p in paths}
        self._plans.clear()
        self._effective.clear()

    def in_run(self, path: Path | None) -> bool:
        """Whether ``path`` is converted by this run (always, without :meth:`set_run_files`)."""
        return self.run_files is None or path is None or resolved(path) in self.run_files

    def convert_source(self, source: str, path: Path | None = None) -> ConvertResult:
        """Convert one config's text; ``path`` locates its ``_base_`` files (None for stdin).

        Raises :class:`~migrate_optim.convert.findings.ConvertError` for input that cannot be
        parsed.
        """
        cm = self.tree.cached(path, source) if path is not None else None
        if cm is None:
            cm = parse_config(source, path)
            if path is not None:
                # new text for this path: forget what was planned from the old one
                self.tree.register_source(path, source)
                self.tree.replace(cm)
                self._plans.clear()
                self._effective.clear()
        if path is not None:
            self.tree.register_source(path, source)
            self.tree.add(cm)
        remember_source(path, source)
        plan = self._plan_of(cm)
        return plan.result()

    def _plan_of(self, cm: ConfigModule) -> _Plan:
        if cm.path is None:
            return _FileConversion(self, cm).plan()
        key = resolved(cm.path)
        plan = self._plans.get(key)
        if plan is None:
            self._planning.add(key)
            try:
                plan = _FileConversion(self, cm).plan()
            finally:
                self._planning.discard(key)
            self._plans[key] = plan
        return plan

    def run_codebase(self) -> str | None:
        """The one codebase that the registered files show by themselves, if they agree.

        Files that do not show their codebase (a schedule or runtime base) are converted as
        part of that codebase: their children are, and their bases must mean the same.
        """
        if self._run_codebase is None:
            found: set[str] = set()
            for path in self.tree.registered():
                try:
                    cm = self.tree.module(path)
                except (OSError, UnicodeDecodeError, ConvertError):
                    continue
                own = own_config(cm)
                name = cb.from_path(path) or cb.from_structure(own) or cb.from_model(own)
                if name:
                    found.add(name)
            self._run_codebase = (found.pop() if len(found) == 1 else "",)
        return self._run_codebase[0] or None

    def effective_1x(self, path: Path) -> SDict:
        """The effective config of ``path`` as the converted tree will have it (statically)."""
        key = resolved(path)
        if key not in self._effective:
            if key in self._planning:
                raise BaseChainError(0, f"_base_ cycle through {display_path(path)}")
            cm = self.tree.module(path)
            remember_source(cm.path, cm.source)
            # a base this run does not convert keeps its 0.x text: its own keys as they are
            plan = self._plan_of(cm) if self.in_run(cm.path) else _Plan(cm, [])
            self._effective[key] = merge_into(plan.own_1x(), self.bases_1x(cm))
        return self._effective[key]

    def bases_1x(self, cm: ConfigModule) -> SDict:
        """The merged converted bases of ``cm`` (the 0.x chain must be readable)."""
        merged = SDict()
        for spec, _line in cm.base_specs:
            assert cm.path is not None
            for k, e in self.effective_1x(cm.path.parent / spec).entries.items():
                merged.entries.setdefault(k, e)
        return merged


@dataclass(eq=False)
class _Plan:
    """What converting one file changes: computed once, rendered into text on demand."""

    cm: ConfigModule
    findings: list[Finding]
    #: key -> (value written, rendered node); values are what the converted file assigns
    replace: dict[str, tuple[SValue, cst.BaseExpression]] = field(default_factory=dict)
    remove: set[str] = field(default_factory=set)
    #: key -> (anchor statement, value written, rendered node)
    new: dict[str, tuple[str | None, SValue, cst.BaseExpression]] = field(default_factory=dict)
    todos: dict[str, list[str]] = field(default_factory=dict)
    conversion: _FileConversion | None = None

    def own_1x(self) -> SDict:
        """The file's own bindings once converted (for its children's overrides)."""
        cm = self.cm
        d = own_config(cm)
        for key in self.remove:
            d.entries.pop(key, None)
        for key, (value, _node) in self.replace.items():
            d.entries[key] = SEntry(key, value, None, cm.path, cm.bindings[key].line)
        for key, (_anchor, value, _node) in self.new.items():
            d.entries[key] = SEntry(key, value, None, cm.path, 0)
        return d

    def result(self) -> ConvertResult:
        """The converted text and findings."""
        cm = self.cm
        text = cm.source
        if self.conversion is not None:
            text = self.conversion.rewrite(self)
        return ConvertResult(cm.path, cm.source, text, list(self.findings))


class _FileConversion:
    def __init__(self, conv: Converter, cm: ConfigModule) -> None:
        self.conv = conv
        self.cm = cm
        self.path = cm.path
        self.shown = display_path(cm.path) if cm.path is not None else "<stdin>"
        self.findings: list[Finding] = []
        #: statements whose trailing comment moved onto an item of a new value
        self.moved: set[str] = set()
        #: key -> the trailing comment of the statement holding its new value (None: drop)
        self.trailer: dict[str, cst.Comment | None] = {}

    def finding(self, line: int, rule_id: str, severity: Severity, message: str) -> None:
        self.findings.append(Finding(self.shown, line, rule_id, severity, message))

    def plan(self) -> _Plan:
        """Decide what to write; the base chain is read in its original and converted forms."""
        cm = self.cm
        remember_source(cm.path, cm.source)
        try:
            base = self.conv.tree.base_config(cm)
            base_1x = self.conv.bases_1x(cm) if cm.path is not None else SDict()
        except BaseChainError as exc:
            base = SDict()
            base_1x = SDict()
            broken_base = True
            self.finding(
                exc.line,
                ENGINE_ID,
                Severity.WARNING,
                f"{exc.message}; this file's own keys were converted as overrides of an "
                "unknown base, so inherited values were not checked",
            )
        else:
            broken_base = False
        eff = merge_into(own_config(cm), base)
        codebase = cb.detect(self.path, eff, self.conv.options.codebase)
        assumed = None
        if codebase is None:
            codebase = assumed = self.conv.run_codebase()
        t = translate(eff, codebase, self.path)
        if assumed is not None and (t.out or t.notes):
            t.note(
                cb.ASSUMED_ID,
                Severity.INFO,
                f"the codebase of this config is not visible in it or its bases: assumed "
                f"{assumed}, the codebase of every other config of this run",
            )
        for key in OPTIMIZER_KEYS:
            b = cm.bindings.get(key)
            if b is not None and isinstance(b.value, SDict) and b.value.delete:
                if key not in base.entries and not broken_base:
                    # mmcv pops `_delete_` only when merging into a base value
                    t.note(
                        ENGINE_ID,
                        Severity.WARNING,
                        f"`_delete_=True` in `{key}` has nothing to delete (no base defines "
                        f"`{key}`): mmcv kept it as an argument, which failed when the "
                        "optimizer or hook was built; the conversion treats it as absent",
                        at=b.value,
                    )
        tb = translate(base, codebase, None) if base.entries else None

        consumed = {k for k, v in t.out.items() if v is REMOVE}
        consumed.update(s for srcs in t.sources.values() for s in srcs)
        # a key a rule left with a TODO is touched too: its comment and finding belong here
        consumed.update(n.key for n in t.notes if n.severity is Severity.ERROR and n.key)
        consumed.update(k for k in OPTIMIZER_KEYS if k in cm.dynamic)
        if not consumed & set(cm.bindings) and not consumed & set(cm.dynamic):
            # The file writes none of the 0.x keys: whatever changes is inherited and belongs
            # to its bases (converted in their own right), so this file stays as it is.
            return _Plan(cm, self.findings)
        keys = list(t.out) + [k for k in (tb.out if tb else {}) if k not in t.out]
        keys += [k for k in t.sources if k not in keys]  # groups a rule related but left
        blocked = self._blocked_keys(t, keys)
        # A statement marked by an earlier run stays as it is until the user resolves it: its
        # bases may have been converted since, and the mix of 1.x bases and a 0.x child says
        # nothing reliable about what the child meant.
        marked = self._marked(keys, t)
        for name in marked:
            t.notes.append(
                Note(
                    ENGINE_ID,
                    Severity.ERROR,
                    f"`{name}` still carries a TODO(migrate-optim) comment: resolve it and "
                    "delete the comment, then convert again",
                    key=name,
                )
            )
        # A key left for the user blocks its whole group (the 1.x key and the 0.x keys it
        # replaces): a half-converted group would mix 0.x and 1.x forms of one setting.
        todo_keys = {
            n.key for n in t.notes if n.severity is Severity.ERROR and n.key and n.blocking
        }
        groups = self._groups(t, tb, keys)
        for group in groups:
            if group & (todo_keys | blocked):
                blocked |= group
        notes = list(t.notes)
        base_notes = {(n.rule_id, n.message) for n in tb.notes} if tb else set()

        # per-key plan: (key, new value node or None to remove)
        replace: dict[str, tuple[SValue, cst.BaseExpression]] = {}
        remove: set[str] = set()
        new: dict[str, tuple[str | None, SValue, cst.BaseExpression]] = {}
        renderer = Renderer(cm, self.path, self._source_of)
        left_0x: dict[Path, list[str]] = {}
        for key in keys:
            if key in blocked:
                continue
            desired = t.out.get(key, eff.get(key))
            # what the converted bases will really say (exact text-level values, e.g. a
            # `clip_grad=None` written to drop an inherited setting)
            inherited = base_1x.get(key)
            kept_by = self._left_0x_by(base_1x, key)
            if kept_by is not None:
                # a 0.x key of a base this run leaves alone: MMEngine ignores it, so this file
                # writes the complete 1.x settings instead of an override of them
                inherited = None
                left_0x.setdefault(kept_by, []).append(key)
            gone = desired is REMOVE or desired is None
            if gone and inherited is not None and inherited is not REMOVE:
                # a 1.x key that a converted base sets and this config must not have
                if key in TOP_DEFAULTS:
                    desired = SLit(TOP_DEFAULTS[key])
                elif key not in OPTIMIZER_KEYS and isinstance(inherited, SDict):
                    desired = SDict(delete=True, file=self.path)  # `key = dict(_delete_=True)`
            if desired is REMOVE or desired is None:
                if inherited is not None and inherited is not REMOVE:
                    # a base keeps the key (it was left unconverted): dropping this file's
                    # statement would let the base's value through, so the group stays 0.x
                    notes.append(
                        Note(
                            ENGINE_ID,
                            Severity.ERROR,
                            f"`{key}` should be removed but a base file keeps it (see the "
                            "findings of the base); convert by hand",
                            key=key,
                        )
                    )
                    for group in groups:
                        if key in group:
                            blocked |= group
                    blocked.add(key)
                elif key in cm.bindings:
                    remove.add(key)
                continue
            ov = override(inherited, desired, self.path, (key,))
            if broken_base and isinstance(ov, SDict):
                ov = _without_generated_type(ov)
            try:
                node = renderer.expr(ov, 0, len(key) + 3) if ov is not None else None
            except NotPortable:
                notes.append(
                    Note(
                        ENGINE_ID,
                        Severity.ERROR,
                        f"cannot write `{key}` here: part of its value is an expression from "
                        "a base file; convert by hand",
                        key=self._first_source(t, key) or key,
                    )
                )
                for group in groups:
                    if key in group:
                        blocked |= group
                continue
            if node is None:
                if key in cm.bindings and key not in t.sources.get(key, (key,)):
                    remove.add(key)
                continue
            node = self._place_comments(key, ov, node, t)
            if key in cm.bindings:
                replace[key] = (ov, node)
            else:
                new[key] = (self._first_source(t, key), ov, node)
        for key in blocked:
            remove.discard(key)
            replace.pop(key, None)
            new.pop(key, None)
            self.trailer.pop(key, None)

        if left_0x and (replace or new or remove):
            notes.append(self._left_0x_note(left_0x))
        bases_in_run = self._bases_in_run()
        todos: dict[str, list[str]] = {}
        for n in notes:
            if (
                tb is not None
                and bases_in_run
                and (n.rule_id, n.message) in base_notes
                and not self._here(n)
            ):
                anchor = self._todo_anchor(n.key, groups) if n.key else None
                if n.severity is not Severity.ERROR or not n.blocking or anchor not in cm.bindings:
                    continue  # reported where it is, in the base file
                # this file's statements of the group stay 0.x too: say why here as well
                n = Note(n.rule_id, n.severity, f"(in a base file) {n.message}", None, n.key)
            line = self._line(n, t)
            self.finding(line, n.rule_id, n.severity, n.message)
            if n.severity is Severity.ERROR and n.key is not None:
                if any(n.key in g and g & set(marked) for g in groups):
                    continue  # the group waits for the user: no new TODO wording in it
                todos.setdefault(self._todo_anchor(n.key, groups), []).append(
                    f"[{n.rule_id}] {n.message}"
                )

        self.findings.sort()
        return _Plan(cm, self.findings, replace, remove, new, todos, self)

    # -- planning helpers ---------------------------------------------------------------------

    def _left_0x_by(self, base_1x: SDict, key: str) -> Path | None:
        """The base outside this run that still sets the 0.x ``key``, if one does."""
        entry = base_1x.entry(key)
        if key not in IGNORED_BY_1X or entry is None or entry.file is None:
            return None
        return None if self.conv.in_run(entry.file) else entry.file

    def _left_0x_note(self, left_0x: dict[Path, list[str]]) -> Note:
        bases = "; ".join(
            f"{display_path(path)} ({', '.join(f'`{k}`' for k in keys)})"
            for path, keys in sorted(left_0x.items())
        )
        base = self.cm.bindings.get("_base_")
        at = SEntry("_base_", base.value, None, self.path, base.line) if base else None
        return Note(
            ENGINE_ID,
            Severity.WARNING,
            f"a base file this run does not convert still holds 0.x keys: {bases}; MMEngine "
            "ignores them, so this file now carries the complete 1.x settings; convert the "
            "base too to remove them",
            at=at,
        )

    def _bases_in_run(self) -> bool:
        """Whether every file of this config's ``_base_`` chain is converted by this run."""
        if self.conv.run_files is None or self.cm.path is None:
            return True
        seen: set[Path] = set()
        queue = [self.cm]
        while queue:
            cm = queue.pop()
            for spec, _line in cm.base_specs:
                assert cm.path is not None
                path = resolved(cm.path.parent / spec)
                if path in seen:
                    continue
                seen.add(path)
                if not self.conv.in_run(path):
                    return False
                try:
                    queue.append(self.conv.tree.module(path))
                except (OSError, UnicodeDecodeError, ConvertError):
                    continue
        return True

    def _blocked_keys(self, t: Translation, keys: list[str]) -> set[str]:
        """Keys whose statements cannot be rewritten safely (dynamic or referenced names)."""
        cm = self.cm
        blocked: set[str] = set()
        reported: set[str] = set()
        # a 0.x key assigned only in ways the reader cannot follow (`x = 1; optimizer = ...`,
        # inside an `if`) is not in the effective config at all, but must not pass silently
        candidates = keys + [k for k in OPTIMIZER_KEYS if k in cm.dynamic and k not in keys]
        for key in candidates:
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
                    if name in reported:
                        continue
                    reported.add(name)
                    t.notes.append(
                        Note(ENGINE_ID, Severity.ERROR, f"{reason}; convert by hand", key=name)
                    )
        return blocked

    def _marked(self, keys: list[str], t: Translation) -> list[str]:
        """The names of the conversion groups whose statements carry a TODO comment."""
        cm = self.cm
        names = set(keys) | {s for k in keys for s in t.sources.get(k, ())}
        first = cm.module.body[0] if cm.module.body else None
        marked = []
        for name in cm.order:
            if name not in names:
                continue
            stmt = cm.bindings[name].statement
            lines = list(stmt.leading_lines)
            if stmt is first:
                lines = list(cm.module.header) + lines
            if any(ln.comment is not None and ln.comment.value.startswith(TODO_PREFIX)
                   for ln in lines):  # fmt: skip
                marked.append(name)
        return marked

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

    def _place_comments(
        self, key: str, ov: SValue, node: cst.BaseExpression, t: Translation
    ) -> cst.BaseExpression:
        """Move trailing comments of the 0.x statements a multi-line value replaces onto the
        items that came from them (``optimizer = dict(...)  # lr for 8 GPUs`` stays beside
        ``optimizer=dict(...)``), instead of leaving them after the value's closing bracket."""
        cm = self.cm
        if not isinstance(ov, SDict) or not isinstance(node, (cst.Call, cst.Dict)):
            return node
        if "\n" not in cm.module.code_for_node(node):
            return node
        owner = key if key in cm.bindings else self._first_source(t, key)
        if owner is None:
            return node
        sources = [owner] + [
            s for s in t.sources.get(key, ()) if s in cm.bindings and s != owner
        ]
        items = list(node.args if isinstance(node, cst.Call) else node.elements)
        item_keys = [item_key(i) for i in items]
        trailer: cst.Comment | None = None
        for src in sources:
            binding = cm.bindings[src]
            comment = binding.statement.trailing_whitespace.comment
            if comment is None:
                continue
            derived = _derived_entry(ov, binding.value)
            if derived is None or derived not in item_keys:
                continue
            idx = item_keys.index(derived)
            if idx == len(items) - 1:
                # the statement's own trailing comment sits beside the last item already; a
                # later source's comment may take that place only if the owner's has left it
                owner_free = owner in self.moved or _comment_of(cm, owner) is None
                if trailer is None and (src == owner or owner_free):
                    trailer = comment
                    self.moved.add(src)
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
            self.moved.add(src)
        if trailer is not None:
            self.trailer[key] = trailer
        elif owner in self.moved:
            self.trailer[key] = None
        if isinstance(node, cst.Call):
            return node.with_changes(args=items)
        return node.with_changes(elements=items)

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
        for srcs in t.sources.values():
            for s in srcs:
                if s in self.cm.bindings:
                    return self.cm.bindings[s].line
        base = self.cm.bindings.get("_base_")
        return base.line if base is not None else 1

    # -- rewriting ----------------------------------------------------------------------------

    def _new_statement(
        self, key: str, node: cst.BaseExpression, todos: dict[str, list[str]]
    ) -> cst.BaseStatement:
        """A fresh ``key = node`` statement with its trailing comment and TODOs."""
        return _add_todos(self._trail(assign(key, node), key, key), todos.get(key, []))

    def _trail(
        self, stmt: cst.SimpleStatementLine, name: str, key: str
    ) -> cst.SimpleStatementLine:
        """The trailing comment of the statement ``name`` now holding ``key``'s new value."""
        if key in self.trailer:
            comment = self.trailer[key]
        elif name in self.moved:
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

    def _source_of(self, path: Path) -> str:
        """Original text of a file of the tree (to re-indent nodes taken from it)."""
        try:
            return self.conv.tree.module(path).source
        except (OSError, UnicodeDecodeError, ConvertError):
            return ""

    def rewrite(self, plan: _Plan) -> str:
        """The file's text with ``plan`` applied."""
        cm = self.cm
        replace = {k: node for k, (_v, node) in plan.replace.items()}
        remove = plan.remove
        new = {k: (anchor, node) for k, (anchor, _v, node) in plan.new.items()}
        todos = plan.todos
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
                    s = self._trail(_retarget(stmt, first_key, first_node), key, first_key)
                    s = _append_lines(_prepend(s, carry), left_behind(stmt))
                    above = header if not body else None
                    body.append(_add_todos(s, todos.get(first_key, []), above))
                    carry = []
                    for k2, n2 in incoming[1:]:
                        body.append(self._new_statement(k2, n2, todos))
                else:
                    lines = removed_comments(stmt)
                    if key in self.moved and stmt.trailing_whitespace.comment is not None:
                        lines = lines[:-1]  # the trailing comment went onto an item
                    carry = carry + lines + left_behind(stmt)
                continue
            s = stmt
            if key in replace:
                s = self._trail(_retarget(stmt, key, replace[key]), key, key)
                s = _append_lines(s, left_behind(stmt))
            s = _add_todos(_prepend(s, carry), todos.get(key, []), header if not body else None)
            carry = []
            body.append(s)
            for k2, n2 in incoming:
                body.append(self._new_statement(k2, n2, todos))
        for k2, n2 in unplaced:
            body.append(self._new_statement(k2, n2, todos))
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


def _without_generated_type(value: SDict) -> SDict:
    """``value`` without a ``type='OptimWrapper'`` the rules generated (not written by the
    user): over an unknown base it could replace e.g. an inherited AmpOptimWrapper."""
    entry = value.entry("type")
    if entry is None or entry.arg is not None or entry.value.node is not None:
        return value
    if not (isinstance(entry.value, SLit) and entry.value.value == "OptimWrapper"):
        return value
    return value.without("type")


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
