"""Before/after fixtures of the schedule rules (MO301-MO305, MO310; spec §5, §7 rules 9-12).

One fixture per lr policy and per warmup kind, the momentum policies, the training loop, the
inheritance cases (a child overriding a base schedule), the GAN schedules, and every case left
with a TODO. Exactness of each mapping against the real libraries is
tests/convert/test_schedule_exactness.py's.
"""

from __future__ import annotations

import pytest

from tests.convert.helpers import check_noop, check_transformed, dedent, run_tree, todos

EPOCH_12 = "runner = dict(type='EpochBasedRunner', max_epochs=12)\n"
LOOP_12 = "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)\n"


# -- runner / total_* -> train_cfg ------------------------------------------------------------


def test_epoch_runner_becomes_epoch_loop_with_the_evaluation_interval():
    check_transformed(
        """
        runner = dict(type='EpochBasedRunner', max_epochs=24)  # 2x
        evaluation = dict(interval=2, metric='bbox')
        """,
        """
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=24, val_interval=2)  # 2x
        evaluation = dict(interval=2, metric='bbox')
        """,
        codebase="mmdet",
        ids=[],
    )


def test_iter_runner_becomes_iter_loop():
    check_transformed(
        """
        runner = dict(type='IterBasedRunner', max_iters=80000)
        evaluation = dict(interval=8000, metric='mIoU', pre_eval=True)
        """,
        """
        train_cfg = dict(
            type='IterBasedTrainLoop',
            max_iters=80000,
            val_interval=8000)
        evaluation = dict(interval=8000, metric='mIoU', pre_eval=True)
        """,
        codebase="mmseg",
        ids=[],
    )


def test_mmdet_total_epochs_without_runner_is_the_epoch_loop():
    check_transformed(
        "total_epochs = 24\n",
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=24, val_interval=1)\n",
        codebase="mmdet",
        ids=[],
    )


def test_mmseg_total_iters_without_runner_is_the_iter_loop():
    # mmseg 0.x builds an IterBasedRunner(max_iters=total_iters); EvalHook's interval is 1
    check_transformed(
        "total_iters = 40000\n",
        "train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=1)\n",
        codebase="mmseg",
        ids=[],
    )


def test_equal_total_epochs_and_runner_merge_into_one_loop():
    check_transformed(
        EPOCH_12 + "total_epochs = 12\n",
        LOOP_12,
        codebase="mmdet",
        ids=[],
    )


def test_runner_in_a_base_and_a_child_overriding_max_epochs():
    base = EPOCH_12
    result = check_transformed(
        """
        _base_ = './schedule.py'
        runner = dict(max_epochs=24)
        """,
        """
        _base_ = './schedule.py'
        train_cfg = dict(max_epochs=24)
        """,
        codebase="mmdet",
        files={"schedule.py": base},
        ids=[],
    )
    assert result.out("schedule.py") == LOOP_12


def test_child_changing_only_the_evaluation_interval_changes_val_interval():
    base = (
        "runner = dict(type='IterBasedRunner', max_iters=160000)\n"
        "evaluation = dict(interval=16000, metric='mIoU')  # eval\n"
    )
    result = check_transformed(
        """
        _base_ = './schedule.py'
        evaluation = dict(interval=4000)  # more often
        """,
        """
        _base_ = './schedule.py'
        evaluation = dict(interval=4000)  # more often
        train_cfg = dict(val_interval=4000)
        """,
        codebase="mmseg",
        files={"schedule.py": base},
        ids=[],
    )
    assert result.out("schedule.py") == dedent(
        """
        train_cfg = dict(
            type='IterBasedTrainLoop',
            max_iters=160000,
            val_interval=16000)
        evaluation = dict(interval=16000, metric='mIoU')  # eval
        """
    )


