"""verify averages the generator on both sides (0.x EMA hook vs MMagic ema_config)."""

from __future__ import annotations

import copy

import pytest

from migrate_optim.verify.api import VerifyOptions, verify_configs

ADAM = dict(type="Adam", lr=0.01, betas=(0.0, 0.99))


def _pair(disc_steps: int, interval: int, start_iter: int, m: float = 0.9):
    old = dict(
        model=dict(
            type="StaticUnconditionalGAN", generator=dict(type="G"), discriminator=dict(type="D")
        ),
        train_cfg=dict(disc_steps=disc_steps, use_ema=True),
        optimizer=dict(generator=dict(ADAM), discriminator=dict(ADAM)),
        custom_hooks=[
            dict(
                type="ExponentialMovingAverageHook",
                module_keys=("generator_ema",),
                interval=interval,
                start_iter=start_iter,
                interp_cfg=dict(momentum=m),
                priority="VERY_HIGH",
            )
        ],
    )
    new = dict(
        model=dict(
            type="StyleGAN2",
            generator=dict(type="G"),
            discriminator=dict(type="D"),
            discriminator_steps=disc_steps,
            ema_config=dict(
                type="ExponentialMovingAverage",
                interval=interval // disc_steps,
                momentum=round(1 - m, 10),
                start_iter=start_iter // disc_steps,
            ),
        ),
        optim_wrapper=dict(
            constructor="MultiOptimWrapperConstructor",
            generator=dict(optimizer=dict(ADAM)),
            discriminator=dict(optimizer=dict(ADAM)),
        ),
    )
    return old, new


OPTIONS = VerifyOptions(device="cpu", steps=12)


@pytest.mark.parametrize(
    ("disc_steps", "interval", "start_iter"), [(2, 2, 4), (1, 2, 2), (2, 4, 4)]
)
def test_exact_ema_config_is_equivalent(disc_steps: int, interval: int, start_iter: int) -> None:
    old, new = _pair(disc_steps, interval, start_iter)
    report = verify_configs(old, new, OPTIONS)
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert any("EMA weights compared" in n.message for n in report.notes)


def test_first_update_copy_from_iteration_0_is_a_note() -> None:
    old, new = _pair(1, 1, 0)
    report = verify_configs(old, new, OPTIONS)
    assert report.status == "equivalent", [d.message for d in report.differences]
    assert any("first update" in n.message for n in report.notes)


@pytest.mark.parametrize(
    ("field", "value"),
    [("momentum", 0.9), ("interval", 2), ("start_iter", 6), ("update_buffers", True)],
)
def test_wrong_ema_config_is_different_and_names_the_field(field: str, value) -> None:
    old, new = _pair(2, 2, 4)
    new = copy.deepcopy(new)
    new["model"]["ema_config"][field] = value
    report = verify_configs(old, new, OPTIONS)
    assert report.status == "different"
    ema = [d for d in report.differences if d.kind == "ema"]
    assert ema and ema[0].key == f"ema_config.{field}", ema[0].message
    assert f"ema_config.{field}=" in ema[0].message


def test_ema_on_one_side_only_is_different() -> None:
    old, new = _pair(1, 1, 0)
    del new["model"]["ema_config"]
    report = verify_configs(old, new, OPTIONS)
    assert any(d.kind == "ema" and "0.x" in d.message for d in report.differences)


def test_buffers_copied_on_every_1x_update_are_a_real_difference() -> None:
    # 0.x copies buffers only when the hook acts (iterations 4, 6, ..., 10 here); MMagic syncs
    # them at every G round, so after iteration 11 the EMA running stats differ
    old, new = _pair(1, 2, 3)
    report = verify_configs(old, new, OPTIONS)
    (diff,) = [d for d in report.differences if d.kind == "ema"]
    assert any("running_mean" in p for p in diff.params)
