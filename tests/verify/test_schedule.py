"""Whole-schedule comparison: spec §5.2's "exact mapping" pairs are identical, the upstream doc's
mappings (middle column) differ at the iteration the two execution models (§5.1) predict."""

from __future__ import annotations

import pytest

from migrate_optim.verify.api import VerifyOptions, verify_configs
from migrate_optim.verify.report import REPORT_SCHEMA
from migrate_optim.verify.schedule import compare_schedules
from tests.verify.test_verify_cli import schema_errors

SGD = dict(type="SGD", lr=0.02, momentum=0.9, weight_decay=1e-4)
L = 100  # iterations per epoch used below (the default)


def old(lr_config, runner, **extra) -> dict:
    return dict(
        optimizer=dict(SGD), optimizer_config=dict(), lr_config=lr_config, runner=runner, **extra
    )


def new(param_scheduler, train_cfg, **extra) -> dict:
    return dict(
        optim_wrapper=dict(type="OptimWrapper", optimizer=dict(SGD)),
        param_scheduler=param_scheduler,
        train_cfg=train_cfg,
        **extra,
    )


EPOCHS = dict(type="EpochBasedRunner", max_epochs=12)
EPOCH_LOOP = dict(type="EpochBasedTrainLoop", max_epochs=12, val_interval=1)
ITERS = dict(type="IterBasedRunner", max_iters=400)
ITER_LOOP = dict(type="IterBasedTrainLoop", max_iters=400)
STEP = dict(type="MultiStepLR", milestones=[8, 11], gamma=0.1, by_epoch=True, begin=0, end=12)


def first_iteration(old_cfg, new_cfg, codebase="mmdet"):
    result = compare_schedules(old_cfg, new_cfg, codebase=codebase, iters_per_epoch=L)
    if result.status == "identical":
        return None
    assert result.status == "different", result.reason
    return result.first_difference["iteration"]


def warm(kind, w=500, r=0.001, **extra):
    return dict(policy="step", step=[8, 11], warmup=kind, warmup_iters=w, warmup_ratio=r, **extra)


def test_linear_warmup_exact_and_doc():
    o = old(warm("linear"), EPOCHS)
    exact = dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=501)
    doc = dict(exact, end=500)
    assert first_iteration(o, new([exact, STEP], EPOCH_LOOP)) is None
    # Slope (1-r)/(W-1) instead of (1-r)/W: the lrs part at the first step, iteration 1.
    assert first_iteration(o, new([doc, STEP], EPOCH_LOOP)) == 1


def test_constant_warmup_restored_one_iteration_early_by_the_doc():
    o = old(warm("constant", w=300, r=0.1), EPOCHS)
    exact = dict(type="ConstantLR", factor=0.1, by_epoch=False, begin=0, end=301)
    doc = dict(exact, end=300)
    assert first_iteration(o, new([exact, STEP], EPOCH_LOOP)) is None
    # ConstantLR restores at end - 1 = 299; mmcv still warms iteration 299 (t < W).
    assert first_iteration(o, new([doc, STEP], EPOCH_LOOP)) == 299


def test_exp_warmup():
    w, r = 200, 0.01
    o = old(warm("exp", w=w, r=r), EPOCHS)
    exact = [
        dict(type="ConstantLR", factor=r, by_epoch=False, begin=0, end=10**6),
        dict(type="ExponentialLR", gamma=r ** (-1 / w), by_epoch=False, begin=0, end=w + 1),
        STEP,
    ]
    doc = [dict(type="ExponentialLR", gamma=r, by_epoch=False, begin=0, end=w), STEP]
    assert first_iteration(o, new(exact, EPOCH_LOOP)) is None
    # mmcv warms iteration 0 by r^1; ExponentialLR leaves step 0 unchanged.
    assert first_iteration(o, new(doc, EPOCH_LOOP)) == 0


