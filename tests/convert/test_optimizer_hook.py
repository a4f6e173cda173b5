"""MO102 optimizer_config -> optim_wrapper fields (spec §3.1, §3.2, §7 rule 7; note Q4).

Also MO104 (loss scales), MO106 (detect_anomalous_params), MO107 (hookless trainers) and MO111
(apex).
"""

from __future__ import annotations

import pytest

from tests.convert.helpers import check_noop, check_transformed, run_tree, todos

DET = "model = dict(type='RetinaNet')\noptimizer = dict(type='SGD', lr=0.01)\n"


def test_grad_clip_becomes_clip_grad():
    check_transformed(
        DET + "optimizer_config = dict(grad_clip=dict(max_norm=35, norm_type=2))\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            clip_grad=dict(max_norm=35, norm_type=2))
        """,
        ids=[],
    )


def test_grad_clip_none_is_kept_as_no_clipping():
    check_transformed(
        DET + "optimizer_config = dict(grad_clip=None)\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            clip_grad=None)
        """,
    )


def test_empty_optimizer_config_is_a_plain_wrapper():
    check_transformed(
        DET + "optimizer_config = dict()  # default hook\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
        # default hook
        """,
    )


def test_explicit_optimizer_hook_type():
    result = run_tree({"config.py": DET + "optimizer_config = dict(type='OptimizerHook')\n"})
    assert "optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))" in (
        result.out()
    )
    assert result.ids() == []


def test_gradient_cumulative_hook():
    check_transformed(
        DET
        + "optimizer_config = dict(\n"
        "    type='GradientCumulativeOptimizerHook',\n"
        "    cumulative_iters=4,  # 4 x 2 images\n"
        "    grad_clip=dict(max_norm=1.0))\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            accumulative_counts=4,  # 4 x 2 images
            clip_grad=dict(max_norm=1.0))
        """,
        ids=[],
    )


def test_fp16_hook_default_loss_scale_made_explicit():
    check_transformed(
        DET + "optimizer_config = dict(type='Fp16OptimizerHook')\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            loss_scale=512.0)
        """,
        ids=[],
    )


def test_fp16_hook_dynamic_and_dropped_arguments():
    result = check_transformed(
        DET
        + "optimizer_config = dict(type='Fp16OptimizerHook', loss_scale='dynamic',\n"
        "                        coalesce=True, bucket_size_mb=-1, distributed=False)\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            loss_scale='dynamic')
        """,
    )
    assert result.ids() == ["MO102"] * 3
    assert all(f.severity.value == "info" for f in result.findings())
    assert {f.line for f in result.findings()} == {4}  # where the dropped arguments are


def test_fp16_hook_dict_loss_scale_and_clip():
    check_transformed(
        DET
        + "optimizer_config = dict(type='Fp16OptimizerHook',\n"
        "    loss_scale=dict(init_scale=512.), grad_clip=dict(max_norm=35, norm_type=2))\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            loss_scale=dict(init_scale=512.),
            clip_grad=dict(max_norm=35, norm_type=2))
        """,
    )


def test_gradient_cumulative_fp16_hook():
    check_transformed(
        DET
        + "optimizer_config = dict(type='GradientCumulativeFp16OptimizerHook', "
        "cumulative_iters=2)\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            loss_scale=512.0,
            accumulative_counts=2)
        """,
    )


def test_int_loss_scale_becomes_float_with_warning():
    result = check_transformed(
        DET + "optimizer_config = dict(type='Fp16OptimizerHook', loss_scale=512)\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            loss_scale=512.0)
        """,
        ids=["MO104"],
    )
    assert result.findings()[0].severity.value == "warning"


def test_invalid_loss_scale_string_is_a_todo():
    result = run_tree(
        {"config.py": DET + "optimizer_config = dict(type='Fp16OptimizerHook', loss_scale='x')\n"}
    )
    assert result.ids() == ["MO104"]
    assert "optimizer_config = dict(type='Fp16OptimizerHook'" in result.out()
    assert "optimizer = dict(type='SGD', lr=0.01)" in result.out()  # whole group left


def test_detect_anomalous_params_moves_to_model_wrapper_cfg():
    result = check_transformed(
        DET + "optimizer_config = dict(grad_clip=None, detect_anomalous_params=True)\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.01),
            clip_grad=None)
        model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            detect_anomalous_params=True)
        """,
        ids=["MO106"],
    )
    assert result.findings()[0].severity.value == "info"


