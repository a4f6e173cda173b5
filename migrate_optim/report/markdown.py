"""The Markdown report: short enough for a pull-request comment or a CI step summary.

Totals first, then one section per file that changed, failed or has findings: its findings
(with their rule ids), its verify verdicts and its diff folded in a ``<details>`` block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migrate_optim.report import files_with, tally_text, verdict_text, verdicts_by_file


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside, so a diff never closes it early.
    longest = max((len(run) for run in text.split("\n") if set(run) == {"`"}), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}diff\n{text.rstrip()}\n{ticks}"


def render_markdown(doc: Mapping[str, Any]) -> str:
    """The report as GitHub-flavoured Markdown."""
    lines = ["## migrate-optim report", ""]
    summary = doc.get("summary")
    if summary:
        lines += [
            "| scanned | changed | unchanged | with findings | failed | exit code |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {summary['scanned']} | {summary['changed']} | {summary['unchanged']} | "
            f"{summary['with_findings']} | {summary['failed']} | {doc['exit_code']} |",
            "",
        ]
    verify = doc.get("verify")
    if verify:
        lines += [f"**{tally_text(verify['tally'])}**", ""]
    severities: dict[str, int] = {}
    for finding in doc.get("findings", []):
        severities[finding["severity"]] = severities.get(finding["severity"], 0) + 1
    if severities:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(severities.items()))
        lines += [f"Findings: {counts}.", ""]

    verdicts = verdicts_by_file(doc)
    shown = files_with(doc, ("changed", "failed"))
    shown += [f for f in doc.get("files", []) if f.get("findings") and f not in shown]
    order = {id(f): i for i, f in enumerate(doc.get("files", []))}
    for file in sorted(shown, key=lambda f: order.get(id(f), 0)):
        lines += [f"### `{file['path']}` — {file['status']}", ""]
        if file.get("error"):
            lines += [f"Error: `{_cell(file['error']['message'])}`", ""]
        if file.get("findings"):
            lines += ["| line | severity | id | message |", "|---:|---|---|---|"]
            for f in file["findings"]:
                lines.append(
                    f"| {f['line']} | {f['severity']} | {f['rule_id']} | {_cell(f['message'])} |"
                )
            lines.append("")
        for report in verdicts.get(file["path"], []):
            lines += [f"Verify: {_cell(verdict_text(report))}", ""]
        if file.get("diff"):
            lines += [
                "<details><summary>diff</summary>",
                "",
                _fence(file["diff"]),
                "",
                "</details>",
                "",
            ]
    for report in (verify or {}).get("reports", []):
        path = (report.get("old") or {}).get("path")
        if path not in {f["path"] for f in shown}:
            lines += [f"Verify `{path}`: {_cell(verdict_text(report))}", ""]
    for line in (verify or {}).get("skipped", []):
        lines += [f"Not verified: {_cell(line)}", ""]
    return "\n".join(lines).rstrip() + "\n"
