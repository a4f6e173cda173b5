"""MO203/MO204 the GAN ``train_cfg`` rule: per 0.x class, which keys move into ``model`` and how
the D/G schedule translates (spec §1.2-§1.7, §2.3, §2.4, §7 rules 1-3).

Trees are converted whole and checked as MMEngine loads them (``convert_gan_tree``,
``load_1x``); expected values come from the spec, never from the converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.convert.helpers import (
    GAN_BASE,
    convert_gan_tree,
    finding_ids,
    finding_messages,
    gan_tree,
    load_1x,
    todos,
)

mmengine = pytest.importorskip("mmengine")


@pytest.mark.parametrize(
    ("k", "s", "b", "ds", "gs"),
    [(8, 1, 8, 1, 1), (16, 2, 8, 2, 2), (4, 2, 1, 4, 2), (1, 1, 1, 1, 1)],
)
def test_conditional_exact_schedules(
    tmp_path: Path, k: int, s: int, b: int, ds: int, gs: int
) -> None:
    tc = f"dict(disc_steps={k}, gen_steps={s}, batch_accumulation_steps={b})"
    convert_gan_tree(tmp_path, gan_tree("BasiccGAN", tc, "total_iters = 1000\n"))
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == ds
    assert cfg["model"]["generator_steps"] == gs
    for name in ("generator", "discriminator"):
        sub = cfg["optim_wrapper"][name]
        assert sub.get("accumulative_counts", 1) == b
        assert ("accumulative_counts" in sub) == (b != 1)  # omitted when 1
    assert cfg["optim_wrapper"]["constructor"] == "MultiOptimWrapperConstructor"
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 1000}
    assert "total_iters" not in cfg and "runner" not in cfg


@pytest.mark.parametrize(("k", "b"), [(12, 8), (4, 8)])
def test_conditional_non_divisible_is_refused(tmp_path: Path, k: int, b: int) -> None:
    tc = f"dict(disc_steps={k}, gen_steps=1, batch_accumulation_steps={b})"
    res = convert_gan_tree(tmp_path, gan_tree("BasiccGAN", tc, "total_iters = 1000\n"))
    base = res["_base_/gan.py"]
    assert "MO204" in finding_ids(base, "error")
    assert f"disc_steps={k} is not a multiple of batch_accumulation_steps={b}" in finding_messages(
        base, "MO204"
    )
    assert any("[MO204]" in t for t in todos(base.source))
    cfg = load_1x(tmp_path, "exp.py")
    # nothing floor-divided: the 0.x train_cfg stays, no step keys, no accumulation
    assert cfg["train_cfg"]["disc_steps"] == k
    assert "discriminator_steps" not in cfg["model"]
    assert "accumulative_counts" not in cfg["optim_wrapper"]["generator"]
    assert cfg["total_iters"] == 1000


def test_child_breaking_divisibility_undoes_base_schedule(tmp_path: Path) -> None:
    tc = "dict(disc_steps=8, batch_accumulation_steps=8)"
    files = gan_tree("BasiccGAN", tc, "train_cfg = dict(disc_steps=12)\n")
    res = convert_gan_tree(tmp_path, files)
    assert "MO204" in finding_ids(res["exp.py"], "error")
    assert any("[MO204]" in t for t in todos(res["exp.py"].source))
    cfg = load_1x(tmp_path, "exp.py")
    # a refused group stays in its 0.x form, whole: the child's own train_cfg is untouched
    # and nothing half-converted is written beside it
    assert cfg["train_cfg"] == {"disc_steps": 12}
    assert "train_cfg = dict(disc_steps=12)" in res["exp.py"].source
    assert "model" not in res["exp.py"].source.split("TODO")[-1].split("\n", 1)[1]
    # the base alone (8, 8) converts exactly
    base = load_1x(tmp_path, "_base_/gan.py")
    assert base["model"]["discriminator_steps"] == 1
    assert base["optim_wrapper"]["discriminator"]["accumulative_counts"] == 8


def test_module_variable_stays_an_expression(tmp_path: Path) -> None:
    # sngan_proj style: model written above the variable it now needs
    child = """
    model = dict(num_classes=10, generator=dict(num_classes=10))
    n_disc = 5
    train_cfg = dict(disc_steps=n_disc)
    total_iters = 1000 * n_disc
    """
    res = convert_gan_tree(tmp_path, gan_tree("BasiccGAN", "dict(disc_steps=2)", child))
    text = res["exp.py"].source
    assert "discriminator_steps=n_disc" in text
    assert "max_iters=1000 * n_disc" in text
    assert text.index("n_disc = 5") < text.index("model = dict(")  # moved below its variable
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 5
    assert cfg["model"]["num_classes"] == 10
    assert cfg["train_cfg"]["max_iters"] == 5000


def test_module_variable_divided_exactly(tmp_path: Path) -> None:
    child = """
    n_disc = 16
    train_cfg = dict(disc_steps=n_disc, batch_accumulation_steps=8)
    """
    res = convert_gan_tree(tmp_path, gan_tree("BasiccGAN", "dict(disc_steps=1)", child))
    assert "discriminator_steps=n_disc // 8" in res["exp.py"].source
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 2
    assert cfg["optim_wrapper"]["generator"]["accumulative_counts"] == 8


def test_ignored_typo_key_is_reported(tmp_path: Path) -> None:
    res = convert_gan_tree(
        tmp_path, gan_tree("BasiccGAN", "dict(disc_step=5, use_ema=True)", "total_iters = 10\n")
    )
    base = res["_base_/gan.py"]
    assert "`train_cfg.disc_step` dropped: BasicConditionalGAN never read it" in finding_messages(
        base, "MO203"
    )
    assert load_1x(tmp_path, "exp.py")["model"]["discriminator_steps"] == 1  # the 0.x default


def test_static_ignores_gen_steps_and_accumulation(tmp_path: Path) -> None:
    tc = "dict(disc_steps=3, gen_steps=2, batch_accumulation_steps=4)"
    res = convert_gan_tree(tmp_path, gan_tree("StaticUnconditionalGAN", tc, "total_iters = 10\n"))
    warn = finding_messages(res["_base_/gan.py"], "MO204")
    assert "`train_cfg.gen_steps` dropped" in warn
    assert "`train_cfg.batch_accumulation_steps` dropped" in warn
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 3
    assert cfg["model"]["generator_steps"] == 1
    assert "accumulative_counts" not in cfg["optim_wrapper"]["generator"]
    assert "accumulative_counts" not in cfg["optim_wrapper"]["discriminator"]


def test_mspie_train_settings(tmp_path: Path) -> None:
    tc = "dict(num_upblocks=6, multi_input_scales=[0, 2], multi_scale_probability=[0.5, 0.5])"
    convert_gan_tree(tmp_path, gan_tree("MSPIEStyleGAN2", tc, "total_iters = 10\n"))
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["train_settings"] == {
        "num_upblocks": 6,
        "multi_input_scales": [0, 2],
        "multi_scale_probability": [0.5, 0.5],
    }


def test_model_train_cfg_wins_over_top_level(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(
            type='StaticUnconditionalGAN',
            generator=dict(type='G'),
            discriminator=dict(type='D'),
            train_cfg=dict(disc_steps=2))
        train_cfg = dict(disc_steps=7)
        optimizer = dict(
            generator=dict(type='Adam', lr=1e-3), discriminator=dict(type='SGD', lr=0.1))
        total_iters = 100
        """
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert "top-level `train_cfg` dropped" in finding_messages(res, "MO203")
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 2
    assert "train_cfg" not in cfg["model"]
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 100}


