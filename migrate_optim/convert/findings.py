"""What a conversion could not do exactly: findings with a stable rule id, severity and location."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


class Severity(str, enum.Enum):
    """How much a finding matters to the user.

    ``info``: converted exactly, but the user should know (e.g. a dropped no-op key).
    ``warning``: converted, but 1.x training may differ in a corner case the tool cannot see.
    ``error``: not converted; a ``# TODO(migrate-optim)`` comment marks the place.
    """

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, order=True)
class Finding:
    """One thing a rule could not do (or wants the user to know), at ``path:line``."""

    path: str
    line: int
    rule_id: str
    severity: Severity = field(compare=False)
    message: str = field(compare=False)

    def format(self) -> str:
        """Render as ``file:line: severity [rule-id] message`` (one line)."""
        return f"{self.path}:{self.line}: {self.severity.value} [{self.rule_id}] {self.message}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-serialisable form, for reports."""
        return {
            "path": self.path,
            "line": self.line,
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
        }


def display_path(path: Path | str) -> str:
    """The path as shown to the user: relative to the cwd when it lies below it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


class ConvertError(Exception):
    """Input that cannot be converted at all (syntax error, not UTF-8, unreadable, ...).

    The engine turns it into a one-line ``file:line: error: cause`` message and exit code 2,
    and leaves the file untouched.
    """

    def __init__(self, path: str, line: int, cause: str) -> None:
        super().__init__(f"{path}:{line}: error: {cause}")
        self.path = path
        self.line = line
        self.cause = cause

    def format(self) -> str:
        """The one-line message shown to the user."""
        return str(self)
