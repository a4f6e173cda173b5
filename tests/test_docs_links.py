"""Every ``docs/...md#anchor`` the package, the README and the docs cite exists.

Anchors are GitHub's heading slugs: lower case, punctuation other than ``-`` and ``_`` dropped,
spaces turned into ``-``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CITED = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")
#: citations of the spec or the research notes outside the repository: "spec §3.2", "spec
#: section 3.3", "(spec 5.3)", "research note Q3", "note Q4"
STALE = re.compile(r"\b[Ss]pec (?:§|sections? \d|\d)|\bresearch note|\bnote Q\d")
LINK = re.compile(r"\]\(([\w.-]+\.md)?(?:#([\w-]+))?\)")


def slug(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", page.read_text(), re.M)}


def citations() -> list[tuple[str, str, str | None]]:
    """(where, page, anchor) for every citation of a docs page."""
    found = []
    sources = [ROOT / "README.md", *sorted((ROOT / "migrate_optim").rglob("*.py"))]
    for path in sources:
        for m in CITED.finditer(path.read_text()):
            found.append((str(path.relative_to(ROOT)), m.group(1), m.group(2)))
    for page in sorted(DOCS.glob("*.md")):
        for m in LINK.finditer(page.read_text()):
            found.append((str(page.relative_to(ROOT)), m.group(1) or page.name, m.group(2)))
    return found


def test_slug_follows_github():
    assert slug("Top-level fp16 per codebase") == "top-level-fp16-per-codebase"
    assert slug("`custom_keys` options") == "custom_keys-options"
    assert slug("Runner, fp16 and totals") == "runner-fp16-and-totals"


def test_every_page_is_in_the_index():
    index = (DOCS / "README.md").read_text()
    for page in DOCS.glob("*.md"):
        assert page.name == "README.md" or f"]({page.name})" in index


@pytest.mark.parametrize(("where", "page", "anchor"), citations())
def test_citation_resolves(where, page, anchor):
    target = DOCS / page
    assert target.is_file(), f"{where}: docs/{page} does not exist"
    if anchor:
        assert anchor in anchors(target), f"{where}: docs/{page} has no heading #{anchor}"


def test_the_package_and_readme_cite_docs_not_the_spec():
    cited = {page for where, page, _ in citations() if not where.startswith("docs/")}
    assert "README.md" in cited  # the README links the index
    assert {"optimizers.md", "optimizer-hooks.md", "fp16.md", "paramwise.md", "gan.md"} <= cited
    for path in [ROOT / "README.md", *(ROOT / "migrate_optim").rglob("*.py")]:
        text = path.read_text()
        for stale in ("shared/spec", "semantics.md", "§", "research note", "research/"):
            assert stale not in text, f"{path.relative_to(ROOT)} cites {stale!r}"
        stale = STALE.search(text)
        assert stale is None, f"{path.relative_to(ROOT)} cites {stale.group()!r}"


def test_the_stale_citation_pattern():
    for cited in ("spec §3.2", "Spec §1.4", "spec section 3.3", "spec sections 3.2", "(spec 5.3)",
                  "research note Q3", "note Q4"):
        assert STALE.search(cited), cited
    for fine in ("hook_spec(hook_type)", "the spec of a hook", "spec.args", "a note: Q"):
        assert not STALE.search(fine), fine
