"""The shared table of 0.x codebases: one test per codebase's train API, read by both sides."""

from __future__ import annotations

import pytest

from migrate_optim.codebases import (
    FP16_IGNORED,
    MERGED,
    TRAIN_APIS,
    UnsupportedCodebase,
    train_api,
)
from migrate_optim.convert import codebase as convert_cb
from migrate_optim.runtime.legacy.trainer_rules import (
    TrainLength,
    resolve_optimizer_hook,
    resolve_train_length,
)
from tests.runtime_legacy._mmcv import mmcv_runner

CLIP = dict(max_norm=35, norm_type=2)
ITERS = dict(type="IterBasedRunner", max_iters=9)
# The 16 codebases the issue names: the table must have a row for each.
NAMED = (
    "mmdet mmseg mmcls mmgen mmedit mmpose mmaction2 mmocr mmrotate mmdet3d mmselfsup mmtrack "
    "mmflow mmfewshot mmrazor mmhuman3d"
).split()


def test_table_covers_every_codebase_convert_accepts() -> None:
    assert sorted(TRAIN_APIS) == sorted(NAMED) == sorted(convert_cb.KNOWN)
    for name, api in TRAIN_APIS.items():
        assert api.name == name and "train" in api.source


def test_convert_reads_its_profiles_from_the_table() -> None:
    for name, api in TRAIN_APIS.items():
        assert convert_cb._PROFILES.get(name) == api.fp16
    assert convert_cb.OWN_DIST_HOOK == {"mmcls", "mmfewshot", "mmselfsup"}
    assert convert_cb._MMRAZOR_TASKS["MMDetArchitecture"] == MERGED


# mmdet-like codebases: Fp16OptimizerHook(**optimizer_config, **fp16) whenever fp16 is not None.
@pytest.mark.parametrize(
    "codebase", ["mmdet", "mmpose", "mmaction2", "mmocr", "mmrotate", "mmdet3d", "mmtrack",
                 "mmfewshot", "mmflow", "mmhuman3d"]
)  # fmt: skip
def test_merged_codebases_turn_empty_fp16_into_the_fp16_hook(codebase: str) -> None:
    cfg = dict(optimizer_config=dict(grad_clip=CLIP), fp16=dict())
    hook = resolve_optimizer_hook(cfg, codebase, fill_defaults=True)
    assert hook["type"] == "Fp16OptimizerHook"
    assert hook["loss_scale"] == 512.0 and hook["grad_clip"] == CLIP
    plain = resolve_optimizer_hook(dict(optimizer_config=dict(grad_clip=CLIP)), codebase)
    assert plain == dict(type="OptimizerHook", grad_clip=CLIP)


@pytest.mark.parametrize(
    ("codebase", "hook"),
    [("mmpose", "OptimizerHook"), ("mmaction2", "OptimizerHook"), ("mmocr", "OptimizerHook"),
     ("mmrotate", "OptimizerHook"), ("mmtrack", "OptimizerHook"), ("mmflow", "OptimizerHook"),
     ("mmhuman3d", "OptimizerHook"), ("mmfewshot", "DistOptimizerHook"),
     ("mmcls", "DistOptimizerHook")],
)  # fmt: skip
def test_distributed_untyped_hook_per_codebase(codebase: str, hook: str) -> None:
    cfg = dict(optimizer_config=dict(grad_clip=CLIP))
    assert resolve_optimizer_hook(cfg, codebase, distributed=True)["type"] == hook


@pytest.mark.parametrize(
    ("codebase", "cfg", "length"),
    [
        # always EpochBasedRunner run for total_epochs, whatever `runner` says
        ("mmpose", dict(total_epochs=210, runner=ITERS), (True, 210)),
        ("mmaction2", dict(total_epochs=50, runner=ITERS), (True, 50)),
        ("mmtrack", dict(total_epochs=4), (True, 4)),
        # 'runner' not in cfg -> EpochBasedRunner(total_epochs)
        ("mmocr", dict(total_epochs=600), (True, 600)),
        ("mmrotate", dict(runner=dict(type="EpochBasedRunner", max_epochs=12)), (True, 12)),
        ("mmdet3d", dict(total_epochs=36), (True, 36)),
        # runner None -> IterBasedRunner(total_iters) / EpochBasedRunner(total_epochs)
        ("mmflow", dict(runner=None, total_iters=1200), (False, 1200)),
        ("mmhuman3d", dict(total_epochs=100), (True, 100)),
        ("mmfewshot", dict(runner=dict(type="IterBasedRunner", max_iters=160)), (False, 160)),
    ],
)  # fmt: skip
def test_run_length_per_codebase(codebase: str, cfg: dict, length: tuple) -> None:
    assert resolve_train_length(cfg, codebase) == TrainLength(*length)


