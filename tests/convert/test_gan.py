"""GAN rules (MO2xx): MMGeneration/MMEditing 0.x GAN configs -> MMagic 1.x (spec §1, §2, §7).

Each test writes a small 0.x tree (with ``_base_`` files where inheritance matters), converts it
as a whole like the CLI does, and checks the 1.x result semantically (the converted files are
loaded with MMEngine's ``Config``, so inheritance and Python validity are checked too) plus the
findings. Expected values come from the spec's mapping rules, never from the converter.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from migrate_optim.convert.core import Converter, ConvertOptions, ConvertResult
from migrate_optim.convert.emit import TODO_PREFIX

mmengine = pytest.importorskip("mmengine")
from mmengine import Config  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gan"


# ---------------------------------------------------------------------------------------------
# helpers


def convert_tree(
    root: Path, files: dict[str, str], codebase: str | None = "mmgen"
) -> dict[str, ConvertResult]:
    """Write ``files`` under ``root``, convert them all as one tree, write the results back."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    conv = Converter(ConvertOptions(codebase=codebase))
    paths = sorted(root.rglob("*.py"))
    for p in paths:
        conv.register(p, p.read_text(encoding="utf-8"))
    results = {
        p.relative_to(root).as_posix(): conv.convert_source(p.read_text(encoding="utf-8"), p)
        for p in paths
    }
    for rel, r in results.items():
        (root / rel).write_text(r.source, encoding="utf-8")
    return results


def load(root: Path, rel: str) -> dict:
    """The converted config as MMEngine resolves it (bases merged)."""
    return Config.fromfile(str(root / rel)).to_dict()


def ids(result: ConvertResult, severity: str | None = None) -> list[str]:
    return [
        f.rule_id for f in result.findings if severity is None or f.severity.value == severity
    ]


def messages(result: ConvertResult, rule_id: str) -> str:
    return "\n".join(f.message for f in result.findings if f.rule_id == rule_id)


def todos(result: ConvertResult) -> list[str]:
    return [ln.strip() for ln in result.source.splitlines() if ln.strip().startswith(TODO_PREFIX)]


GAN_BASE = """
model = dict(
    type='{type}',
    generator=dict(type='G', out_size=64),
    discriminator=dict(type='D', in_size=64))
train_cfg = {train_cfg}
test_cfg = None
optimizer = dict(
    generator=dict(type='Adam', lr=0.0001, betas=(0.0, 0.999)),
    discriminator=dict(type='Adam', lr=0.0004, betas=(0.0, 0.999)))
"""

RUNTIME = """
custom_hooks = [dict(type='VisualizeUnconditionalSamples', interval=1000)]
runner = dict(
    type='DynamicIterBasedRunner',
    is_dynamic_ddp=True,
    pass_training_status=True)
workflow = [('train', 10000)]
"""


def gan_tree(model_type: str, train_cfg: str, child: str) -> dict[str, str]:
    return {
        "_base_/gan.py": GAN_BASE.format(type=model_type, train_cfg=train_cfg),
        "_base_/runtime.py": RUNTIME,
        "exp.py": "_base_ = ['./_base_/gan.py', './_base_/runtime.py']\n"
        + textwrap.dedent(child),
    }


# ---------------------------------------------------------------------------------------------
# golden: the BigGAN-128 example of the MMGeneration optimizer migration doc (seed 000)


def test_biggan128_doc_example_semantics(tmp_path: Path) -> None:
    src = (FIXTURES / "biggan128_0x.py").read_text()
    res = convert_tree(tmp_path, {"biggan.py": src})["biggan.py"]
    got = load(tmp_path, "biggan.py")
    doc = Config.fromfile(str(FIXTURES / "biggan128_1x_doc.py")).to_dict()
    assert got["optim_wrapper"] == doc["optim_wrapper"]
    assert got["optim_wrapper"]["generator"]["optimizer"]["lr"] == 0.0001  # not the typo 2e-4
    for key in ("generator_steps", "discriminator_steps"):
        assert got["model"][key] == doc["model"][key]
    assert "train_cfg" not in got and "optimizer" not in got
    assert ids(res, "error") == []


def test_biggan128_doc_example_text(tmp_path: Path) -> None:
    src = (FIXTURES / "biggan128_0x.py").read_text()
    res = convert_tree(tmp_path, {"biggan.py": src})["biggan.py"]
    assert res.source == (FIXTURES / "biggan128_converted.py").read_text()


# ---------------------------------------------------------------------------------------------
# BasicConditionalGAN: (K, S, B) -> (K // B, S, accumulative_counts=B) iff K % B == 0


