"""MO207 the 0.x EMA hook -> ``model.ema_config`` (R = disc_steps iterations per G round).

Trees are converted whole and checked as MMEngine loads them (``convert_gan_tree``,
``load_1x``); expected values come from the spec, never from the converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.convert.helpers import (
    convert_gan_tree,
    finding_ids,
    finding_messages,
    gan_tree,
    load_1x,
    todos,
)

mmengine = pytest.importorskip("mmengine")


BIGGAN_EMA = """
custom_hooks = [
    dict(type='VisualizeUnconditionalSamples', interval=10000),
    dict(
        type='ExponentialMovingAverageHook',
        module_keys=('generator_ema', ),
        interval={interval},
        start_iter={start},
        interp_cfg=dict(momentum=0.9999{mn}),
        priority='VERY_HIGH')
]
total_iters = 1500000
"""


def test_ema_biggan(tmp_path: Path) -> None:
    child = BIGGAN_EMA.format(interval=8, start=160000, mn=", momentum_nontrainable=0.9999")
    tc = "dict(disc_steps=8, gen_steps=1, batch_accumulation_steps=8, use_ema=True)"
    res = convert_gan_tree(tmp_path, gan_tree("BasiccGAN", tc, child))
    assert finding_ids(res["exp.py"], "error") == [] and finding_ids(res["exp.py"], "warning") == []
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["ema_config"] == {
        "type": "ExponentialMovingAverage",
        "interval": 1,
        "momentum": 0.0001,
        "update_buffers": True,
        "start_iter": 20000,
    }
    assert [h["type"] for h in cfg["custom_hooks"]] == ["VisualizeUnconditionalSamples"]


@pytest.mark.parametrize(
    ("interval", "start", "mn", "why"),
    [
        (4, 160000, "", "interval / 8"),
        (8, 4, "", "start_iter / 8"),
        (8, 160000, ", momentum_nontrainable=0.5", "momentum_nontrainable"),
        (16, 0, "", "phase"),
    ],
)
def test_ema_without_exact_form(
    tmp_path: Path, interval: int, start: int, mn: str, why: str
) -> None:
    child = BIGGAN_EMA.format(interval=interval, start=start, mn=mn)
    tc = "dict(disc_steps=8, batch_accumulation_steps=8)"
    res = convert_gan_tree(tmp_path, gan_tree("BasiccGAN", tc, child))["exp.py"]
    assert "MO207" in finding_ids(res, "error")
    assert why in finding_messages(res, "MO207")
    assert any("[MO207]" in t for t in todos(res.source))
    cfg = load_1x(tmp_path, "exp.py")
    assert "ema_config" not in cfg["model"]
    assert cfg["custom_hooks"][-1]["type"] == "ExponentialMovingAverageHook"  # left in place


def test_ema_expression_momentum_and_start_zero(tmp_path: Path) -> None:
    child = """
    model = dict(generator=dict(out_size=256))
    ema_half_life = 10.
    custom_hooks = [
        dict(
            type='ExponentialMovingAverageHook',
            module_keys=('generator_ema', ),
            interval=1,
            interp_cfg=dict(momentum=0.5**(32. / (ema_half_life * 1000.))),
            priority='VERY_HIGH')
    ]
    total_iters = 10
    """
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child)
    )
    exp = res["exp.py"]
    assert "momentum=1 - (0.5**(32. / (ema_half_life * 1000.)))" in exp.source
    assert "first EMA update copies the generator" in finding_messages(exp, "MO207")
    ema = load_1x(tmp_path, "exp.py")["model"]["ema_config"]
    assert ema["momentum"] == pytest.approx(1 - 0.5 ** (32.0 / 10000.0))
    assert (ema["interval"], ema["update_buffers"]) == (1, False)
    assert load_1x(tmp_path, "exp.py")["custom_hooks"] == []


def test_ema_rampup(tmp_path: Path) -> None:
    child = """
    custom_hooks = [
        dict(
            type='ExponentialMovingAverageHook',
            module_keys='generator_ema',
            interval=1,
            start_iter=0,
            momentum_policy='rampup',
            momentum_cfg=dict(ema_kimg=10, ema_rampup=0.05))
    ]
    total_iters = 10
    """
    convert_gan_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child))
    ema = load_1x(tmp_path, "exp.py")["model"]["ema_config"]
    # 0.x's rampup default batch_size is 4, MMagic's RampUpEMA default is 32: written out
    assert ema == {
        "type": "RampUpEMA",
        "interval": 1,
        "ema_kimg": 10,
        "ema_rampup": 0.05,
        "batch_size": 4,
        "eps": 1e-8,
        "update_buffers": False,
        "start_iter": 0,
    }


def test_ema_rampup_with_several_iterations_per_round_refused(tmp_path: Path) -> None:
    child = """
    custom_hooks = [
        dict(type='ExponentialMovingAverageHook', module_keys='generator_ema',
             interval=2, start_iter=0, momentum_policy='rampup')
    ]
    total_iters = 10
    """
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=2)", child)
    )
    assert "ramps by runner iterations" in finding_messages(res["exp.py"], "MO207")


def test_ema_hook_without_interval_refused(tmp_path: Path) -> None:
    child = """
    custom_hooks = [dict(type='ExponentialMovingAverageHook', module_keys=('generator_ema', ))]
    total_iters = 10
    """
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child)
    )
    assert "never averaged" in finding_messages(res["exp.py"], "MO207")


def test_use_ema_without_hook_warns(tmp_path: Path) -> None:
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", "total_iters = 10\n")
    )
    assert "without an ExponentialMovingAverageHook" in finding_messages(res["exp.py"], "MO207")
    assert "ema_config" not in load_1x(tmp_path, "exp.py")["model"]


def test_singan_ema_uses_mmagic_kwarg_name(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='SinGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        train_cfg = dict(
            disc_steps=3, generator_steps=3, iters_per_scale=10, lr_g=5e-4, lr_d=5e-4,
            lr_scheduler_args=dict(milestones=[8], gamma=0.1), use_ema=True)
        custom_hooks = [
            dict(type='ExponentialMovingAverageHook', module_keys=('generator_ema', ),
                 interval=2, start_iter=4, interp_cfg=dict(momentum=0.999))
        ]
        total_iters = 40
        """
    }
    convert_gan_tree(tmp_path, files)
    cfg = load_1x(tmp_path, "exp.py")
    # one 0.x SinGAN iteration is one G round: interval and start stay as written
    assert cfg["model"]["ema_confg"] == {
        "type": "ExponentialMovingAverage",
        "interval": 2,
        "momentum": 0.001,
        "update_buffers": False,
        "start_iter": 4,
    }
    assert "ema_config" not in cfg["model"]
    assert cfg["train_cfg"]["max_iters"] == 120


