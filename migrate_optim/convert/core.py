"""Converting one config's source text: static reading of its _base_ chain, the rules, emission.

The engine (file discovery, modes, writes) calls :class:`Converter`; everything here is pure
text-in/text-out and never executes a config.

How a file is converted (once per run; the steps of :meth:`_FileConversion.run`):

1. ``_read_bases``: parse it (:mod:`.static`) and read its ``_base_`` chain statically, both
   in its original text and as its converted text will read;
2. ``_translate``: detect its codebase (:mod:`.codebase`; else the one codebase of the run's
   other files) and run every rule (:mod:`.rules`) on the effective 0.x config of the file
   *and* on that of its bases alone; a 0.x optimizer key no rule handled gets a TODO;
3. ``_writes_translated_keys``: a file that assigns none of those keys stays as it is;
4. ``_collect_keys`` and ``_block_unsafe_keys``: the keys to write, and the groups whose
   statements must stay (a TODO in the group, a name assigned dynamically or read elsewhere,
   a TODO comment left by an earlier run);
5. ``_render_keys``: for each other key, the override the file needs on top of what its bases'
   *converted* text will say (:meth:`Converter.effective_1x`, :func:`.emit.override`),
   reusing the original text; comments of replaced statements follow the items they describe;
6. ``_report_notes``: findings located in this file, and the ``# TODO(migrate-optim)``
   comment of every ``error`` finding on the statement of its group.

The result is a :class:`~.emit.FileEdits`, which :func:`.emit.rewrite` applies to the text (no
comment is dropped); a statement that already carries a TODO is left alone by later runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from migrate_optim import facts
from migrate_optim.convert import codebase as cb
from migrate_optim.convert import prefilter
from migrate_optim.convert.emit import (
    TODO_PREFIX,
    TOP_DEFAULTS,
    FileEdits,
    NotPortable,
    Renderer,
    override,
    place_comments,
    rewrite,
)
from migrate_optim.convert.findings import (
    STDIN_NAME,
    ConvertError,
    Finding,
    FindingId,
    Severity,
    display_path,
)
from migrate_optim.convert.rules import check_consumed, rules
from migrate_optim.convert.static import (
    BaseChainError,
    ConfigModule,
    ConfigTree,
    SDict,
    SEntry,
    SList,
    SLit,
    SValue,
    merge_into,
    own_config,
    parse_config,
    resolved,
)
from migrate_optim.convert.translation import REMOVE, Note, Translation

CODEBASES = cb.KNOWN


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


#: the 0.x keys this tool is responsible for: each must be converted or carry a TODO
OPTIMIZER_KEYS = facts.OPTIMIZER_KEYS
#: the 0.x schedule keys (docs/schedules.md): the same, with their own leftover id
SCHEDULE_KEYS = facts.SCHEDULE_KEYS
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


def consumed_keys(t: Translation) -> set[str]:
    """The keys a translation consumes: removed, taken as a source, or marked with a TODO (a
    file binding none of them stays as it is)."""
    consumed = {k for k, v in t.out.items() if v is REMOVE}
    consumed.update(s for sources_of_key in t.sources.values() for s in sources_of_key)
    # a key a rule left with a TODO is touched too: its comment and finding belong here
    consumed.update(n.key for n in t.notes if n.severity is Severity.ERROR and n.key)
    return consumed


def translate(cfg: SDict, codebase: str | None, file: Path | None) -> Translation:
    """Run every rule on an effective 0.x config.

    A 0.x optimizer key that no rule converted or annotated gets a TODO (MO110), so that no
    key is ever left behind silently, whatever form it has.
    """
    t = Translation(cfg=cfg, codebase=codebase, file=file)
    for rule in rules():
        rule.apply(t)
    check_consumed(consumed_keys(t), t)
    annotated = {n.key for n in t.notes if n.key is not None}
    for k, srcs in t.sources.items():
        # a TODO on one key of a group (a 1.x key and the 0.x keys it replaces) covers all
        if annotated & ({k, *srcs}):
            annotated.update(srcs)
    for key in OPTIMIZER_KEYS + SCHEDULE_KEYS:
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
            FindingId.SCHEDULE_LEFTOVER if key in SCHEDULE_KEYS else FindingId.LEFTOVER,
            f"`{key}` was not converted: no rule handles {form}; convert by hand",
            key=key,
            at=value,
        )
    return t


class Converter:
    """Converts configs; caches the parsed original text of every file it reads as a base.

    Convert every file of a run before writing any of them: a child's ``_base_`` files must be
    read in their original (0.x) form (:meth:`register` makes the engine's copy authoritative).
    Each file is converted once; a child's overrides are computed against what its bases'
    *converted* text will say (:meth:`effective_1x`), so that the merged tree is exact even where
    a base writes a 1.x default such as ``clip_grad=None``.
    """

    def __init__(self, options: ConvertOptions | None = None) -> None:
        self.options = options or ConvertOptions()
        self.tree = ConfigTree()
        self._outcomes: dict[Path, _FileOutcome] = {}
        self._in_progress: set[Path] = set()
        self._effective: dict[Path, SDict] = {}
        self._run_codebase: tuple[str] | None = None
        self._gan_bases: dict[Path, bool] = {}
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
        self._outcomes.clear()
        self._effective.clear()

    def in_run(self, path: Path | None) -> bool:
        """Whether ``path`` is converted by this run (always, without :meth:`set_run_files`)."""
        return self.run_files is None or path is None or resolved(path) in self.run_files

    def convert_source(self, source: str, path: Path | None = None) -> ConvertResult:
        """Convert one config's text; ``path`` locates its ``_base_`` files (None for stdin).

        Raises :class:`~migrate_optim.convert.findings.ConvertError` for input that cannot be
        parsed.
        """
        quick = self._unchanged(source, path)
        if quick is not None:
            return quick
        cm = self.tree.cached(path, source) if path is not None else None
        if cm is None:
            cm = parse_config(source, path)
            if path is not None:
                if self.tree.known(path):
                    # new text (or a new spelling) for a path read before: forget what was
                    # decided from the old module
                    self._outcomes.clear()
                    self._effective.clear()
                self.tree.register_source(path, source)
                self.tree.replace(cm)
        if path is not None:
            self.tree.register_source(path, source)
            self.tree.add(cm)
        result = self._outcome_of(cm).result()
        if path is not None and self.tree.forget(path):
            # not a base of anything read so far: its module and outcome are not needed again
            # (a later child parses it again), so memory does not grow with the run
            self._outcomes.pop(resolved(path), None)
        return result

    def _unchanged(self, source: str, path: Path | None) -> ConvertResult | None:
        """The result of a file the text prefilter decides (:mod:`.prefilter`): no change, and
        the findings of its ``_base_`` chain; None when it needs the full conversion."""
        if path is not None and self.tree.known(path) and self.tree.cached(path, source) is None:
            return None  # new text for a file read before: the full path forgets the old one
        decision = prefilter.decide(source, path, self.options.codebase)
        if decision is None or (path is None and decision.base_specs):
            return None
        findings: list[Finding] = []
        if path is not None:
            self.tree.register_source(path, source)
            try:
                self.tree.bases_of(path, decision.base_specs)
            except BaseChainError as exc:
                if decision.check_bases_for_gan:
                    return None
                findings.append(_unreadable_bases(display_path(path), exc))
            else:
                if decision.check_bases_for_gan and self._chain_has_gan(path, decision.base_specs):
                    return None
        return ConvertResult(path, source, source, findings)

    def _chain_has_gan(self, path: Path, specs: list[tuple[str, int]]) -> bool:
        """Whether a file of the (readable) base chain has a GAN model class string."""
        for spec, _line in specs:
            base = resolved(path.parent / spec)
            if base not in self._gan_bases:
                cm = self.tree.module(base)
                self._gan_bases[base] = prefilter.gan_strings(
                    ast.parse(cm.source)
                ) or self._chain_has_gan(base, cm.base_specs)
            if self._gan_bases[base]:
                return True
        return False

    def _outcome_of(self, cm: ConfigModule) -> _FileOutcome:
        """Convert ``cm`` once per run (its children need its converted form too)."""
        if cm.path is None:
            return _FileConversion(self, cm).run()
        key = resolved(cm.path)
        outcome = self._outcomes.get(key)
        if outcome is None:
            self._in_progress.add(key)
            try:
                outcome = _FileConversion(self, cm).run()
            finally:
                self._in_progress.discard(key)
            self._outcomes[key] = outcome
        return outcome

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
            if key in self._in_progress:
                raise BaseChainError(0, f"_base_ cycle through {display_path(path)}")
            cm = self.tree.module(path)
            # a base this run does not convert keeps its 0.x text: its own keys as they are
            outcome = self._outcome_of(cm) if self.in_run(cm.path) else _FileOutcome(cm, [])
            self._effective[key] = merge_into(outcome.own_1x(), self.bases_1x(cm))
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
class _FileOutcome:
    """What converting one file gives: computed once, rendered into text on demand."""

    config: ConfigModule
    findings: list[Finding]
    #: None: the file stays as it is
    edits: FileEdits | None = None

    def own_1x(self) -> SDict:
        """The file's own bindings once converted (for its children's overrides)."""
        config = self.config
        bindings = own_config(config)
        edits = self.edits or FileEdits()
        for key in edits.remove:
            bindings.entries.pop(key, None)
        for key, (value, _node) in edits.replace.items():
            bindings.entries[key] = SEntry(key, value, None, config.path, config.bindings[key].line)
        for key, (_anchor, value, _node) in edits.new.items():
            bindings.entries[key] = SEntry(key, value, None, config.path, 0)
        return bindings

    def result(self) -> ConvertResult:
        """The converted text and findings."""
        config = self.config
        text = rewrite(config, self.edits) if self.edits is not None else config.source
        return ConvertResult(config.path, config.source, text, list(self.findings))


class _FileConversion:
    """Converting one file, in the named steps of :meth:`run` (each reads what the ones before
    it stored on ``self``)."""

    def __init__(self, conv: Converter, config: ConfigModule) -> None:
        self.conv = conv
        self.config = config
        self.path = config.path
        self.shown = display_path(config.path) if config.path is not None else STDIN_NAME
        self.findings: list[Finding] = []
        # set by _read_bases
        self.bases_0x = SDict()
        self.bases_1x = SDict()
        self.bases_unreadable = False
        # set by _translate
        self.effective = SDict()
        self.translation = Translation(cfg=SDict(), codebase=None)
        self.bases_translation: Translation | None = None
        # set by _collect_keys and _block_unsafe_keys
        self.keys: list[str] = []
        self.groups: list[set[str]] = []
        self.blocked: set[str] = set()
        self.marked: list[str] = []
        self.notes: list[Note] = []
        #: bases outside the run that keep 0.x keys this file now writes in full (set by
        #: _render_keys)
        self.left_0x: dict[Path, list[str]] = {}

    def finding(self, line: int, rule_id: str, severity: Severity, message: str) -> None:
        """Report a finding at ``line`` of this file."""
        self.findings.append(Finding(self.shown, line, rule_id, severity, message))

    def run(self) -> _FileOutcome:
        """Decide what to write; the base chain is read in its original and converted forms."""
        self._read_bases()
        self._translate()
        if not self._writes_translated_keys():
            # The file writes none of the 0.x keys: whatever changes is inherited and belongs
            # to its bases (converted in their own right), so this file stays as it is.
            return _FileOutcome(self.config, self.findings)
        self._collect_keys()
        self._block_unsafe_keys()
        edits = self._render_keys()
        for key in self.blocked:
            edits.drop(key)
        edits.todos = self._report_notes()
        self.findings.sort()
        return _FileOutcome(self.config, self.findings, edits)

    # -- the steps ----------------------------------------------------------------------------

    def _read_bases(self) -> None:
        """The merged ``_base_`` chain, as 0.x text and as its converted text will read."""
        config = self.config
        try:
            self.bases_0x = self.conv.tree.base_config(config)
            self.bases_1x = self.conv.bases_1x(config) if config.path is not None else SDict()
        except BaseChainError as exc:
            self.bases_0x = SDict()
            self.bases_1x = SDict()
            self.bases_unreadable = True
            self.findings.append(_unreadable_bases(self.shown, exc))

    def _translate(self) -> None:
        """Run the rules on the effective config (file and bases) and on the bases alone."""
        config = self.config
        self.effective = merge_into(own_config(config), self.bases_0x)
        codebase = cb.detect(self.path, self.effective, self.conv.options.codebase)
        assumed = None
        if codebase is None:
            codebase = assumed = self.conv.run_codebase()
        translation = translate(self.effective, codebase, self.path)
        if assumed is not None and (translation.out or translation.notes):
            translation.note(
                FindingId.CODEBASE,
                Severity.INFO,
                f"the codebase of this config is not visible in it or its bases: assumed "
                f"{assumed}, the codebase of every other config of this run",
            )
        for key in OPTIMIZER_KEYS:
            binding = config.bindings.get(key)
            if binding is not None and isinstance(binding.value, SDict) and binding.value.delete:
                if key not in self.bases_0x.entries and not self.bases_unreadable:
                    # mmcv pops `_delete_` only when merging into a base value
                    translation.note(
                        FindingId.ENGINE,
                        Severity.WARNING,
                        f"`_delete_=True` in `{key}` has nothing to delete (no base defines "
                        f"`{key}`): mmcv kept it as an argument, which failed when the "
                        "optimizer or hook was built; the conversion treats it as absent",
                        at=binding.value,
                    )
        self.translation = translation
        if self.bases_0x.entries:
            self.bases_translation = translate(self.bases_0x, codebase, None)

    def _writes_translated_keys(self) -> bool:
        """Whether this file assigns a key the translation consumes, removes or marks."""
        config = self.config
        consumed = consumed_keys(self.translation)
        consumed.update(k for k in OPTIMIZER_KEYS + SCHEDULE_KEYS if k in config.dynamic)
        return bool(consumed & set(config.bindings) or consumed & set(config.dynamic))

    def _collect_keys(self) -> None:
        """Every key the file may have to write: the translation's, its bases' translation's,
        and the groups a rule related but left."""
        translation = self.translation
        bases_translation = self.bases_translation
        keys = list(translation.out) + [
            k
            for k in (bases_translation.out if bases_translation else {})
            if k not in translation.out
        ]
        keys += [k for k in translation.sources if k not in keys]
        self.keys = keys
        self.groups = self._groups(translation, bases_translation, keys)

    def _block_unsafe_keys(self) -> None:
        """The keys whose statements stay as they are, with the notes that say why."""
        translation = self.translation
        self.blocked = self._blocked_keys(translation, self.keys)
        # A statement marked by an earlier run stays as it is until the user resolves it: its
        # bases may have been converted since, and the mix of 1.x bases and a 0.x child says
        # nothing reliable about what the child meant.
        self.marked = self._marked(self.keys, translation)
        for name in self.marked:
            translation.notes.append(
                Note(
                    FindingId.ENGINE,
                    Severity.ERROR,
                    f"`{name}` still carries a TODO(migrate-optim) comment: resolve it and "
                    "delete the comment, then convert again",
                    key=name,
                )
            )
        # A key left for the user blocks its whole group (the 1.x key and the 0.x keys it
        # replaces): a half-converted group would mix 0.x and 1.x forms of one setting.
        todo_keys = {
            n.key
            for n in translation.notes
            if n.severity is Severity.ERROR and n.key and n.blocking
        }
        for group in self.groups:
            if group & (todo_keys | self.blocked):
                self.blocked |= group
        self.notes = list(translation.notes)

    def _render_keys(self) -> FileEdits:
        """The edit of every key not blocked: replace, remove or add its statement."""
        edits = FileEdits()
        renderer = Renderer(self.config, self.path, self._source_of)
        for key in self.keys:
            if key not in self.blocked:
                self._render_key(key, renderer, edits)
        if self.left_0x and (edits.replace or edits.new or edits.remove):
            self.notes.append(self._left_0x_note(self.left_0x))
        return edits

    def _render_key(self, key: str, renderer: Renderer, edits: FileEdits) -> None:
        """Write into ``edits`` the override ``key`` needs on top of the converted bases."""
        config = self.config
        translation = self.translation
        desired = translation.out.get(key, self.effective.get(key))
        # what the converted bases will really say (exact text-level values, e.g. a
        # `clip_grad=None` written to drop an inherited setting)
        inherited = self.bases_1x.get(key)
        kept_by = self._left_0x_by(self.bases_1x, key)
        if kept_by is not None:
            # a 0.x key of a base this run leaves alone: MMEngine ignores it, so this file
            # writes the complete 1.x settings instead of an override of them
            inherited = None
            self.left_0x.setdefault(kept_by, []).append(key)
        gone = desired is REMOVE or desired is None
        if gone and inherited is not None and inherited is not REMOVE:
            # a 1.x key that a converted base sets and this config must not have
            if key in TOP_DEFAULTS:
                desired = SLit(TOP_DEFAULTS[key])
            elif key not in OPTIMIZER_KEYS and isinstance(inherited, SDict):
                desired = SDict(delete=True, file=self.path)  # `key = dict(_delete_=True)`
            elif isinstance(inherited, SList):
                desired = SList([])  # e.g. a base's param_scheduler this config drops
        if desired is REMOVE or desired is None:
            if inherited is not None and inherited is not REMOVE:
                # a base keeps the key (it was left unconverted): dropping this file's
                # statement would let the base's value through, so the group stays 0.x
                self.notes.append(
                    Note(
                        FindingId.ENGINE,
                        Severity.ERROR,
                        f"`{key}` should be removed but a base file keeps it (see the "
                        "findings of the base); convert by hand",
                        key=key,
                    )
                )
                self._block_group_of(key)
                self.blocked.add(key)
            elif key in config.bindings:
                edits.remove.add(key)
            return
        written = override(inherited, desired, self.path, (key,))
        if self.bases_unreadable and isinstance(written, SDict):
            written = _without_generated_type(written)
        try:
            node = renderer.expr(written, 0, len(key) + 3) if written is not None else None
        except NotPortable:
            self.notes.append(
                Note(
                    FindingId.ENGINE,
                    Severity.ERROR,
                    f"cannot write `{key}` here: part of its value is an expression from "
                    "a base file; convert by hand",
                    key=self._first_source(translation, key) or key,
                )
            )
            self._block_group_of(key)
            return
        if node is None:
            if key in config.bindings and key not in translation.sources.get(key, (key,)):
                edits.remove.add(key)
            return
        assert written is not None
        node = place_comments(config, key, written, node, self._statements_of(key), edits)
        if key in config.bindings:
            edits.replace[key] = (written, node)
        else:
            edits.new[key] = (self._first_source(translation, key), written, node)

    def _report_notes(self) -> dict[str, list[str]]:
        """Turn the notes into findings of this file; returns the TODO lines per statement."""
        config = self.config
        bases_translation = self.bases_translation
        base_notes = (
            {(n.rule_id, n.message) for n in bases_translation.notes}
            if bases_translation
            else set()
        )
        bases_in_run = self._bases_in_run()
        todos: dict[str, list[str]] = {}
        for n in self.notes:
            if (
                bases_translation is not None
                and bases_in_run
                and (n.rule_id, n.message) in base_notes
                and not self._here(n)
            ):
                anchor = self._todo_anchor(n.key) if n.key else None
                if (
                    n.severity is not Severity.ERROR
                    or not n.blocking
                    or anchor not in config.bindings
                ):
                    continue  # reported where it is, in the base file
                # this file's statements of the group stay 0.x too: say why here as well
                n = Note(n.rule_id, n.severity, f"(in a base file) {n.message}", None, n.key)
            self.finding(self._line(n), n.rule_id, n.severity, n.message)
            if n.severity is Severity.ERROR and n.key is not None:
                if any(n.key in g and g & set(self.marked) for g in self.groups):
                    continue  # the group waits for the user: no new TODO wording in it
                todos.setdefault(self._todo_anchor(n.key), []).append(
                    f"[{n.rule_id}] {n.message}"
                )
        return todos

    # -- helpers of the steps -----------------------------------------------------------------

    def _block_group_of(self, key: str) -> None:
        for group in self.groups:
            if key in group:
                self.blocked |= group

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
        base = self.config.bindings.get("_base_")
        at = SEntry("_base_", base.value, None, self.path, base.line) if base else None
        return Note(
            FindingId.ENGINE,
            Severity.WARNING,
            f"a base file this run does not convert still holds 0.x keys: {bases}; MMEngine "
            "ignores them, so this file now carries the complete 1.x settings; convert the "
            "base too to remove them",
            at=at,
        )

    def _bases_in_run(self) -> bool:
        """Whether every file of this config's ``_base_`` chain is converted by this run."""
        if self.conv.run_files is None or self.config.path is None:
            return True
        seen: set[Path] = set()
        queue = [self.config]
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

    def _blocked_keys(self, translation: Translation, keys: list[str]) -> set[str]:
        """Keys whose statements cannot be rewritten safely (dynamic or referenced names)."""
        config = self.config
        blocked: set[str] = set()
        reported: set[str] = set()
        # a 0.x key assigned only in ways the reader cannot follow (`x = 1; optimizer = ...`,
        # inside an `if`) is not in the effective config at all, but must not pass silently
        candidates = keys + [
            k for k in OPTIMIZER_KEYS + SCHEDULE_KEYS if k in config.dynamic and k not in keys
        ]
        for key in candidates:
            involved = (key,) + translation.sources.get(key, ())
            for name in involved:
                if name not in config.bindings and name not in config.dynamic:
                    continue
                reason = None
                if name in config.dynamic:
                    reason = f"`{name}` is assigned or modified in a way the converter cannot read"
                elif config.references.get(name) and (
                    translation.out.get(name) is REMOVE or name != key
                ):
                    reason = f"`{name}` is referenced by other statements of this file"
                if reason:
                    blocked.update(involved)
                    if name in reported:
                        continue
                    reported.add(name)
                    translation.notes.append(
                        Note(
                            FindingId.ENGINE, Severity.ERROR, f"{reason}; convert by hand", key=name
                        )
                    )
        return blocked

    def _marked(self, keys: list[str], translation: Translation) -> list[str]:
        """The names of the conversion groups whose statements carry a TODO comment."""
        config = self.config
        names = set(keys) | {s for k in keys for s in translation.sources.get(k, ())}
        first = config.module.body[0] if config.module.body else None
        marked = []
        for name in config.order:
            if name not in names:
                continue
            stmt = config.bindings[name].statement
            lines = list(stmt.leading_lines)
            if stmt is first:
                lines = list(config.module.header) + lines
            if any(ln.comment is not None and ln.comment.value.startswith(TODO_PREFIX)
                   for ln in lines):  # fmt: skip
                marked.append(name)
        return marked

    @staticmethod
    def _groups(
        translation: Translation, bases_translation: Translation | None, keys: list[str]
    ) -> list[set[str]]:
        groups = []
        for key in keys:
            group = {key, *translation.sources.get(key, ())}
            if bases_translation is not None:
                group.update(bases_translation.sources.get(key, ()))
            groups.append(group)
        return groups

    def _todo_anchor(self, key: str) -> str:
        """The statement that carries a TODO for ``key``: its own, else one of its group."""
        if key in self.config.bindings:
            return key
        for group in self.groups:
            if key in group:
                for name in self.config.order:
                    if name in group:
                        return name
        return key

    def _statements_of(self, key: str) -> list[str]:
        """The statements of this file that ``key``'s new value replaces, its own first."""
        config = self.config
        owner = key if key in config.bindings else self._first_source(self.translation, key)
        if owner is None:
            return []
        sources = self.translation.sources.get(key, ())
        return [owner] + [s for s in sources if s in config.bindings and s != owner]

    def _first_source(self, translation: Translation, key: str) -> str | None:
        for src in translation.sources.get(key, ()):
            if src in self.config.bindings:
                return src
        return None

    def _here(self, n: Note) -> bool:
        at = n.at
        f = at.file if isinstance(at, (SValue, SEntry)) else None
        return f is not None and f == self.path

    def _line(self, n: Note) -> int:
        at = n.at
        if (
            isinstance(at, (SValue, SEntry))
            and at.file == self.path
            and self.path is not None
            and at.line
        ):
            return at.line
        for key in [n.key] if n.key else []:
            if key in self.config.bindings:
                return self.config.bindings[key].line
        for sources_of_key in self.translation.sources.values():
            for s in sources_of_key:
                if s in self.config.bindings:
                    return self.config.bindings[s].line
        base = self.config.bindings.get("_base_")
        return base.line if base is not None else 1

    def _source_of(self, path: Path) -> str:
        """Original text of a file of the tree (to re-indent nodes taken from it)."""
        try:
            return self.conv.tree.module(path).source
        except (OSError, UnicodeDecodeError, ConvertError):
            return ""


def _unreadable_bases(shown: str, exc: BaseChainError) -> Finding:
    """The warning of a file whose ``_base_`` chain cannot be read."""
    return Finding(
        shown,
        exc.line,
        FindingId.ENGINE,
        Severity.WARNING,
        f"{exc.message}; this file's own keys were converted as overrides of an unknown base, "
        "so inherited values were not checked",
    )


def _without_generated_type(value: SDict) -> SDict:
    """``value`` without a ``type='OptimWrapper'`` the rules generated (not written by the
    user): over an unknown base it could replace e.g. an inherited AmpOptimWrapper."""
    entry = value.entry("type")
    if entry is None or entry.arg is not None or entry.value.node is not None:
        return value
    if not (isinstance(entry.value, SLit) and entry.value.value == "OptimWrapper"):
        return value
    return value.without("type")
