"""Tests of the ``migrate-optim`` command line (CliRunner and a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate_optim.cli import main
from migrate_optim.convert import engine
from tests.convert.test_engine import NEW, OLD, FakeConverter, write

ROOT = Path(__file__).resolve().parents[1]


class RecordingConverter(FakeConverter):
    """The fake converter, remembering the options each instance was built with."""

    built: list = []

    def __init__(self, options=None) -> None:
        super().__init__(options)
        RecordingConverter.built.append(self.options)


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    RecordingConverter.built = []
    monkeypatch.setattr(engine, "Converter", RecordingConverter)
    return tmp_path


def cli(*args, input=None):
    return CliRunner().invoke(main, ["convert", *args], input=input)


def test_help_documents_the_exit_codes():
    for args in (["--help"], ["convert", "--help"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0
        assert "  0  done, nothing to do, or equivalent" in result.output
        assert "  1  changes needed (--check, --diff), findings at --fail-on" in result.output
        assert "  2  bad input or options: some input could not be handled" in result.output
        assert "  3  could not verify" in result.output


def test_convert_in_place(cwd):
    write(cwd / "c/a.py", OLD)
    write(cwd / "c/b.py", "x = 1\n")
    result = cli("c")
    assert result.exit_code == 0
    assert (cwd / "c/a.py").read_text() == NEW
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "converted c/a.py",
        "2 files scanned: 1 changed, 1 unchanged, 0 with findings, 0 failed",
    ]
    assert RecordingConverter.built[0].codebase is None


def test_check_mode(cwd):
    write(cwd / "a.py", OLD)
    result = cli("--check", "a.py")
    assert result.exit_code == 1
    assert (cwd / "a.py").read_text() == OLD
    assert result.stderr.splitlines() == [
        "would convert a.py",
        "1 file scanned: 1 would change, 0 unchanged, 0 with findings, 0 failed",
    ]
    write(cwd / "a.py", NEW)
    assert cli("--check", "a.py").exit_code == 0


@pytest.mark.parametrize("flags", [["--diff"], ["--diff", "--check"]])
def test_diff_mode(cwd, flags):
    write(cwd / "a.py", OLD)
    result = cli(*flags, "a.py")
    assert result.exit_code == 1
    assert result.stdout == f"--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-{OLD}+{NEW}"
    assert (cwd / "a.py").read_text() == OLD


def test_out_dir_mode(cwd):
    write(cwd / "c/_base_/b.py", "x = 1\n")
    write(cwd / "c/d/a.py", "_base_ = '../_base_/b.py'\n" + OLD)
    result = cli("--out-dir", "out", "c/d")
    assert result.exit_code == 0, result.output
    assert (cwd / "out/d/a.py").read_text() == "_base_ = '../_base_/b.py'\n" + NEW
    assert (cwd / "out/_base_/b.py").read_text() == "x = 1\n"
    assert (cwd / "c/d/a.py").read_text() == "_base_ = '../_base_/b.py'\n" + OLD
    assert result.stderr.splitlines() == [
        "converted c/d/a.py -> out/d/a.py",
        "1 file scanned: 1 changed, 0 unchanged, 0 with findings, 0 failed; 1 other file copied",
    ]


@pytest.mark.parametrize("flag", ["--diff", "--check"])
def test_out_dir_excludes_diff_and_check(cwd, flag):
    write(cwd / "a.py", OLD)
    result = cli("--out-dir", "out", flag, "a.py")
    assert result.exit_code == 2
    assert "--out-dir cannot be combined with --diff or --check" in result.stderr
    assert not (cwd / "out").exists()


def test_bad_input_is_one_line_and_the_rest_is_converted(cwd):
    write(cwd / "a.py", OLD)
    write(cwd / "bad.py", b"x = 1\ny = '\xff'\n")
    write(cwd / "z.py", OLD)
    long_dir = "d" * 120
    write(cwd / long_dir / "e.py", b"x = (\n")
    result = cli(".", "missing.py")
    assert result.exit_code == 2
    assert (cwd / "a.py").read_text() == NEW and (cwd / "z.py").read_text() == NEW
    assert (cwd / "bad.py").read_bytes() == b"x = 1\ny = '\xff'\n"
    assert result.stderr.splitlines() == [
        "converted a.py",
        "bad.py:2: error: not valid UTF-8: byte 0xff at column 6",
        # One line whatever the terminal width.
        f"{long_dir}/e.py:1: error: syntax error: '(' was never closed",
        "converted z.py",
        "missing.py:1: error: no such file or directory",
        "5 files scanned: 2 changed, 0 unchanged, 0 with findings, 3 failed",
    ]


def test_failure_beats_changes_in_check_mode(cwd):
    write(cwd / "a.py", OLD)
    assert cli("--check", "a.py", "missing.py").exit_code == 2


def test_findings_print_with_their_rule_id(cwd):
    write(cwd / "a.py", "x = 1  # FINDING [not markup] :smile:\n")
    result = cli("a.py")
    assert result.exit_code == 0
    assert "a.py:1: warning [fake-rule] kept as it was" in result.stderr.splitlines()
    assert "1 with findings" in result.stderr


def test_quiet_prints_only_errors(cwd):
    write(cwd / "a.py", OLD + "x = 1  # FINDING\n")
    result = cli("-q", "a.py", "nope.py")
    assert result.exit_code == 2
    assert result.stderr == "nope.py:1: error: no such file or directory\n"
    assert (cwd / "a.py").read_text() == NEW + "x = 1  # FINDING\n"


def test_stdin_to_stdout(cwd):
    result = cli("-", input=OLD.encode())
    assert result.exit_code == 0
    assert result.stdout == NEW
    assert RecordingConverter.built and cli("--check", "-", input=OLD).exit_code == 1
    bad = cli("-", input=b"\0")
    assert (bad.exit_code, bad.stdout) == (2, "")
    assert bad.stderr.splitlines()[0] == "<stdin>:1: error: binary file: NUL byte at column 1"


def test_json_report(cwd):
    write(cwd / "a.py", OLD + "x = 1  # FINDING\n")
    write(cwd / "b.py", b"x = (\n")
    result = cli("--json", "--diff", "a.py", "b.py")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["summary"] == {
        "scanned": 2,
        "changed": 1,
        "unchanged": 0,
        "with_findings": 1,
        "failed": 1,
    }
    assert data["files"][0]["diff"].startswith("--- a/a.py\n+++ b/a.py\n")
    assert data["files"][1]["error"]["message"] == (
        "b.py:1: error: syntax error: '(' was never closed"
    )
    assert data["findings"] == [
        {
            "path": "a.py",
            "line": 2,
            "rule_id": "fake-rule",
            "severity": "warning",
            "message": "kept as it was",
        }
    ]
    # Errors still reach stderr; the summary does not.
    assert result.stderr == "b.py:1: error: syntax error: '(' was never closed\n"


def test_json_with_stdin_output_is_refused(cwd):
    result = cli("--json", "-", input=OLD)
    assert result.exit_code == 2
    assert "--json needs stdout" in result.stderr


def test_codebase_option(cwd):
    write(cwd / "a.py", OLD)
    assert cli("--codebase", "mmseg", "a.py").exit_code == 0
    assert RecordingConverter.built[-1].codebase == "mmseg"
    bad = cli("--codebase", "mmfoo", "a.py")
    assert bad.exit_code == 2 and "mmfoo" in bad.stderr


def test_verify_without_the_extra_fails_before_writing(cwd, monkeypatch):
    write(cwd / "a.py", OLD)
    # None in sys.modules makes the import fail, as it does without the extra.
    monkeypatch.setitem(sys.modules, "migrate_optim.verify.api", None)
    result = cli("--verify", "a.py")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --verify requires the verify extra (pip install 'migrate-optim[verify]')"
    )
    assert (cwd / "a.py").read_text() == OLD


def test_verify_with_the_extra_does_not_ask_for_it(cwd, monkeypatch):
    import types

    write(cwd / "a.py", OLD)
    monkeypatch.setitem(sys.modules, "migrate_optim.verify.api", types.ModuleType("api"))
    result = cli("--verify", "a.py")
    assert "requires the verify extra" not in result.stderr


def _subprocess(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_convert_in_a_real_process_does_not_import_torch(tmp_path):
    write(tmp_path / "a.py", "x = 1\n")
    write(tmp_path / "bad.py", "x = (\n")
    proc = _subprocess("-X", "importtime", "-m", "migrate_optim.cli", "convert", ".", cwd=tmp_path)
    assert proc.returncode == 2
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "migrate_optim.convert.engine" in imported  # the import log is read right
    assert not {m for m in imported if m == "torch" or m.startswith("torch.")}
    messages = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert messages == [
        "bad.py:1: error: syntax error: '(' was never closed",
        "2 files scanned: 0 changed, 1 unchanged, 0 with findings, 1 failed",
    ]


# ---- --select / --ignore (the real converter) --------------------------------------------------

SELECT_FILES = {
    "a.py": (
        "optimizer = dict(type='SGD', lr=0.01, paramwise_cfg=dict(bias_lr_mult=2.))\n"
        "optimizer_config = dict(grad_clip=None)\n"
    ),
    "b.py": (
        "optimizer = dict(type='SGD', lr=0.01)\n"
        "optimizer_config = dict(grad_clip=None, foo=1)\n"
    ),
}


def _select_run(tmp_path, monkeypatch, *options):
    monkeypatch.chdir(tmp_path)
    for name, text in SELECT_FILES.items():
        write(tmp_path / name, text)
    result = cli("--json", "--diff", *options, "a.py", "b.py")
    data = json.loads(result.stdout)
    ids = sorted({f["rule_id"] for f in data["findings"]})
    return result, data, ids


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), ["MO102", "MO105", "MO108"]),
        (("--select", "MO10"), ["MO102", "MO105", "MO108"]),
        (("--select", "MO102,MO105"), ["MO102", "MO105"]),
        (("--ignore", "MO1"), []),
        (("--ignore", "mo108, MO105"), ["MO102"]),
        (("--select", "MO1", "--ignore", "MO10"), []),
        (("--select", "MO105", "--ignore", "MO1"), ["MO105"]),  # the more specific wins
    ],
)
def test_select_and_ignore_filter_the_reported_findings(tmp_path, monkeypatch, options, expected):
    result, data, ids = _select_run(tmp_path, monkeypatch, *options)
    assert ids == expected
    assert all(f["rule_id"] in expected for file in data["files"] for f in file["findings"])
    assert data["summary"]["with_findings"] == len({f["path"] for f in data["findings"]})
    assert result.exit_code == 1  # --diff with changes, whatever is shown


def test_ignoring_a_todo_hides_the_finding_but_not_the_comment(tmp_path, monkeypatch):
    _, shown, _ = _select_run(tmp_path, monkeypatch)
    _, hidden, ids = _select_run(tmp_path, monkeypatch, "--ignore", "MO102")
    assert "MO102" not in ids
    diff = [f["diff"] for f in hidden["files"] if f["path"] == "b.py"][0]
    assert "# TODO(migrate-optim): [MO102]" in diff
    assert [f["diff"] for f in hidden["files"]] == [f["diff"] for f in shown["files"]]
    # and without --json: nothing about MO102 on stderr, the file is still written with its TODO
    result = cli("--ignore", "MO102", "b.py")
    assert result.exit_code == 0 and "MO102" not in result.stderr
    assert "# TODO(migrate-optim): [MO102]" in (tmp_path / "b.py").read_text()


@pytest.mark.parametrize("bad", ["MO9", "E501", "MO1,nope"])
def test_an_unknown_id_is_a_usage_error_and_nothing_is_written(tmp_path, monkeypatch, bad):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.py", SELECT_FILES["a.py"])
    for option in ("--select", "--ignore"):
        result = cli(option, bad, "a.py")
        assert result.exit_code == 2
        assert "unknown finding id or prefix" in result.stderr
        assert (tmp_path / "a.py").read_text() == SELECT_FILES["a.py"]


def test_help_says_what_ignoring_means():
    text = CliRunner().invoke(main, ["convert", "--help"]).output
    assert "--select" in text and "--ignore" in text
    assert "Ignoring only hides findings" in " ".join(text.split())
