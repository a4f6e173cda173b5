"""Codebase detection and train-API profiles (spec §3.2; research note Q1.3, Q2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate_optim.convert import codebase as cb
from migrate_optim.convert.static import own_config, parse_config


def cfg(src: str):
    return own_config(parse_config(src, None))


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/x/mmdetection/configs/retinanet/r.py", "mmdet"),
        ("/x/mmdet-2.28.2/retinanet/r.py", "mmdet"),
        ("/x/mmsegmentation-0.30.0/pspnet/p.py", "mmseg"),
        ("/x/mmclassification/configs/resnet/r.py", "mmcls"),
        ("/x/mmgen-0.7.3/dcgan/d.py", "mmgen"),
        ("/x/mmediting/configs/restorers/r.py", "mmedit"),
        ("/x/mmpose/configs/top_down/t.py", "mmpose"),
        ("/x/mmaction2/configs/recognition/r.py", "mmaction2"),
        ("/x/mmdetection3d/configs/votenet/v.py", "mmdet3d"),
        ("/x/mmtracking/configs/mot/m.py", "mmtrack"),
        ("/x/mmselfsup_v0.11/configs/m.py", "mmselfsup"),
        ("/x/projects/configs/m.py", None),
    ],
)
def test_from_path(path, expected):
    assert cb.from_path(Path(path)) == expected


@pytest.mark.parametrize(
    "src, expected",
    [
        ("model = dict(type='FasterRCNN')", "mmdet"),
        ("model = dict(type='PanopticFPN')", "mmdet"),
        ("model = dict(type='MyCascadeRCNN')", "mmdet"),  # pattern fallback
        ("model = dict(type='EncoderDecoder')", "mmseg"),
        ("model = dict(type='ImageClassifier')", "mmcls"),
        ("model = dict(type='StaticUnconditionalGAN')", "mmgen"),
        ("model = dict(type='BasicRestorer')", "mmedit"),
        ("model = dict(type='TopDown')", "mmpose"),
        ("model = dict(type='Recognizer3D')", "mmaction2"),
        ("model = dict(type='DBNet')", "mmocr"),
        ("model = dict(type='RotatedRetinaNet')", "mmrotate"),  # exact table before pattern
        ("model = dict(type='VoxelNet')", "mmdet3d"),
        ("model = dict(type='MoCo')", "mmselfsup"),
        ("model = dict(type='RAFT')", "mmflow"),
        ("model = dict(type='ProtoNet')", "mmfewshot"),
        ("model = dict(type='SomethingElse')", None),
        ("model = dict(backbone=dict(type='ResNet'))", None),
    ],
)
def test_from_model(src, expected):
    assert cb.from_model(cfg(src)) == expected


@pytest.mark.parametrize(
    "src, expected",
    [
        ("algorithm = dict(type='SPOS')", "mmrazor"),
        ("optimizers = dict(generator=dict(type='Adam'))", "mmedit"),
        ("runner = dict(type='DynamicIterBasedRunner')", "mmgen"),
        ("optimizer = dict(type='LARS', paramwise_options={'bn': dict(weight_decay=0.)})",
         "mmselfsup"),
        ("optimizer_config = dict(frozen_layers_cfg=dict(prototypes=10))", "mmselfsup"),
        ("use_infinite_sampler = True", "mmfewshot"),
        ("data = dict(videos_per_gpu=8)", "mmaction2"),
        ("use_adversarial_train = True", "mmpose"),
        ("optimizer = dict(type='SGD')", None),
    ],
)  # fmt: skip
def test_from_structure(src, expected):
    assert cb.from_structure(cfg(src)) == expected


def test_structure_wins_over_model_types():
    # mmedit's CycleGAN shares its name with mmgen's; `optimizers` decides
    src = "model = dict(type='CycleGAN')\noptimizers = dict(generators=dict(type='Adam'))"
    assert cb.detect(None, cfg(src)) == "mmedit"
    assert cb.detect(None, cfg("model = dict(type='CycleGAN')")) == "mmgen"


def test_custom_imports_come_after_model_types():
    # an mmdet config that imports mmcls backbones is still mmdet
    src = "custom_imports = dict(imports=['mmcls.models'])\nmodel = dict(type='MaskRCNN')"
    assert cb.detect(None, cfg(src)) == "mmdet"
    assert cb.detect(None, cfg("custom_imports = dict(imports=['mmcls.models'])")) == "mmcls"


def test_forced_codebase_wins():
    assert cb.detect(Path("/x/mmdet/a.py"), cfg("model = dict(type='MaskRCNN')"), "mmseg") == (
        "mmseg"
    )


def test_repository_marker(tmp_path):
    (tmp_path / "configs" / "a").mkdir(parents=True)
    (tmp_path / "mmpose").mkdir()
    (tmp_path / "mmpose" / "__init__.py").write_text("")
    path = tmp_path / "configs" / "a" / "c.py"
    assert cb.detect(path, cfg("x = 1")) == "mmpose"


@pytest.mark.parametrize(
    "codebase, src, profile",
    [
        ("mmdet", "", cb.MERGED),
        ("mmpose", "", cb.MERGED),
        ("mmcls", "", cb.LOSS_SCALE_ONLY),
        ("mmseg", "", cb.FP16_IGNORED),
        ("mmdet3d", "model = dict(type='VoteNet')", cb.MERGED),
        ("mmdet3d", "model = dict(type='EncoderDecoder3D')", cb.FP16_IGNORED),
        ("mmrazor", "algorithm = dict(architecture=dict(type='MMClsArchitecture'))", cb.MERGED),
        ("mmrazor", "algorithm = dict(architecture=dict(type='MMSegArchitecture'))",
         cb.FP16_IGNORED),
        ("mmrazor", "algorithm = dict(architecture=dict(type='MMDetArchitecture'))", cb.MERGED),
        ("mmselfsup", "", cb.SELFSUP),
        ("mmgen", "", cb.HOOKLESS),
        ("mmedit", "", cb.HOOKLESS),
        (None, "", None),
    ],
)  # fmt: skip
def test_profiles(codebase, src, profile):
    assert cb.profile(codebase, cfg(src)) == profile


def test_every_known_codebase_has_a_profile_or_is_decided_per_config():
    for name in cb.KNOWN:
        assert name in cb._PROFILES or name == "mmrazor"
