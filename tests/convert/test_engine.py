"""Tests of the convert engine: discovery, bytes and text, bad input, modes, atomic writes."""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrate_optim.convert import engine
from migrate_optim.convert.core import Converter, ConvertOptions, ConvertResult
from migrate_optim.convert.engine import (
    EngineOptions,
    ExitCode,
    Mode,
    RunObserver,
    Status,
    atomic_write,
    decode_source,
    discover,
    run,
    summary_text,
    unified_diff,
    walk,
)
from migrate_optim.convert.findings import ConvertError, Finding, Severity

OLD = "optimizer = dict(type='SGD', lr=0.01)\n"
NEW = "optim_wrapper = dict(type='SGD', lr=0.01)\n"


class FakeConverter:
    """Stands in for the real converter, with behaviour chosen by markers in the text.

    ``optimizer = `` at a line start becomes ``optim_wrapper = ``; a ``# FINDING`` comment gives
    a finding on its line; ``RAISE`` raises ConvertError at its line; ``BOOM`` raises a bug;
    ``BROKEN`` makes the output invalid Python. ``on_convert`` runs at each call.
    """

    def __init__(self, options: ConvertOptions | None = None, on_convert=None) -> None:
        self.options = options or ConvertOptions()
        self.calls: list[Path | None] = []
        self.on_convert = on_convert

    def convert_source(self, source: str, path: Path | None = None) -> ConvertResult:
        self.calls.append(path)
        if self.on_convert is not None:
            self.on_convert(source, path)
        findings = []
        for number, line in enumerate(source.split("\n"), 1):
            if "RAISE" in line:
                raise ConvertError(str(path), number, "unsupported construct")
            if "BOOM" in line:
                raise RuntimeError("boom")
            if "# FINDING" in line:
                findings.append(
                    Finding(str(path), number, "fake-rule", Severity.WARNING, "kept as it was")
                )
        new = re.sub(r"^optimizer = ", "optim_wrapper = ", source, flags=re.M)
        if "BROKEN" in source:
            new += "def (\n"
        return ConvertResult(path, source, new, findings)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def go(paths, mode=Mode.IN_PLACE, out_dir=None, converter=None, stdin=None):
    converter = converter if converter is not None else FakeConverter()
    return run(
        [str(p) for p in paths],
        EngineOptions(mode, out_dir),
        converter=converter,
        stdin=stdin,
    )


# --------------------------------------------------------------------------- discovery


def test_walk_is_sorted_recursive_and_skips_hidden_and_pycache(cwd):
    for name in ["b.py", "a.py", "sub/z.py", "sub/deeper/c.py", "_base_/m.py", "README.md"]:
        write(cwd / "t" / name, "x = 1\n")
    for name in [".hidden/h.py", "__pycache__/p.py", ".dot.py", "sub/.git/g.py"]:
        write(cwd / "t" / name, "x = 1\n")
    (cwd / "out").mkdir()
    py_files, others, unlisted = walk(Path("t"))
    assert [str(p) for p in py_files] == [
        "t/_base_/m.py",
        "t/a.py",
        "t/b.py",
        "t/sub/deeper/c.py",
        "t/sub/z.py",
    ]
    assert [str(p) for p in others] == ["t/README.md"]
    assert unlisted == []


def test_walk_excludes_the_out_dir(cwd):
    write(cwd / "t/a.py", "x = 1\n")
    write(cwd / "t/out/a.py", "x = 1\n")
    assert [str(p) for p in walk(Path("t"), exclude=Path("t/out"))[0]] == ["t/a.py"]
    assert len(walk(Path("t"))[0]) == 2


def test_discover_keeps_order_and_names_each_file_once(cwd):
    write(cwd / "t/a.py", "x = 1\n")
    write(cwd / "t/b.py", "x = 1\n")
    inputs, _ = discover(["t/b.py", "t", "./t/a.py", "-", "-", "missing.py"])
    assert [i.display for i in inputs] == ["t/b.py", "t/a.py", "<stdin>", "missing.py"]
    assert [i.root for i in inputs][:2] == [None, Path("t")]


# --------------------------------------------------------------------------- bytes and text

