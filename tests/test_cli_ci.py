"""``convert`` as CI runs it: stdin names, excludes, --fail-on, GitHub annotations, -v, the
progress bar, the exit-code table and piped ``verify`` output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from migrate_optim import cli as cli_module
from migrate_optim.cli import main
from migrate_optim.convert.output import github_annotation

BASE = (
    "optimizer = dict(type='SGD', lr=0.02, momentum=0.9)\noptimizer_config = dict(grad_clip=None)\n"
)
CHILD = "_base_ = './base.py'\nfp16 = dict(loss_scale=512.)\n"
TODO_CHILD = "optimizer = dict(type='SGD', lr=0.01)\nfp16 = dict(loss_scale=512.)\n"


def convert(*args, input=None):
    return CliRunner().invoke(main, ["convert", *args], input=input, catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "mmdet" / "configs"
    folder.mkdir(parents=True)
    (folder / "base.py").write_text(BASE)
    (folder / "child.py").write_text(CHILD)
    return folder


def test_stdin_filename_gives_stdin_its_bases_and_codebase(tree):
    named = convert("-", "--stdin-filename", "mmdet/configs/child.py", input=CHILD)
    assert named.exit_code == 0
    # The base (on disk, not part of this run) stays 0.x: stdin gets the complete settings.
    assert named.stdout == (
        "_base_ = './base.py'\n"
        "optim_wrapper = dict(\n"
        "    type='AmpOptimWrapper',\n"
        "    optimizer=dict(type='SGD', lr=0.02, momentum=0.9),\n"
        "    clip_grad=None,\n"
        "    loss_scale=512.)\n"
    )
    assert "mmdet/configs/base.py (`optimizer`, `optimizer_config`)" in named.stderr
    # Without the name stdin has no base and no codebase: fp16 cannot be converted.
    anonymous = convert("-", input=CHILD)
    assert "TODO(migrate-optim): [MO108]" in anonymous.stdout
    assert "<stdin>:2: error [MO108]" in anonymous.stderr
    checked = convert("--check", "-", "--stdin-filename", "mmdet/configs/child.py", input=CHILD)
    assert checked.exit_code == 1 and "would convert mmdet/configs/child.py" in checked.stderr


def test_fail_on_makes_findings_fail_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(TODO_CHILD)  # fp16 in an unknown codebase: a TODO (error)
    assert convert("--check", "a.py").exit_code == 1  # changes (the TODO comment)
    convert("a.py")
    assert convert("--check", "a.py").exit_code == 0  # converted: nothing more to do
    failing = convert("--check", "--fail-on", "error", "a.py")
    assert failing.exit_code == 1
    assert "at --fail-on error or worse: exit 1" in failing.stderr
    assert convert("--check", "--fail-on", "warning", "a.py").exit_code == 1
    (tmp_path / "b.py").write_text("x = 1\n")
    assert convert("--check", "--fail-on", "warning", "b.py").exit_code == 0


def test_fail_on_warning_but_not_error(tree):
    # an integer loss scale: converted, with a warning (MO104)
    for name in ("int1.py", "int2.py"):
        (tree / name).write_text(BASE + "fp16 = dict(loss_scale=512)\n")
    result = convert("--check", "--json", "mmdet/configs/int1.py")
    data = json.loads(result.stdout)
    assert {f["severity"] for f in data["findings"]} == {"warning"}
    # In place: the file is converted either way; only the threshold decides the exit code.
    assert convert("--fail-on", "error", "mmdet/configs/int1.py").exit_code == 0
    assert convert("--fail-on", "warning", "mmdet/configs/int2.py").exit_code == 1
    assert "optim_wrapper" in (tree / "int2.py").read_text()


def test_github_annotations(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(TODO_CHILD)
    (tmp_path / "bad.py").write_text("x = (\n")
    result = convert("--check", "--output-format", "github", "a.py", "bad.py")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("::error file=a.py,line=2,title=MO108::top-level `fp16`") for line in lines
    )
    assert (
        "::error file=bad.py,line=1,title=migrate-optim::syntax error: '(' was never closed"
        in lines
    )
    # Findings are not repeated on stderr; errors and the summary still are.
    assert "[MO108]" not in result.stderr and "bad.py:1: error" in result.stderr


def test_github_annotation_escapes_its_fields():
    assert github_annotation("info", "a,b:c.py", 3, "MO1", "50% done\nnext") == (
        "::notice file=a%2Cb%3Ac.py,line=3,title=MO1::50%25 done%0Anext"
    )


def test_verbose_shows_codebase_and_rewrites(tree):
    result = convert("--check", "-v", "mmdet")
    assert "  mmdet/configs/child.py: codebase: mmdet (from the path)" in result.stderr
    assert "  mmdet/configs/base.py: rewrote optimizer, optimizer_config -> optim_wrapper" in (
        result.stderr
    )
    (tree.parent.parent / "x").mkdir()
    (tree.parent.parent / "x" / "seg.py").write_text(
        "model = dict(type='EncoderDecoder')\n" + TODO_CHILD
    )
    result = convert("--check", "-v", "x/seg.py")
    assert "x/seg.py: codebase: mmseg (from the model type EncoderDecoder)" in result.stderr
    data = json.loads(convert("--check", "-v", "--json", "x/seg.py").stdout)
    assert data["files"][0]["decisions"][0].startswith("codebase: mmseg")


def test_exclude_options(tree):
    (tree / "legacy").mkdir()
    (tree / "legacy" / "old.py").write_text(BASE)
    result = convert("--check", "--extend-exclude", "legacy/,child.py", "mmdet")
    assert result.stderr.splitlines()[-1].startswith("1 file scanned")
    result = convert("--check", "--exclude", "base.py", "mmdet")
    assert "would convert mmdet/configs/legacy/old.py" in result.stderr
    assert "would convert mmdet/configs/base.py" not in result.stderr
    assert "2 files scanned" in result.stderr
    forced = convert(
        "--check", "--extend-exclude", "legacy/", "--force-exclude", "mmdet/configs/legacy/old.py"
    )
    assert forced.exit_code == 0 and "0 files scanned" in forced.stderr


def _forced_console(monkeypatch, terminal: bool) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=terminal, width=100, highlight=False, soft_wrap=True
    )
    monkeypatch.setattr(cli_module, "_err", lambda: console)
    return buffer


def _many(root: Path, n: int = 25) -> None:
    for i in range(n):
        (root / f"c{i:02d}.py").write_text(TODO_CHILD if i == 3 else "x = 1\n")


def test_progress_bar_on_a_terminal_with_streamed_findings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    _many(tmp_path)
    buffer = _forced_console(monkeypatch, terminal=True)
    result = convert("--check", ".")
    text = buffer.getvalue()
    assert result.exit_code == 1
    assert "converting" in text and "/25" in text
    # the finding is printed once, while converting (before the summary)
    assert text.count("c03.py:2: error [MO108]") == 1
    assert text.index("c03.py:2: error [MO108]") < text.index("25 files scanned")


@pytest.mark.parametrize("why", ["pipe", "NO_COLOR", "-q", "--json"])
def test_no_progress_bar_off_a_terminal_or_when_asked(tmp_path, monkeypatch, why):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    _many(tmp_path)
    buffer = _forced_console(monkeypatch, terminal=why != "pipe")
    args = ["--check", "."]
    if why == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    elif why.startswith("-"):
        args.insert(0, why)
    convert(*args)
    text = buffer.getvalue()
    assert "converting" not in text and "\x1b[?25l" not in text  # no bar, no hidden cursor


def test_usage_errors_of_the_new_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")
    assert convert("--json", "--output-format", "github", "a.py").exit_code == 2
    assert convert("--report", "out.txt", "a.py").exit_code == 2
    assert not (tmp_path / "out.txt").exists()


def test_json_carries_one_schema_name_and_version(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text(TODO_CHILD)
    data = json.loads(convert("--check", "--json", "a.py").stdout)
    assert (data["schema"], data["schema_version"], data["command"]) == (
        "migrate-optim.run",
        1,
        "convert",
    )
    assert data["verify"] is None and data["files"][0]["diff"].startswith("--- a/a.py")


def test_piped_verify_output_is_not_wrapped_mid_verdict(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "old.py").write_text(BASE)
    (deep / "new.py").write_text(
        "optim_wrapper = dict(type='OptimWrapper', clip_grad=None,\n"
        "    optimizer=dict(type='SGD', lr=0.02, momentum=0.9))\n"
    )
    result = CliRunner().invoke(
        main, ["verify", "--codebase", "mmdet", str(deep / "old.py"), str(deep / "new.py")]
    )
    assert result.exit_code == 0, result.output
    (verdict,) = [line for line in result.stdout.splitlines() if line.startswith("EQUIVALENT")]
    assert verdict.endswith("steps)") and str(deep / "new.py") in verdict


def test_verify_json_is_the_run_document(tmp_path):
    (tmp_path / "old.py").write_text(BASE)
    (tmp_path / "new.py").write_text("optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))\n")
    result = CliRunner().invoke(
        main,
        [
            "verify",
            "--json",
            "--codebase",
            "mmdet",
            *(str(tmp_path / n) for n in ("old.py", "new.py")),
        ],
    )
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert (data["schema"], data["schema_version"], data["command"]) == (
        "migrate-optim.run",
        1,
        "verify",
    )
    assert data["verify"]["tally"] == {
        "equivalent": 0,
        "different": 1,
        "could_not_verify": 0,
        "not_applicable": 0,
    }
    assert data["status"] == "different"  # the pair's own fields stay at the top level