@pytest.mark.parametrize("policy", ["poly", "LinearAnnealing"])
def test_end_p_is_off_by_one(policy):
    cfg = dict(policy=policy, by_epoch=False)
    if policy == "poly":
        cfg.update(power=0.9, min_lr=0.0)
        exact = dict(type="PolyLR", power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=401)
    else:
        cfg.update(min_lr_ratio=0.05)
        exact = dict(
            type="LinearLR", start_factor=1.0, end_factor=0.05, by_epoch=False, begin=0, end=401
        )
    o = old(cfg, ITERS)
    assert first_iteration(o, new([exact], ITER_LOOP), "mmseg") is None
    # end=P: the decay spans P-1 steps instead of P, so the lrs part at iteration 1.
    assert first_iteration(o, new([dict(exact, end=400)], ITER_LOOP), "mmseg") == 1


def test_flat_cosine_start_percent():
    o = old(dict(policy="FlatCosineAnnealing", start_percent=0.5, min_lr=0.0), EPOCHS)
    exact = dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=True, begin=6, end=12, T_max=6)
    doc = [
        dict(type="ConstantLR", factor=1, by_epoch=True, begin=0, end=9),
        dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=True, begin=9, end=12, T_max=3),
    ]
    assert first_iteration(o, new([exact], EPOCH_LOOP)) is None
    # mmcv anneals from round(12 * 0.5) = 6: epoch 6 is still the base lr, epoch 7 is not;
    # the doc stays flat until 9.
    assert first_iteration(o, new(doc, EPOCH_LOOP)) == 7 * L


def test_warmup_chained_with_a_floor_reports_the_deviation():
    o = old(
        dict(
            policy="CosineAnnealing",
            min_lr_ratio=0.1,
            by_epoch=False,
            warmup="linear",
            warmup_iters=100,
            warmup_ratio=0.1,
        ),
        ITERS,
    )
    n = new(
        [
            dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=101),
            dict(
                type="CosineAnnealingLR",
                eta_min_ratio=0.1,
                by_epoch=False,
                begin=0,
                end=400,
                T_max=400,
            ),
        ],
        ITER_LOOP,
    )
    result = compare_schedules(o, n, codebase="mmseg")
    # The floor is not scaled by the warmup factor: the recursion departs at the first step.
    assert result.status == "different" and result.first_difference["iteration"] == 1
    assert result.max_deviation["relative"] > 1e-3
    assert "largest relative difference" in result.messages()[0][1]


def test_training_length_difference():
    o = old(dict(policy="fixed"), EPOCHS)
    result = compare_schedules(o, new([], dict(EPOCH_LOOP, max_epochs=24)), codebase="mmdet")
    assert result.status == "different" and "24 epochs" in result.length_difference
    missing = compare_schedules(o, dict(optim_wrapper=dict(optimizer=dict(SGD))), codebase="mmdet")
    assert missing.status == "different" and "no train_cfg" in missing.length_difference


def test_iteration_runner_defaults_lr_by_epoch_to_false():
    o = old(dict(policy="step", step=[100, 300]), ITERS)
    iter_based = dict(type="MultiStepLR", milestones=[100, 300], by_epoch=False)
    assert first_iteration(o, new([iter_based], ITER_LOOP), "mmseg") is None


def test_verify_reports_schedule_and_trains_at_the_scheduled_lr():
    o = old(warm("linear", w=5, r=0.1), dict(type="EpochBasedRunner", max_epochs=2))
    good = new(
        [
            dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=6),
            dict(STEP, end=2),
        ],
        dict(EPOCH_LOOP, max_epochs=2),
    )
    bad = new(
        [
            dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=5),
            dict(STEP, end=2),
        ],
        dict(EPOCH_LOOP, max_epochs=2),
    )
    options = VerifyOptions(device="cpu", codebase="mmdet", iters_per_epoch=4)
    same = verify_configs(o, good, options)
    assert same.status == "equivalent", [d.message for d in same.differences]
    assert (
        same.schedule.status == "identical" and same.to_dict()["schedule"]["iters_per_epoch"] == 4
    )
    differ = verify_configs(o, bad, options)
    assert differ.exit_code == 1
    schedule = [d for d in differ.differences if d.kind == "schedule"]
    assert schedule and "iteration 1" in schedule[0].message
    # The smoke-train used the scheduled lrs, so the trained values part as well.
    assert any(d.kind == "values" for d in differ.differences)


