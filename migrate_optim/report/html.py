"""The HTML report: one self-contained page (inline CSS, no scripts or network assets).

Per file, a side-by-side table: the original on the left, the converted text on the right,
aligned by :class:`difflib.SequenceMatcher`. Removed lines carry class ``del``, added lines
``add``, replaced pairs ``chg``; a line a finding points at carries ``finding`` and the rule
id in ``data-rule`` (lines of the converted text: where the TODO comment is). Findings and
verify verdicts are listed above each table.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from html import escape
from typing import Any

from migrate_optim.report import tally_text, verdict_text, verdicts_by_file

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1f2328}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table.sum{border-collapse:collapse}table.sum td,table.sum th{border:1px solid #ccc;padding:2px 8px}
table.sbs{border-collapse:collapse;width:100%;table-layout:fixed;font:12px/1.4 monospace}
table.sbs td{vertical-align:top;white-space:pre-wrap;word-break:break-all;padding:0 4px}
table.sbs td.n{width:3em;color:#888;text-align:right;user-select:none}
td.del{background:#ffebe9}td.add{background:#dafbe1}td.chg{background:#fff8c5}
td.finding{outline:2px solid #d1242f;outline-offset:-2px}
ul.findings li.error{color:#d1242f}ul.findings li.warning{color:#9a6700}
.verdict.equivalent{color:#1a7f37}.verdict.different,.verdict.error{color:#d1242f}
"""


def _rows(before: str, after: str, marks: Mapping[int, list[str]]) -> list[str]:
    old, new = before.split("\n"), after.split("\n")
    if old and old[-1] == "":
        old.pop()
    if new and new[-1] == "":
        new.pop()
    rows: list[str] = []

    def cell(number: int | None, text: str | None, kind: str, side: str) -> str:
        if number is None:
            return '<td class="n"></td><td class="empty"></td>'
        classes = [side] + ([kind] if kind else [])
        extra = ""
        if side == "new" and number in marks:
            classes.append("finding")
            extra = f' data-rule="{escape(" ".join(marks[number]))}"'
        return (
            f'<td class="n">{number}</td>'
            f'<td class="{" ".join(classes)}"{extra}>{escape(text or "")}</td>'
        )

    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                rows.append(
                    cell(i1 + k + 1, old[i1 + k], "", "old")
                    + cell(j1 + k + 1, new[j1 + k], "", "new")
                )
            continue
        left = list(range(i1, i2))
        right = list(range(j1, j2))
        kind_l = "chg" if tag == "replace" else "del"
        kind_r = "chg" if tag == "replace" else "add"
        for k in range(max(len(left), len(right))):
            lcell = (
                cell(left[k] + 1, old[left[k]], "del" if k >= len(right) else kind_l, "old")
                if k < len(left)
                else cell(None, None, "", "old")
            )
            rcell = (
                cell(right[k] + 1, new[right[k]], "add" if k >= len(left) else kind_r, "new")
                if k < len(right)
                else cell(None, None, "", "new")
            )
            rows.append(lcell + rcell)
    return [f"<tr>{r}</tr>" for r in rows]


def render_html(doc: Mapping[str, Any], texts: Mapping[str, tuple[str, str]]) -> str:
    """The report page; ``texts`` maps an input's path to its (before, after) text."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>migrate-optim report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>migrate-optim report</h1>",
    ]
    summary = doc.get("summary")
    if summary:
        heads = "".join(f"<th>{escape(k)}</th>" for k in summary)
        cells = "".join(f"<td>{v}</td>" for v in summary.values())
        out.append(
            f'<table class="sum" id="summary"><tr>{heads}<th>exit code</th></tr>'
            f"<tr>{cells}<td>{doc['exit_code']}</td></tr></table>"
        )
    verify = doc.get("verify")
    if verify:
        out.append(f'<p id="tally">{escape(tally_text(verify["tally"]))}</p>')
    verdicts = verdicts_by_file(doc)
    for index, file in enumerate(doc.get("files", [])):
        if file["status"] == "unchanged" and not file.get("findings"):
            continue
        path = file["path"]
        out.append(
            f'<section class="file {escape(file["status"])}" id="file-{index}" '
            f'data-path="{escape(path)}">'
        )
        out.append(f"<h2>{escape(path)} — {escape(file['status'])}</h2>")
        if file.get("error"):
            out.append(f'<p class="error">{escape(file["error"]["message"])}</p>')
        marks: dict[int, list[str]] = {}
        if file.get("findings"):
            out.append('<ul class="findings">')
            for f in file["findings"]:
                if f["path"] == path:
                    marks.setdefault(f["line"], []).append(f["rule_id"])
                out.append(
                    f'<li class="{escape(f["severity"])}" data-rule="{escape(f["rule_id"])}">'
                    f"{escape(f['path'])}:{f['line']}: {escape(f['severity'])} "
                    f"[{escape(f['rule_id'])}] {escape(f['message'])}</li>"
                )
            out.append("</ul>")
        for report in verdicts.get(path, []):
            status = escape(str(report.get("status")))
            out.append(f'<p class="verdict {status}">verify: {escape(verdict_text(report))}</p>')
        if path in texts:
            before, after = texts[path]
            out.append(
                '<table class="sbs"><colgroup><col style="width:3em"><col>'
                '<col style="width:3em"><col></colgroup>'
                "<tr><th></th><th>before (0.x)</th><th></th><th>after (1.x)</th></tr>"
            )
            out.extend(_rows(before, after, marks))
            out.append("</table>")
        out.append("</section>")
    for line in (verify or {}).get("skipped", []):
        out.append(f'<p class="skipped">not verified: {escape(line)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