@pytest.mark.parametrize(
    ("src", "why"),
    [
        (
            "runner = dict(type='EpochBasedRunner', max_epochs=12, meta=dict(a=1))\n",
            "runner option(s) meta",
        ),
        (EPOCH_12 + "total_epochs = 24\n", "`total_epochs` and the runner's length differ"),
        ("runner = dict(type='CustomRunner', max_epochs=12)\n", "'CustomRunner' is not known"),
        ("runner = dict(type='EpochBasedRunner')\n", "has no max_epochs"),
        (
            "runner = dict(type='EpochBasedRunner', max_epochs=12, max_iters=100)\n",
            "with `max_iters`",
        ),
        (EPOCH_12 + "train_cfg = dict(rpn=dict())\n", "0.x model train_cfg"),
    ],
)
def test_runner_without_an_exact_loop_is_left_with_a_todo(src, why):
    result = run_tree({"config.py": src}, codebase="mmdet")
    assert "train_cfg = dict(type=" not in result.out()
    assert any(why in t for t in todos(result.out())), result.out()
    assert "MO303" in result.ids()


def test_evaluation_start_is_reported():
    result = check_transformed(
        EPOCH_12 + "evaluation = dict(interval=2, start=4)\n",
        """
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=2)
        evaluation = dict(interval=2, start=4)
        """,
        codebase="mmdet",
        ids=["MO303"],
    )
    assert "val_begin" in result.findings()[0].message


# -- lr policies --------------------------------------------------------------------------------


def test_step_list_with_linear_warmup():
    check_transformed(
        """
        # learning policy
        lr_config = dict(
            policy='step',
            warmup='linear',
            warmup_iters=500,
            warmup_ratio=0.001,
            step=[8, 11])
        runner = dict(type='EpochBasedRunner', max_epochs=12)
        """,
        """
        # learning policy
        param_scheduler = [
            dict(
                type='LinearLR',
                start_factor=0.001,
                by_epoch=False,
                begin=0,
                end=501),
            dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True)
        ]
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
        """,
        codebase="mmdet",
        ids=[],
    )


