"""Pieces of verify: step count, tolerance arithmetic, normalised settings, plans, base paths."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from migrate_optim.verify.api import MAX_AUTO_STEPS, VerifyError, choose_steps, resolve_device
from migrate_optim.verify.compare import rel_diff
from migrate_optim.verify.convert_check import base_paths
from migrate_optim.verify.plan import plan_new, plan_old
from migrate_optim.verify.trace import StepClock, clip_spec, scaler_spec


def test_choose_steps_covers_two_periods_and_a_partial_window():
    assert choose_steps(None, [1, 1]) == (8, choose_steps(None, [])[1])
    n, reason = choose_steps(None, [4, 1])
    assert n == 10 and "lcm" in reason and "[4]" in reason
    assert choose_steps(None, [8, 16])[0] == 40
    assert choose_steps(None, [2, 3])[0] == 15  # lcm 6: 12 + 3
    n, reason = choose_steps(None, [3], offset=5)
    assert n == 5 + 8 + 1 and "disc_init_steps" in reason
    n, reason = choose_steps(None, [97, 89])
    assert n == MAX_AUTO_STEPS and "capped" in reason
    assert choose_steps(5, [8]) == (5, "as requested (--steps)")
    with pytest.raises(VerifyError):
        choose_steps(0, [])


def test_rel_diff():
    a = torch.tensor([1.0, -2.0, 4.0])
    assert rel_diff(a, a.clone()) == 0.0
    b = a + torch.tensor([0.0, 0.0, 4e-6])
    assert rel_diff(a, b) == pytest.approx(float(b[2].double() - 4.0) / float(b[2]))
    assert rel_diff(a, a[:2]) == math.inf
    nan = torch.tensor([float("nan"), 1.0])
    assert rel_diff(nan, nan.clone()) == 0.0
    assert rel_diff(nan, torch.tensor([0.0, 1.0])) == math.inf
    assert rel_diff(torch.zeros(2), torch.tensor([0.0, 1e-30])) == 1.0


def test_clip_spec_fills_the_torch_defaults():
    assert clip_spec("norm", None) is None
    a = clip_spec("norm", dict(max_norm=35))
    b = clip_spec("norm", dict(max_norm=35.0, norm_type=2))
    assert a == b and a["type"] == "norm" and a["norm_type"] == 2.0
    assert clip_spec("norm", dict(max_norm=35, norm_type=1)) != a
    assert clip_spec("value", dict(clip_value=0.1))["clip_value"] == 0.1


def test_scaler_spec_static_and_dynamic():
    scaler = torch.amp.GradScaler("cpu", init_scale=512.0, growth_interval=10)
    assert scaler_spec(scaler, 512.0, torch.bfloat16) == {
        "dtype": "bfloat16",
        "mode": "static",
        "scale": 512.0,
    }
    dynamic = scaler_spec(scaler, None, torch.float16)
    assert dynamic["mode"] == "dynamic" and dynamic["growth_interval"] == 10
    assert scaler_spec(None, None, None) is None


def test_step_clock_records_real_steps_only_while_watched():
    param = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([param], lr=0.1)
    clock = StepClock()
    clock.watch(opt, "g")
    for i in range(3):
        clock.iteration = i
        if i != 1:
            param.grad = torch.ones(1)
            opt.step()
    clock.close()
    opt.step()
    assert clock.steps == {"g": [0, 2]}


def test_plans():
    old = plan_old(
        dict(model=dict(type="BasiccGAN"), optimizer=dict(generator={}, discriminator={})), ""
    )
    assert (old.kind, old.codebase, old.gan_kind) == ("gan", "mmgen", "basic")
    translation = plan_old(
        dict(
            model=dict(type="Pix2Pix", train_cfg=dict(disc_steps=2)),
            train_cfg=dict(disc_steps=5),
            optimizer=dict(generators={}, discriminators={}),
        ),
        "mmgen",
    )
    # A train_cfg in the model dict wins over the top-level one (mmgen build_model).
    assert translation.train_cfg == dict(disc_steps=2)
    assert translation.module_keys == ("generators", "discriminators")
    assert plan_old(dict(optimizer=dict(type="SGD")), "mmseg").kind == "single"
    restorer = plan_old(dict(optimizers=dict(generator={}), optimizer=dict(type="SGD")), "mmedit")
    assert restorer.kind == "restorer" and restorer.module_keys == ("generator",)
    with pytest.raises(VerifyError, match="MMEditing"):
        plan_old(dict(optimizers=dict(type="Adam", lr=1e-4)), "mmedit")
    new = plan_new(
        dict(
            model=dict(type="StyleGAN2", discriminator_steps=2),
            optim_wrapper=dict(generator=dict(optimizer={}), discriminator=dict(optimizer={})),
        )
    )
    assert new.kind == "gan" and new.discriminator_steps == 2 and not new.optim_context
    assert plan_new(dict(model=dict(type="Custom"), optim_wrapper=dict(g=dict(optimizer={})))).notes
    with pytest.raises(VerifyError, match="positive int"):
        plan_new(
            dict(
                model=dict(type="BigGAN", generator_steps=0),
                optim_wrapper=dict(generator=dict(optimizer={})),
            )
        )


def test_base_paths(tmp_path):
    child = str(tmp_path / "a" / "child.py")
    text = "_base_ = ['../b/x.py', './y.py', 'mmdet::z.py']\n"
    assert base_paths(text, child) == [str(tmp_path / "b" / "x.py"), str(tmp_path / "a" / "y.py")]
    assert base_paths("_base_ = '../s.py'\n", child) == [str(tmp_path / "s.py")]
    assert base_paths("syntax error (", child) == []


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(VerifyError, match="no CUDA device"):
            resolve_device("cuda")


def test_runtime_warnings_become_notes_not_log_output(caplog):
    from migrate_optim.verify.api import VerifyOptions, verify_configs

    old = dict(
        optimizer=dict(type="SGD", lr=0.1),
        optimizer_config=dict(type="GradientCumulativeOptimizerHook", cumulative_iters=2),
    )
    new = dict(optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1), accumulative_counts=2))
    with caplog.at_level(logging.WARNING):
        report = verify_configs(old, new, VerifyOptions(steps=3))
    assert not [r for r in caplog.records if r.name.startswith("migrate_optim")]
    notes = [n.message for n in report.notes]
    assert any(m.startswith("OLD warned: Loss will be divided by 1") for m in notes)
    assert any(m.startswith("NEW warned: Gradient accumulation") for m in notes)
    assert report.status == "equivalent"