@pytest.mark.parametrize(
    ("k", "s", "b", "ds", "gs"),
    [(8, 1, 8, 1, 1), (16, 2, 8, 2, 2), (4, 2, 1, 4, 2), (1, 1, 1, 1, 1)],
)
def test_conditional_exact_schedules(
    tmp_path: Path, k: int, s: int, b: int, ds: int, gs: int
) -> None:
    tc = f"dict(disc_steps={k}, gen_steps={s}, batch_accumulation_steps={b})"
    convert_tree(tmp_path, gan_tree("BasiccGAN", tc, "total_iters = 1000\n"))
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, gan_tree("BasiccGAN", tc, "total_iters = 1000\n"))
    base = res["_base_/gan.py"]
    assert "MO204" in ids(base, "error")
    assert f"disc_steps={k} is not a multiple of batch_accumulation_steps={b}" in messages(
        base, "MO204"
    )
    assert any("[MO204]" in t for t in todos(base))
    cfg = load(tmp_path, "exp.py")
    # nothing floor-divided: the 0.x train_cfg stays, no step keys, no accumulation
    assert cfg["train_cfg"]["disc_steps"] == k
    assert "discriminator_steps" not in cfg["model"]
    assert "accumulative_counts" not in cfg["optim_wrapper"]["generator"]
    assert cfg["total_iters"] == 1000


def test_child_breaking_divisibility_undoes_base_schedule(tmp_path: Path) -> None:
    tc = "dict(disc_steps=8, batch_accumulation_steps=8)"
    files = gan_tree("BasiccGAN", tc, "train_cfg = dict(disc_steps=12)\n")
    res = convert_tree(tmp_path, files)
    assert "MO204" in ids(res["exp.py"], "error")
    assert any("[MO204]" in t for t in todos(res["exp.py"]))
    cfg = load(tmp_path, "exp.py")
    # a refused group stays in its 0.x form, whole: the child's own train_cfg is untouched
    # and nothing half-converted is written beside it
    assert cfg["train_cfg"] == {"disc_steps": 12}
    assert "train_cfg = dict(disc_steps=12)" in res["exp.py"].source
    assert "model" not in res["exp.py"].source.split("TODO")[-1].split("\n", 1)[1]
    # the base alone (8, 8) converts exactly
    base = load(tmp_path, "_base_/gan.py")
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
    res = convert_tree(tmp_path, gan_tree("BasiccGAN", "dict(disc_steps=2)", child))
    text = res["exp.py"].source
    assert "discriminator_steps=n_disc" in text
    assert "max_iters=1000 * n_disc" in text
    assert text.index("n_disc = 5") < text.index("model = dict(")  # moved below its variable
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 5
    assert cfg["model"]["num_classes"] == 10
    assert cfg["train_cfg"]["max_iters"] == 5000


def test_module_variable_divided_exactly(tmp_path: Path) -> None:
    child = """
    n_disc = 16
    train_cfg = dict(disc_steps=n_disc, batch_accumulation_steps=8)
    """
    res = convert_tree(tmp_path, gan_tree("BasiccGAN", "dict(disc_steps=1)", child))
    assert "discriminator_steps=n_disc // 8" in res["exp.py"].source
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 2
    assert cfg["optim_wrapper"]["generator"]["accumulative_counts"] == 8


def test_ignored_typo_key_is_reported(tmp_path: Path) -> None:
    res = convert_tree(
        tmp_path, gan_tree("BasiccGAN", "dict(disc_step=5, use_ema=True)", "total_iters = 10\n")
    )
    base = res["_base_/gan.py"]
    assert "`train_cfg.disc_step` dropped: BasicConditionalGAN never read it" in messages(
        base, "MO203"
    )
    assert load(tmp_path, "exp.py")["model"]["discriminator_steps"] == 1  # the 0.x default


# ---------------------------------------------------------------------------------------------
# Static / MSPIE: gen_steps and batch_accumulation_steps had no effect in 0.x


def test_static_ignores_gen_steps_and_accumulation(tmp_path: Path) -> None:
    tc = "dict(disc_steps=3, gen_steps=2, batch_accumulation_steps=4)"
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", tc, "total_iters = 10\n"))
    warn = messages(res["_base_/gan.py"], "MO204")
    assert "`train_cfg.gen_steps` dropped" in warn
    assert "`train_cfg.batch_accumulation_steps` dropped" in warn
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 3
    assert cfg["model"]["generator_steps"] == 1
    assert "accumulative_counts" not in cfg["optim_wrapper"]["generator"]
    assert "accumulative_counts" not in cfg["optim_wrapper"]["discriminator"]


