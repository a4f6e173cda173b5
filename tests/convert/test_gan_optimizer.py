"""MO201/MO202 per-module optimizers -> ``MultiOptimWrapperConstructor`` (spec §1.9, §7 rule 6),
and the 0.x keys the mmgen/mmedit trainers never read (MO107).

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


def test_per_module_paramwise_and_names(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='CycleGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        optimizer = dict(
            generators=dict(
                type='Adam', lr=2e-4, betas=(0.5, 0.999),
                paramwise_cfg=dict(bias_decay_mult=0.)),
            discriminators=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
        """
    }
    convert_gan_tree(tmp_path, files)
    ow = load_1x(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["constructor"] == "MultiOptimWrapperConstructor"
    assert set(ow) == {"constructor", "generators", "discriminators"}
    assert "paramwise_cfg" not in ow  # never at the top level of a multi-wrapper dict
    assert ow["generators"]["optimizer"] == {"type": "Adam", "lr": 2e-4, "betas": (0.5, 0.999)}
    # MO105 keeps the mmcv meaning inside the sub-wrapper
    assert ow["generators"]["paramwise_cfg"] == {"bias_decay_mult": 0.0, "norm_decay_mult": 1.0}
    adam = {"type": "Adam", "lr": 2e-4, "betas": (0.5, 0.999)}
    assert ow["discriminators"] == {"optimizer": adam}


def test_per_module_constructor_is_refused(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(
            type='StaticUnconditionalGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        optimizer = dict(
            generator=dict(type='Adam', lr=1e-4, constructor='LayerDecayOptimizerConstructor'),
            discriminator=dict(type='Adam', lr=1e-4, constructor='DefaultOptimizerConstructor'))
        """
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert "MO202" in finding_ids(res, "error")
    assert any("[MO202]" in t for t in todos(res.source))
    assert "optimizer" in load_1x(tmp_path, "exp.py")  # left as written


def test_default_per_module_constructor_is_dropped(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(
            type='StaticUnconditionalGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        optimizer = dict(
            generator=dict(type='Adam', lr=1e-4, constructor='DefaultOptimizerConstructor'),
            discriminator=dict(type='Adam', lr=1e-4))
        """
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert finding_ids(res, "error") == []
    assert "dropped: it is the default" in finding_messages(res, "MO202")
    ow = load_1x(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"] == {"optimizer": {"type": "Adam", "lr": 1e-4}}


def test_child_overrides_one_sub_optimizer(tmp_path: Path) -> None:
    child = "optimizer = dict(generator=dict(lr=0.002))\n"
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child)
    )
    assert "optim_wrapper = dict(generator=dict(optimizer=dict(lr=0.002)))" in res["exp.py"].source
    ow = load_1x(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"]["optimizer"] == {"type": "Adam", "lr": 0.002, "betas": (0.0, 0.999)}
    assert ow["discriminator"]["optimizer"]["lr"] == 0.0004


def test_child_delete_replaces_sub_optimizer(tmp_path: Path) -> None:
    child = "optimizer = dict(generator=dict(_delete_=True, type='SGD', lr=0.1))\n"
    convert_gan_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child))
    ow = load_1x(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"]["optimizer"] == {"type": "SGD", "lr": 0.1}


def test_mmedit_optimizers_key(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='SRGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        optimizers = dict(
            generator=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)),
            discriminator=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)))
        """
    }
    convert_gan_tree(tmp_path, files, codebase="mmedit")
    cfg = load_1x(tmp_path, "exp.py")
    assert "optimizers" not in cfg
    assert cfg["optim_wrapper"]["discriminator"]["optimizer"]["betas"] == (0.9, 0.999)


def test_mmgen_optimizer_config_is_dropped_not_clipped(tmp_path: Path) -> None:
    child = "optimizer_config = dict(grad_clip=dict(max_norm=1.0))\nfp16 = dict(loss_scale=512.)\n"
    res = convert_gan_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child)
    )
    assert finding_ids(res["exp.py"]).count("MO107") == 2
    cfg = load_1x(tmp_path, "exp.py")
    assert "optimizer_config" not in cfg and "fp16" not in cfg
    assert "clip_grad" not in cfg["optim_wrapper"]["generator"]


def test_mmedit_single_optimizers_entry_warns(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='BasicRestorer', generator=dict(type='EDSR'))
        optimizers = dict(generator=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)))
        """
    }
    res = convert_gan_tree(tmp_path, files, codebase="mmedit")["exp.py"]
    assert "modules='generator'" in finding_messages(res, "MO201")
    ow = load_1x(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"]["optimizer"]["lr"] == 1e-4


def test_per_module_optimizer_implies_mmgen_semantics(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='MyGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        optimizer = dict(
            generator=dict(type='Adam', lr=1e-4), discriminator=dict(type='Adam', lr=1e-4))
        optimizer_config = dict(grad_clip=dict(max_norm=1.0))
        """
    }
    res = convert_gan_tree(tmp_path, files, codebase=None)["exp.py"]
    assert "codebase taken to be mmgen" in finding_messages(res, "MO201")
    assert "MO107" in finding_ids(res)  # dropped as MMGeneration's trainer did, not folded
    ow = load_1x(tmp_path, "exp.py")["optim_wrapper"]
    assert set(ow) == {"constructor", "generator", "discriminator"}