def test_detect_anomalous_params_false_is_dropped_with_info():
    check_transformed(
        DET + "optimizer_config = dict(detect_anomalous_params=False)\n",
        """
        model = dict(type='RetinaNet')
        optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
        """,
        ids=["MO106"],
    )


def test_detect_anomalous_params_not_literal_is_a_todo():
    result = run_tree(
        {"config.py": DET + "flag = True\noptimizer_config = dict(detect_anomalous_params=flag)\n"}
    )
    assert result.ids() == ["MO106"]
    assert "optimizer_config = dict(detect_anomalous_params=flag)" in result.out()


@pytest.mark.parametrize(
    "hook_cfg, message",
    [
        ("dict(type='MyHook', grad_clip=None)", "'MyHook' has no known 1.x"),
        ("dict(type=hook_type)", "not a string literal"),
        ("dict(grad_clip=None, foo=1)", "`foo` is not an argument"),
        ("dict(grad_clip=dict(type='value', clip_value=1))", "grad_clip.type"),
        ("dict(type='Fp16OptimizerHook', cumulative_iters=2)", "`cumulative_iters` is not"),
        (
            "dict(type='GradientCumulativeFp16OptimizerHook', detect_anomalous_params=True)",
            "`detect_anomalous_params` is not",
        ),
        ("None", "registered no optimizer hook"),
        ("make_hook()", "not a dict literal"),
    ],
)
def test_optimizer_config_forms_left_with_a_todo(hook_cfg, message):
    src = DET + "hook_type = 'OptimizerHook'\n" + f"optimizer_config = {hook_cfg}\n"
    result = check_noop_with_todo(src)
    assert result.ids() == ["MO102"]
    assert message in result.findings()[0].message


def check_noop_with_todo(src: str):
    """The optimizer group stays as written, with exactly one TODO above optimizer_config."""
    result = run_tree({"config.py": src})
    out = result.out()
    lines = [ln for ln in out.splitlines() if not ln.startswith("# TODO(migrate-optim)")]
    assert "\n".join(lines) + "\n" == src
    assert len(todos(out)) == 1
    assert out.splitlines()[out.splitlines().index(todos(out)[0]) + 1].startswith(
        "optimizer_config ="
    )
    return result


def test_hook_without_optimizer_in_the_file():
    check_transformed(
        "optimizer_config = dict(grad_clip=dict(max_norm=0.1, norm_type=2))\n",
        """
        optim_wrapper = dict(
            type='OptimWrapper',
            clip_grad=dict(max_norm=0.1, norm_type=2))
        """,
        codebase="mmdet",
    )


# -- codebase-specific hooks (research note Q4) -------------------------------------------------


def test_mmcls_default_hook_is_its_dist_hook():
    check_transformed(
        """
        model = dict(type='ImageClassifier')
        optimizer = dict(type='SGD', lr=0.1)
        optimizer_config = dict(grad_clip=None, coalesce=True)
        """,
        """
        model = dict(type='ImageClassifier')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.1),
            clip_grad=None)
        """,
        ids=["MO102"],  # coalesce dropped
    )


def test_mmcls_dist_hook_has_no_detect_anomalous_params():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='ImageClassifier')
            optimizer = dict(type='SGD', lr=0.1)
            optimizer_config = dict(detect_anomalous_params=True)
            """
        }
    )
    assert result.ids() == ["MO102"]
    assert "DistOptimizerHook" in result.findings()[0].message


def test_mmselfsup_dist_hook_update_interval_is_exact():
    check_transformed(
        """
        model = dict(type='MoCo')
        optimizer = dict(type='SGD', lr=0.03)
        optimizer_config = dict(update_interval=4, grad_clip=None, frozen_layers_cfg=dict())
        """,
        """
        model = dict(type='MoCo')
        optim_wrapper = dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.03),
            accumulative_counts=4,
            clip_grad=None)
        """,
        ids=["MO102"],  # frozen_layers_cfg=dict() dropped
    )


def test_mmselfsup_frozen_layers_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='SwAV')
            optimizer = dict(type='LARS', lr=0.6)
            optimizer_config = dict(frozen_layers_cfg=dict(prototypes=5005))
            """
        }
    )
    assert result.ids() == ["MO102"] and "frozen_layers_cfg" in todos(result.out())[0]
    assert "optim_wrapper =" not in result.out()