texts = st.lists(
    st.sampled_from(["a", "é", " ", "\n", "\r", "\r\n", "\t", "\x0c", "\u2028"]), min_size=1
).map("".join)


@given(text=texts, bom=st.booleans())
def test_decode_then_encode_is_byte_exact(text, bom):
    raw = (codecs.BOM_UTF8 if bom else b"") + text.encode()
    source = decode_source(raw, "f.py")
    assert source.encode(source.text) == raw
    if source.newline is not None:
        assert "\r" not in source.text  # the converter sees plain \n


def test_decode_normalises_a_single_newline_style_and_keeps_mixed_as_is():
    assert decode_source(b"a = 1\r\nb = 2\r\n", "f").text == "a = 1\nb = 2\n"
    assert decode_source(b"a = 1\rb = 2\r", "f").text == "a = 1\nb = 2\n"
    mixed = decode_source(b"a = 1\r\nb = 2\n", "f")
    assert (mixed.newline, mixed.text) == (None, "a = 1\r\nb = 2\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a = 1\nb = 2\nc = '\xff'\n", "f.py:3: error: not valid UTF-8: byte 0xff at column 6"),
        (b"a = 1\r\nb = '\xc3'\r\n", "f.py:2: error: not valid UTF-8: byte 0xc3 at column 6"),
        (
            b"# -*- coding: latin-1 -*-\nx = '\xe9'\n",
            "f.py:2: error: not valid UTF-8: byte 0xe9 at column 6 "
            "(the file declares coding latin-1; only UTF-8 is supported)",
        ),
        (b"x = 1\n\x89PNG\0\0", "f.py:2: error: binary file: NUL byte at column 5"),
        (
            "x = 1\n".encode("utf-16"),
            "f.py:1: error: UTF-16 encoded (byte order mark); only UTF-8 is supported",
        ),
    ],
)
def test_decode_rejects_bad_bytes_at_their_line(data, message):
    with pytest.raises(ConvertError) as info:
        decode_source(data, "f.py")
    assert info.value.format() == message


# --------------------------------------------------------------------------- in place


def test_in_place_rewrites_changed_files_and_leaves_the_rest_alone(cwd):
    changed = write(cwd / "c/a.py", "# keep me\n" + OLD)
    same = write(cwd / "c/b.py", "x = 1\n")
    before = os.stat(same)
    report = go(["c"])
    assert changed.read_text() == "# keep me\n" + NEW
    after = os.stat(same)
    # Not even rewritten with the same bytes: same inode, same mtime.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [(f.path, f.status) for f in report.files] == [
        ("c/a.py", Status.CHANGED),
        ("c/b.py", Status.UNCHANGED),
    ]
    assert report.files[0].written == "c/a.py"
    assert report.exit_code == ExitCode.OK


def test_in_place_keeps_crlf_newlines_and_bom(cwd):
    f = write(cwd / "a.py", codecs.BOM_UTF8 + b"# c\r\n" + OLD.replace("\n", "\r\n").encode())
    go([f])
    assert f.read_bytes() == codecs.BOM_UTF8 + b"# c\r\n" + NEW.replace("\n", "\r\n").encode()


def test_in_place_keeps_mixed_newlines_byte_for_byte_outside_the_change(cwd):
    f = write(cwd / "a.py", b"a = 1\r\n" + OLD.encode() + b"b = 2\r")
    go([f])
    assert f.read_bytes() == b"a = 1\r\n" + NEW.encode() + b"b = 2\r"


def test_in_place_keeps_the_file_mode(cwd):
    f = write(cwd / "a.py", OLD)
    os.chmod(f, 0o754)
    go([f])
    assert f.read_text() == NEW
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o754


def test_in_place_writes_through_a_symlink(cwd):
    target = write(cwd / "real/a.py", OLD)
    link = cwd / "link.py"
    link.symlink_to(target)
    report = go([link, target])
    assert link.is_symlink()
    assert target.read_text() == NEW
    assert [f.status for f in report.files] == [Status.CHANGED, Status.CHANGED]
    assert report.exit_code == ExitCode.OK