def test_mspie_train_settings(tmp_path: Path) -> None:
    tc = "dict(num_upblocks=6, multi_input_scales=[0, 2], multi_scale_probability=[0.5, 0.5])"
    convert_tree(tmp_path, gan_tree("MSPIEStyleGAN2", tc, "total_iters = 10\n"))
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, files)["exp.py"]
    assert "top-level `train_cfg` dropped" in messages(res, "MO203")
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 2
    assert "train_cfg" not in cfg["model"]
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 100}


# ---------------------------------------------------------------------------------------------
# per-module optimizers (rule 6)


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
    convert_tree(tmp_path, files)
    ow = load(tmp_path, "exp.py")["optim_wrapper"]
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
    res = convert_tree(tmp_path, files)["exp.py"]
    assert "MO202" in ids(res, "error")
    assert any("[MO202]" in t for t in todos(res))
    assert "optimizer" in load(tmp_path, "exp.py")  # left as written


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
    res = convert_tree(tmp_path, files)["exp.py"]
    assert ids(res, "error") == []
    assert "dropped: it is the default" in messages(res, "MO202")
    ow = load(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"] == {"optimizer": {"type": "Adam", "lr": 1e-4}}


def test_child_overrides_one_sub_optimizer(tmp_path: Path) -> None:
    child = "optimizer = dict(generator=dict(lr=0.002))\n"
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child))
    assert "optim_wrapper = dict(generator=dict(optimizer=dict(lr=0.002)))" in res["exp.py"].source
    ow = load(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"]["optimizer"] == {"type": "Adam", "lr": 0.002, "betas": (0.0, 0.999)}
    assert ow["discriminator"]["optimizer"]["lr"] == 0.0004


def test_child_delete_replaces_sub_optimizer(tmp_path: Path) -> None:
    child = "optimizer = dict(generator=dict(_delete_=True, type='SGD', lr=0.1))\n"
    convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child))
    ow = load(tmp_path, "exp.py")["optim_wrapper"]
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
    convert_tree(tmp_path, files, codebase="mmedit")
    cfg = load(tmp_path, "exp.py")
    assert "optimizers" not in cfg
    assert cfg["optim_wrapper"]["discriminator"]["optimizer"]["betas"] == (0.9, 0.999)


def test_mmgen_optimizer_config_is_dropped_not_clipped(tmp_path: Path) -> None:
    child = "optimizer_config = dict(grad_clip=dict(max_norm=1.0))\nfp16 = dict(loss_scale=512.)\n"
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child))
    assert ids(res["exp.py"]).count("MO107") == 2
    cfg = load(tmp_path, "exp.py")
    assert "optimizer_config" not in cfg and "fp16" not in cfg
    assert "clip_grad" not in cfg["optim_wrapper"]["generator"]


# ---------------------------------------------------------------------------------------------
# translation models


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
    res = convert_tree(tmp_path, files)["exp.py"]
    assert ids(res, "error") == []
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 1
    assert cfg["model"]["disc_init_steps"] == 100
    assert cfg["model"]["buffer_size"] == 30
    assert "runner" not in cfg
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 80000}
    assert "`train_cfg.use_ema` dropped: CycleGAN never read it" in messages(res, "MO203")


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
    res = convert_tree(tmp_path, files)["exp.py"]
    assert "MO204" in ids(res, "error")
    assert "(i+1) % discriminator_steps == 0" in messages(res, "MO204")
    assert any("[MO204]" in t for t in todos(res))
    assert load(tmp_path, "exp.py")["model"]["discriminator_steps"] == 3
    # a runner that does not pass the iteration restarts the 0.x phase on resume
    assert "MO209" in ids(res, "info")


def test_pix2pix_train_cfg_none(tmp_path: Path) -> None:
    files = {
        "_base_/m.py": """
        model = dict(type='Pix2Pix', generator=dict(type='G'), discriminator=dict(type='D'))
        train_cfg = None
        test_cfg = None
        """,
        "exp.py": "_base_ = ['./_base_/m.py']\ntotal_iters = 5\n",
    }
    res = convert_tree(tmp_path, files)
    assert ids(res["_base_/m.py"], "error") == []
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 1
    assert cfg["train_cfg"] == {"by_epoch": False, "max_iters": 5}


