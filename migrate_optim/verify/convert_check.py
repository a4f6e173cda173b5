"""``convert --verify``: verify every converted config against its original.

The engine converts in memory before it writes anything; :class:`RecordingConverter` wraps the
converter it uses and keeps each input's original and converted text. Afterwards
:func:`verify_conversions` writes two mirror trees into a temporary directory, one with the
original texts and one with the converted ones (files that are not inputs, such as ``_base_``
files outside the run, are copied as they are on disk into both), so that relative ``_base_``
paths resolve exactly as they did. Then every input whose effective config changed (a
converted file, or an unchanged input inheriting from one) is verified, OLD from the original
tree, NEW from the converted tree, with the codebase detected from the file's real path.
"""

from __future__ import annotations

import ast
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate_optim.verify.api import VerifyOptions
from migrate_optim.verify.batch import Pair, verify_many
from migrate_optim.verify.report import VerifyReport

__all__ = ["ConversionCheck", "RecordingConverter", "base_paths", "verify_conversions"]


class RecordingConverter:
    """Wraps a converter and records ``abspath -> (original text, converted text)``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records: dict[str, tuple[str, str]] = {}
        self.stdin_seen = False

    def convert_source(self, source: str, path: Path | None = None) -> Any:
        """Convert through the wrapped converter and remember both texts."""
        result = self.inner.convert_source(source, path)
        if path is None:
            self.stdin_seen = True
        else:
            self.records[os.path.abspath(path)] = (source, result.source)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def base_paths(text: str, path: str) -> list[str]:
    """Absolute paths of the ``_base_`` files a config text names (statically; others skipped)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        if not any(isinstance(t, ast.Name) and t.id == "_base_" for t in node.targets):
            continue
        values = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                base = value.value
                if "::" in base:
                    continue  # a package base: not a file of this tree
                full = os.path.normpath(os.path.join(os.path.dirname(path), base))
                found.append(full)
    return found


@dataclass
class ConversionCheck:
    """The verification of one run: one report per verified input, plus what was skipped."""

    reports: list[VerifyReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """2 if any verification errored, else 1 if any pair differs, else 0.

        An ``unsupported`` pair (a codebase verify does not model) is listed but gives no
        verdict either way, like a skipped one.
        """
        codes = [r.exit_code for r in self.reports if r.status != "unsupported"]
        if 2 in codes:
            return 2
        return 1 if 1 in codes else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the reports and the skipped inputs."""
        return {
            "exit_code": self.exit_code,
            "reports": [r.to_dict() for r in self.reports],
            "skipped": list(self.skipped),
        }


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _closure(records: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """Every file the recorded inputs reach through ``_base_``: abspath -> (old, new) text."""
    files = dict(records)
    queue = list(records)
    while queue:
        path = queue.pop()
        old, new = files[path]
        for base in dict.fromkeys(base_paths(old, path) + base_paths(new, path)):
            if base in files:
                continue
            text = _read(base)
            if text is None:
                continue  # a missing base: loading reports it
            files[base] = (text, text)
            queue.append(base)
    return files


def _affected(records: dict[str, tuple[str, str]], files: dict[str, tuple[str, str]]) -> list[str]:
    """Recorded inputs whose text changed or that inherit (transitively) from a changed file."""
    changed = {p for p, (old, new) in records.items() if old != new}
    memo: dict[str, bool] = {}

    def touched(path: str, seen: tuple[str, ...] = ()) -> bool:
        if path in memo:
            return memo[path]
        if path in seen or path not in files:
            return False
        old, new = files[path]
        result = path in changed or any(
            touched(b, (*seen, path)) for b in base_paths(old, path) + base_paths(new, path)
        )
        memo[path] = result
        return result

    return [p for p in records if touched(p)]


def _write_tree(root: str, files: dict[str, tuple[str, str]], anchor: str, which: int) -> None:
    for path, texts in files.items():
        dest = os.path.join(root, os.path.relpath(path, anchor))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w", encoding="utf-8") as fh:
            fh.write(texts[which])


def verify_conversions(
    records: dict[str, tuple[str, str]],
    options: VerifyOptions | None = None,
    *,
    names: dict[str, str] | None = None,
    stdin_seen: bool = False,
    jobs: int | None = None,
) -> ConversionCheck:
    """Verify each affected input of a conversion run (see the module docstring)."""
    options = options or VerifyOptions(device="cpu")
    check = ConversionCheck()
    if stdin_seen:
        check.skipped.append("<stdin>: not verified (no file to resolve _base_ from)")
    if not records:
        return check
    files = _closure(records)
    targets = _affected(records, files)
    anchor = os.path.commonpath([os.path.dirname(p) for p in files])
    with tempfile.TemporaryDirectory(prefix="migrate-optim-verify-") as tmp:
        old_root, new_root = os.path.join(tmp, "old"), os.path.join(tmp, "new")
        _write_tree(old_root, files, anchor, 0)
        _write_tree(new_root, files, anchor, 1)
        pairs = []
        for path in targets:
            rel = os.path.relpath(path, anchor)
            shown = (names or {}).get(path) or _display(path)
            extra = {"detect_path": path, "old_name": shown, "new_name": f"{shown} (converted)"}
            pairs.append(
                Pair(os.path.join(old_root, rel), os.path.join(new_root, rel), extra)
            )
        # forked per pair, torch imported once (verify/batch.py); reports in target order
        for pair, report in zip(pairs, verify_many(pairs, options, jobs=jobs)):
            shown = pair.extra["old_name"]
            if report.error:
                # Name the real files, not their temporary copies.
                for root in (old_root, new_root):
                    report.error = report.error.replace(root + os.sep, anchor + os.sep)
            if report.status == "skipped":
                check.skipped.append(f"{shown}: not verified: {report.error}")
            else:
                check.reports.append(report)
    return check


def _display(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def format_check(check: ConversionCheck) -> Iterable[tuple[str, str]]:
    """``(text, style)`` lines for the terminal: verdicts, differences, skipped inputs."""
    for report in check.reports:
        if report.status == "error":
            yield f"verify: {report.old_path}: error: {report.error}", "red"
            continue
        if report.status == "unsupported":
            yield f"verify: {report.old_path}: unsupported: {report.error}", "yellow"
            continue
        style = "red" if report.differences else "green"
        yield f"verify: {report.summary_line()}", style
        for diff in report.differences:
            yield f"  - [{diff.kind}] {diff.message}", "red"
    for line in check.skipped:
        yield f"verify: skipped {line}", "dim"