def test_step_int_becomes_step_lr():
    check_transformed(
        "lr_config = dict(policy='step', step=3, gamma=0.5)\n" + EPOCH_12,
        """
        param_scheduler = [
            dict(type='StepLR', step_size=3, gamma=0.5, by_epoch=True)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=[],
    )


def test_constant_warmup_ends_one_iteration_after_the_doc():
    # spec §5.2: ConstantLR(end=W) restores the lr one iteration early; end=W+1 is exact
    check_transformed(
        """
        lr_config = dict(
            policy='LinearAnnealing',
            min_lr_ratio=0.01,
            warmup='constant',
            warmup_iters=100,
            warmup_ratio=0.25)
        """
        + EPOCH_12,
        """
        param_scheduler = [
            dict(type='ConstantLR', factor=0.25, by_epoch=False, begin=0, end=101),
            dict(
                type='LinearLR',
                start_factor=1.0,
                end_factor=0.01,
                begin=0,
                end=13,
                by_epoch=True)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=[],
    )


def test_exp_warmup_is_a_constant_factor_then_an_exponential_climb():
    check_transformed(
        """
        lr_config = dict(
            policy='step',
            step=[16, 22],
            warmup='exp',
            warmup_iters=500,
            warmup_ratio=0.001)
        total_epochs = 24
        """,
        """
        param_scheduler = [
            dict(type='ConstantLR', factor=0.001, by_epoch=False, begin=0, end=1),
            dict(
                type='ExponentialLR',
                gamma=1.0139113857366795,
                by_epoch=False,
                begin=0,
                end=501),
            dict(type='MultiStepLR', milestones=[16, 22], gamma=0.1, by_epoch=True)
        ]
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=24, val_interval=1)
        """,
        codebase="mmdet",
        ids=[],
    )


def test_fixed_has_no_scheduler():
    check_transformed(
        "lr_config = dict(policy='fixed')\n" + EPOCH_12, LOOP_12, codebase="mmdet", ids=[]
    )


def test_lr_config_none_is_dropped():
    check_transformed("lr_config = None\n" + EPOCH_12, LOOP_12, codebase="mmdet", ids=[])


def test_exp_policy():
    check_transformed(
        "lr_config = dict(policy='exp', gamma=0.9)\n" + EPOCH_12,
        """
        param_scheduler = [
            dict(type='ExponentialLR', gamma=0.9, by_epoch=True)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=[],
    )


def test_poly_ends_one_step_after_the_run_in_an_iteration_runner():
    # IterBasedRunner: lr_config.by_epoch defaults to False; PolyLR reaches eta_min at end - 1
    check_transformed(
        """
        lr_config = dict(policy='poly', power=0.9)
        total_iters = 40000
        evaluation = dict(interval=4000)
        """,
        """
        param_scheduler = [
            dict(
                type='PolyLR',
                eta_min=0.0,
                power=0.9,
                begin=0,
                end=40001,
                by_epoch=False)
        ]
        train_cfg = dict(
            type='IterBasedTrainLoop',
            max_iters=40000,
            val_interval=4000)
        evaluation = dict(interval=4000)
        """,
        codebase="mmseg",
        ids=[],
    )


def test_cosine_with_linear_warmup_in_epochs():
    check_transformed(
        """
        lr_config = dict(
            policy='CosineAnnealing',
            min_lr=0,
            warmup='linear',
            warmup_iters=5,
            warmup_ratio=0.1)
        runner = dict(type='EpochBasedRunner', max_epochs=100)
        """,
        """
        param_scheduler = [
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=6),
            dict(
                type='CosineAnnealingLR',
                T_max=100,
                eta_min=0,
                begin=0,
                end=100,
                by_epoch=True)
        ]
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
        """,
        codebase="mmcls",
        ids=[],
    )


def test_iteration_cosine_in_an_epoch_runner_lets_the_runner_fill_end():
    check_transformed(
        "lr_config = dict(policy='CosineAnnealing', min_lr_ratio=0.01, by_epoch=False)\n"
        + EPOCH_12,
        """
        param_scheduler = [
            dict(
                type='CosineAnnealingLR',
                eta_min_ratio=0.01,
                begin=0,
                by_epoch=False)
        ]
        """
        + LOOP_12,
        codebase="mmcls",
        ids=[],
    )


def test_flat_cosine_starts_at_the_rounded_fraction():
    check_transformed(
        "lr_config = dict(policy='FlatCosineAnnealing', start_percent=0.5, min_lr_ratio=0.05)\n"
        + EPOCH_12,
        """
        param_scheduler = [
            dict(
                type='CosineAnnealingLR',
                T_max=6,
                eta_min_ratio=0.05,
                begin=6,
                end=12,
                by_epoch=True)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=[],
    )


def test_cosine_restart_with_zero_floor():
    check_transformed(
        """
        lr_config = dict(
            policy='CosineRestart',
            periods=[30, 60],
            restart_weights=[1, 0.5],
            min_lr=0)
        runner = dict(type='EpochBasedRunner', max_epochs=90)
        """,
        """
        param_scheduler = [
            dict(
                type='CosineRestartLR',
                periods=[30, 60],
                restart_weights=[1, 0.5],
                eta_min=0,
                begin=0,
                by_epoch=True)
        ]
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=90, val_interval=1)
        """,
        codebase="mmcls",
        ids=[],
    )


def test_cyclic_lr_and_momentum_become_cosine_pairs():
    check_transformed(
        """
        lr_config = dict(policy='cyclic', target_ratio=(10, 1e-4), step_ratio_up=0.4)
        momentum_config = dict(policy='cyclic', target_ratio=(0.85 / 0.95, 1))
        runner = dict(type='IterBasedRunner', max_iters=1000)
        """,
        """
        param_scheduler = [
            dict(
                type='CosineAnnealingLR',
                T_max=400,
                eta_min_ratio=10.0,
                begin=0,
                end=401,
                by_epoch=False),
            dict(
                type='CosineAnnealingLR',
                T_max=600,
                eta_min_ratio=0.0001,
                begin=400,
                end=1000,
                by_epoch=False),
            dict(
                type='CosineAnnealingMomentum',
                T_max=400,
                eta_min_ratio=0.8947368421052632,
                begin=0,
                end=401,
                by_epoch=False),
            dict(
                type='CosineAnnealingMomentum',
                T_max=600,
                eta_min_ratio=1.0,
                begin=400,
                end=1000,
                by_epoch=False)
        ]
        train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=1)
        """,
        codebase="mmdet",
        ids=[],
    )


def test_one_cycle_is_iteration_based():
    check_transformed(
        "lr_config = dict(policy='OneCycle', max_lr=0.01, pct_start=0.4)\n" + EPOCH_12,
        """
        param_scheduler = [
            dict(type='OneCycleLR', eta_max=0.01, pct_start=0.4, by_epoch=False)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=[],
    )


def test_step_min_lr_that_never_binds_is_dropped():
    result = check_transformed(
        "optimizer = dict(type='SGD', lr=0.02)\n"
        "lr_config = dict(policy='step', step=[8, 11], min_lr=1e-4)\n" + EPOCH_12,
        """
        optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.02))
        param_scheduler = [
            dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=["MO301"],
    )
    assert "never falls below" in result.findings()[0].message


