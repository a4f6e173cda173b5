"""Top-level ``fp16`` per codebase (spec §3.2, §7 rule 7; research note Q1): MO103, MO108."""

from __future__ import annotations

import pytest

from tests.convert.helpers import check_transformed, run_tree, todos

OPT = "optimizer = dict(type='SGD', lr=0.02)\noptimizer_config = dict(grad_clip=None)\n"
AMP_512 = """
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='SGD', lr=0.02),
    clip_grad=None,
    loss_scale=512.)
"""


# -- mmdet and the codebases whose trainer merges fp16 into the hook ---------------------------


@pytest.mark.parametrize(
    "model",
    ["MaskRCNN", "TopDown", "Recognizer3D", "DBNet", "RotatedRetinaNet", "RAFT", "VoxelNet"],
)
def test_merged_fp16_becomes_amp(model):
    check_transformed(
        f"model = dict(type='{model}')\n" + OPT + "fp16 = dict(loss_scale=512.)\n",
        f"model = dict(type='{model}')\n" + AMP_512.lstrip("\n"),
        ids=[],
    )


def test_empty_fp16_enables_amp_with_the_mmcv_default_scale():
    # every trainer tests `fp16 is not None`: an empty dict turns fp16 on (loss_scale=512.)
    check_transformed(
        "model = dict(type='MaskRCNN')\n" + OPT + "fp16 = dict()  # use fp16\n",
        """
        model = dict(type='MaskRCNN')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.02),
            loss_scale=512.0,
            clip_grad=None)
        # use fp16
        """,
    )


def test_fp16_none_disables_and_is_removed():
    check_transformed(
        "model = dict(type='MaskRCNN')\n" + OPT + "fp16 = None\n",
        """
        model = dict(type='MaskRCNN')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.02),
            clip_grad=None)
        """,
        ids=[],
    )


def test_merged_fp16_other_keys_go_into_the_hook():
    check_transformed(
        """
        model = dict(type='MaskRCNN')
        optimizer = dict(type='SGD', lr=0.02)
        optimizer_config = dict()
        fp16 = dict(loss_scale='dynamic', grad_clip=dict(max_norm=35))
        """,
        """
        model = dict(type='MaskRCNN')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.02),
            loss_scale='dynamic',
            clip_grad=dict(max_norm=35))
        """,
    )


@pytest.mark.parametrize(
    "hook, fp16, message",
    [
        ("dict(type='OptimizerHook')", "dict()", "optimizer_config.type"),
        ("dict(grad_clip=None)", "dict(grad_clip=None)", "`grad_clip` twice"),
        ("dict()", "dict(distributed=False)", "`distributed` twice"),
        ("dict(distributed=True)", "dict()", "optimizer_config.distributed"),
    ],
)
def test_merged_fp16_that_failed_in_0x_is_a_todo(hook, fp16, message):
    result = run_tree(
        {
            "config.py": "model = dict(type='MaskRCNN')\noptimizer = dict(type='SGD', lr=0.1)\n"
            f"optimizer_config = {hook}\nfp16 = {fp16}\n"
        }
    )
    assert result.ids() == ["MO103"]
    assert message in result.findings()[0].message
    assert "did not train in 0.x" in result.findings()[0].message
    # nothing of the optimizer group was rewritten; the TODO sits on `fp16`
    out = result.out().splitlines()
    assert out[out.index(f"fp16 = {fp16}") - 1].startswith("# TODO(migrate-optim): [MO103]")
    assert "optim_wrapper" not in result.out()


def test_fp16_with_an_unknown_hook_argument_is_a_todo():
    result = run_tree(
        {
            "config.py": "model = dict(type='MaskRCNN')\noptimizer = dict(type='SGD', lr=0.1)\n"
            "fp16 = dict(loss_scale=512., foo=1)\n"
        }
    )
    assert result.ids() == ["MO102"]
    assert "`foo` is not an argument" in result.findings()[0].message


def test_fp16_not_a_dict_is_a_todo():
    result = run_tree(
        {"config.py": "model = dict(type='MaskRCNN')\nfp16_cfg = dict()\nfp16 = fp16_cfg\n"}
    )
    assert result.ids() == ["MO103"]
    assert todos(result.out()) == [
        "# TODO(migrate-optim): [MO103] `fp16` is not a dict literal; convert by hand"
    ]