def test_cyclegan_exact(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='CycleGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        train_cfg = dict(disc_steps=1, disc_init_steps=100, buffer_size=30, use_ema=True)
        optimizer = dict(
            generators=dict(type='Adam', lr=2e-4),
            discriminators=dict(type='Adam', lr=2e-4))
        runner = None
        total_iters = 80000
        """
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert finding_ids(res, "error") == []
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 1
    assert cfg["model"]["disc_init_steps"] == 100
    assert cfg["model"]["buffer_size"] == 30
    assert "runner" not in cfg
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 80000}
    assert "`train_cfg.use_ema` dropped: CycleGAN never read it" in finding_messages(res, "MO203")


def test_translation_phase_shift_is_flagged(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='Pix2Pix', generator=dict(type='G'), discriminator=dict(type='D'))
        train_cfg = dict(disc_steps=3)
        optimizer = dict(
            generators=dict(type='Adam', lr=2e-4), discriminators=dict(type='Adam', lr=2e-4))
        runner = None
        total_iters = 10
        """
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert "MO204" in finding_ids(res, "error")
    assert "(i+1) % discriminator_steps == 0" in finding_messages(res, "MO204")
    assert any("[MO204]" in t for t in todos(res.source))
    assert load_1x(tmp_path, "exp.py")["model"]["discriminator_steps"] == 3
    # a runner that does not pass the iteration restarts the 0.x phase on resume
    assert "MO209" in finding_ids(res, "info")


def test_pix2pix_train_cfg_none(tmp_path: Path) -> None:
    files = {
        "_base_/m.py": """
        model = dict(type='Pix2Pix', generator=dict(type='G'), discriminator=dict(type='D'))
        train_cfg = None
        test_cfg = None
        """,
        "exp.py": "_base_ = ['./_base_/m.py']\ntotal_iters = 5\n",
    }
    res = convert_gan_tree(tmp_path, files)
    assert finding_ids(res["_base_/m.py"], "error") == []
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 1
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 5}