# -- momentum -----------------------------------------------------------------------------------


def test_cosine_momentum_follows_the_lr_schedulers():
    check_transformed(
        """
        lr_config = dict(policy='CosineAnnealing', min_lr_ratio=0.01)
        momentum_config = dict(policy='CosineAnnealing', min_momentum_ratio=0.85 / 0.95)
        runner = dict(type='EpochBasedRunner', max_epochs=20)
        """,
        """
        param_scheduler = [
            dict(
                type='CosineAnnealingLR',
                T_max=20,
                eta_min_ratio=0.01,
                begin=0,
                end=20,
                by_epoch=True),
            dict(
                type='CosineAnnealingMomentum',
                T_max=20,
                eta_min_ratio=0.85 / 0.95,
                begin=0,
                end=20,
                by_epoch=True)
        ]
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=1)
        """,
        codebase="mmdet",
        ids=[],
    )


def test_step_momentum_writes_mmcvs_default_gamma():
    check_transformed(
        "momentum_config = dict(policy='step', step=[8])\n" + EPOCH_12,
        """
        param_scheduler = [
            dict(type='MultiStepMomentum', milestones=[8], gamma=0.5, by_epoch=True)
        ]
        """
        + LOOP_12,
        codebase="mmdet",
        ids=[],
    )


# -- inheritance --------------------------------------------------------------------------------

SCHEDULE_1X = dedent(
    """
    lr_config = dict(
        policy='step',
        warmup='linear',
        warmup_iters=500,
        warmup_ratio=0.001,
        step=[8, 11])
    runner = dict(type='EpochBasedRunner', max_epochs=12)
    """
)


def test_child_overriding_the_steps_and_epochs_of_a_base_schedule():
    result = check_transformed(
        """
        _base_ = './schedule_1x.py'
        lr_config = dict(step=[16, 22])
        runner = dict(max_epochs=24)
        """,
        """
        _base_ = './schedule_1x.py'
        param_scheduler = [
            dict(
                type='LinearLR',
                start_factor=0.001,
                by_epoch=False,
                begin=0,
                end=501),
            dict(type='MultiStepLR', milestones=[16, 22], gamma=0.1, by_epoch=True)
        ]
        train_cfg = dict(max_epochs=24)
        """,
        codebase="mmdet",
        files={"schedule_1x.py": SCHEDULE_1X},
        ids=[],
    )
    assert "param_scheduler = [" in result.out("schedule_1x.py")