# ---------------------------------------------------------------------------------------------
# PGGAN (StyleGANV1 alias)

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
    res = convert_tree(tmp_path, pggan_files())
    assert ids(res["_base_/gan.py"], "error") == []
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, pggan_files(g_base="0.002", g_sched="{'4': 0.5, '16': 0.003}"))
    assert "lr_schedule.generator adjusted" in messages(res["_base_/gan.py"], "MO205")
    sched = load(tmp_path, "exp.py")["optim_wrapper"]["lr_schedule"]["generator"]
    assert sched == {"8": 0.002, "16": 0.003}

    def lr_1x(scale: str) -> float:  # MMagic's PGGANOptimWrapperConstructor rule
        return sched.get(scale, 0.001)

    assert [lr_1x(s) for s in ("4", "8", "16")] == [0.001, 0.002, 0.003]


def test_pggan_disc_steps_refused(tmp_path: Path) -> None:
    res = convert_tree(tmp_path, pggan_files(extra="disc_steps=2"))
    assert "MO205" in ids(res["_base_/gan.py"], "error")
    assert "hard-codes one discriminator step" in messages(res["_base_/gan.py"], "MO205")


# ---------------------------------------------------------------------------------------------
# SinGAN


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
    res = convert_tree(tmp_path, files)
    base = res["_base_/m.py"]
    assert "MO206" in ids(base, "error")
    assert "noise weight" in messages(base, "MO206")
    assert any("[MO206]" in t for t in todos(base))
    assert "`train_cfg.curr_scale` dropped" in messages(base, "MO203")
    cfg = load(tmp_path, "exp.py")
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


# ---------------------------------------------------------------------------------------------
# EMA hook -> model.ema_config (R = disc_steps iterations per G round)

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
    res = convert_tree(tmp_path, gan_tree("BasiccGAN", tc, child))
    assert ids(res["exp.py"], "error") == [] and ids(res["exp.py"], "warning") == []
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, gan_tree("BasiccGAN", tc, child))["exp.py"]
    assert "MO207" in ids(res, "error")
    assert why in messages(res, "MO207")
    assert any("[MO207]" in t for t in todos(res))
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child))
    exp = res["exp.py"]
    assert "momentum=1 - (0.5**(32. / (ema_half_life * 1000.)))" in exp.source
    assert "first EMA update copies the generator" in messages(exp, "MO207")
    ema = load(tmp_path, "exp.py")["model"]["ema_config"]
    assert ema["momentum"] == pytest.approx(1 - 0.5 ** (32.0 / 10000.0))
    assert (ema["interval"], ema["update_buffers"]) == (1, False)
    assert load(tmp_path, "exp.py")["custom_hooks"] == []


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
    convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child))
    ema = load(tmp_path, "exp.py")["model"]["ema_config"]
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
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=2)", child))
    assert "ramps by runner iterations" in messages(res["exp.py"], "MO207")


def test_ema_hook_without_interval_refused(tmp_path: Path) -> None:
    child = """
    custom_hooks = [dict(type='ExponentialMovingAverageHook', module_keys=('generator_ema', ))]
    total_iters = 10
    """
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child))
    assert "never averaged" in messages(res["exp.py"], "MO207")


def test_use_ema_without_hook_warns(tmp_path: Path) -> None:
    res = convert_tree(
        tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", "total_iters = 10\n")
    )
    assert "without an ExponentialMovingAverageHook" in messages(res["exp.py"], "MO207")
    assert "ema_config" not in load(tmp_path, "exp.py")["model"]


# ---------------------------------------------------------------------------------------------
# runner: fp16, apex, resume caveats


def test_fp16_loss_scaler_to_amp_wrappers(tmp_path: Path) -> None:
    child = "runner = dict(fp16_loss_scaler=dict(init_scale=512), is_dynamic_ddp=False)\n"
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child))
    assert "0.x shared one scaler" in messages(res["exp.py"], "MO208")
    cfg = load(tmp_path, "exp.py")
    for name in ("generator", "discriminator"):
        sub = cfg["optim_wrapper"][name]
        assert sub["type"] == "AmpOptimWrapper"
        assert sub["loss_scale"] == {"init_scale": 512}
    assert "runner" not in cfg


def test_fp16_loss_scaler_with_class_without_scaler_refused(tmp_path: Path) -> None:
    child = "runner = dict(fp16_loss_scaler=dict(init_scale=512))\n"
    res = convert_tree(tmp_path, gan_tree("MSPIEStyleGAN2", "dict(disc_steps=1)", child))
    assert "did not train in 0.x" in messages(res["exp.py"], "MO208")
    assert any("[MO208]" in t for t in todos(res["exp.py"]))


def test_apex_refused(tmp_path: Path) -> None:
    child = "apex_amp = dict(mode='gan', init_args=dict(opt_level='O1', num_losses=2))\n"
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(disc_steps=1)", child))
    assert "apex" in messages(res["exp.py"], "MO208")
    assert any("[MO208]" in t for t in todos(res["exp.py"]))