def test_mmfewshot_needs_a_runner() -> None:
    with pytest.raises(KeyError, match="runner"):
        resolve_train_length(dict(total_epochs=3), "mmfewshot")


def test_mmdet3d_segmentors_train_the_mmseg_way() -> None:
    cfg = dict(
        model=dict(type="EncoderDecoder3D"), optimizer_config=dict(), fp16=dict(), total_iters=8
    )
    assert train_api("mmdet3d", "EncoderDecoder3D").fp16 == FP16_IGNORED
    assert resolve_optimizer_hook(cfg, "mmdet3d") == dict(type="OptimizerHook")
    assert resolve_train_length(cfg, "mmdet3d") == TrainLength(False, 8)
    detector = dict(cfg, model=dict(type="VoxelNet"))
    assert resolve_optimizer_hook(detector, "mmdet3d")["type"] == "Fp16OptimizerHook"


@pytest.mark.parametrize("codebase", ["mmpose", "mmhuman3d"])
def test_adversarial_training_is_unsupported(codebase: str) -> None:
    cfg = dict(optimizer_config=dict(), use_adversarial_train=True)
    with pytest.raises(UnsupportedCodebase, match="use_adversarial_train"):
        resolve_optimizer_hook(cfg, codebase)


@pytest.mark.parametrize(("codebase", "why"), [("mmselfsup", "own"), ("mmrazor", "train_step")])
def test_codebases_verify_cannot_model_say_why(codebase: str, why: str) -> None:
    with pytest.raises(UnsupportedCodebase, match=why):
        resolve_optimizer_hook(dict(optimizer_config=dict()), codebase)


def test_aliases_and_unknown_names() -> None:
    assert train_api("MMAction").name == "mmaction2"
    assert train_api("mmdetection3d").name == "mmdet3d"
    with pytest.raises(UnsupportedCodebase, match="unknown"):
        train_api("mmfoo")
    assert not issubclass(UnsupportedCodebase, ValueError)


@pytest.mark.parametrize("codebase", ["mmpose", "mmocr", "mmflow", "mmcls", "mmdet3d"])
def test_resolved_fp16_hooks_build_in_real_mmcv(codebase: str) -> None:
    runner = mmcv_runner()
    cfg = dict(optimizer_config=dict(grad_clip=CLIP), fp16=dict(loss_scale=256.0))
    kwargs = dict(resolve_optimizer_hook(cfg, codebase))
    hook = getattr(runner, kwargs.pop("type"))(**kwargs)
    assert hook.grad_clip == CLIP and hook._scale_update_param == 256.0


# -- verify reads the same table -------------------------------------------------------------------
OLD_FP16 = dict(
    optimizer=dict(type="SGD", lr=0.01, momentum=0.9),
    optimizer_config=dict(grad_clip=CLIP),
    fp16=dict(),
)
NEW_AMP = dict(
    optim_wrapper=dict(
        type="AmpOptimWrapper",
        optimizer=dict(type="SGD", lr=0.01, momentum=0.9),
        clip_grad=CLIP,
        loss_scale=512.0,
    )
)


@pytest.mark.parametrize("codebase", ["mmpose", "mmaction2", "mmocr", "mmrotate", "mmflow"])
def test_verify_trains_sibling_codebases_with_their_fp16_rule(codebase: str) -> None:
    from migrate_optim.verify.api import VerifyOptions, verify_configs

    options = VerifyOptions(device="cpu", steps=3)
    report = verify_configs(OLD_FP16, NEW_AMP, options, codebase=codebase)
    assert report.status == "equivalent", report.error or report.differences
    assert report.old.modules[""].source == "Fp16OptimizerHook"
    # the same pair under mmseg (fp16 ignored) trains without AMP on the 0.x side: different
    report = verify_configs(OLD_FP16, NEW_AMP, options, codebase="mmseg")
    assert report.status == "different"


@pytest.mark.parametrize("codebase", ["mmselfsup", "mmrazor", "mmfoo"])
def test_verify_reports_unsupported_codebases_with_exit_3(codebase: str) -> None:
    from migrate_optim.verify.api import VerifyOptions, verify_configs

    report = verify_configs(OLD_FP16, NEW_AMP, VerifyOptions(device="cpu"), codebase=codebase)
    assert report.status == "unsupported" and report.exit_code == 3
    assert "ValueError" not in report.error and codebase in report.error
    assert report.to_dict()["exit_code"] == 3
