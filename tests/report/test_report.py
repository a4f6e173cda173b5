"""``convert --report``: the Markdown and HTML before/after reports of a whole run, and the
HTML opened in a headless Chromium (skipped where no Chromium is installed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from migrate_optim.cli import main

BASE = (
    "optimizer = dict(type='SGD', lr=0.02, momentum=0.9)  # 8 GPUs\n"
    "optimizer_config = dict(grad_clip=None)\n"
)
CHILD = "_base_ = './base.py'\nfp16 = dict(loss_scale=512)\n"  # int scale: a warning
TODO = "optimizer = dict(type='SGD', lr=0.01)\noptimizer_config = dict(type='MyHook', x=1)\n"


@pytest.fixture
def run_tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    det = tmp_path / "mmdet" / "configs"
    det.mkdir(parents=True)
    (det / "base.py").write_text(BASE)
    (det / "child.py").write_text(CHILD)
    (det / "same.py").write_text("model = dict(type='RetinaNet')\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "todo.py").write_text(TODO)
    (tmp_path / "other" / "bad.py").write_text("x = (\n")
    return tmp_path


def report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["convert", "--check", *args], catch_exceptions=False)
    return result.exit_code, result.stderr


class Cells(HTMLParser):
    """Collects each table cell's classes, data-rule and text, and the sections' paths."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self.sections: list[str] = []
        self.links: list[str] = []
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "td":
            self._cell = {
                "class": (attrs.get("class") or "").split(),
                "rule": attrs.get("data-rule"),
                "text": "",
            }
            self.cells.append(self._cell)
        if tag == "section":
            self.sections.append(attrs.get("data-path"))
        for key in ("src", "href"):
            if attrs.get(key):
                self.links.append(attrs[key])

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def check_marked(dom: str) -> Cells:
    cells = Cells()
    cells.feed(dom)
    assert cells.sections == [
        "mmdet/configs/base.py",
        "mmdet/configs/child.py",
        "other/bad.py",
        "other/todo.py",
    ]
    by_class = lambda name: [c for c in cells.cells if name in c["class"]]  # noqa: E731
    # the removed 0.x lines on the left, the 1.x lines on the right
    assert any(
        c["text"].startswith("optimizer_config = dict(grad_clip=None)")
        for c in by_class("old")
        if {"chg", "del"} & set(c["class"])
    )
    assert any(
        "optim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.0)" in c["text"]
        for c in by_class("new")
        if {"chg", "add"} & set(c["class"])
    )
    # unchanged lines are not marked
    assert all(
        not {"chg", "add", "del"} & set(c["class"])
        for c in cells.cells
        if c["text"] == "_base_ = './base.py'"
    )
    # findings: the TODO of other/todo.py and the int loss scale of child.py, by rule id
    marked = {(c["rule"], c["text"].split("(")[0]) for c in by_class("finding")}
    assert ("MO104", "optim_wrapper = dict") in marked
    assert ("MO102", "# TODO") in marked
    assert cells.links == []  # self-contained: nothing fetched
    return cells


def test_markdown_report(run_tree):
    code, _ = report("--report", "r.md", "mmdet", "other")
    assert code == 2  # bad.py
    text = (run_tree / "r.md").read_text()
    assert "| 5 | 3 | 1 | 2 | 1 | 2 |" in text  # scanned changed unchanged findings failed exit
    assert "### `mmdet/configs/child.py` — changed" in text
    assert "| 2 | warning | MO104 |" in text
    assert "| 2 | error | MO102 |" in text
    assert "Error: `other/bad.py:1: error: syntax error: '(' was never closed`" in text
    assert text.count("<details><summary>diff</summary>") == 3  # base, child, todo
    assert "+optim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.0)" in text
    assert "same.py" not in text  # unchanged and without findings: only counted


def test_html_report_is_self_contained_and_marks_changes_and_findings(run_tree):
    report("--report", "r.html", "mmdet", "other")
    check_marked((run_tree / "r.html").read_text())


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_chromium() is None, reason="no Chromium (Debian package `chromium`)")
def test_html_report_renders_in_headless_chromium(run_tree):
    report("--report", "r.html", "mmdet", "other")
    page = (run_tree / "r.html").as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
    ]
    env = {**os.environ, "HOME": str(run_tree)}
    dom = subprocess.run(
        [_chromium(), *flags, "--dump-dom", page],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    cells = check_marked(dom.stdout)
    assert len(cells.cells) > 20
    shot = run_tree / "r.png"
    subprocess.run(
        [_chromium(), *flags, f"--screenshot={shot}", "--window-size=1400,1000", page],
        capture_output=True,
        timeout=120,
        env=env,
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
    keep = os.environ.get("MIGRATE_OPTIM_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
    assert re.search(rb"IHDR\x00\x00\x05x\x00\x00\x03\xe8", data)  # 1400 x 1000


def test_reports_carry_verify_verdicts(run_tree):
    code, stderr = report("--verify", "--report", "r.md", "mmdet")
    # --check: changes (1) win over could-not-verify (3): mmcv itself rejects the child's int
    # loss scale, so its 0.x side cannot be trained.
    assert code == 1
    assert "verify summary: 1 equivalent, 0 different, 1 could not verify" in stderr
    text = (run_tree / "r.md").read_text()
    assert "**verify summary: 1 equivalent, 0 different, 1 could not verify**" in text
    assert "Verify: equivalent (" in text and "Verify: could not verify: " in text
    report("--verify", "--report", "r.html", "mmdet")
    page = (run_tree / "r.html").read_text()
    assert page.count('<p class="verdict equivalent">') == 1
    assert page.count('<p class="verdict error">') == 1