def test_resume_caveat_for_accumulation(tmp_path: Path) -> None:
    tc = "dict(disc_steps=8, batch_accumulation_steps=8)"
    res = convert_tree(tmp_path, gan_tree("BasiccGAN", tc, "total_iters = 10\n"))
    assert "restarts its accumulation counter" in messages(res["_base_/gan.py"], "MO209")


# ---------------------------------------------------------------------------------------------
# classes the spec does not cover; idempotency


def test_unknown_mmgen_class_left_with_todo(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='BasicGaussianDiffusion', denoising=dict(type='DenoisingUnet'))
        train_cfg = dict(use_ema=True, real_img_key='img')
        optimizer = dict(denoising=dict(type='AdamW', lr=1e-4, weight_decay=0))
        total_iters = 500
        """
    }
    res = convert_tree(tmp_path, files)["exp.py"]
    assert "'BasicGaussianDiffusion' is not a GAN class" in messages(res, "MO203")
    cfg = load(tmp_path, "exp.py")
    assert cfg["train_cfg"] == {"use_ema": True, "real_img_key": "img"}  # left for the user
    assert cfg["total_iters"] == 500
    assert cfg["optim_wrapper"]["denoising"]["optimizer"]["type"] == "AdamW"


def test_second_conversion_changes_nothing(tmp_path: Path) -> None:
    child = BIGGAN_EMA.format(interval=8, start=160000, mn="")
    tc = "dict(disc_steps=8, gen_steps=1, batch_accumulation_steps=8, use_ema=True)"
    convert_tree(tmp_path, gan_tree("BasiccGAN", tc, child))
    again = convert_tree(tmp_path, {})
    assert not any(r.changed for r in again.values())


def test_mmedit_single_optimizers_entry_warns(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='BasicRestorer', generator=dict(type='EDSR'))
        optimizers = dict(generator=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)))
        """
    }
    res = convert_tree(tmp_path, files, codebase="mmedit")["exp.py"]
    assert "modules='generator'" in messages(res, "MO201")
    ow = load(tmp_path, "exp.py")["optim_wrapper"]
    assert ow["generator"]["optimizer"]["lr"] == 1e-4


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
    convert_tree(tmp_path, files)
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, files)["exp.py"]
    assert "written as the value 2" in messages(res, "MO204")
    assert ids(res, "error") == []
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, files)
    assert ids(res["_base_/m.py"], "error") == [] and ids(res["exp.py"], "error") == []
    cfg = load(tmp_path, "exp.py")
    assert cfg["model"]["discriminator_steps"] == 1
    for name in ("generator", "discriminator"):
        assert cfg["optim_wrapper"][name]["accumulative_counts"] == 8


def test_ema_hook_given_as_a_variable(tmp_path: Path) -> None:
    child = """
    ema = dict(type='ExponentialMovingAverageHook', module_keys=('generator_ema', ),
               interval=1, start_iter=10, interp_cfg=dict(momentum=0.99))
    custom_hooks = [dict(type='VisualizeUnconditionalSamples', interval=10), ema]
    total_iters = 100
    """
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child))
    assert ids(res["exp.py"], "error") == []
    cfg = load(tmp_path, "exp.py")
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
    res = convert_tree(tmp_path, gan_tree("StaticUnconditionalGAN", "dict(use_ema=True)", child))
    assert "not a list literal" in messages(res["exp.py"], "MO207")


def test_per_module_optimizer_implies_mmgen_semantics(tmp_path: Path) -> None:
    files = {
        "exp.py": """
        model = dict(type='MyGAN', generator=dict(type='G'), discriminator=dict(type='D'))
        optimizer = dict(
            generator=dict(type='Adam', lr=1e-4), discriminator=dict(type='Adam', lr=1e-4))
        optimizer_config = dict(grad_clip=dict(max_norm=1.0))
        """
    }
    res = convert_tree(tmp_path, files, codebase=None)["exp.py"]
    assert "codebase taken to be mmgen" in messages(res, "MO201")
    assert "MO107" in ids(res)  # dropped as MMGeneration's trainer did, not folded
    ow = load(tmp_path, "exp.py")["optim_wrapper"]
    assert set(ow) == {"constructor", "generator", "discriminator"}


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
    res = convert_tree(tmp_path, files)["exp.py"]
    warned = messages(res, "MO206")
    assert "`train_cfg.gen_steps` dropped" in warned
    assert "`train_cfg.batch_accumulation_steps` dropped" in warned
    assert "gen_steps=" not in res.source and "accumulative_counts" not in res.source