def gan_old(**lr_config) -> dict:
    adam = dict(type="Adam", lr=2e-4, betas=(0.5, 0.999))
    return dict(
        model=dict(type="CycleGAN"),
        optimizer=dict(generators=dict(adam), discriminators=dict(adam, lr=1e-4)),
        lr_config=dict(policy="Linear", by_epoch=False, **lr_config),
        total_iters=200,
    )


def gan_new(param_scheduler) -> dict:
    adam = dict(type="Adam", lr=2e-4, betas=(0.5, 0.999))
    return dict(
        optim_wrapper=dict(
            constructor="MultiOptimWrapperConstructor",
            generators=dict(optimizer=dict(adam)),
            discriminators=dict(optimizer=dict(adam, lr=1e-4)),
        ),
        param_scheduler=param_scheduler,
        train_cfg=dict(by_epoch=False, max_iters=200),
    )


def test_gan_linear_policy_per_wrapper():
    o = gan_old(target_lr=0, start=100, interval=1)
    exact = dict(
        type="LinearLR", start_factor=1.0, end_factor=0.0, begin=100, end=201, by_epoch=False
    )
    assert first_iteration(o, gan_new([exact]), "mmgen") is None
    # MMagic's LinearLrInterval with start_factor = base lr (spec §6.3): at `begin` the lr is
    # base * start_factor for one iteration.
    mmagic = {
        key: dict(
            type="LinearLrInterval",
            start_factor=lr,
            end_factor=0.0,
            begin=100,
            end=200,
            interval=1,
            by_epoch=False,
        )
        for key, lr in (("generators", 2e-4), ("discriminators", 1e-4))
    }
    result = compare_schedules(o, gan_new(mmagic), codebase="mmgen")
    assert result.first_difference["iteration"] == 100
    assert result.first_difference["old"] == pytest.approx(2e-4)
    assert result.first_difference["new"] == pytest.approx(2e-4 * 2e-4)


def test_cli_shows_the_schedule_section(tmp_path):
    import json

    from click.testing import CliRunner

    from migrate_optim.cli import main

    (tmp_path / "old.py").write_text(
        "optimizer = dict(type='SGD', lr=0.01, momentum=0.9)\n"
        "optimizer_config = dict()\n"
        "lr_config = dict(policy='step', step=[1], warmup='linear', warmup_iters=3)\n"
        "runner = dict(type='EpochBasedRunner', max_epochs=2)\n"
    )
    (tmp_path / "new.py").write_text(
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))\n"
        "param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=3),\n"
        "                   dict(type='MultiStepLR', milestones=[1], by_epoch=True)]\n"
        "train_cfg = dict(by_epoch=True, max_epochs=2)\n"
    )
    args = [
        "verify",
        str(tmp_path / "old.py"),
        str(tmp_path / "new.py"),
        "--codebase",
        "mmdet",
        "--device",
        "cpu",
        "--iters-per-epoch",
        "5",
    ]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Schedule (lr/momentum of every iteration)" in result.output
    assert "iterations per epoch: 5" in result.output
    assert "lr first differs at iteration 1" in result.output
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert data["schedule"]["status"] == "different"
    assert data["schedule"]["iters_per_epoch"] == 5
    assert data["schedule"]["first_difference"]["iteration"] == 1
    assert schema_errors(data, REPORT_SCHEMA) == []


