"""MO205 ProgressiveGrowingGAN (``PGGAN``, ``StyleGANV1``): optimizers and per-scale lr schedule
from ``train_cfg`` (spec §1.5, §7 rule 4).

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
)

mmengine = pytest.importorskip("mmengine")

PGGAN_TC = """dict(
    use_ema=True,
    nkimgs_per_scale={{'4': 600, '8': 1200, '16': 1200}},
    transition_kimgs=600,
    optimizer_cfg=dict(
        generator=dict(type='Adam', lr=0.001, betas=(0., 0.99)),
        discriminator=dict(type='Adam', lr=0.001, betas=(0., 0.99))),
    g_lr_base={g_base},
    d_lr_base=0.001,
    g_lr_schedule={g_sched},
    {extra})"""


def pggan_files(g_base: str = "0.001", g_sched: str = "{'16': 0.0015}", extra: str = "") -> dict:
    tc = PGGAN_TC.format(g_base=g_base, g_sched=g_sched, extra=extra)
    files = gan_tree("StyleGANV1", tc, "optimizer = None\ntotal_iters = 100\n")
    return files


def test_pggan_exact(tmp_path: Path) -> None:
    res = convert_gan_tree(tmp_path, pggan_files())
    assert finding_ids(res["_base_/gan.py"], "error") == []
    cfg = load_1x(tmp_path, "exp.py")
    ow = cfg["optim_wrapper"]
    assert ow["constructor"] == "PGGANOptimWrapperConstructor"
    assert ow["generator"] == {"optimizer": {"type": "Adam", "lr": 0.001, "betas": (0.0, 0.99)}}
    # both keys always (MMagic indexes lr_schedule[key]); the top-level optimizer was unused
    assert ow["lr_schedule"] == {"generator": {"16": 0.0015}, "discriminator": {}}
    assert "optimizer" not in cfg
    assert cfg["model"]["nkimgs_per_scale"] == {"4": 600, "8": 1200, "16": 1200}
    assert cfg["model"]["transition_kimgs"] == 600
    assert "discriminator_steps" not in cfg["model"]  # MMagic's PGGAN does not take it


def test_pggan_schedule_rewritten_to_keep_0x_lrs(tmp_path: Path) -> None:
    # 0.x: first scale '4' uses the optimizer lr (0.001) even with a schedule entry; '8' has no
    # entry and falls back to g_lr_base (0.002), not to the optimizer lr as in MMagic
    res = convert_gan_tree(tmp_path, pggan_files(g_base="0.002", g_sched="{'4': 0.5, '16': 0.003}"))
    assert "lr_schedule.generator adjusted" in finding_messages(res["_base_/gan.py"], "MO205")
    sched = load_1x(tmp_path, "exp.py")["optim_wrapper"]["lr_schedule"]["generator"]
    assert sched == {"8": 0.002, "16": 0.003}

    def lr_1x(scale: str) -> float:  # MMagic's PGGANOptimWrapperConstructor rule
        return sched.get(scale, 0.001)

    assert [lr_1x(s) for s in ("4", "8", "16")] == [0.001, 0.002, 0.003]


def test_pggan_disc_steps_refused(tmp_path: Path) -> None:
    res = convert_gan_tree(tmp_path, pggan_files(extra="disc_steps=2"))
    assert "MO205" in finding_ids(res["_base_/gan.py"], "error")
    assert "hard-codes one discriminator step" in finding_messages(res["_base_/gan.py"], "MO205")
