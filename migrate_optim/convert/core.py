"""Converting one config's source text: static reading of its _base_ chain, the rules, emission.

The engine (file discovery, modes, writes) calls :class:`Converter`; everything here is pure
text-in/text-out and never executes a config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from migrate_optim.convert.findings import Finding

CODEBASES = ("mmdet", "mmseg", "mmcls", "mmgen", "mmedit")


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


class Converter:
    """Converts configs; caches the parsed original text of every file it reads as a base.

    Convert every file of a run before writing any of them: a child's ``_base_`` files must be
    read in their original (0.x) form.
    """

    def __init__(self, options: ConvertOptions | None = None) -> None:
        self.options = options or ConvertOptions()

    def convert_source(self, source: str, path: Path | None = None) -> ConvertResult:
        """Convert one config's text; ``path`` locates its ``_base_`` files (None for stdin).

        Raises :class:`~migrate_optim.convert.findings.ConvertError` for input that cannot be
        parsed.
        """
        return ConvertResult(path=path, original=source, source=source)
