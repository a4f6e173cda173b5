"""The README's finding table is the catalogue's (both ways), and it shows the CI test command."""

from __future__ import annotations

import re
from pathlib import Path

from migrate_optim.convert.findings import FindingId, findings_table, with_findings_table

ROOT = Path(__file__).resolve().parent.parent


def readme_rows(readme: str) -> list[str]:
    """The id of every row of the README's finding table, duplicates kept."""
    return re.findall(r"^\| (MO\d{3}) \|", readme, flags=re.M)


def slugs(readme: str) -> set[str]:
    """GitHub's anchors of the README's headings."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", readme, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_readme_finding_table_is_the_catalogue_both_ways() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = readme_rows(readme)
    catalogue = [fid.value for fid in FindingId]
    assert len(rows) == len(set(rows)), f"README rows repeat an id: {sorted(rows)}"
    assert set(catalogue) - set(rows) == set(), "ids missing from the README table"
    assert set(rows) - set(catalogue) == set(), "README documents ids no rule emits"
    # the whole table, as `python -m migrate_optim.convert.findings` writes it
    assert findings_table() in readme, "regenerate: python -m migrate_optim.convert.findings"


def test_every_catalogue_docs_section_exists() -> None:
    for fid in FindingId:
        page, _, anchor = fid.docs.partition("#")
        assert page == "README.md" or page.startswith("docs/"), f"{fid}: {fid.docs}"
        path = ROOT / page
        assert path.is_file(), f"{fid}: no page {page}"
        assert not anchor or anchor in slugs(path.read_text(encoding="utf-8")), (
            f"{fid}: no section {fid.docs}"
        )


def test_findings_point_to_the_docs_page_of_their_semantics() -> None:
    # only the conversion machinery's ids are explained by the README itself
    in_readme = {fid.value for fid in FindingId if fid.docs.startswith("README.md")}
    assert in_readme <= {"MO001"}, in_readme


def test_regenerating_the_table_fixes_a_stale_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stale = readme.replace("| MO110 |", "| MO199 |")
    assert set(readme_rows(stale)) - {fid.value for fid in FindingId} == {"MO199"}
    assert with_findings_table(stale) == readme


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line for line in quick.splitlines() if line.strip() and not line.startswith("bash")]
    assert len(commands) == 2
    test_command = commands[1].replace("pip install", "pip install -q")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.split(" && ")[0] in ci
    assert "python -m pytest" in ci
