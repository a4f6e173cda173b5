"""verify on config pairs: the issue's "Done when" pairs and every difference it must catch."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate_optim.verify.api import VerifyOptions, verify_configs, verify_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "verify"

SGD = dict(type="SGD", lr=0.01, momentum=0.9, weight_decay=0.0005)


def adam(lr: float) -> dict:
    return dict(type="Adam", lr=lr, betas=(0.0, 0.999), eps=1e-6)


def kinds(report) -> set[str]:
    return {d.kind for d in report.differences}


def by_kind(report, kind: str) -> list:
    return [d for d in report.differences if d.kind == kind]


def single(optimizer_config=None, **extra) -> dict:
    cfg = dict(optimizer=dict(SGD), optimizer_config=optimizer_config or dict())
    cfg.update(extra)
    return cfg


def wrapper(**kwargs) -> dict:
    cfg = dict(type="OptimWrapper", optimizer=dict(SGD))
    cfg.update(kwargs)
    return dict(optim_wrapper=cfg)


def gan_0x(model_type="BasiccGAN", g_lr=1e-4, **train_cfg) -> dict:
    return dict(
        model=dict(type=model_type),
        train_cfg=train_cfg,
        optimizer=dict(generator=adam(g_lr), discriminator=adam(4e-4)),
    )


def gan_1x(model_type="BigGAN", g_lr=1e-4, acc_g=1, acc_d=1, **model) -> dict:
    return dict(
        model=dict(type=model_type, **model),
        optim_wrapper=dict(
            constructor="MultiOptimWrapperConstructor",
            generator=dict(accumulative_counts=acc_g, optimizer=adam(g_lr)),
            discriminator=dict(accumulative_counts=acc_d, optimizer=adam(4e-4)),
        ),
    )


# -- the issue's "Done when" pairs ----------------------------------------------------------------


def test_biggan128_pair_of_the_doc_with_generator_lr_1e4_is_equivalent():
    report = verify_files(FIXTURES / "biggan128_0x.py", FIXTURES / "biggan128_1x.py")
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert report.exit_code == 0
    # Enough iterations for two G rounds of 8 accumulated micro-batches and a partial window.
    assert report.steps == 20 and "lcm" in report.steps_reason
    assert (
        report.old.steps
        == report.new.steps
        == {
            "generator": [7, 15],
            "discriminator": [7, 15],
        }
    )
    assert report.old.modules["generator"].accumulation == 8
    assert report.new.modules["discriminator"].accumulation == 8
    assert {r.status for r in report.params} == {"ok"}
    assert all(r.rel_diff <= 1e-6 for r in report.params)


def test_sgd_pair_of_the_issue_is_equivalent():
    report = verify_files(FIXTURES / "sgd_0x.py", FIXTURES / "sgd_1x.py")
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert report.steps == 8
    assert report.old.steps[""] == list(range(8))
    row = next(r for r in report.params if r.name == "conv.weight")
    assert row.old["lr"] == row.new["lr"] == 0.01
    assert row.old["momentum"] == 0.9 and row.new["weight_decay"] == 0.0005


def test_the_docs_own_pair_differs_and_names_the_generator_lr():
    report = verify_files(FIXTURES / "biggan128_0x.py", FIXTURES / "biggan128_1x_doc.py")
    assert report.status == "different" and report.exit_code == 1
    (lr,) = by_kind(report, "hyperparameter")
    assert (lr.subject, lr.key, lr.old, lr.new) == ("generator", "lr", 1e-4, 2e-4)
    assert all(name.startswith("generator.") for name in lr.params)
    assert "generator: lr 0.0001 (0.x) vs 0.0002 (1.x)" in lr.message
    # The discriminator was migrated right: it trains identically.
    assert not any(d.subject == "discriminator" for d in report.differences)


# -- what verify must catch ---------------------------------------------------------------------


def test_a_lost_clip_is_reported():
    clipped = single(dict(grad_clip=dict(max_norm=0.5, norm_type=2)))
    same = verify_configs(clipped, wrapper(clip_grad=dict(max_norm=0.5)))
    assert same.status == "equivalent", [d.message for d in same.differences]
    lost = verify_configs(clipped, wrapper(clip_grad=None))
    (clip,) = by_kind(lost, "clip")
    assert clip.old["max_norm"] == 0.5 and clip.old["type"] == "norm" and clip.new is None
    assert "values" in kinds(lost)


def test_clipping_by_value_is_not_clipping_by_norm():
    report = verify_configs(
        single(dict(grad_clip=dict(max_norm=0.5))),
        wrapper(clip_grad=dict(type="value", clip_value=0.5)),
    )
    (clip,) = by_kind(report, "clip")
    assert (clip.old["type"], clip.new["type"]) == ("norm", "value")


def test_lost_accumulation_is_reported_with_the_steps():
    old = single(dict(type="GradientCumulativeOptimizerHook", cumulative_iters=4))
    kept = verify_configs(old, wrapper(accumulative_counts=4))
    assert kept.status == "equivalent", [d.message for d in kept.differences]
    # 2 full windows and a remainder of 2 (the last window steps, both sides).
    assert kept.steps == 10 and kept.old.steps[""] == kept.new.steps[""] == [3, 7, 9]
    lost = verify_configs(old, wrapper())
    (acc,) = by_kind(lost, "accumulation")
    assert (acc.old, acc.new) == (4, 1)
    (steps,) = by_kind(lost, "steps")
    assert steps.old == [3, 7, 9] and steps.new == list(range(10))


def test_a_wrong_loss_scale_is_reported_and_amp_runs_on_cpu_in_bfloat16():
    old = single(dict(grad_clip=None), fp16=dict(loss_scale=512.0))
    same = verify_configs(
        old, wrapper(type="AmpOptimWrapper", loss_scale=512.0), VerifyOptions(codebase="mmdet")
    )
    assert same.status == "equivalent", [d.message for d in same.differences]
    amp = same.old.modules[""].amp
    assert amp == {"dtype": "bfloat16", "mode": "static", "scale": 512.0}
    assert same.new.modules[""].amp == amp
    wrong = verify_configs(
        old, wrapper(type="AmpOptimWrapper", loss_scale="dynamic"), VerifyOptions(codebase="mmdet")
    )
    (scale,) = by_kind(wrong, "loss_scale")
    assert scale.old["mode"] == "static" and scale.new["mode"] == "dynamic"
    assert scale.new["init_scale"] == 65536.0


def test_fp16_dropped_by_a_migration_is_reported():
    report = verify_configs(
        single(dict(grad_clip=None), fp16=dict(loss_scale="dynamic")),
        wrapper(),
        VerifyOptions(codebase="mmdet"),
    )
    (scale,) = by_kind(report, "loss_scale")
    assert scale.old["mode"] == "dynamic" and scale.new is None


def test_mmseg_ignores_the_top_level_fp16_key():
    report = verify_configs(
        single(dict(grad_clip=None), fp16=dict(loss_scale=512.0)),
        wrapper(),
        VerifyOptions(codebase="mmseg"),
    )
    assert report.status == "equivalent", [d.message for d in report.differences]


def test_a_paramwise_difference_bias_decay_mult_without_norm_decay_mult():
    old = dict(
        optimizer=dict(
            type="AdamW", lr=1e-3, weight_decay=0.05, paramwise_cfg=dict(bias_decay_mult=0.0)
        ),
        optimizer_config=dict(),
    )
    new = dict(
        optim_wrapper=dict(
            type="OptimWrapper",
            optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05),
            paramwise_cfg=dict(bias_decay_mult=0.0),
        )
    )
    report = verify_configs(old, new)
    (wd,) = by_kind(report, "hyperparameter")
    assert wd.key == "weight_decay" and (wd.old, wd.new) == (0.05, 0.0)
    # mmcv gives norm-layer and depthwise-conv biases weight_decay x 1; MMEngine the bias mult.
    assert {"bn.bias", "gn.bias", "inorm.bias", "ln.bias", "dwconv.bias"} <= set(wd.params)
    assert "conv.bias" not in wd.params and "fc.bias" not in wd.params
    # The frozen parameter is dropped by MMEngine with paramwise_cfg: a note, not a difference.
    assert any(n.subject == "frozen" and n.key == "frozen" for n in report.notes)
    assert not any(d.subject == "frozen" for d in report.differences)
    frozen_row = next(r for r in report.params if r.name == "frozen")
    assert frozen_row.status == "frozen" and frozen_row.new is None


def test_a_custom_key_lr_mult_difference_is_reported_per_parameter():
    old = dict(
        optimizer=dict(SGD, paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=10.0)})),
        optimizer_config=dict(),
    )
    new = dict(
        optim_wrapper=dict(
            optimizer=dict(SGD), paramwise_cfg=dict(custom_keys={"head": dict(lr_mult=1.0)})
        )
    )
    report = verify_configs(old, new)
    (lr,) = by_kind(report, "hyperparameter")
    assert (lr.key, lr.old, lr.new) == ("lr", 0.1, 0.01)
    assert lr.params and all("head" in name for name in lr.params)


def test_a_wrong_optimizer_type_is_reported():
    report = verify_configs(single(), dict(optim_wrapper=dict(optimizer=dict(SGD, type="RMSprop"))))
    assert "optimizer" in kinds(report)


def test_a_wrong_discriminator_steps_is_reported():
    old = gan_0x(disc_steps=8, gen_steps=1, batch_accumulation_steps=8)
    right = verify_configs(old, gan_1x(acc_g=8, acc_d=8, discriminator_steps=1))
    assert right.status == "equivalent", [d.message for d in right.differences]
    wrong = verify_configs(old, gan_1x(acc_g=8, acc_d=8, discriminator_steps=2))
    (steps,) = by_kind(wrong, "steps")
    assert steps.subject == "generator"
    assert steps.old == [7, 15, 23, 31, 39] and steps.new == [15, 31]
    assert wrong.steps == 40  # lcm(8, 16) = 16: two periods and a half


def test_the_naive_translation_of_ignored_gan_keys_is_reported():
    # StaticUnconditionalGAN ignores gen_steps / batch_accumulation_steps (spec 1.2).
    old = gan_0x("StaticUnconditionalGAN", disc_steps=2, gen_steps=2, batch_accumulation_steps=2)
    right = verify_configs(old, gan_1x("DCGAN", discriminator_steps=2))
    assert right.status == "equivalent", [d.message for d in right.differences]
    assert any("ignores train_cfg keys" in n.message for n in right.notes)
    naive = verify_configs(old, gan_1x("DCGAN", acc_g=2, acc_d=2, generator_steps=2))
    assert {"accumulation", "steps"} <= kinds(naive)


def test_basicc_gan_with_disc_steps_not_a_multiple_of_accumulation_has_no_equivalent():
    old = gan_0x(disc_steps=4, batch_accumulation_steps=8)
    for ds in (1, 2):
        report = verify_configs(old, gan_1x(acc_g=8, acc_d=8, discriminator_steps=ds))
        assert "steps" in kinds(report)


def test_translation_models_phase_shift_with_disc_steps_above_one():
    def pair(k):
        old = dict(
            model=dict(type="CycleGAN"),
            train_cfg=dict(disc_steps=k),
            optimizer=dict(generators=adam(2e-4), discriminators=adam(2e-4)),
            runner=None,
        )
        new = dict(
            model=dict(type="CycleGAN", discriminator_steps=k),
            optim_wrapper=dict(
                constructor="MultiOptimWrapperConstructor",
                generators=dict(optimizer=adam(2e-4)),
                discriminators=dict(optimizer=adam(2e-4)),
            ),
        )
        return verify_configs(old, new)

    assert pair(1).status == "equivalent"
    (steps,) = by_kind(pair(3), "steps")
    assert steps.old == [0, 3, 6] and steps.new == [2, 5, 8]


def test_gan_modules_whose_wrappers_differ_in_structure():
    report = verify_configs(gan_0x(disc_steps=1), wrapper())
    assert kinds(report) == {"structure"} and report.exit_code == 1


def test_an_optimizer_on_one_side_only_is_a_structure_difference():
    old = gan_0x(disc_steps=1)
    old["optimizer"]["extra"] = adam(1e-3)
    report = verify_configs(old, gan_1x(), VerifyOptions(codebase="mmgen"))
    (structure,) = by_kind(report, "structure")
    assert "extra" in structure.old and "extra" not in structure.new


def test_a_parameter_optimised_on_one_side_only_is_a_coverage_difference():
    from migrate_optim.verify.compare import compare_traces
    from migrate_optim.verify.trace import ParamSettings, SideTrace

    old, new = SideTrace("0.x"), SideTrace("1.x")
    for trace in (old, new):
        trace.params["a"] = ParamSettings("a", "", "SGD", {"lr": 0.1})
    old.params["b"] = ParamSettings("b", "", "SGD", {"lr": 0.1})
    diffs, notes, rows = compare_traces(old, new, rtol=1e-6, steps=1)
    (coverage,) = diffs
    assert coverage.kind == "coverage" and coverage.params == ["b"]
    assert "optimised by 0.x only" in coverage.message
    assert [r.status for r in rows] == ["ok", "only-0.x"]


def test_requested_steps_are_used_and_said():
    report = verify_configs(single(), wrapper(), VerifyOptions(steps=3))
    assert report.steps == 3 and report.steps_reason == "as requested (--steps)"
    assert report.old.steps[""] == [0, 1, 2]


# -- errors: exit status 2 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (single(), dict(optim_wrapper=dict(optimizer=dict(type="NoSuchOpt"))), "NEW: cannot build"),
        (single(), dict(optimizer=dict(SGD)), "NEW has no optim_wrapper"),
        (dict(), wrapper(), "OLD defines no optimizer"),
        (dict(optimizer=dict(SGD)), wrapper(), "optimizer_config"),
        (
            gan_0x(disc_steps=1),
            dict(
                model=dict(type="BigGAN"),
                optim_wrapper=dict(
                    constructor="MultiOptimWrapperConstructor",
                    generator=adam(1e-4),
                    discriminator=adam(4e-4),
                ),
            ),
            'must contain "optimizer"',
        ),
        (gan_0x("NoSuchGAN"), gan_1x(), "no 0.x GAN train_step schedule"),
        (gan_0x("SinGAN"), gan_1x(), "num_scales"),
        (gan_0x(disc_steps=1), gan_1x("PGGAN"), "not supported"),
        (single(dict(type="NoSuchHook")), wrapper(), "OLD"),
    ],
)
def test_unverifiable_pairs_are_errors_with_one_line(old, new, message):
    report = verify_configs(old, new)
    assert report.status == "error" and report.exit_code == 2
    assert message in report.error and "\n" not in report.error


def test_top_level_fp16_without_a_codebase_asks_for_one():
    report = verify_configs(single(fp16=dict(loss_scale=512.0)), wrapper())
    assert report.status == "error" and "--codebase" in report.error


def test_neither_config_with_an_optimizer_is_skipped():
    report = verify_configs(dict(lr_config=dict(policy="step")), dict(param_scheduler=[]))
    assert report.status == "skipped" and report.exit_code == 0


def test_unloadable_files_are_errors(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("optimizer = dict(\n")
    report = verify_files(bad, FIXTURES / "sgd_1x.py")
    assert report.status == "error" and report.error.startswith("OLD:")
    report = verify_files(FIXTURES / "sgd_0x.py", tmp_path / "missing.py")
    assert report.status == "error" and report.error.startswith("NEW:")


# -- user models ---------------------------------------------------------------------------------


def test_a_user_model_factory(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    report = verify_configs(single(), wrapper(), VerifyOptions(model="user_model:make"))
    assert report.status == "equivalent"
    assert {r.name for r in report.params} == {
        "body.0.weight",
        "body.0.bias",
        "body.2.weight",
        "body.2.bias",
    }
    gan = verify_configs(
        gan_0x(disc_steps=2), gan_1x(discriminator_steps=2), VerifyOptions(model="user_model:make")
    )
    assert gan.status == "equivalent"
    assert gan.old.steps["generator"] == [1, 3, 5, 7]


def test_a_user_model_factory_by_file_path_and_bad_factories():
    path = FIXTURES / "user_model.py"
    assert verify_configs(single(), wrapper(), VerifyOptions(model=f"{path}:make")).exit_code == 0
    for spec, message in [
        (f"{path}:not_a_module", "not an nn.Module"),
        (f"{path}:missing", "has no attribute"),
        ("no_such_module_xyz:make", "cannot import"),
        ("nocolon", "MODULE:CALLABLE"),
    ]:
        report = verify_configs(single(), wrapper(), VerifyOptions(model=spec))
        assert report.status == "error" and message in report.error


def test_a_frozen_parameter_the_user_model_unfreezes_in_0x_is_a_difference():
    from migrate_optim.verify.compare import compare_traces
    from migrate_optim.verify.trace import ParamSettings, SideTrace

    old, new = SideTrace("0.x"), SideTrace("1.x")
    import torch

    old.params["d.frozen"] = ParamSettings("d.frozen", "", "SGD", {"lr": 0.1})
    old.frozen_at_build = new.frozen_at_build = ["d.frozen"]
    old.unfrozen_by_schedule = ["d.frozen"]
    old.values["d.frozen"] = torch.ones(2)
    new.values["d.frozen"] = torch.zeros(2)
    diffs, notes, rows = compare_traces(old, new, rtol=1e-6, steps=1)
    (coverage,) = diffs
    assert coverage.kind == "coverage" and "unfreezes the whole discriminator" in coverage.message
    assert rows[0].status == "frozen" and not notes


@pytest.mark.parametrize(
    ("hook", "wrapper_kwargs"),
    [
        (dict(type="Fp16OptimizerHook", loss_scale=512.0), dict(loss_scale=512.0)),
        (
            dict(
                type="GradientCumulativeFp16OptimizerHook",
                cumulative_iters=2,
                loss_scale="dynamic",
                grad_clip=dict(max_norm=1.0),
            ),
            dict(accumulative_counts=2, clip_grad=dict(max_norm=1.0)),
        ),
        (
            dict(
                type="GradientCumulativeFp16OptimizerHook",
                cumulative_iters=2,
                loss_scale=dict(init_scale=256.0),
            ),
            dict(accumulative_counts=2, loss_scale=dict(init_scale=256.0)),
        ),
    ],
)
def test_mmseg_fp16_hooks_against_amp_wrappers(hook, wrapper_kwargs):
    new = wrapper(type="AmpOptimWrapper", **wrapper_kwargs)
    report = verify_configs(single(hook), new, VerifyOptions(codebase="mmseg"))
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert report.old.modules[""].amp == report.new.modules[""].amp is not None
    assert report.tolerance == 1e-3


def test_gan_fp16_loss_scaler_and_stylegan2_without_optim_context():
    old = gan_0x("StaticUnconditionalGAN", disc_steps=2)
    old["runner"] = dict(
        type="DynamicIterBasedRunner",
        pass_training_status=True,
        fp16_loss_scaler=dict(init_scale=512.0),
    )
    new = gan_1x("DCGAN", discriminator_steps=2)
    for sub in ("generator", "discriminator"):
        new["optim_wrapper"][sub].update(type="AmpOptimWrapper", loss_scale=dict(init_scale=512.0))
    report = verify_configs(old, new)
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert report.old.modules["generator"].amp["init_scale"] == 512.0
    # StyleGAN2's train_step never enters optim_context: no autocast on the 1.x side.
    new["model"]["type"] = "StyleGAN2"
    report = verify_configs(old, new)
    scale = {d.subject: d for d in by_kind(report, "loss_scale")}
    assert scale["generator"].old["dtype"] == "bfloat16" and scale["generator"].new["dtype"] is None
    assert any("does not enter optim_context" in n.message for n in report.notes)
