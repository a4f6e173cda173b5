"""Partial conversion is safe: whatever subset of a tree a run converts, in place or into an
out dir, every file it writes, merged with its bases as they are on disk afterwards, trains
like the original (issue 9).

Each split (child only, base only, both, ...) of a base/child tree is converted by the real
engine; every written file is then loaded with MMEngine's ``Config.fromfile`` and verified
against its untouched original by ``verify`` (both trained on CPU).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrate_optim.convert.engine import EngineOptions, Mode, Status, run
from migrate_optim.verify.api import VerifyOptions, verify_files
from tests.convert.mmengine_load import load
from tests.corpus import corpus_root

SCHEDULE = """\
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001,
                 paramwise_cfg=dict(norm_decay_mult=0.))
optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))
"""
MID = "_base_ = './_base_/schedule.py'\nmodel = dict(type='RetinaNet')\n"
CHILD = "_base_ = './mid.py'\noptimizer = dict(lr=0.01)\nfp16 = dict(loss_scale=512.)\n"
HANDMADE = {
    "mmdet/configs/_base_/schedule.py": SCHEDULE,
    "mmdet/configs/mid.py": MID,
    "mmdet/configs/child.py": CHILD,
}


def _copy(tmp: Path, files: dict[str, Path | str]) -> tuple[Path, Path]:
    """The same tree twice: ``orig`` (kept as it is) and ``work`` (converted)."""
    for side in ("orig", "work"):
        for rel, src in files.items():
            dest = tmp / side / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, Path):
                shutil.copyfile(src, dest)
            else:
                dest.write_text(src)
    return tmp / "orig", tmp / "work"


def _convert_and_check(tmp: Path, work: Path, orig: Path, inputs: list[str], out_dir: bool):
    mode = Mode.OUT_DIR if out_dir else Mode.IN_PLACE
    out = tmp / "out" if out_dir else None
    report = run([str(work / rel) for rel in inputs], EngineOptions(mode, out))
    assert report.errors == []
    written = [f for f in report.files if f.status is Status.CHANGED]
    assert written, "the split converts something"
    for file in written:
        new = Path(file.written) if out_dir else Path(file.path)
        rel = (
            Path(file.path).resolve().relative_to(work.resolve())
            if not out_dir
            else Path(file.written).resolve().relative_to((tmp / "out").resolve())
        )
        old = orig / rel if not out_dir else _orig_of(orig, rel)
        cfg = load(new)  # MMEngine reads the file with its bases as they are now
        wrapper = cfg.get("optim_wrapper")
        assert isinstance(wrapper, dict), f"{rel}: no optim_wrapper after the run"
        assert "type" in (wrapper.get("optimizer") or {}), f"{rel}: no optimizer: {wrapper}"
        verdict = verify_files(old, new, VerifyOptions(device="cpu"))
        assert verdict.status == "equivalent", (rel, verdict.summary_line(), verdict.differences)
    return report


def _orig_of(orig: Path, rel_in_out: Path) -> Path:
    # The out dir mirrors the deepest common folder of the inputs and their bases.
    for candidate in [orig / rel_in_out, *(orig / p / rel_in_out for p in ("mmdet", "mmseg"))]:
        if candidate.is_file():
            return candidate
    matches = [p for p in orig.rglob(rel_in_out.name) if str(p).endswith(str(rel_in_out))]
    assert len(matches) == 1, rel_in_out
    return matches[0]


@pytest.mark.parametrize(
    "inputs",
    [
        ["mmdet/configs/child.py"],
        ["mmdet/configs/_base_/schedule.py"],
        ["mmdet/configs/child.py", "mmdet/configs/_base_/schedule.py"],
        ["mmdet/configs/mid.py", "mmdet/configs/child.py"],
    ],
    ids=["child-only", "base-only", "both", "mid-and-child"],
)
@pytest.mark.parametrize("out_dir", [False, True], ids=["in-place", "out-dir"])
def test_every_split_of_a_base_child_tree_trains_like_the_original(tmp_path, inputs, out_dir):
    orig, work = _copy(tmp_path, HANDMADE)
    report = _convert_and_check(tmp_path, work, orig, inputs, out_dir)
    base_in_run = "mmdet/configs/_base_/schedule.py" in inputs
    child = next((f for f in report.files if f.path.endswith("child.py")), None)
    if child is not None and not base_in_run:
        # the child carries everything, and says which base still holds 0.x keys
        (finding,) = [f for f in child.findings if "does not convert" in f.message]
        assert finding.rule_id == "MO001" and finding.severity.value == "warning"
        assert "_base_/schedule.py (`optimizer`, `optimizer_config`)" in finding.message
        assert "optimizer=dict(type='SGD', lr=0.01" in child.after
    if child is not None and base_in_run:
        # with its base converted too, the child stays a minimal override
        assert "optimizer=dict(lr=0.01)" in child.after
        assert not any("does not convert" in f.message for f in child.findings)


def test_converting_the_rest_later_keeps_the_tree_right(tmp_path):
    orig, work = _copy(tmp_path, HANDMADE)
    _convert_and_check(tmp_path, work, orig, ["mmdet/configs/child.py"], False)
    # the second run converts the base; the child (already 1.x) merges with it
    _convert_and_check(tmp_path, work, orig, ["mmdet/configs/_base_/schedule.py"], False)
    child = work / "mmdet/configs/child.py"
    verdict = verify_files(orig / "mmdet/configs/child.py", child, VerifyOptions(device="cpu"))
    assert verdict.status == "equivalent", verdict.differences


def _corpus_tree(name: str, prefix: str, rels: list[str]) -> dict[str, Path]:
    root = corpus_root(name)
    return {f"{prefix}/{rel}": root / rel for rel in rels}


PSPNET = [
    "_base_/schedules/schedule_80k.py",
    "_base_/default_runtime.py",
    "_base_/datasets/cityscapes.py",
    "_base_/models/pspnet_r50-d8.py",
    "pspnet/pspnet_r50-d8_512x1024_80k_cityscapes.py",
    "pspnet/pspnet_r101-d8_512x1024_80k_cityscapes.py",
    "pspnet/pspnet_r101-d8_fp16_512x1024_80k_cityscapes.py",
]
SEGFORMER = [
    "_base_/schedules/schedule_160k.py",
    "_base_/default_runtime.py",
    "_base_/datasets/ade20k.py",
    "_base_/models/segformer_mit-b0.py",
    "segformer/segformer_mit-b0_512x512_160k_ade20k.py",
]


@pytest.mark.parametrize(
    ("tree", "inputs"),
    [
        (PSPNET, ["pspnet/pspnet_r101-d8_fp16_512x1024_80k_cityscapes.py"]),
        (PSPNET, ["_base_/schedules/schedule_80k.py"]),
        (PSPNET, ["pspnet/pspnet_r101-d8_fp16_512x1024_80k_cityscapes.py", "_base_/schedules"]),
        (SEGFORMER, ["segformer/segformer_mit-b0_512x512_160k_ade20k.py"]),
        (SEGFORMER, ["segformer", "_base_/schedules/schedule_160k.py"]),
    ],
    ids=["pspnet-fp16-child", "pspnet-base", "pspnet-both", "segformer-child", "segformer-both"],
)
def test_real_mmseg_splits(tmp_path, tree, inputs):
    files = _corpus_tree("mmsegmentation-0.30.0", "mmseg", tree)
    orig, work = _copy(tmp_path, files)
    _convert_and_check(tmp_path, work, orig, [f"mmseg/{rel}" for rel in inputs], False)