def test_every_file_is_converted_before_any_is_written(cwd):
    base = write(cwd / "c/_base_/opt.py", OLD)
    write(cwd / "c/child.py", "_base_ = ['./_base_/opt.py']\n" + OLD)
    seen_base = []

    def on_convert(source, path):
        # What the real converter does: read the child's _base_ from disk.
        if path.name == "child.py":
            seen_base.append(base.read_text())

    report = go(["c"], converter=FakeConverter(on_convert=on_convert))
    assert seen_base == [OLD]
    assert base.read_text() == NEW
    assert report.count(Status.CHANGED) == 2


def test_a_file_edited_during_the_run_is_not_overwritten(cwd):
    f = write(cwd / "a.py", OLD)
    other = write(cwd / "b.py", OLD)

    def on_convert(source, path):
        if path.name == "a.py":
            f.write_text(OLD + "# edited by the user meanwhile\n")

    report = go([f, other], converter=FakeConverter(on_convert=on_convert))
    assert f.read_text() == OLD + "# edited by the user meanwhile\n"
    assert other.read_text() == NEW
    assert report.files[0].error.format() == (
        "a.py:1: error: file changed on disk while converting; left untouched"
    )
    assert report.exit_code == ExitCode.FAILED


# --------------------------------------------------------------------------- bad input


def _bad_inputs(root: Path) -> dict[str, str]:
    """Creates one bad input per kind; returns name -> expected one-line error."""
    write(root / "latin1.py", b"x = 1\ny = '\xe9t\xe9'\n")
    write(root / "binary.py", b"\x7fELF\x02\x01\x01\0\0\0")
    write(root / "syntax.py", "x = 1\ny = (\nz = 3\n")
    (root / "dangling.py").symlink_to("nowhere.py")
    return {
        "latin1.py": "latin1.py:2: error: not valid UTF-8: byte 0xe9 at column 6",
        "binary.py": "binary.py:1: error: binary file: NUL byte at column 8",
        "syntax.py": "syntax.py:2: error: syntax error: '(' was never closed",
        "dangling.py": (
            "dangling.py:1: error: dangling symbolic link (target 'nowhere.py' does not exist)"
        ),
        "missing.py": "missing.py:1: error: no such file or directory",
    }


@pytest.mark.parametrize("mode", [Mode.IN_PLACE, Mode.CHECK])
def test_each_bad_input_named_explicitly_gets_one_line_and_exit_2(cwd, mode):
    expected = _bad_inputs(cwd)
    good = write(cwd / "good.py", OLD)
    snapshot = {n: (cwd / n).read_bytes() for n in expected if (cwd / n).exists()}
    for name, message in expected.items():
        good.write_text(OLD)
        report = go([name, good], mode=mode)
        assert [e.format() for e in report.errors] == [message]
        assert report.files[0].status is Status.FAILED
        assert report.files[1].status is Status.CHANGED
        assert report.exit_code == ExitCode.FAILED
    assert {n: (cwd / n).read_bytes() for n in snapshot} == snapshot
    assert (cwd / "dangling.py").is_symlink() and not (cwd / "nowhere.py").exists()
    assert good.read_text() == (NEW if mode is Mode.IN_PLACE else OLD)


def test_bad_inputs_found_by_a_walk_fail_alone(cwd):
    expected = _bad_inputs(cwd / "t")
    good = write(cwd / "t/good.py", OLD)
    report = go(["t"])
    assert sorted(e.format() for e in report.errors) == sorted(
        "t/" + m for n, m in expected.items() if n != "missing.py"
    )
    assert good.read_text() == NEW
    assert report.summary == {
        "scanned": 5,
        "changed": 1,
        "unchanged": 0,
        "with_findings": 0,
        "failed": 4,
    }


def test_a_directory_that_cannot_be_listed_fails_alone(cwd, monkeypatch):
    write(cwd / "t/a.py", OLD)
    write(cwd / "t/locked/b.py", OLD)
    real = engine.os.walk

    def walk_as_user(top, onerror=None, **kwargs):
        # What os.walk does for a directory it may not list (root may list anything).
        for dirpath, dirnames, filenames in real(top, onerror=onerror, **kwargs):
            if dirpath.endswith("locked"):
                onerror(PermissionError(13, "Permission denied", dirpath))
                dirnames[:], filenames[:] = [], []
                continue
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(engine.os, "walk", walk_as_user)
    report = go(["t"])
    monkeypatch.undo()
    assert [e.format() for e in report.errors] == [
        "t/locked:1: error: cannot list directory: permission denied"
    ]
    assert (cwd / "t/a.py").read_text() == NEW
    assert report.summary["failed"] == 1 and report.exit_code == ExitCode.FAILED


