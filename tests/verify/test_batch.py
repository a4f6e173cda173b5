"""Batch verify (issue 10): ``verify --pairs FILE`` and :func:`verify_many` give, in the given
order, the report a single ``verify`` of each pair gives; a crash or hang stays in its pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate_optim.cli import main
from migrate_optim.verify.api import VerifyOptions, verify_files
from migrate_optim.verify.batch import Pair, PairsFileError, read_pairs, verify_many

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "verify"
SGD_OLD, SGD_NEW = str(FIXTURES / "sgd_0x.py"), str(FIXTURES / "sgd_1x.py")
OPTIONS = VerifyOptions(device="cpu", steps=4)


def test_read_pairs() -> None:
    lines = ["# comment\n", "\n", "a.py  b.py\n", "  c.py\td.py  \n"]
    assert read_pairs(lines) == [Pair("a.py", "b.py"), Pair("c.py", "d.py")]
    with pytest.raises(PairsFileError, match=r"list:2: expected 'OLD NEW'"):
        read_pairs(["a.py b.py\n", "a.py\n"], "list")


def test_reports_in_order_and_as_single_verify(tmp_path) -> None:
    lr = tmp_path / "lr_1x.py"
    lr.write_text(Path(SGD_NEW).read_text().replace("lr=0.01", "lr=0.02"))
    pairs = [
        Pair(SGD_OLD, SGD_NEW),
        Pair(SGD_OLD, str(tmp_path / "missing.py")),
        Pair(SGD_OLD, str(lr)),
        Pair(SGD_OLD, SGD_NEW, {"old_name": "old", "new_name": "new"}),
    ]
    got = [r.to_dict() for r in verify_many(pairs, OPTIONS, jobs=2)]
    want = [verify_files(p.old, p.new, OPTIONS, **p.extra).to_dict() for p in pairs]
    assert got == want
    assert [r["status"] for r in got] == ["equivalent", "error", "different", "equivalent"]
    assert got[3]["old"]["path"] == "old"


def test_a_crash_or_hang_is_that_pairs_error(tmp_path) -> None:
    crash = tmp_path / "crash.py"
    crash.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(600)\n")
    pairs = [Pair(str(crash), SGD_NEW), Pair(str(hang), SGD_NEW), Pair(SGD_OLD, SGD_NEW)]
    reports = list(verify_many(pairs, OPTIONS, jobs=3, timeout=20))
    assert [r.status for r in reports] == ["error", "error", "equivalent"]
    assert "crashed (killed by signal SIGKILL)" in reports[0].error
    assert reports[0].old_path == str(crash)
    assert "timed out after 20 s" in reports[1].error


def test_cli_pairs_json_lines_and_exit_code(tmp_path) -> None:
    listing = tmp_path / "pairs.txt"
    listing.write_text(f"{SGD_OLD} {SGD_NEW}\n{SGD_OLD} {tmp_path / 'missing.py'}\n")
    result = CliRunner().invoke(
        main, ["verify", "--pairs", str(listing), "--json", "--steps", "4", "-j", "2"]
    )
    lines = result.stdout.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 2
    single = CliRunner().invoke(main, ["verify", SGD_OLD, SGD_NEW, "--json", "--steps", "4"])
    assert json.loads(lines[0]) == json.loads(single.stdout)
    assert json.loads(lines[1])["status"] == "error"


@pytest.mark.parametrize(
    "args",
    [["verify"], ["verify", "a.py"], ["verify", "a.py", "b.py", "--pairs", "-"]],
)
def test_cli_needs_old_new_or_pairs(args) -> None:
    result = CliRunner().invoke(main, args, input="")
    assert result.exit_code == 2
    assert "give OLD NEW, or --pairs FILE" in result.output