# -- mmcls: only fp16['loss_scale'] is read ------------------------------------------------------


def test_mmcls_reads_only_loss_scale():
    result = check_transformed(
        """
        model = dict(type='ImageClassifier')
        optimizer = dict(type='SGD', lr=0.1)
        optimizer_config = dict(grad_clip=None)
        fp16 = dict(loss_scale=512., grad_clip=dict(max_norm=1.))
        """,
        """
        model = dict(type='ImageClassifier')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.1),
            clip_grad=None,
            loss_scale=512.)
        """,
        ids=["MO103"],
    )
    assert "fp16.grad_clip" in result.findings()[0].message


def test_mmcls_fp16_without_loss_scale_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='ImageClassifier')
            optimizer = dict(type='SGD', lr=0.1)
            optimizer_config = dict(grad_clip=None)
            fp16 = dict()
            """
        }
    )
    assert result.ids() == ["MO103"]
    assert "KeyError" in result.findings()[0].message
    assert "optim_wrapper =" not in result.out()


def test_mmcls_loss_scale_given_twice_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='ImageClassifier')
            optimizer = dict(type='SGD', lr=0.1)
            optimizer_config = dict(loss_scale=512.)
            fp16 = dict(loss_scale=512.)
            """
        }
    )
    assert result.ids() == ["MO103"]
    assert "`loss_scale` twice" in result.findings()[0].message


# -- mmseg: the top-level fp16 is ignored ---------------------------------------------------------


def test_mmseg_ignores_fp16():
    result = check_transformed(
        """
        model = dict(type='EncoderDecoder')
        optimizer = dict(type='SGD', lr=0.01)
        optimizer_config = dict()
        # fp16 placeholder
        fp16 = dict()
        """,
        """
        model = dict(type='EncoderDecoder')
        optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
        # fp16 placeholder
        """,
        ids=["MO103"],
    )
    assert result.findings()[0].severity.value == "info"


def test_mmseg_fp16_comes_from_the_hook_type():
    check_transformed(
        """
        model = dict(type='EncoderDecoder')
        optimizer = dict(type='AdamW', lr=0.0001)
        optimizer_config = dict(type='Fp16OptimizerHook', loss_scale='dynamic')
        fp16 = dict()
        """,
        """
        model = dict(type='EncoderDecoder')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='AdamW', lr=0.0001),
            loss_scale='dynamic')
        """,
        ids=["MO103"],
    )


def test_mmdet3d_segmentor_ignores_fp16_like_mmseg():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='EncoderDecoder3D')
            optimizer = dict(type='Adam', lr=0.001)
            fp16 = dict(loss_scale=512.)
            """
        },
        codebase="mmdet3d",
    )
    assert result.ids() == ["MO103"]
    assert "type='OptimWrapper'" in result.out() and "Amp" not in result.out()


# -- unknown codebase -------------------------------------------------------------------------


def test_unknown_codebase_with_fp16_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='MyNet')
            optimizer = dict(type='SGD', lr=0.01)
            fp16 = dict(loss_scale=512.)
            """
        }
    )
    assert result.ids() == ["MO108"]
    assert "--codebase" in result.findings()[0].message
    assert "optimizer = dict(" in result.out()


def test_forced_codebase_resolves_fp16():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='MyNet')
            optimizer = dict(type='SGD', lr=0.01)
            fp16 = dict(loss_scale=512.)
            """
        },
        codebase="mmdet",
    )
    assert result.ids() == []
    assert "type='AmpOptimWrapper'" in result.out()


def test_unknown_codebase_optimizer_config_converted_with_a_warning():
    result = check_transformed(
        """
        model = dict(type='MyNet')
        optimizer = dict(type='SGD', lr=0.01)
        optimizer_config = dict(grad_clip=None)
        """,
        """
        model = dict(type='MyNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            clip_grad=None)
        """,
        ids=["MO108"],
    )
    assert result.findings()[0].severity.value == "warning"