def test_unknown_mmgen_class_left_with_todo(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='BasicGaussianDiffusion', denoising=dict(type='DenoisingUnet'))
        train_cfg = dict(use_ema=True, real_img_key='img')
        optimizer = dict(denoising=dict(type='AdamW', lr=1e-4, weight_decay=0))
        total_iters = 500
        """
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert "'BasicGaussianDiffusion' is not a GAN class" in finding_messages(res, "MO203")
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["train_cfg"] == {"use_ema": True, "real_img_key": "img"}  # left for the user
    assert cfg["total_iters"] == 500
    assert cfg["optim_wrapper"]["denoising"]["optimizer"]["type"] == "AdamW"


def test_steps_from_variables_of_two_files(tmp_path: Path) -> None:
    files = {
        "_base_/gan.py": GAN_BASE.format(
            type="BasiccGAN", train_cfg="dict(disc_steps=n_disc)"
        ).replace("model = dict(", "n_disc = 16\nmodel = dict(", 1),
        "exp.py": """
        _base_ = ['./_base_/gan.py']
        acc = 8
        train_cfg = dict(batch_accumulation_steps=acc)
        """,
    }
    res = convert_gan_tree(tmp_path, files)["exp.py"]
    assert "written as the value 2" in finding_messages(res, "MO204")
    assert finding_ids(res, "error") == []
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 2
    assert cfg["optim_wrapper"]["discriminator"]["accumulative_counts"] == 8


def test_accumulation_reaches_optimizers_defined_in_a_child(tmp_path: Path) -> None:
    files = {
        "_base_/m.py": """
        model = dict(type='BasiccGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        train_cfg = dict(disc_steps=8, batch_accumulation_steps=8)
        """,
        "exp.py": """
        _base_ = ['./_base_/m.py']
        optimizer = dict(
            generator=dict(type='Adam', lr=1e-4), discriminator=dict(type='Adam', lr=4e-4))
        """,
    }
    res = convert_gan_tree(tmp_path, files)
    assert (
        finding_ids(res["_base_/m.py"], "error") == [] and finding_ids(res["exp.py"], "error") == []
    )
    cfg = load_1x(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 1
    for name in ("generator", "discriminator"):
        assert cfg["optim_wrapper"][name]["accumulative_counts"] == 8
