"""MO206 SinGAN / PESinGAN: model keys and per-scale optimizers from ``train_cfg`` (spec §1.6,
§7 rule 5).

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
    load_1x,
    todos,
)

mmengine = pytest.importorskip("mmengine")


def test_singan(tmp_path: Path) -> None:
    files = {
        "_base_/m.py": """
        model = dict(
            type='SinGAN',
            generator=dict(type='G', num_scales=None),
            discriminator=dict(type='D', num_scales=None))
        train_cfg = dict(
            noise_weight_init=0.1,
            iters_per_scale=2000,
            curr_scale=-1,
            disc_steps=3,
            generator_steps=3,
            lr_d=0.0005,
            lr_g=0.0005,
            lr_scheduler_args=dict(milestones=[1600], gamma=0.1))
        """,
        "exp.py": """
        _base_ = ['./_base_/m.py']
        num_scales = 10
        model = dict(
            generator=dict(num_scales=num_scales), discriminator=dict(num_scales=num_scales))
        optimizer = None
        total_iters = 22000
        """,
    }
    res = convert_gan_tree(tmp_path, files)
    base = res["_base_/m.py"]
    assert "MO206" in finding_ids(base, "error")
    assert "noise weight" in finding_messages(base, "MO206")
    assert any("[MO206]" in t for t in todos(base.source))
    assert "`train_cfg.curr_scale` dropped" in finding_messages(base, "MO203")
    cfg = load_1x(tmp_path, "exp.py")
    m = cfg["model"]
    assert (m["discriminator_steps"], m["generator_steps"], m["iters_per_scale"]) == (3, 3, 2000)
    assert m["lr_scheduler_args"] == {"milestones": [1600], "gamma": 0.1}
    assert m["num_scales"] == 10
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 66000}  # total_iters * disc_steps
    ow = cfg["optim_wrapper"]
    assert ow["constructor"] == "SinGANOptimWrapperConstructor"
    adam = {"type": "Adam", "lr": 0.0005, "betas": (0.5, 0.999)}
    assert ow["generator"] == {"optimizer": adam} and ow["discriminator"] == {"optimizer": adam}
    assert "optimizer" not in cfg


def test_singan_drops_gen_steps_and_accumulation_it_never_read(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(
            type='SinGAN',
            generator=dict(type='G', num_scales=2),
            discriminator=dict(type='D', num_scales=2))
        train_cfg = dict(
            noise_weight_init=0.1, iters_per_scale=2000, disc_steps=3, generator_steps=3,
            lr_d=0.0005, lr_g=0.0005, lr_scheduler_args=dict(milestones=[1600], gamma=0.1),
            gen_steps=2, batch_accumulation_steps=4)
        optimizer = None
        total_iters = 6000
        """,
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    warned = finding_messages(res, "MO206")
    assert "`train_cfg.gen_steps` dropped" in warned
    assert "`train_cfg.batch_accumulation_steps` dropped" in warned
    assert "gen_steps=" not in res.source and "accumulative_counts" not in res.source