def test_ema_hook_given_as_a_variable(tmp_path: Path) -> None:
    child = """
    ema = dict(type='ExponentialMovingAverageHook', module_keys=('generator_ema', ),
               interval=1, start_iter=10, interp_cfg=dict(momentum=0.99))
    custom_hooks = [dict(type='VisualizeUnconditionalSamples', interval=10), ema]
    total_iters = 100
    """
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child)
    )
    assert finding_ids(res["exp.py"], "error") == []
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["ema_config"]["start_iter"] == 10
    assert cfg["model"]["ema_config"]["momentum"] == 0.01
    assert [h["type"] for h in cfg["custom_hooks"]] == ["VisualizeUnconditionalSamples"]


def test_ema_hook_in_non_literal_hook_list(tmp_path: Path) -> None:
    child = """
    base_hooks = []
    custom_hooks = base_hooks + [
        dict(type='ExponentialMovingAverageHook', module_keys=('generator_ema', ), interval=1)]
    total_iters = 100
    """
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child)
    )
    assert "not a list literal" in finding_messages(res["exp.py"], "MO207")


def test_a_second_conversion_changes_nothing(tmp_path: Path) -> None:
    child = BIGGAN_EMA.format(interval=8, start=160000, mn="")
    tc = "dict(disc_steps=8, gen_steps=1, batch_accumulation_steps=8, use_ema=True)"
    convert_gan_tree(tmp_path, gan_tree("BasiccGAN", tc, child))
    again = convert_gan_tree(tmp_path, {})
    assert not any(r.changed for r in again.values())
