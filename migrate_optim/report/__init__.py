"""One document for a whole run, and its renderings: JSON (``--json``), Markdown and HTML
(``--report PATH``).

Every command (``convert``, ``convert --verify``, ``verify``) describes its outcome with the
same document, :func:`run_document`, named by :data:`SCHEMA` and :data:`SCHEMA_VERSION`:

* ``command``, ``mode``, ``exit_code``;
* ``summary`` (files scanned / changed / unchanged / with findings / failed), ``files`` (one
  entry per input: status, where it was written, its error, findings, ``-v`` decisions, and the
  unified diff of a changed file), ``findings`` (every finding once), ``copied``,
  ``copy_errors``;
* ``verify``: ``None`` when nothing was verified, else ``tally`` (equivalent, different,
  could_not_verify, not_applicable), ``reports`` (one :meth:`VerifyReport.to_dict` each) and
  ``skipped`` (inputs with nothing to verify, with why).

The Markdown and HTML renderings live in :mod:`.markdown` and :mod:`.html`; both read only the
document plus, for HTML, the before/after texts; :mod:`.write` picks one by the file's suffix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA = "migrate-optim.run"
SCHEMA_VERSION = 1

#: verify statuses that mean "the pair could not be verified" (not bad input)
NOT_VERIFIED_STATUSES = ("error", "unsupported")


def verify_tally(reports: Sequence[Mapping[str, Any]], skipped: Sequence[str] = ()) -> dict:
    """How many verified pairs were equivalent, different, or could not be verified."""
    statuses = [r.get("status") for r in reports]
    return {
        "equivalent": statuses.count("equivalent"),
        "different": statuses.count("different"),
        "could_not_verify": sum(s in NOT_VERIFIED_STATUSES for s in statuses),
        "not_applicable": len(skipped) + statuses.count("skipped"),
    }


def tally_text(tally: Mapping[str, int]) -> str:
    """The closing line of ``convert --verify``."""
    text = (
        f"verify summary: {tally['equivalent']} equivalent, {tally['different']} different, "
        f"{tally['could_not_verify']} could not verify"
    )
    if tally.get("not_applicable"):
        text += f", {tally['not_applicable']} with nothing to verify"
    return text


def verify_section(
    reports: Sequence[Mapping[str, Any]], skipped: Sequence[str] = ()
) -> dict[str, Any]:
    """The document's ``verify`` entry."""
    return {
        "tally": verify_tally(reports, skipped),
        "reports": list(reports),
        "skipped": list(skipped),
    }


def run_document(
    command: str,
    exit_code: int,
    run: Any | None = None,
    verify: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's document (see the module docstring); ``run`` is an engine ``RunReport``."""
    from migrate_optim.convert.engine import unified_diff

    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "mode": None,
        "exit_code": int(exit_code),
        "summary": None,
        "files": [],
        "findings": [],
        "copied": [],
        "copy_errors": [],
        "verify": dict(verify) if verify is not None else None,
    }
    if run is not None:
        data = run.to_dict()
        for entry, file in zip(data["files"], run.files, strict=True):
            changed = file.before is not None and file.after is not None
            if changed and file.before != file.after and "diff" not in entry:
                entry["diff"] = unified_diff(file.before, file.after, file.path)
        for key in ("mode", "summary", "files", "findings", "copied", "copy_errors"):
            doc[key] = data[key]
    return doc


def texts_of(run: Any | None) -> dict[str, tuple[str, str]]:
    """``path -> (before, after)`` for every input that was read (for the HTML view)."""
    if run is None:
        return {}
    return {
        f.path: (f.before, f.after)
        for f in run.files
        if f.before is not None and f.after is not None
    }


def verdicts_by_file(doc: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """The verify reports of the document grouped by the input they verified."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for report in (doc.get("verify") or {}).get("reports", []):
        path = (report.get("old") or {}).get("path") or ""
        out.setdefault(path, []).append(report)
    return out


def verdict_text(report: Mapping[str, Any]) -> str:
    """One line for a verify report: the verdict and, if any, the first reason."""
    status = report.get("status")
    if status == "equivalent":
        return f"equivalent ({report.get('steps')} steps)"
    if status == "different":
        diffs = report.get("differences") or []
        first = diffs[0]["message"] if diffs else ""
        return f"different: {len(diffs)} difference{'s' * (len(diffs) != 1)}; {first}".rstrip("; ")
    return f"could not verify: {report.get('error')}"


def report_suffix_ok(path: Path) -> bool:
    """Whether ``path`` names a report format this module writes."""
    return path.suffix.lower() in (".md", ".markdown", ".html", ".htm")


def files_with(doc: Mapping[str, Any], statuses: Iterable[str]) -> list[Mapping[str, Any]]:
    """The document's file entries whose status is one of ``statuses``."""
    wanted = set(statuses)
    return [f for f in doc.get("files", []) if f.get("status") in wanted]
