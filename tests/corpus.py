"""Where the corpus of real OpenMMLab 0.x configs lives, for every corpus sweep test.

The corpus is the ``.mim/configs`` tree of three pinned PyPI packages. A checkout normally has it
at ``../shared/corpus/<name>``; a fresh clone without ``shared/`` fetches the pinned package with
``pip download --no-deps`` into ``.corpus-cache/`` at the repo root (gitignored) and extracts the
tree; without network the test is skipped with a message saying how to get the corpus.

Lookup order for ``corpus_root(name)``:

1. ``$MIGRATE_OPTIM_CORPUS/<name>`` (an alternative root holding the three folders);
2. ``<repo root>/../shared/corpus/<name>``;
3. for a linked git worktree, ``../shared/corpus/<name>`` beside the main checkout;
4. ``<repo root>/.corpus-cache/<name>`` (a previous fetch);
5. a fresh fetch from PyPI (set ``MIGRATE_OPTIM_CORPUS_NO_FETCH=1`` to forbid it).

Usage::

    from tests.corpus import corpus_params

    @pytest.mark.corpus
    @pytest.mark.parametrize("path", corpus_params("mmdet-2.28.2"))
    def test_something(path): ...
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".corpus-cache"

# corpus folder name -> (PyPI project, pinned version)
CORPORA: dict[str, tuple[str, str]] = {
    "mmgen-0.7.3": ("mmgen", "0.7.3"),
    "mmsegmentation-0.30.0": ("mmsegmentation", "0.30.0"),
    "mmdet-2.28.2": ("mmdet", "2.28.2"),
}
CORPUS_NAMES: tuple[str, ...] = tuple(CORPORA)

_CONFIGS_MARKER = ".mim/configs/"
HOW_TO_GET = (
    "corpus {name!r} is unavailable: put OpenMMLab's shared/corpus folder beside the repo "
    "(../shared/corpus/{name}), point MIGRATE_OPTIM_CORPUS at a folder holding {name}/, "
    "or allow PyPI access so the tests can run `pip download --no-deps {req}` themselves"
)

# One failed fetch (no network) is enough to know the others will fail too: remember it for
# the session instead of waiting on pip's timeouts three times.
_fetch_failures: dict[str, str] = {}


class CorpusUnavailable(RuntimeError):
    """The corpus could be neither found locally nor fetched.

    ``offline`` is true when PyPI could not be reached, so other fetches need not be tried.
    """

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def _check_name(name: str) -> tuple[str, str]:
    try:
        return CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown corpus {name!r}; expected one of {CORPUS_NAMES}") from None


def _main_worktree_root(repo_root: Path) -> Path | None:
    """The main checkout of a linked git worktree (whose ``.git`` is a file), else None."""
    dot_git = repo_root / ".git"
    if not dot_git.is_file():
        return None
    text = dot_git.read_text(encoding="utf-8").strip()
    if not text.startswith("gitdir:"):
        return None
    gitdir = (repo_root / text.partition(":")[2].strip()).resolve()
    commondir_file = gitdir / "commondir"
    if not commondir_file.is_file():
        return None
    common = (gitdir / commondir_file.read_text(encoding="utf-8").strip()).resolve()
    return common.parent if common.name == ".git" else None


def local_candidates(name: str, repo_root: Path = REPO_ROOT) -> list[Path]:
    """Folders that may already hold corpus ``name``, in lookup order (they may not exist)."""
    _check_name(name)
    found: list[Path] = []
    env_root = os.environ.get("MIGRATE_OPTIM_CORPUS")
    if env_root:
        found.append(Path(env_root).expanduser() / name)
    found.append(repo_root.parent / "shared" / "corpus" / name)
    main_root = _main_worktree_root(repo_root)
    if main_root is not None and main_root != repo_root:
        found.append(main_root.parent / "shared" / "corpus" / name)
    found.append(repo_root / ".corpus-cache" / name)
    return found


def _member_target(member_name: str) -> PurePosixPath | None:
    """Path of an archive member inside its ``.mim/configs`` tree, or None if outside it."""
    head, sep, rel = member_name.partition(_CONFIGS_MARKER)
    if not sep or not rel or rel.endswith("/"):
        return None
    # Archives list both ``pkg/.mim/configs`` and, in sdists, ``pkg-x/pkg/.mim/configs``; only
    # take ``.mim`` as a path component, never as part of a longer name.
    if head and not head.endswith("/"):
        return None
    target = PurePosixPath(rel)
    if target.is_absolute() or ".." in target.parts:
        raise CorpusUnavailable(f"archive member escapes the configs tree: {member_name!r}")
    return target


def extract_configs(archive: Path, dest: Path) -> int:
    """Extract the ``*/.mim/configs/`` tree of a wheel or sdist into ``dest``; return file count.

    Only regular files are written (links and special members are ignored), each under ``dest``.
    """
    written = 0
    dest.mkdir(parents=True, exist_ok=True)

    def write(rel: PurePosixPath, data: bytes) -> None:
        nonlocal written
        out = dest.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        written += 1

    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = _member_target(info.filename)
                if rel is not None and not info.is_dir():
                    write(rel, zf.read(info))
    elif archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tf:
            for member in tf.getmembers():
                rel = _member_target(member.name)
                if rel is None or not member.isfile():
                    continue
                handle = tf.extractfile(member)
                if handle is not None:
                    write(rel, handle.read())
    else:
        raise CorpusUnavailable(f"unsupported archive type: {archive.name}")
    if written == 0:
        raise CorpusUnavailable(f"{archive.name} has no {_CONFIGS_MARKER} tree")
    return written


def pip_download(requirement: str, dest: Path) -> Path:
    """Run ``pip download --no-deps REQUIREMENT`` into ``dest``; return the downloaded file."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    # pip prepares an sdist's metadata by running its setup.py, and mmgen's imports torch: build
    # in this environment (which has torch when verify's tests run) rather than an isolated one.
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
        "--disable-pip-version-check", "--retries", "1", "--timeout", "20",
        "-d", str(dest), requirement,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).strip()
        tail = output.splitlines()[-3:]
        # A build step that failed (mmgen's setup.py needs torch) says nothing about the network.
        offline = "Failed to build" not in output and "metadata" not in output
        raise CorpusUnavailable(
            f"`pip download {requirement}` failed: {' | '.join(tail)}", offline=offline
        )
    project = requirement.partition("==")[0].lower().replace("-", "_")
    candidates = [p for p in dest.iterdir() if p.name.lower().replace("-", "_").startswith(project)]
    new = [p for p in candidates if p not in before] or candidates
    if not new:
        raise CorpusUnavailable(f"`pip download {requirement}` left no file in {dest}")
    return max(new, key=lambda p: p.stat().st_mtime)