def test_a_fifo_is_refused_without_blocking(cwd):
    os.mkfifo(cwd / "pipe.py")
    report = go(["pipe.py"])  # must not block reading the FIFO
    assert [e.format() for e in report.errors] == ["pipe.py:1: error: not a regular file"]


def test_unreadable_file(cwd, monkeypatch):
    f = write(cwd / "secret.py", OLD)
    good = write(cwd / "good.py", OLD)
    os.chmod(f, 0)
    if os.geteuid() == 0:  # root reads anything: simulate what the kernel would say
        real = engine._read_bytes

        def read_bytes(path):
            if Path(path).name == "secret.py":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(engine, "_read_bytes", read_bytes)
    report = go([f, good])
    os.chmod(f, 0o644)
    assert [e.format() for e in report.errors] == [
        "secret.py:1: error: cannot read: permission denied"
    ]
    assert f.read_text() == OLD
    assert good.read_text() == NEW


def test_read_only_file_is_left_untouched_in_place(cwd):
    f = write(cwd / "ro.py", OLD)
    good = write(cwd / "good.py", OLD)
    os.chmod(f, 0o444)
    report = go([f, good])
    assert [e.format() for e in report.errors] == [
        "ro.py:1: error: cannot write: file is read-only; left untouched"
    ]
    assert f.read_text() == OLD and stat.S_IMODE(os.stat(f).st_mode) == 0o444
    assert good.read_text() == NEW
    assert report.exit_code == ExitCode.FAILED
    # Check mode writes nothing, so a read-only file is fine there.
    assert go([f], mode=Mode.CHECK).exit_code == ExitCode.CHANGES


def test_write_failure_leaves_the_file_and_no_temp(cwd, monkeypatch):
    f = write(cwd / "a.py", OLD)
    good = write(cwd / "b.py", OLD)
    real = engine.tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if kwargs.get("prefix", "").startswith(".a.py"):
            raise PermissionError(13, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.tempfile, "mkstemp", mkstemp)
    report = go([f, good])
    assert [e.format() for e in report.errors] == ["a.py:1: error: cannot write: permission denied"]
    assert f.read_text() == OLD and good.read_text() == NEW
    assert sorted(p.name for p in cwd.iterdir()) == ["a.py", "b.py"]


def test_converter_errors_keep_their_line_and_get_our_file_name(cwd):
    f = write(cwd / "a.py", "x = 1\nRAISE = 2\n")
    good = write(cwd / "b.py", OLD)
    report = go([f, good])
    assert [e.format() for e in report.errors] == ["a.py:2: error: unsupported construct"]
    assert good.read_text() == NEW


def test_converter_errors_about_another_file_keep_its_name(cwd):
    class BaseBroken(FakeConverter):
        def convert_source(self, source, path=None):
            raise ConvertError("elsewhere/_base_/x.py", 7, "syntax error: invalid syntax")

    write(cwd / "a.py", OLD)
    report = go(["a.py"], converter=BaseBroken())
    assert [e.format() for e in report.errors] == [
        "elsewhere/_base_/x.py:7: error: syntax error: invalid syntax"
    ]


def test_a_converter_bug_fails_one_file_not_the_run(cwd):
    write(cwd / "a.py", "BOOM = 1\n")
    good = write(cwd / "b.py", OLD)
    report = go(["a.py", "b.py"])
    assert [e.format() for e in report.errors] == [
        "a.py:1: error: internal error: RuntimeError: boom"
    ]
    assert good.read_text() == NEW