def test_mmselfsup_fp16_with_update_interval_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='MAE')
            optimizer = dict(type='AdamW', lr=1.5e-4)
            optimizer_config = dict(update_interval=2)
            fp16 = dict(loss_scale='dynamic')
            """
        }
    )
    assert result.ids() == ["MO102"]
    assert "never steps on a partial last window" in result.findings()[0].message


def test_mmselfsup_fp16_without_accumulation():
    check_transformed(
        """
        model = dict(type='MAE')
        optimizer = dict(type='AdamW', lr=1.5e-4)
        optimizer_config = dict()
        fp16 = dict(loss_scale='dynamic')
        """,
        """
        model = dict(type='MAE')
        optim_wrapper = dict(
            type='AmpOptimWrapper',
            optimizer=dict(type='AdamW', lr=1.5e-4),
            loss_scale='dynamic')
        """,
    )


def test_swin_fork_dist_hook_with_apex():
    result = check_transformed(
        """
        model = dict(type='MaskRCNN')
        optimizer = dict(type='AdamW', lr=0.0001)
        optimizer_config = dict(
            type='DistOptimizerHook',
            update_interval=1,
            grad_clip=None,
            coalesce=True,
            bucket_size_mb=-1,
            use_fp16=True,
        )
        # do not use mmdet version fp16
        fp16 = None
        """,
        """
        model = dict(type='MaskRCNN')
        optim_wrapper = dict(
            type='ApexOptimWrapper',
            optimizer=dict(type='AdamW', lr=0.0001),
            opt_level='O1',
            loss_scale='dynamic',
            accumulative_counts=1,
            clip_grad=None)
        # do not use mmdet version fp16
        """,
    )
    assert result.ids() == ["MO102", "MO102", "MO111"]


def test_swin_fork_dist_hook_with_accumulation_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='MaskRCNN')
            optimizer = dict(type='AdamW', lr=0.0001)
            optimizer_config = dict(type='DistOptimizerHook', update_interval=2, use_fp16=False)
            fp16 = None
            """
        }
    )
    assert result.ids() == ["MO102"]
    assert "update_interval=2" in result.findings()[0].message


def test_mmtrack_siamese_hook_is_a_todo():
    result = run_tree(
        {
            "config.py": """
            model = dict(type='SiamRPN')
            optimizer = dict(type='SGD', lr=0.005)
            optimizer_config = dict(
                type='SiameseRPNOptimizerHook',
                backbone_start_train_epoch=10,
                backbone_train_layers=['layer2', 'layer3', 'layer4'])
            """
        },
        codebase="mmtrack",
    )
    assert result.ids() == ["MO102"]
    assert "unfreezes backbone layers" in result.findings()[0].message


# -- trainers without an optimizer hook (spec §1.9, §3.2) --------------------------------------


@pytest.mark.parametrize("codebase", ["mmgen", "mmedit"])
def test_hookless_trainers_drop_optimizer_config_and_fp16(codebase):
    result = check_transformed(
        """
        optimizer_config = dict(grad_clip=dict(max_norm=1.))  # never read
        fp16 = dict(loss_scale=512.)
        data = dict(samples_per_gpu=2)
        """,
        """
        # never read
        data = dict(samples_per_gpu=2)
        """,
        codebase=codebase,
        ids=["MO107", "MO107"],
    )
    assert {f.severity.value for f in result.findings()} == {"warning"}


def test_nothing_to_do_for_a_file_without_optimizer_keys():
    check_noop("model = dict(type='RetinaNet')\n", ids=[])