def fetch_corpus(name: str, cache_dir: Path = CACHE_DIR, downloader=pip_download) -> Path:
    """Download corpus ``name``'s pinned package into ``cache_dir`` and extract its configs.

    Returns ``cache_dir/<name>``. The tree is extracted beside it and renamed into place, so an
    interrupted run never leaves a half tree that later runs would mistake for the corpus.
    """
    project, version = _check_name(name)
    final = cache_dir / name
    if final.is_dir():
        return final
    archive = downloader(f"{project}=={version}", cache_dir / "downloads")
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    try:
        extract_configs(archive, staging)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():  # lost a race with another process only if it won
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def find_corpus(name: str, repo_root: Path = REPO_ROOT, fetch: bool | None = None) -> Path:
    """Locate corpus ``name`` (fetching it if allowed) or raise :class:`CorpusUnavailable`."""
    project, version = _check_name(name)
    for candidate in local_candidates(name, repo_root):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    if fetch is None:
        fetch = os.environ.get("MIGRATE_OPTIM_CORPUS_NO_FETCH", "") in ("", "0")
    reason = HOW_TO_GET.format(name=name, req=f"{project}=={version}")
    if not fetch:
        raise CorpusUnavailable(reason + " (fetching is disabled by MIGRATE_OPTIM_CORPUS_NO_FETCH)")
    if "network" in _fetch_failures:
        raise CorpusUnavailable(f"{reason} ({_fetch_failures['network']})")
    try:
        return fetch_corpus(name, repo_root / ".corpus-cache")
    except CorpusUnavailable as exc:
        if exc.offline:
            _fetch_failures["network"] = str(exc)
        raise CorpusUnavailable(f"{reason} ({exc})") from exc


def corpus_root(name: str) -> Path:
    """The configs tree of corpus ``name``; ``pytest.skip`` (saying how to get it) if unavailable.

    ``name`` is one of ``mmgen-0.7.3``, ``mmsegmentation-0.30.0``, ``mmdet-2.28.2``.
    """
    try:
        return find_corpus(name)
    except CorpusUnavailable as exc:
        pytest.skip(str(exc))


def corpus_files(name: str) -> list[Path]:
    """Every ``.py`` config of corpus ``name``, sorted (skips the test if unavailable)."""
    return sorted(corpus_root(name).rglob("*.py"))


def corpus_params(*names: str) -> list:
    """``pytest.param`` per ``.py`` config of the named corpora (all three by default).

    Meant for ``@pytest.mark.parametrize`` at collection time, where ``pytest.skip`` is not
    allowed: an unavailable corpus becomes a single parameter marked skip, with the reason.
    Ids are ``<corpus>/<relative path>``.
    """
    params = []
    for name in names or CORPUS_NAMES:
        try:
            root = find_corpus(name)
        except CorpusUnavailable as exc:
            skip = pytest.mark.skip(reason=str(exc))
            params.append(pytest.param(None, id=f"{name}/unavailable", marks=skip))
            continue
        for path in sorted(root.rglob("*.py")):
            params.append(pytest.param(path, id=f"{name}/{path.relative_to(root).as_posix()}"))
    return params