def test_invalid_converter_output_is_never_written(cwd):
    f = write(cwd / "a.py", OLD + "BROKEN = 1\n")
    report = go([f])
    assert f.read_text() == OLD + "BROKEN = 1\n"
    assert report.errors[0].format() == (
        "a.py:3: error: internal error: the converted text is not valid Python "
        "(syntax error: invalid syntax); not written"
    )


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("fail_at", ["fsync", "replace", "chmod"])
def test_a_crash_mid_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch, fail_at):
    f = write(tmp_path / "cfg.py", OLD)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # a kill: not even an OSError

    monkeypatch.setattr(engine.os, fail_at, crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(f, NEW.encode())
    monkeypatch.undo()
    assert f.read_text() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.py"]


def test_atomic_write_keeps_or_sets_the_mode(tmp_path):
    f = write(tmp_path / "x.py", OLD)
    os.chmod(f, 0o751)
    atomic_write(f, NEW.encode())
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o751 and f.read_text() == NEW
    atomic_write(f, OLD.encode(), 0o600)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.py", b"x = 1\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.py").st_mode) == 0o644


# --------------------------------------------------------------------------- out-dir


def test_out_dir_mirrors_the_tree_with_bases_outside_the_input(cwd):
    write(cwd / "configs/_base_/models/m.py", "model = dict(type='X')\n")
    write(cwd / "configs/_base_/sched.py", "_base_ = './models/m.py'\n" + OLD)
    write(cwd / "configs/_base_/unused.py", "x = 1\n")
    child = write(
        cwd / "configs/det/child.py",
        "_base_ = ['../_base_/sched.py']\n" + OLD,
    )
    write(cwd / "configs/det/same.py", "x = 1\n")
    write(cwd / "configs/det/notes.md", "# notes\n")
    write(cwd / "configs/det/broken.py", "x = (\n")
    os.mkfifo(cwd / "configs/det/pipe")  # copying must not block on it
    (cwd / "configs/det/gone.md").symlink_to("nowhere.md")
    os.chmod(child, 0o640)
    before = {p: p.read_bytes() for p in cwd.rglob("*") if p.is_file()}

    report = go(["configs/det"], mode=Mode.OUT_DIR, out_dir=Path("out"))

    files = sorted(str(p.relative_to(cwd / "out")) for p in (cwd / "out").rglob("*") if p.is_file())
    # Rooted at configs/ (holds the input and its bases); unused.py is not referenced.
    assert files == [
        "_base_/models/m.py",
        "_base_/sched.py",
        "det/child.py",
        "det/notes.md",
        "det/same.py",
    ]
    assert (cwd / "out/det/child.py").read_text() == "_base_ = ['../_base_/sched.py']\n" + NEW
    assert stat.S_IMODE(os.stat(cwd / "out/det/child.py").st_mode) == 0o640
    # A base outside the inputs is copied as it is, not converted.
    assert (cwd / "out/_base_/sched.py").read_text() == "_base_ = './models/m.py'\n" + OLD
    assert {p: p.read_bytes() for p in before} == before  # sources untouched
    assert report.files[1].written == "out/det/child.py"
    assert sorted(report.copied) == [
        "out/_base_/models/m.py",
        "out/_base_/sched.py",
        "out/det/notes.md",
    ]
    assert [e.format() for e in report.errors] == [
        "configs/det/broken.py:1: error: syntax error: '(' was never closed",
        "configs/det/gone.md:1: error: cannot copy: no such file or directory",
    ]


def test_out_dir_converts_bases_that_are_inputs_and_skips_itself(cwd):
    write(cwd / "c/_base_/s.py", OLD)
    write(cwd / "c/a.py", "_base_ = './_base_/s.py'\n")
    report = go(["c"], mode=Mode.OUT_DIR, out_dir=Path("c/out"))
    assert (cwd / "c/out/_base_/s.py").read_text() == NEW
    assert (cwd / "c/out/a.py").read_text() == "_base_ = './_base_/s.py'\n"
    assert report.copied == []
    again = go(["c"], mode=Mode.OUT_DIR, out_dir=Path("c/out"))
    assert len(again.files) == 2  # the mirror inside the tree is not an input
    assert (cwd / "c/_base_/s.py").read_text() == OLD


def test_out_dir_for_files_in_two_trees_keeps_their_relative_places(cwd):
    write(cwd / "x/a/one.py", OLD)
    write(cwd / "x/b/two.py", OLD)
    go(["x/a/one.py", "x/b/two.py"], mode=Mode.OUT_DIR, out_dir=Path("o"))
    assert (cwd / "o/a/one.py").read_text() == NEW
    assert (cwd / "o/b/two.py").read_text() == NEW


# --------------------------------------------------------------------------- diff and check


def test_diff_prints_a_unified_diff_and_writes_nothing(cwd):
    f = write(cwd / "a.py", "# head\n" + OLD + "x = 1\n")
    write(cwd / "b.py", "x = 1\n")
    report = go(["a.py", "b.py"], mode=Mode.DIFF)
    assert f.read_text() == "# head\n" + OLD + "x = 1\n"
    assert report.files[0].diff == (
        "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n # head\n-" + OLD + "+" + NEW + " x = 1\n"
    )
    assert report.files[1].diff is None
    assert report.exit_code == ExitCode.CHANGES


def test_diff_marks_a_missing_final_newline_and_keeps_crlf():
    assert unified_diff("a\nb", "a\nc", "f.py") == (
        "--- a/f.py\n+++ b/f.py\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
        "+c\n\\ No newline at end of file\n"
    )
    assert unified_diff("a\r\n", "b\r\n", "/abs/f.py").splitlines(keepends=True) == [
        "--- a/abs/f.py\n",
        "+++ b/abs/f.py\n",
        "@@ -1 +1 @@\n",
        "-a\r\n",
        "+b\r\n",
    ]


def test_check_writes_nothing_and_exit_codes_take_precedence(cwd):
    f = write(cwd / "a.py", OLD)
    write(cwd / "b.py", "x = 1\n")
    assert go(["a.py", "b.py"], mode=Mode.CHECK).exit_code == ExitCode.CHANGES
    assert f.read_text() == OLD
    assert go(["b.py"], mode=Mode.CHECK).exit_code == ExitCode.OK
    assert go(["a.py", "missing.py"], mode=Mode.CHECK).exit_code == ExitCode.FAILED
    assert go(["a.py", "missing.py"], mode=Mode.DIFF).exit_code == ExitCode.FAILED
    assert go(["a.py"]).exit_code == ExitCode.OK  # in place: done
    assert go(["a.py"], mode=Mode.CHECK).exit_code == ExitCode.OK  # nothing left to do


# --------------------------------------------------------------------------- stdin


def test_stdin_goes_to_stdout():
    converter = FakeConverter()
    report = go(["-"], stdin=b"# c\r\n" + OLD.replace("\n", "\r\n").encode(), converter=converter)
    assert report.stdout == b"# c\r\n" + NEW.replace("\n", "\r\n").encode()
    assert converter.calls == [None]
    assert report.files[0].path == "<stdin>"
    unchanged = codecs.BOM_UTF8 + b"x = 1\r\n"
    assert go(["-"], stdin=unchanged).stdout == unchanged


def test_stdin_in_check_mode_and_bad_stdin():
    report = go(["-"], mode=Mode.CHECK, stdin=OLD.encode())
    assert (report.stdout, report.exit_code) == (None, ExitCode.CHANGES)
    bad = go(["-"], stdin=b"x = '\xff'\n")
    assert bad.stdout is None
    assert [e.format() for e in bad.errors] == [
        "<stdin>:1: error: not valid UTF-8: byte 0xff at column 6"
    ]


# --------------------------------------------------------------------------- report


def test_summary_findings_and_json(cwd):
    write(cwd / "a.py", OLD + "x = 1  # FINDING\n")
    write(cwd / "b.py", "y = 1  # FINDING\n")
    write(cwd / "c.py", "z = 1\n")
    write(cwd / "d.py", b"x = (\n")
    report = go(["."])
    assert report.summary == {
        "scanned": 4,
        "changed": 1,
        "unchanged": 2,
        "with_findings": 2,
        "failed": 1,
    }
    assert summary_text(report) == (
        "4 files scanned: 1 changed, 2 unchanged, 2 with findings, 1 failed"
    )
    assert [f.format() for f in report.findings] == [
        "a.py:2: warning [fake-rule] kept as it was",
        "b.py:1: warning [fake-rule] kept as it was",
    ]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["exit_code"] == 2
    assert [(f["path"], f["status"]) for f in data["files"]] == [
        ("a.py", "changed"),
        ("b.py", "unchanged"),
        ("c.py", "unchanged"),
        ("d.py", "failed"),
    ]
    assert data["files"][3]["error"]["line"] == 1
    assert data["findings"][0]["rule_id"] == "fake-rule"


def test_findings_reported_by_several_children_are_listed_once(cwd):
    class SharedFinding(FakeConverter):
        def convert_source(self, source, path=None):
            f = Finding("base.py", 3, "base-rule", Severity.INFO, "about the base")
            return ConvertResult(path, source, source, [f])

    write(cwd / "a.py", "x = 1\n")
    write(cwd / "b.py", "x = 1\n")
    report = go(["a.py", "b.py"], converter=SharedFinding())
    assert [f.format() for f in report.findings] == ["base.py:3: info [base-rule] about the base"]
    assert report.summary["with_findings"] == 2


def test_the_real_converter_runs_end_to_end(cwd):
    tree = {
        "c/_base_/s.py": codecs.BOM_UTF8 + OLD.encode(),
        "c/a.py": b"_base_ = './_base_/s.py'\r\nx = 1\r\n",
    }
    for name, data in tree.items():
        write(cwd / name, data)
    report = run(["c"], EngineOptions(Mode.IN_PLACE), converter=Converter())
    assert report.exit_code == ExitCode.OK
    assert [f.status for f in report.files] == [
        Status.CHANGED if (cwd / n).read_bytes() != d else Status.UNCHANGED for n, d in tree.items()
    ]
    assert all(f.error is None for f in report.files)
    default = run(["c"], EngineOptions(Mode.CHECK))  # builds its own Converter
    assert len(default.files) == 2 and not default.errors


def test_jobs_give_the_same_report_in_the_same_order(tmp_path, monkeypatch) -> None:
    """``--jobs N`` (issue 10): forked workers, results in input order, same report."""
    from migrate_optim.convert import workers

    files = {"_base_/s.py": "optimizer = dict(type='SGD', lr=0.01)\n"}
    for i in range(12):
        body = "optimizer = dict(lr=0.02)\n" if i % 3 == 0 else f"x = {i}\n"
        files[f"d{i % 4}/c{i}.py"] = f"_base_ = ['../_base_/s.py']\n{body}"
    files["bad.py"] = "x = (\n"
    from tests.convert.helpers import write_tree

    write_tree(tmp_path, files)
    monkeypatch.setattr(workers, "MIN_PER_WORKER", 1)
    reports = [
        run([str(tmp_path)], EngineOptions(mode=Mode.DIFF, jobs=j)).to_dict() for j in (1, 2, 3)
    ]
    assert reports[0] == reports[1] == reports[2]
    assert reports[0]["summary"]["changed"] == 5 and reports[0]["summary"]["failed"] == 1


def test_jobs_keep_partial_conversion_decisions_and_progress(tmp_path, monkeypatch) -> None:
    """``--jobs N`` with issue 9's run: the workers know the run's files (a base outside the
    run stays 0.x, so its children carry complete 1.x settings), ``-v`` decisions are the same,
    and the observer hears of every input once, in input order, in this process."""
    from migrate_optim.convert import workers
    from tests.convert.helpers import write_tree

    files = {
        "mmdet/configs/_base_/s.py": "optimizer = dict(type='SGD', lr=0.01)\n"
        "lr_config = dict(policy='step', step=[8, 11])\n"
        "runner = dict(type='EpochBasedRunner', max_epochs=12)\n",
    }
    for i in range(10):
        body = "optimizer = dict(lr=0.02)\n" if i % 2 else "evaluation = dict(interval=2)\n"
        files[f"mmdet/configs/d{i % 3}/c{i}.py"] = f"_base_ = ['../_base_/s.py']\n{body}"
    files["mmdet/configs/d0/bad.py"] = "x = (\n"
    write_tree(tmp_path, files)
    monkeypatch.setattr(workers, "MIN_PER_WORKER", 1)
    # the base is not an input of the run
    inputs = [str(tmp_path / "mmdet/configs" / d) for d in ("d0", "d1", "d2")]

    class Events(RunObserver):
        def __init__(self) -> None:
            self.events: list[tuple] = []

        def started(self, total: int) -> None:
            self.events.append(("started", total))

        def converted(self, name, findings, error) -> None:
            self.events.append((name, len(findings), error is not None))

    results = []
    for jobs in (1, 2, 3):
        events = Events()
        options = EngineOptions(mode=Mode.DIFF, jobs=jobs, explain=True)
        report = run(inputs, options, observer=events)
        results.append((report.to_dict(), [f.decisions for f in report.files], events.events))
    assert results[0] == results[1] == results[2]
    doc, decisions, events = results[0]
    names = [f["path"] for f in doc["files"]]
    assert events[0] == ("started", 11)
    assert [(e[0], e[2]) for e in events[1:]] == [(n, n.endswith("bad.py")) for n in names]
    assert all(d for d, f in zip(decisions, doc["files"]) if f["status"] != "failed")
    messages = [f["message"] for f in doc["findings"]]
    assert any("a base file this run does not convert" in m for m in messages)
    assert doc["summary"]["changed"] == 10 and doc["summary"]["failed"] == 1


# --------------------------------------------------------------------------- CI conventions


@pytest.mark.parametrize("mode", [Mode.IN_PLACE, Mode.CHECK, Mode.DIFF])
def test_empty_files_are_unchanged_not_errors(cwd, mode):
    # As black and ruff: an empty __init__.py in a config tree must not hide the real result.
    write(cwd / "t/__init__.py", b"")
    write(cwd / "t/bom.py", codecs.BOM_UTF8)
    write(cwd / "t/a.py", "x = 1\n")
    report = go(["t"], mode=mode)
    assert report.errors == [] and report.exit_code == ExitCode.OK
    assert [f.status for f in report.files] == [Status.UNCHANGED] * 3
    assert (cwd / "t/__init__.py").read_bytes() == b""
    assert (cwd / "t/bom.py").read_bytes() == codecs.BOM_UTF8


def test_exclude_patterns_are_gitignore_style(cwd):
    for name in ["a.py", "legacy/b.py", "sub/legacy/c.py", "sub/d_test.py", ".hidden/e.py"]:
        write(cwd / "t" / name, OLD)

    def found(**kwargs):
        inputs, _ = discover(["t"], options=EngineOptions(**kwargs))
        return [i.display for i in inputs]

    # The defaults skip hidden entries; --extend-exclude adds, --exclude replaces them.
    assert found() == ["t/a.py", "t/legacy/b.py", "t/sub/d_test.py", "t/sub/legacy/c.py"]
    assert found(extend_exclude=["legacy/"]) == ["t/a.py", "t/sub/d_test.py"]
    # A leading slash anchors at the walked directory, as in a .gitignore.
    assert found(extend_exclude=["/legacy/", "*_test.py"]) == ["t/a.py", "t/sub/legacy/c.py"]
    assert "t/.hidden/e.py" in found(exclude=["legacy"])
    assert "t/legacy/b.py" not in found(exclude=["legacy"])


def test_named_files_are_excluded_only_with_force_exclude(cwd):
    write(cwd / "t/legacy/b.py", OLD)
    options = EngineOptions(extend_exclude=["legacy/"])
    assert [i.display for i in discover(["t/legacy/b.py"], options=options)[0]] == [
        "t/legacy/b.py"
    ]
    options.force_exclude = True
    assert discover(["t/legacy/b.py"], options=options)[0] == []


def test_stdin_filename_names_stdin_and_locates_its_bases(cwd):
    seen = []
    converter = FakeConverter(on_convert=lambda source, path: seen.append(path))
    options = EngineOptions(Mode.CHECK, stdin_filename=Path("cfg/child.py"))
    report = run(["-"], options, converter=converter, stdin=OLD.encode())
    assert seen == [Path("cfg/child.py")]
    assert report.files[0].path == "cfg/child.py"
    assert report.files[0].status is Status.CHANGED
