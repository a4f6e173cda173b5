"""How ``convert`` talks while and after it runs: GitHub annotations, the progress bar and
findings streamed as files finish.

Kept apart from :mod:`migrate_optim.cli` so the command stays a list of options.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from migrate_optim.convert.engine import RunObserver
from migrate_optim.convert.findings import ConvertError, Finding

#: a run over fewer inputs than this finishes before a bar would be any use
PROGRESS_MIN_FILES = 20

_LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(severity: str, path: str, line: int, title: str, message: str) -> str:
    """One GitHub Actions workflow command (``::error file=F,line=L,title=T::message``)."""
    level = _LEVELS.get(severity, "notice")
    return (
        f"::{level} file={_escape_property(path)},line={line},"
        f"title={_escape_property(title)}::{_escape_data(message)}"
    )


def finding_annotation(finding: Finding) -> str:
    """A finding as a GitHub annotation titled with its rule id."""
    return github_annotation(
        finding.severity.value, finding.path, finding.line, finding.rule_id, finding.message
    )


def error_annotation(error: ConvertError) -> str:
    """A bad-input error as a GitHub annotation."""
    return github_annotation("error", error.path, error.line, "migrate-optim", error.cause)


def progress_wanted(console: Console, *, quiet: bool, machine_output: bool) -> bool:
    """A bar only for a person at a terminal: not with -q, NO_COLOR, --json or annotations."""
    if quiet or machine_output or "NO_COLOR" in os.environ:
        return False
    return console.is_terminal


class ProgressObserver(RunObserver):
    """A rich progress bar over the inputs, with each file's findings printed as it finishes.

    The bar appears only for :data:`PROGRESS_MIN_FILES` inputs or more; findings are streamed
    either way, once each (a finding a child repeats from its base is not printed twice).
    """

    def __init__(self, console: Console, min_files: int = PROGRESS_MIN_FILES) -> None:
        self.console = console
        self.min_files = min_files
        self.progress: Progress | None = None
        self.task: int | None = None
        self.seen: set[tuple[object, ...]] = set()

    def started(self, total: int) -> None:
        """Show the bar for a run of ``total`` inputs, if it is long enough."""
        if total < self.min_files:
            return
        self.progress = Progress(
            TextColumn("converting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("", total=total)

    def converted(self, name: str, findings: Sequence[Finding], error: ConvertError | None) -> None:
        """Print the file's new findings above the bar and advance it."""
        for f in findings:
            key = (f.path, f.line, f.rule_id, f.severity, f.message)
            if key in self.seen:
                continue
            self.seen.add(key)
            self.console.print(f.format(), markup=False, highlight=False)
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, advance=1, description=name)

    def close(self) -> None:
        """Remove the bar (before the summary is printed)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