def test_child_dropping_the_warmup_and_a_child_replacing_the_policy():
    files = {"schedule_1x.py": SCHEDULE_1X}
    check_transformed(
        "_base_ = './schedule_1x.py'\nlr_config = dict(warmup=None)\n",
        """
        _base_ = './schedule_1x.py'
        param_scheduler = [
            dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True)
        ]
        """,
        codebase="mmdet",
        files=files,
        ids=[],
    )
    check_transformed(
        "_base_ = './schedule_1x.py'\n"
        "lr_config = dict(_delete_=True, policy='CosineAnnealing', min_lr=0)\n",
        """
        _base_ = './schedule_1x.py'
        param_scheduler = [
            dict(
                type='CosineAnnealingLR',
                T_max=12,
                eta_min=0,
                begin=0,
                end=12,
                by_epoch=True)
        ]
        """,
        codebase="mmdet",
        files=files,
        ids=[],
    )


def test_child_removing_the_base_schedule_writes_an_empty_list():
    check_transformed(
        "_base_ = './schedule_1x.py'\nlr_config = None\n",
        "_base_ = './schedule_1x.py'\nparam_scheduler = []\n",
        codebase="mmdet",
        files={"schedule_1x.py": SCHEDULE_1X},
        ids=[],
    )


def test_warmup_ratio_expression_of_a_base_moves_into_the_child():
    # `1.0 / 3` names no variable: it means the same in the child
    base = SCHEDULE_1X.replace("warmup_ratio=0.001", "warmup_ratio=1.0 / 3")
    check_transformed(
        "_base_ = './schedule_1x.py'\nlr_config = dict(warmup='constant')\n",
        """
        _base_ = './schedule_1x.py'
        param_scheduler = [
            dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=501),
            dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True)
        ]
        """,
        codebase="mmdet",
        files={"schedule_1x.py": base},
        ids=[],
    )


def test_converted_schedule_is_a_noop():
    check_noop(
        """
        param_scheduler = [
            dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True)
        ]
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
        """,
        codebase="mmdet",
        ids=[],
    )


# -- GAN schedules (spec §7 rule 10) --------------------------------------------------------------

CYCLEGAN = """
model = dict(type='CycleGAN')
optimizer = dict(
    generators=dict(type='Adam', lr=0.0002, betas=(0.5, 0.999)),
    discriminators=dict(type='Adam', lr=0.0001, betas=(0.5, 0.999)))
lr_config = dict(
    policy='Linear', by_epoch=False, target_lr=0, start=40000, interval={interval})
total_iters = 80000
"""

CYCLEGAN_WRAPPER = """
model = dict(type='CycleGAN', discriminator_steps=1)
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generators=dict(
        optimizer=dict(type='Adam', lr=0.0002, betas=(0.5, 0.999))),
    discriminators=dict(
        optimizer=dict(type='Adam', lr=0.0001, betas=(0.5, 0.999))))
"""


def test_gan_linear_policy_with_interval_1_is_one_linear_lr_for_every_wrapper():
    check_transformed(
        CYCLEGAN.format(interval=1),
        dedent(CYCLEGAN_WRAPPER)
        + dedent(
            """
            param_scheduler = [
                dict(
                    type='LinearLR',
                    start_factor=1.0,
                    end_factor=0.0,
                    begin=40000,
                    end=80001,
                    by_epoch=False)
            ]
            train_cfg = dict(by_epoch=False, max_iters=80000)
            """
        ),
        codebase="mmgen",
        ids=[],
    )


