"""The ``migrate-optim`` pre-commit hook, run for real through ``pre-commit try-repo``.

The hook repository is a fresh git repository holding this checkout's package and hook
manifest (so uncommitted work is what is tested); pre-commit installs it into its own
virtualenv, as a user's ``pre-commit run`` would. Skips when pre-commit or git is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pre_commit")
if shutil.which("git") is None:  # pragma: no cover - CI has git
    pytest.skip("pre-commit needs git", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
OLD = (
    "optimizer = dict(type='SGD', lr=0.02, momentum=0.9)\noptimizer_config = dict(grad_clip=None)\n"
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(
        ROOT / "migrate_optim", repo / "migrate_optim", ignore=shutil.ignore_patterns("__pycache__")
    )
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "hook")
    return repo


def try_repo(hook_repo: Path, project: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(hook_repo),
            "migrate-optim",
            "--all-files",
            "--color",
            "never",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_hook_checks_config_trees_only_and_passes_once_converted(hook_repo, tmp_path):
    project = tmp_path / "project"
    (project / "configs" / "_base_").mkdir(parents=True)
    (project / "configs" / "_base_" / "schedule.py").write_text(OLD)
    (project / "configs" / "__init__.py").write_text("")
    (project / "tools").mkdir()
    (project / "tools" / "train.py").write_text("optimizer = dict(type='SGD', lr=0.1)\n")
    git(project, "init", "-q")
    git(project, "add", "-A")
    home = tmp_path / "pre-commit-home"

    result = try_repo(hook_repo, project, home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "would convert configs/_base_/schedule.py" in result.stdout
    # --check by default: nothing written; only config trees are passed to the hook.
    assert (project / "configs" / "_base_" / "schedule.py").read_text() == OLD
    assert "2 files scanned" in result.stdout and "tools/train.py" not in result.stdout

    subprocess.run(
        [sys.executable, "-m", "migrate_optim.cli", "convert", "--codebase", "mmdet", "configs"],
        cwd=project,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    git(project, "add", "-A")
    result = try_repo(hook_repo, project, home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout
