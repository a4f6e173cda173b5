"""verify on progressive-growing GANs: per-scale optimizers of both sides compared."""

from __future__ import annotations

import copy

from migrate_optim.verify.api import VerifyOptions, verify_configs

OLD = dict(
    model=dict(
        type="ProgressiveGrowingGAN", generator=dict(type="G"), discriminator=dict(type="D")
    ),
    optimizer=None,
    train_cfg=dict(
        use_ema=True,
        nkimgs_per_scale={"4": 600, "8": 1200, "16": 1200},
        transition_kimgs=600,
        optimizer_cfg=dict(
            generator=dict(type="Adam", lr=0.001, betas=(0.0, 0.99)),
            discriminator=dict(type="Adam", lr=0.001, betas=(0.0, 0.99)),
        ),
        g_lr_base=0.001,
        d_lr_base=0.001,
        g_lr_schedule={"16": 0.0015},
        d_lr_schedule={"16": 0.0015},
    ),
)
NEW = dict(
    model=dict(
        type="ProgressiveGrowingGAN",
        generator=dict(type="G"),
        discriminator=dict(type="D"),
        nkimgs_per_scale={"4": 600, "8": 1200, "16": 1200},
        transition_kimgs=600,
    ),
    optim_wrapper=dict(
        constructor="PGGANOptimWrapperConstructor",
        generator=dict(optimizer=dict(type="Adam", lr=0.001, betas=(0.0, 0.99))),
        discriminator=dict(optimizer=dict(type="Adam", lr=0.001, betas=(0.0, 0.99))),
        lr_schedule=dict(generator={"16": 0.0015}, discriminator={"16": 0.0015}),
    ),
)
OPTIONS = VerifyOptions(device="cpu")


def test_converted_pggan_pair_is_equivalent_scale_by_scale() -> None:
    report = verify_configs(OLD, NEW, OPTIONS)
    assert report.status == "equivalent", report.error or [d.message for d in report.differences]
    assert any("every scale" in n.message for n in report.notes)


def test_wrong_per_scale_lr_is_different_and_names_the_field() -> None:
    new = copy.deepcopy(NEW)
    new["optim_wrapper"]["lr_schedule"]["generator"]["16"] = 0.002
    report = verify_configs(OLD, new, OPTIONS)
    assert report.status == "different"
    (diff,) = report.differences
    assert diff.key == "g_lr_schedule['16']" and diff.subject == "generator_16"
    assert "scale 16" in diff.message and "lr 0.0015 (0.x) vs 0.002 (1.x)" in diff.message


def test_first_scale_keeps_the_optimizer_cfg_lr_in_0x() -> None:
    # 0.x never consults the schedule for the first scale; MMagic does
    old = copy.deepcopy(OLD)
    old["train_cfg"]["g_lr_schedule"] = {"4": 0.005, "16": 0.0015}
    new = copy.deepcopy(NEW)
    new["optim_wrapper"]["lr_schedule"]["generator"]["4"] = 0.005
    report = verify_configs(old, new, OPTIONS)
    keys = {d.key for d in report.differences}
    assert keys == {"optimizer_cfg.generator.lr"}


def test_shared_wrappers_without_reset_differ_from_0x_reset() -> None:
    new = copy.deepcopy(NEW)
    new["optim_wrapper"]["reset_optim_for_new_scale"] = False
    report = verify_configs(OLD, new, OPTIONS)
    assert "reset_optim_for_new_scale" in {d.key for d in report.differences}


SINGAN_OLD = dict(
    model=dict(
        type="SinGAN",
        generator=dict(type="G", num_scales=3),
        discriminator=dict(type="D", num_scales=3),
    ),
    optimizer=None,
    train_cfg=dict(
        noise_weight_init=0.1,
        iters_per_scale=2000,
        disc_steps=3,
        generator_steps=3,
        lr_d=0.0005,
        lr_g=0.0005,
        lr_scheduler_args=dict(milestones=[1600], gamma=0.1),
    ),
    total_iters=8000,
)
SINGAN_NEW = dict(
    model=dict(
        type="SinGAN",
        generator=dict(type="G", num_scales=3),
        discriminator=dict(type="D", num_scales=3),
        num_scales=3,
        discriminator_steps=3,
        generator_steps=3,
        iters_per_scale=2000,
        noise_weight_init=0.1,
        lr_scheduler_args=dict(milestones=[1600], gamma=0.1),
    ),
    optim_wrapper=dict(
        constructor="SinGANOptimWrapperConstructor",
        generator=dict(optimizer=dict(type="Adam", lr=0.0005, betas=(0.5, 0.999))),
        discriminator=dict(optimizer=dict(type="Adam", lr=0.0005, betas=(0.5, 0.999))),
    ),
    train_cfg=dict(by_epoch=False, max_iters=24000),
)


def test_singan_exact_conversion_differs_only_by_the_noise_weight_timing() -> None:
    report = verify_configs(SINGAN_OLD, SINGAN_NEW, OPTIONS)
    assert report.status == "different"
    assert [d.key for d in report.differences] == ["noise_weight"]


def test_singan_wrong_settings_name_their_fields() -> None:
    new = copy.deepcopy(SINGAN_NEW)
    new["optim_wrapper"]["discriminator"]["optimizer"]["betas"] = (0.9, 0.999)
    new["model"]["discriminator_steps"] = 1
    new["train_cfg"]["max_iters"] = 8000
    report = verify_configs(SINGAN_OLD, new, OPTIONS)
    keys = {d.key for d in report.differences}
    assert keys == {"noise_weight", "lr_d", "disc_steps", "total_iters"}
