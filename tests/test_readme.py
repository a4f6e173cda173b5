"""The README documents every finding id the converter can emit, and shows the CI test command."""

from __future__ import annotations

import re
from pathlib import Path

import migrate_optim

ROOT = Path(__file__).resolve().parent.parent


def ids_in_code() -> set[str]:
    found: set[str] = set()
    for path in Path(migrate_optim.__file__).parent.joinpath("convert").rglob("*.py"):
        found |= set(re.findall(r'"(MO\d{3})"', path.read_text(encoding="utf-8")))
    return found


def test_every_finding_id_has_a_row_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| (MO\d{3}) \|", readme, flags=re.M))
    code = ids_in_code()
    assert code, "no finding ids found in the converter"
    assert code - rows == set(), f"undocumented finding ids: {sorted(code - rows)}"
    assert rows - code == set(), f"README documents ids the code never emits: {sorted(rows - code)}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line for line in quick.splitlines() if line.strip() and not line.startswith("bash")]
    assert len(commands) == 2
    test_command = commands[1].replace("pip install", "pip install -q")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command.split(" && ")[0] in ci
    assert "python -m pytest" in ci