def test_gan_linear_policy_with_interval_is_linear_lr_interval_per_wrapper_with_a_todo():
    result = run_tree({"config.py": dedent(CYCLEGAN.format(interval=400))}, codebase="mmgen")
    out = result.out()
    assert result.ids() == ["MO305"]
    assert "one iteration late" in todos(out)[0]
    ns: dict = {}
    exec(out, {}, ns)  # noqa: S102 - our own output
    assert ns["param_scheduler"] == {
        name: [
            dict(
                type="LinearLrInterval",
                start_factor=lr,
                end_factor=0,
                begin=40000,
                end=80000,
                interval=400,
                by_epoch=False,
            )
        ]
        for name, lr in (("generators", 0.0002), ("discriminators", 0.0001))
    }
    assert "lr_config" not in ns and ns["train_cfg"] == dict(by_epoch=False, max_iters=80000)


def test_gan_one_cycle_max_lr_dict_becomes_a_per_wrapper_dict():
    result = run_tree(
        {
            "config.py": dedent(
                """
                model = dict(type='StaticUnconditionalGAN')
                optimizer = dict(
                    generator=dict(type='Adam', lr=0.0002, betas=(0.0, 0.999)),
                    discriminator=dict(type='Adam', lr=0.0002, betas=(0.0, 0.999)))
                lr_config = dict(
                    policy='OneCycle', max_lr=dict(generator=0.001, discriminator=0.004))
                total_iters = 1000
                """
            )
        },
        codebase="mmgen",
    )
    ns: dict = {}
    exec(result.out(), {}, ns)  # noqa: S102 - our own output
    assert ns["param_scheduler"] == {
        "generator": [dict(type="OneCycleLR", eta_max=0.001, by_epoch=False)],
        "discriminator": [dict(type="OneCycleLR", eta_max=0.004, by_epoch=False)],
    }


# -- left with a TODO ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lr_config", "why"),
    [
        ("dict(policy='inv', gamma=0.1, power=1.)", "`inv` policy"),
        ("dict(policy='YOLOX', num_last_epochs=15, min_lr_ratio=0.05)", "YOLOX"),
        ("dict(policy='CosineAnnealingCooldown', min_lr=0)", "CosineAnnealingCooldown"),
        ("dict(policy='Reduce', val_metric='PSNR')", "Reduce"),
        ("dict(policy='Banana')", "'Banana' is not known"),
        ("dict(step=[8, 11])", "policy is missing"),
        ("dict(policy='step', step=[8, 11], min_lr=1e-3)", "no clamp"),
        (
            "dict(policy='CosineRestart', periods=[6, 6], restart_weights=[1, 0.5], min_lr=1e-5)",
            "restarts at w * base + (1 - w) * min_lr",
        ),
        (
            "dict(policy='CosineAnnealing', min_lr=0, warmup='linear', warmup_iters=1, "
            "warmup_by_epoch=True)",
            "len(train_dataloader)",
        ),
        ("dict(policy='poly', power=0.9, by_epoch=False)", "len(train_dataloader)"),
        ("dict(policy='FlatCosineAnnealing', min_lr=0, by_epoch=False)", "len(train_dataloader)"),
        ("dict(policy='cyclic')", "len(train_dataloader)"),
        ("dict(policy='LinearAnnealing', min_lr=1e-5)", "absolute min_lr"),
        ("dict(policy='step', step=[8], warmup='cubic', warmup_iters=5)", "'cubic'"),
        ("dict(policy='step', step=[8], unknown_arg=1)", "unknown_arg"),
        ("dict(policy='OneCycle', max_lr=0.1, warmup='linear', warmup_iters=5)", "absolute"),
        ("dict(policy='cyclic', by_epoch=True)", "asserts by_epoch=False"),
        ("'step'", "not a dict literal"),
    ],
)
def test_lr_config_without_an_exact_form_is_left_with_a_todo(lr_config, why):
    src = f"optimizer = dict(type='SGD', lr=0.02)\nlr_config = {lr_config}\n" + EPOCH_12
    result = run_tree({"config.py": src}, codebase="mmdet")
    out = result.out()
    assert f"lr_config = {lr_config}" in out and "param_scheduler" not in out
    assert any(why in t for t in todos(out)), out
    assert "MO301" in result.ids()


