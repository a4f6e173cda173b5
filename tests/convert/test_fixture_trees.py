"""Whole trees under tests/fixtures/convert/<codebase>_tree: ``before/`` converts to ``after/``
file by file, a second run changes nothing, and MMEngine loads every converted config with the
settings the oracle derives from its 0.x self."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.convert.helpers import assert_equivalent, assert_idempotent, convert_tree

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "convert"
TREES = {"mmdet_tree": "mmdet", "mmseg_tree": "mmseg", "mmcls_tree": "mmcls"}


def files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.py"))}


@pytest.mark.parametrize("name", sorted(TREES))
def test_fixture_tree(name, tmp_path):
    before, after = FIXTURES / name / "before", FIXTURES / name / "after"
    root = tmp_path / "configs"
    shutil.copytree(before, root)
    result = convert_tree(root)
    assert files(root) == files(after)
    assert result.changed(), "the fixture exercises conversions"
    assert_idempotent(root)
    compared = assert_equivalent(before, root, TREES[name])
    assert compared >= len(files(before)) - 1  # all but deliberately unconvertible ones
