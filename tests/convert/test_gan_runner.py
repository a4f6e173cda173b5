"""MO208/MO209 ``runner`` / ``total_iters`` / ``fp16_loss_scaler`` of MMGeneration configs:
AMP wrappers, apex, resume caveats.

Trees are converted whole and checked as MMEngine loads them (``convert_gan_tree``,
``load_1x``); expected values come from the spec, never from the converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.convert.helpers import (
    convert_gan_tree,
    finding_messages,
    gan_tree,
    load_1x,
    todos,
)

mmengine = pytest.importorskip("mmengine")


def test_fp16_loss_scaler_to_amp_wrappers(tmp_path: Path) -> None:
    child = "runner = dict(fp16_loss_scaler=dict(init_scale=512), is_dynamic_ddp=False)\n"
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child)
    )
    assert "0.x shared one scaler" in finding_messages(res["exp.py"], "MO208")
    cfg = load_1x(tmp_path, "exp.py")
    for name in ("generator", "discriminator"):
        sub = cfg["optim_wrapper"][name]
        assert sub["type"] == "AmpOptimWrapper"
        assert sub["loss_scale"] == {"init_scale": 512}
    assert "runner" not in cfg


def test_fp16_loss_scaler_with_class_without_scaler_refused(tmp_path: Path) -> None:
    child = "runner = dict(fp16_loss_scaler=dict(init_scale=512))\n"
    res = convert_gan_tree(tmp_path, gan_tree("MSPIEStyleGAN2", "dict(disc_steps=1)", child))
    assert "did not train in 0.x" in finding_messages(res["exp.py"], "MO208")
    assert any("[MO208]" in t for t in todos(res["exp.py"].source))


def test_apex_refused(tmp_path: Path) -> None:
    child = "apex_amp = dict(mode='gan', init_args=dict(opt_level='O1', num_losses=2))\n"
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child)
    )
    assert "apex" in finding_messages(res["exp.py"], "MO208")
    assert any("[MO208]" in t for t in todos(res["exp.py"].source))


def test_resume_caveat_for_accumulation(tmp_path: Path) -> None:
    tc = "dict(disc_steps=8, batch_accumulation_steps=8)"
    res = convert_gan_tree(tmp_path, gan_tree("BasiccGAN", tc, "total_iters = 10\n"))
    assert "restarts its accumulation counter" in finding_messages(res["_base_/gan.py"], "MO209")