EXACT = [
    # (0.x lr_config, 1.x param_scheduler, runner kind) — spec §5.2, "exact mapping" column.
    (dict(policy="fixed"), [], "epoch"),
    (
        dict(policy="step", step=3, gamma=0.5),
        [dict(type="StepLR", step_size=3, gamma=0.5)],
        "epoch",
    ),
    (dict(policy="exp", gamma=0.9), [dict(type="ExponentialLR", gamma=0.9)], "epoch"),
    (
        dict(policy="exp", gamma=0.99, by_epoch=False),
        [dict(type="ExponentialLR", gamma=0.99, by_epoch=False)],
        "epoch",
    ),
    (
        dict(policy="CosineAnnealing", min_lr=1e-5),
        [dict(type="CosineAnnealingLR", eta_min=1e-5, T_max=12, begin=0, end=12)],
        "epoch",
    ),
    (
        dict(policy="CosineAnnealing", min_lr_ratio=0.01, by_epoch=False),
        [
            dict(
                type="CosineAnnealingLR",
                eta_min_ratio=0.01,
                by_epoch=True,
                T_max=12,
                end=12,
                convert_to_iter_based=True,
            )
        ],
        "epoch",
    ),
    (
        dict(policy="CosineAnnealing", min_lr=0.0, by_epoch=False),
        [dict(type="CosineAnnealingLR", eta_min=0.0, by_epoch=False)],
        "epoch",
    ),
    (
        dict(policy="CosineRestart", periods=[4, 8], restart_weights=[1.0, 0.5], min_lr=0.0),
        [dict(type="CosineRestartLR", periods=[4, 8], restart_weights=[1.0, 0.5], eta_min=0.0)],
        "epoch",
    ),
    (
        dict(policy="OneCycle", max_lr=0.1, pct_start=0.25),
        [dict(type="OneCycleLR", eta_max=0.1, pct_start=0.25, by_epoch=False)],
        "iter",
    ),
    (
        dict(policy="cyclic", target_ratio=(10, 1e-4), cyclic_times=1, step_ratio_up=0.4),
        [
            dict(
                type="CosineAnnealingLR",
                T_max=160,
                eta_min_ratio=10,
                begin=0,
                end=161,
                by_epoch=False,
            ),
            dict(
                type="CosineAnnealingLR",
                T_max=240,
                eta_min_ratio=1e-4,
                begin=160,
                end=400,
                by_epoch=False,
            ),
        ],
        "iter",
    ),
    (
        dict(
            policy="step",
            step=[1, 2],
            warmup="linear",
            warmup_iters=2,
            warmup_ratio=0.1,
            warmup_by_epoch=True,
        ),
        [
            dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=2 * L + 1),
            dict(type="MultiStepLR", milestones=[1, 2], by_epoch=True),
        ],
        "epoch",
    ),
]


@pytest.mark.parametrize("lr_config, param_scheduler, kind", EXACT)
def test_exact_mappings_are_identical(lr_config, param_scheduler, kind):
    if kind == "epoch":
        o, n = old(lr_config, EPOCHS), new(param_scheduler, EPOCH_LOOP)
    else:
        o, n = old(lr_config, ITERS), new(param_scheduler, ITER_LOOP)
    result = compare_schedules(o, n, codebase="mmdet", iters_per_epoch=L)
    assert result.status == "identical", result.messages()


def test_momentum_cosine_on_adam_is_identical():
    adam = dict(type="Adam", lr=1e-3, betas=(0.9, 0.999))
    o = dict(
        optimizer=adam,
        lr_config=dict(policy="fixed"),
        runner=ITERS,
        momentum_config=dict(policy="CosineAnnealing", min_momentum_ratio=0.5, by_epoch=False),
    )
    n = dict(
        optim_wrapper=dict(optimizer=adam),
        train_cfg=ITER_LOOP,
        param_scheduler=[dict(type="CosineAnnealingMomentum", eta_min_ratio=0.5, by_epoch=False)],
    )
    assert compare_schedules(o, n, codebase="mmseg").status == "identical"
    # The momentum config with its default by_epoch=True never fires in an iteration runner.
    o["momentum_config"].pop("by_epoch")
    result = compare_schedules(o, n, codebase="mmseg")
    assert result.first_difference["key"] == "momentum"
    assert result.first_difference["iteration"] == 1


def test_constant_schedules_need_no_loop_but_count_every_iteration():
    o = dict(optimizer=dict(SGD), lr_config=None, runner=dict(ITERS, max_iters=10**6))
    n = dict(optim_wrapper=dict(optimizer=dict(SGD)), train_cfg=dict(ITER_LOOP, max_iters=10**6))
    result = compare_schedules(o, n, codebase="mmseg")
    assert result.status == "identical" and result.compared_iterations == 10**6
    n["optim_wrapper"]["optimizer"]["lr"] = 0.04
    result = compare_schedules(o, n, codebase="mmseg")
    assert result.first_difference["iteration"] == 0
    assert (result.first_difference["old"], result.first_difference["new"]) == (0.02, 0.04)
