"""Tests of tests/corpus.py (corpus lookup, fetch and extraction) without touching the network."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests import corpus


def make_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def make_sdist(path: Path, files: dict[str, bytes], links: dict[str, str] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_extract_wheel_takes_only_the_mim_configs_tree(tmp_path):
    wheel = make_wheel(
        tmp_path / "mmdet-2.28.2-py3-none-any.whl",
        {
            "mmdet/__init__.py": b"code",
            "mmdet/.mim/configs/_base_/models/a.py": b"a = 1\n",
            "mmdet/.mim/configs/retinanet/b.py": b"_base_ = '../_base_/models/a.py'\n",
            "mmdet/.mim/configs/retinanet/metafile.yml": b"yml",
            "mmdet/.mim/tools/train.py": b"tool",
            "mmdet/not.mim/configs/x.py": b"decoy",
        },
    )
    dest = tmp_path / "out"
    assert corpus.extract_configs(wheel, dest) == 3
    assert tree(dest) == {
        "_base_/models/a.py": b"a = 1\n",
        "retinanet/b.py": b"_base_ = '../_base_/models/a.py'\n",
        "retinanet/metafile.yml": b"yml",
    }


def test_extract_sdist_ignores_links_and_refuses_escapes(tmp_path):
    sdist = make_sdist(
        tmp_path / "mmgen-0.7.3.tar.gz",
        {
            "mmgen-0.7.3/setup.py": b"setup",
            "mmgen-0.7.3/mmgen/.mim/configs/_base_/gan.py": b"model = dict()\n",
        },
        links={"mmgen-0.7.3/mmgen/.mim/configs/link.py": "/etc/passwd"},
    )
    dest = tmp_path / "out"
    assert corpus.extract_configs(sdist, dest) == 1
    assert tree(dest) == {"_base_/gan.py": b"model = dict()\n"}

    evil = make_sdist(tmp_path / "evil.tar.gz", {"p/.mim/configs/../../x.py": b"x"})
    with pytest.raises(corpus.CorpusUnavailable, match="escapes"):
        corpus.extract_configs(evil, tmp_path / "evil")
    empty = make_wheel(tmp_path / "empty.whl", {"pkg/__init__.py": b""})
    with pytest.raises(corpus.CorpusUnavailable, match="no .mim/configs"):
        corpus.extract_configs(empty, tmp_path / "empty")


def test_fetch_downloads_once_and_extracts_into_the_cache(tmp_path):
    calls = []

    def fake_download(requirement, dest):
        calls.append(requirement)
        dest.mkdir(parents=True, exist_ok=True)
        return make_wheel(
            dest / "mmsegmentation-0.30.0-py3-none-any.whl",
            {"mmseg/.mim/configs/fcn/fcn.py": b"model = dict(type='FCN')\n"},
        )

    cache = tmp_path / ".corpus-cache"
    root = corpus.fetch_corpus("mmsegmentation-0.30.0", cache, downloader=fake_download)
    assert root == cache / "mmsegmentation-0.30.0"
    assert tree(root) == {"fcn/fcn.py": b"model = dict(type='FCN')\n"}
    assert corpus.fetch_corpus("mmsegmentation-0.30.0", cache, downloader=fake_download) == root
    assert calls == ["mmsegmentation==0.30.0"]
    # No staging folders are left behind.
    assert sorted(p.name for p in cache.iterdir()) == ["downloads", "mmsegmentation-0.30.0"]


def test_failed_fetch_leaves_no_partial_tree(tmp_path):
    def broken_download(requirement, dest):
        dest.mkdir(parents=True, exist_ok=True)
        return make_wheel(dest / "mmdet.whl", {"mmdet/__init__.py": b""})

    cache = tmp_path / "cache"
    with pytest.raises(corpus.CorpusUnavailable):
        corpus.fetch_corpus("mmdet-2.28.2", cache, downloader=broken_download)
    assert not (cache / "mmdet-2.28.2").exists()
    assert [p.name for p in cache.iterdir()] == ["downloads"]


def test_lookup_order_env_then_shared_then_cache(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    name = "mmgen-0.7.3"
    cached = repo / ".corpus-cache" / name
    shared = tmp_path / "shared" / "corpus" / name
    env_root = tmp_path / "elsewhere"
    for folder in (cached, shared, env_root / name):
        folder.mkdir(parents=True)
        (folder / "a.py").write_text("a = 1\n")

    monkeypatch.setenv("MIGRATE_OPTIM_CORPUS", str(env_root))
    assert corpus.find_corpus(name, repo, fetch=False) == env_root / name
    monkeypatch.delenv("MIGRATE_OPTIM_CORPUS")
    assert corpus.find_corpus(name, repo, fetch=False) == shared
    (shared / "a.py").unlink()  # an empty folder is not a corpus
    assert corpus.find_corpus(name, repo, fetch=False) == cached


def test_linked_worktree_finds_shared_beside_the_main_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_OPTIM_CORPUS", raising=False)
    main = tmp_path / "main"
    gitdir = main / ".git" / "worktrees" / "wt1"
    gitdir.mkdir(parents=True)
    (gitdir / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt" / "wt1"
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {gitdir}\n")
    shared = tmp_path / "shared" / "corpus" / "mmdet-2.28.2"
    shared.mkdir(parents=True)
    (shared / "x.py").write_text("x = 1\n")
    assert corpus.find_corpus("mmdet-2.28.2", worktree, fetch=False) == shared


def test_unavailable_corpus_skips_with_instructions(tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_OPTIM_CORPUS", raising=False)
    monkeypatch.setenv("MIGRATE_OPTIM_CORPUS_NO_FETCH", "1")
    find = corpus.find_corpus
    lonely = tmp_path / "lonely" / "repo"
    monkeypatch.setattr(corpus, "find_corpus", lambda name: find(name, lonely))
    with pytest.raises(pytest.skip.Exception, match=r"shared/corpus.*pip download --no-deps"):
        corpus.corpus_root("mmdet-2.28.2")
    params = corpus.corpus_params("mmdet-2.28.2")
    assert len(params) == 1
    assert params[0].id == "mmdet-2.28.2/unavailable"
    assert params[0].marks[0].name == "skip"
    assert "MIGRATE_OPTIM_CORPUS" in params[0].marks[0].kwargs["reason"]


def test_network_failure_is_remembered_and_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("MIGRATE_OPTIM_CORPUS", raising=False)
    monkeypatch.setattr(corpus, "_fetch_failures", {})
    calls = []

    def offline(name, cache_dir):
        calls.append(name)
        if name == "mmgen-0.7.3":
            raise corpus.CorpusUnavailable("Failed to build 'mmgen': no torch", offline=False)
        raise corpus.CorpusUnavailable("`pip download` failed: no network", offline=True)

    monkeypatch.setattr(corpus, "fetch_corpus", offline)
    repo = tmp_path / "repo"
    repo.mkdir()
    # A build failure of one package does not stop the others from being tried...
    with pytest.raises(corpus.CorpusUnavailable, match="no torch"):
        corpus.find_corpus("mmgen-0.7.3", repo, fetch=True)
    # ...but once PyPI is known to be unreachable, no more fetches are attempted.
    for name in ("mmdet-2.28.2", "mmsegmentation-0.30.0"):
        with pytest.raises(corpus.CorpusUnavailable, match="no network"):
            corpus.find_corpus(name, repo, fetch=True)
    assert calls == ["mmgen-0.7.3", "mmdet-2.28.2"]


def test_params_cover_every_py_file_with_readable_ids(tmp_path, monkeypatch):
    root = tmp_path / "mmgen-0.7.3"
    (root / "_base_").mkdir(parents=True)
    (root / "_base_" / "a.py").write_text("a = 1\n")
    (root / "b.py").write_text("b = 1\n")
    (root / "metafile.yml").write_text("x")
    monkeypatch.setattr(corpus, "find_corpus", lambda name: root)
    params = corpus.corpus_params("mmgen-0.7.3")
    assert [p.id for p in params] == ["mmgen-0.7.3/_base_/a.py", "mmgen-0.7.3/b.py"]
    assert [p.values[0] for p in params] == [root / "_base_" / "a.py", root / "b.py"]
    assert corpus.corpus_files("mmgen-0.7.3") == [root / "_base_" / "a.py", root / "b.py"]


def test_unknown_corpus_name_is_rejected():
    with pytest.raises(ValueError, match="unknown corpus"):
        corpus.find_corpus("mmcls-0.25.0")