def test_by_epoch_hook_inside_an_iteration_runner_is_left_with_a_todo():
    src = (
        "lr_config = dict(policy='poly', power=0.9, by_epoch=True)\n"
        "runner = dict(type='IterBasedRunner', max_iters=160000)\n"
    )
    result = run_tree({"config.py": src}, codebase="mmseg")
    assert "never changed the lr" in todos(result.out())[0]


def test_unknown_runner_leaves_the_default_by_epoch_open():
    src = "lr_config = dict(policy='step', step=[8])\nmodel = dict(type='Foo')\n"
    result = run_tree({"config.py": src})
    assert "set by_epoch" in todos(result.out())[0]


@pytest.mark.parametrize(
    ("momentum_config", "why"),
    [
        (
            "dict(policy='CosineAnnealing', min_momentum_ratio=0.9, warmup='linear', "
            "warmup_iters=500)",
            "momentum warmup",
        ),
        ("dict(policy='OneCycle')", "OneCycle momentum"),
        ("dict(policy='step', step=[8], min_momentum=0.5)", "no clamp"),
        ("dict(policy='Banana')", "'Banana' is not known"),
    ],
)
def test_momentum_config_without_an_exact_form_is_left_with_a_todo(momentum_config, why):
    src = (
        "lr_config = dict(policy='step', step=[8, 11])\n"
        f"momentum_config = {momentum_config}\n" + EPOCH_12
    )
    result = run_tree({"config.py": src}, codebase="mmdet")
    out = result.out()
    assert f"momentum_config = {momentum_config}" in out and "param_scheduler" not in out
    assert any(why in t for t in todos(out)), out
    # the lr schedule waits with it: one param_scheduler holds both
    assert "lr_config = dict(policy='step', step=[8, 11])" in out


def test_momentum_waits_with_an_lr_config_left_for_the_user():
    src = (
        "lr_config = dict(policy='inv', gamma=0.1)\n"
        "momentum_config = dict(policy='CosineAnnealing', min_momentum_ratio=0.9)\n" + EPOCH_12
    )
    result = run_tree({"config.py": src}, codebase="mmdet")
    notes = todos(result.out())
    assert len(notes) == 2 and "same param_scheduler as lr_config" in notes[1]
    assert result.ids() == ["MO301", "MO302"]


def test_momentum_by_epoch_default_in_an_iteration_runner_is_left_with_a_todo():
    src = (
        "momentum_config = dict(policy='CosineAnnealing', min_momentum_ratio=0.9)\n"
        "runner = dict(type='IterBasedRunner', max_iters=1000)\n"
    )
    result = run_tree({"config.py": src}, codebase="mmseg")
    assert "never changed the momentum" in todos(result.out())[0]


def test_schedule_key_no_rule_handles_gets_mo310():
    # an mmgen config whose GAN train_cfg is left for the user keeps total_iters with a TODO
    src = dedent(
        """
        model = dict(type='SomeUnknownGAN')
        train_cfg = dict(disc_steps=2)
        total_iters = 1000
        """
    )
    result = run_tree({"config.py": src}, codebase="mmgen")
    assert any("total_iters" in t for t in todos(result.out())), result.out()


def test_warmup_with_a_floor_states_the_deviation():
    result = run_tree(
        {
            "config.py": dedent(
                """
                optimizer = dict(type='SGD', lr=0.01)
                lr_config = dict(
                    policy='poly',
                    power=0.9,
                    min_lr=1e-4,
                    by_epoch=False,
                    warmup='linear',
                    warmup_iters=1500,
                    warmup_ratio=1e-6)
                runner = dict(type='IterBasedRunner', max_iters=160000)
                """
            )
        },
        codebase="mmseg",
    )
    (finding,) = result.findings()
    assert finding.rule_id == "MO304"
    assert "by up to 0.058% (iteration 1499, base lr 0.01)" in finding.message
    assert "param_scheduler = [" in result.out()
