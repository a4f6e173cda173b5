"""The translation of one effective 0.x config into the 1.x keys it becomes.

Rules (``migrate_optim.convert.rules``) read the *effective* config (the file merged with its
whole ``_base_`` chain, see :mod:`migrate_optim.convert.static`) and write the *effective* 1.x
value of every top-level key they produce or remove. They never think about inheritance: the
emitter (:mod:`migrate_optim.convert.emit`) translates the base chain the same way and writes
into each file only what it must override, so that once the whole tree is converted every
config resolves to the translation of its 0.x self.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.static import SDict, SEntry, SValue

#: Marks a top-level key the translation removes.
REMOVE: SValue = SDict()


@dataclass(eq=False)
class Note:
    """A finding before it has a file and line.

    ``at`` locates it (a value or entry; its own file and line are used when it lives in the
    converted file). ``key`` is the top-level key whose statement gets the ``# TODO`` comment
    for ``error`` notes (the key is then usually left as it was).
    """

    rule_id: FindingId
    severity: Severity
    message: str
    at: SValue | SEntry | None = None
    key: str | None = None
    #: a blocking TODO leaves the key's whole group unconverted; a non-blocking one annotates
    #: a converted key whose 1.x form is the closest there is but not exact
    blocking: bool = True


@dataclass(eq=False)
class Translation:
    """Input and output of the rules for one effective config."""

    cfg: SDict
    codebase: str | None
    file: Path | None = None
    out: dict[str, SValue] = field(default_factory=dict)
    #: for each output key, the 0.x keys it replaces (the first one present in a file is where
    #: a new statement for it is placed)
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    def get(self, key: str) -> SValue | None:
        """The current value of a top-level key: the output if a rule set it, else the input."""
        if key in self.out:
            v = self.out[key]
            return None if v is REMOVE else v
        return self.cfg.get(key)

    def set(self, key: str, value: SValue, sources: tuple[str, ...] = ()) -> None:
        """Set the 1.x value of a top-level key; ``sources`` are the 0.x keys it replaces."""
        self.out[key] = value
        if sources:
            self.sources[key] = tuple(dict.fromkeys(self.sources.get(key, ()) + sources))

    def relate(self, key: str, *sources: str) -> None:
        """Declare 0.x ``sources`` part of ``key``'s group without setting it yet.

        A TODO on any key of a group leaves the whole group unconverted.
        """
        self.sources[key] = tuple(dict.fromkeys(self.sources.get(key, ()) + sources))

    def remove(self, key: str) -> None:
        """Remove a 0.x top-level key (its statement is deleted, comments kept)."""
        self.out[key] = REMOVE

    def note(
        self,
        rule_id: FindingId,
        severity: Severity,
        message: str,
        at: SValue | SEntry | None = None,
        key: str | None = None,
    ) -> None:
        """Record a finding; ``error`` notes with a ``key`` put a TODO on that key's statement."""
        self.notes.append(Note(rule_id, severity, message, at, key))

    def todo(
        self,
        rule_id: FindingId,
        message: str,
        key: str,
        at: SValue | SEntry | None = None,
        blocking: bool = True,
    ) -> None:
        """An error finding plus a ``# TODO(migrate-optim)`` comment on ``key``'s statement.

        ``blocking``: leave ``key`` and the 0.x keys of its group as they are; otherwise the
        key is converted as far as 1.x allows and the comment says what still differs.
        """
        self.notes.append(Note(rule_id, Severity.ERROR, message, at, key, blocking))
