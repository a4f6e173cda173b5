"""The finding catalogue (:class:`FindingId`) is the only place ids are defined, each id is
emitted by the rule the catalogue names, and ``--select/--ignore`` filter by it."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

import migrate_optim
from migrate_optim.convert.findings import Finding, FindingFilter, FindingId, Severity
from migrate_optim.convert.rules import rules

PACKAGE = Path(migrate_optim.__file__).parent
CATALOGUE = PACKAGE / "convert" / "findings.py"
ID = re.compile(r"MO\d{3}")


def catalogue_codes(source: str) -> list[str]:
    """The code of every member as written in the catalogue's source (duplicates kept)."""
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "FindingId")
    codes = []
    for node in cls.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            first = node.value.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                codes.append(first.value)
    return codes


def duplicates(codes: list[str]) -> list[str]:
    """Codes that occur more than once."""
    return sorted(code for code, n in Counter(codes).items() if n > 1)


def test_catalogue_codes_are_unique_and_well_formed() -> None:
    codes = catalogue_codes(CATALOGUE.read_text(encoding="utf-8"))
    assert codes == [fid.value for fid in FindingId]  # the parse sees every member
    assert duplicates(codes) == []
    assert all(ID.fullmatch(code) for code in codes), codes


def test_the_duplicate_check_catches_a_repeated_code() -> None:
    source = CATALOGUE.read_text(encoding="utf-8").replace(
        '"MO102", "optimizer_hook"', '"MO101", "optimizer_hook"'
    )
    assert duplicates(catalogue_codes(source)) == ["MO101"]


def test_every_member_has_a_known_rule_docs_and_severities() -> None:
    owners = {m.__name__.rsplit(".", 1)[1] for m in rules()} | {"core"}
    for fid in FindingId:
        assert fid.rule in owners, f"{fid}: rule {fid.rule!r} is not a rule module"
        assert fid.severities and set(fid.severities) <= set(Severity), fid
        assert fid.docs.startswith(("README.md#", "docs/")), fid
        assert fid.meaning and "\n" not in fid.meaning and "|" not in fid.meaning, fid


def _string_ids(path: Path) -> list[str]:
    """Finding ids written as string constants (docstrings mention ids in prose: skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ID.fullmatch(node.value)
    ]


def test_no_finding_id_is_written_outside_the_catalogue() -> None:
    found = [s for p in sorted(PACKAGE.rglob("*.py")) if p != CATALOGUE for s in _string_ids(p)]
    assert found == [], "define finding ids in convert/findings.py only:\n" + "\n".join(found)


def _module_path(rule: str) -> Path:
    if rule == "core":
        return PACKAGE / "convert" / "core.py"
    return PACKAGE / "convert" / "rules" / f"{rule}.py"


def _references(path: Path) -> set[str]:
    """The ``FindingId`` members a module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "FindingId"
    }


def test_every_id_is_emitted_by_the_rule_that_owns_it() -> None:
    # a rule's private helper modules (rules/_*.py) emit on its behalf
    helpers = set().union(*(_references(p) for p in (PACKAGE / "convert" / "rules").glob("_?*.py")))
    for fid in FindingId:
        named = _references(_module_path(fid.rule)) | helpers
        assert fid.name in named, f"{fid} ({fid.name}) is never emitted by {fid.rule}"
    everywhere = set().union(*(_references(p) for p in PACKAGE.rglob("*.py") if p != CATALOGUE))
    assert everywhere <= {fid.name for fid in FindingId}


# ---- --select / --ignore ---------------------------------------------------------------------


def _shown(select: str | None, ignore: str | None) -> list[str]:
    only = FindingFilter.parse(select, ignore)
    return [fid.value for fid in FindingId if only.shows(fid)]


ALL = [fid.value for fid in FindingId]


@pytest.mark.parametrize(
    ("select", "ignore", "expected"),
    [
        (None, None, ALL),
        ("MO2", None, [c for c in ALL if c.startswith("MO2")]),
        ("MO101,MO209", None, ["MO101", "MO209"]),
        (" mo101 , ", None, ["MO101"]),  # case and blanks as ruff accepts them
        (None, "MO1", [c for c in ALL if not c.startswith("MO1")]),
        (None, "ALL", []),
        ("ALL", "MO2", [c for c in ALL if not c.startswith("MO2")]),
        # the more specific prefix wins, whichever option holds it
        ("MO2", "MO20", []),
        ("MO207", "MO2", ["MO207"]),
        ("MO1", "MO10", ["MO110", "MO111"]),
        ("MO1,MO0", "MO10,MO001", ["MO110", "MO111"]),
        ("MO105", "MO105", []),  # a tie: ignore wins
    ],
)
def test_select_and_ignore_follow_ruff(
    select: str | None, ignore: str | None, expected: list[str]
) -> None:
    assert _shown(select, ignore) == expected


@pytest.mark.parametrize("bad", ["MO9", "E501", "MO1011", "X"])
def test_an_unknown_code_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=f"unknown finding id or prefix '{bad}'"):
        FindingFilter.parse(None, f"MO101,{bad}")


def test_a_filter_keeps_findings_in_order() -> None:
    findings = [
        Finding("a.py", 3, FindingId.GAN_EMA, Severity.WARNING, "x"),
        Finding("a.py", 1, FindingId.PARAMWISE, Severity.INFO, "y"),
        Finding("b.py", 2, FindingId.ENGINE, Severity.ERROR, "z"),
    ]
    assert FindingFilter.parse("MO1,MO0", None).apply(findings) == findings[1:]
    assert not FindingFilter()
    assert not FindingFilter.parse("", " , ")  # empty options filter nothing
